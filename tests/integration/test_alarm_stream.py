"""`alarm` in a running stream: `streamforge run` on files, a restart with --recovery-dir, MQTT."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from peers.mosquitto import Mosquitto
from peers.stream_run import Run, run_to_end, wait_until, write

REPO = Path(__file__).resolve().parents[2]

STREAM = """
input:
  file:
    paths: [ "{inp}" ]
pipeline:
  processors:
    - alarm:
        rules:
          - name: high_temp
            asset: press-*
            parameter: temperature
            above: 80
            hysteresis: 2
            on_delay: 10s
            off_delay: 5s
            severity: HIGH
            message: "${{! this.asset_id }} at ${{! this.value }}"
output:
  switch:
    cases:
      - check: errored()
        output:
          file:
            path: "{out}/dead.jsonl"
          processors:
            - mapping: |
                root.error = error()
                root.payload = this
      - check: this.classification == "ALARM"
        output:
          file:
            path: "{out}/alarms.jsonl"
      - output:
          file:
            path: "{out}/telemetry.jsonl"
http:
  enabled: false
"""


def envelope(asset: str, value: float, second: int) -> dict[str, Any]:
    stamp = f"2024-05-01T12:{second // 60:02d}:{second % 60:02d}Z"
    return {
        "asset_id": asset,
        "parameter": "temperature",
        "value": value,
        "unit": "degC",
        "quality": "GOOD",
        "classification": "TELEMETRY",
        "timestamps": {"device_time": stamp, "gateway_time": stamp},
        "metadata": {"adapter_id": "line-3"},
    }


def control(action: str, asset: str = "press-01", by: str = "operator-7") -> dict[str, Any]:
    return {
        "alarm_control": {
            "action": action,
            "asset_id": asset,
            "parameter": "temperature",
            "name": "high_temp",
            "by": by,
            "time": "2024-05-01T12:30:00Z",
        }
    }


def append(path: Path, docs: list[dict[str, Any]]) -> None:
    with path.open("a") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = write(
        tmp_path / "alarms.yaml",
        STREAM.format(inp=tmp_path / "in.jsonl", out=tmp_path / "out"),
    )
    return run_to_end(*args, cfg)


def transitions(tmp_path: Path) -> list[tuple[str, str]]:
    alarms = jsonl(tmp_path / "out" / "alarms.jsonl")
    return [(a["asset_id"], a["alarm"]["state"]) for a in alarms]


def test_stream_raises_acknowledges_and_clears_while_readings_flow_on(tmp_path: Path) -> None:
    one = [envelope("press-01", v, s) for s, v in ((0, 75), (1, 81), (3, 79), (4, 83), (10, 84))]
    one.append(envelope("press-01", 85, 14))  # 10s beyond 80 since 4s (79 at 3s restarted it)
    two = [envelope("press-02", 90, 10), envelope("press-02", 91, 15)]  # 5s: not yet
    after = [envelope("press-01", v, s) for s, v in ((16, 79), (18, 77), (20, 80), (21, 77))]
    after.append(envelope("press-01", 76, 26))  # below 78 for 5s since 21s
    append(tmp_path / "in.jsonl", one + two)
    append(tmp_path / "in.jsonl", [control("acknowledge"), control("acknowledge", "oven-07")])
    append(tmp_path / "in.jsonl", after)

    result = run(tmp_path)
    assert result.returncode == 0, result.stderr

    telemetry = jsonl(tmp_path / "out" / "telemetry.jsonl")
    assert [t for t in telemetry if t["asset_id"] == "press-01"] == one + after  # unchanged
    assert [t for t in telemetry if t["asset_id"] == "press-02"] == two
    alarms = jsonl(tmp_path / "out" / "alarms.jsonl")
    assert [(a["asset_id"], a["alarm"]["state"], a["alarm"]["since"]) for a in alarms] == [
        ("press-01", "ACTIVE", "2024-05-01T12:00:14Z"),
        ("press-01", "ACKNOWLEDGED", "2024-05-01T12:30:00Z"),
        ("press-01", "CLEARED", "2024-05-01T12:00:26Z"),
    ]
    assert alarms[0] == {
        **envelope("press-01", 85, 14),
        "classification": "ALARM",
        "alarm": {
            "name": "high_temp",
            "state": "ACTIVE",
            "severity": "HIGH",
            "since": "2024-05-01T12:00:14Z",
            "value": 85,
            "threshold": 80,
            "message": "press-01 at 85",
        },
    }
    assert alarms[2]["alarm"]["acknowledged_by"] == "operator-7"
    # the acknowledgement for a series without a rule is consumed into the dead letters
    (dead,) = jsonl(tmp_path / "out" / "dead.jsonl")
    assert dead["error"] == (
        "alarm: alarm_control: no rule named 'high_temp' applies to oven-07/temperature"
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_active_alarm_stays_active_across_a_restart_with_recovery(
    tmp_path: Path, workers: str
) -> None:
    inp = tmp_path / "in.jsonl"
    recovery = ("-w", workers, "--recovery-dir", str(tmp_path / "recovery"))
    # press-01 goes ACTIVE; press-02 is 5s into its 10s on-delay when the first run ends
    append(inp, [envelope("press-01", v, s) for s, v in ((0, 85), (5, 86), (10, 87))])
    append(inp, [envelope("press-02", 90, 0), envelope("press-02", 91, 5)])
    first = run(tmp_path, *recovery)
    assert first.returncode == 0, first.stderr
    assert transitions(tmp_path) == [("press-01", "ACTIVE")]

    # 10s more above 80: a lost state would raise press-01 again at 25s
    append(inp, [envelope("press-01", v, s) for s, v in ((15, 88), (20, 89), (25, 90))])
    append(inp, [envelope("press-02", 92, 10)])
    append(inp, [control("acknowledge")])
    append(inp, [envelope("press-01", 70, 30), envelope("press-01", 70, 35)])
    second = run(tmp_path, *recovery)
    assert second.returncode == 0, second.stderr

    alarms = jsonl(tmp_path / "out" / "alarms.jsonl")
    assert alarms[0]["alarm"]["state"] == "ACTIVE"  # the first run's
    one = [a["alarm"] for a in alarms if a["asset_id"] == "press-01"]
    # not raised again; acknowledging works because the alarm was still ACTIVE
    assert [(a["state"], a["since"]) for a in one] == [
        ("ACTIVE", "2024-05-01T12:00:10Z"),
        ("ACKNOWLEDGED", "2024-05-01T12:30:00Z"),
        ("CLEARED", "2024-05-01T12:00:35Z"),
    ]
    assert one[2]["acknowledged_by"] == "operator-7"
    assert one[2]["message"] == "press-01 at 87"
    # the on-delay that began in the first run completed in the second
    two = [a["alarm"] for a in alarms if a["asset_id"] == "press-02"]
    assert [(a["state"], a["since"], a["value"]) for a in two] == [
        ("ACTIVE", "2024-05-01T12:00:10Z", 92)
    ]
    assert len(jsonl(tmp_path / "out" / "telemetry.jsonl")) == 11


# -- the example stream, streams/alarms.yaml, against a real broker ------------------------------

paho = pytest.importorskip("paho.mqtt.client")


def mqtt_client(broker: Mosquitto, client_id: str = "", **kw: Any) -> Any:
    """A connected paho client with its network loop running."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, **kw)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", broker.port, keepalive=10)
    client.loop_start()
    assert connected.wait(5), "the test client could not connect to mosquitto"
    return client


def close(client: Any) -> None:
    client.disconnect()
    client.loop_stop()


def prepare_session(broker: Mosquitto, client_id: str) -> None:
    """The stream's persistent session, made up front so the broker queues for it at once."""
    client = mqtt_client(broker, client_id, clean_session=False)
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.subscribe("plant/+/+", qos=1)
    assert subscribed.wait(5)
    close(client)


def publish(broker: Mosquitto, messages: list[tuple[str, Any]]) -> None:
    """Publish JSON payloads with QoS 1 and wait until the broker acknowledged each."""
    client = mqtt_client(broker)
    try:
        infos = [client.publish(t, json.dumps(p).encode(), qos=1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        close(client)


def test_example_stream_takes_readings_and_operator_actions_from_one_mqtt_input(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = f"sf-alarms-{uuid.uuid4().hex[:8]}"
    prepare_session(mosquitto, client_id)
    alarms_file = tmp_path / "alarms.jsonl"
    dead = tmp_path / "dead-letter" / "alarms.jsonl"
    for name, value in {
        "MQTT_URL": mosquitto.url,
        "MQTT_CLIENT_ID": client_id,
        "ALARMS_FILE": str(alarms_file),
        "TELEMETRY_DIR": str(tmp_path / "telemetry"),
        "DLQ_DIR": str(tmp_path / "dead-letter"),
        "HTTP_ADDRESS": "127.0.0.1:0",
    }.items():
        monkeypatch.setenv(name, value)
    readings = [
        ("plant/press-01/temperature", {"value": v, "unit": "degC", "ts": f"2024-05-01T12:00:{s}Z"})
        for s, v in (("00", 85), ("06", 86), ("12", 84))
    ]
    publish(mosquitto, [*readings, ("plant/press-01/pressure", 5.1)])
    stream = Run(REPO / "streams" / "alarms.yaml", log=tmp_path / "alarms.log")
    try:
        wait_until(lambda: len(jsonl(alarms_file)) >= 1, 30, "the ACTIVE alarm")
        wrong = {"alarm_control": {"action": "ack", "asset_id": "press-01"}}
        publish(
            mosquitto,
            [("plant/alarms/control", control("acknowledge")), ("plant/alarms/control", wrong)],
        )
        wait_until(lambda: len(jsonl(alarms_file)) >= 2, 20, "the acknowledgement")
        wait_until(lambda: len(jsonl(dead)) >= 1, 20, "the wrong control message")
    finally:
        code = stream.stop()
    assert code == 0, stream.logs()
    alarms = jsonl(alarms_file)
    assert [(a["alarm"]["name"], a["alarm"]["state"]) for a in alarms] == [
        ("high_temp", "ACTIVE"),
        ("high_temp", "ACKNOWLEDGED"),
    ]
    assert alarms[0]["alarm"]["message"] == "press-01 temperature 84 degC above 80"
    assert alarms[0]["timestamps"]["device_time"] == "2024-05-01T12:00:12Z"
    assert alarms[1]["alarm"]["acknowledged_by"] == "operator-7"
    telemetry = jsonl(tmp_path / "telemetry" / "press-01.jsonl")
    assert sorted(t["value"] for t in telemetry) == [5.1, 84, 85, 86]
    (letter,) = jsonl(dead)
    assert letter["mqtt_topic"] == "plant/alarms/control"
    assert letter["error"].startswith("alarm: alarm_control.action: 'ack' is not one of")
