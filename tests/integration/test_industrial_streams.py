"""The industrial demo streams run as they are against the plant simulators.

streams/modbus-to-files.yaml polls a `ModbusSimulator` and writes one JSONL file per asset;
streams/opcua-to-mqtt.yaml subscribes an `OpcuaSimulator` and publishes to Mosquitto. Each is
configured only through the environment variables its header documents.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.mosquitto import Mosquitto
from peers.ports import free_port
from peers.stream_run import Run, wait_until, write
from pymodbus.client import ModbusTcpClient

from streamforge.simulators.modbus import ModbusSimulator
from streamforge.simulators.opcua import PLANT_NODES, OpcuaSimulator

paho = pytest.importorskip("paho.mqtt.client")

REPO = Path(__file__).resolve().parents[2]
EQUIPMENT = ("boiler", "pump", "valve")


def _copy_stream(name: str, tmp_path: Path) -> Path:
    """The stream file, unchanged, beside the test's logs (Run writes <config>.log)."""
    return write(tmp_path / f"{name}.yaml", (REPO / "streams" / f"{name}.yaml").read_text())


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


@pytest.fixture
def modbus_sim() -> Iterator[ModbusSimulator]:
    with ModbusSimulator(devices=3, interval=0.05, seed=8) as sim:
        yield sim  # type: ignore[misc]


def test_modbus_to_files_writes_one_file_per_asset_and_follows_the_valve(
    modbus_sim: ModbusSimulator,
    tmp_path: Path,
    runs: list[Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("MODBUS_CONTROLLER", modbus_sim.url)
    monkeypatch.setenv("MODBUS_POLL", "100ms")
    monkeypatch.setenv("MODBUS_OUT", str(out))
    monkeypatch.setenv("HTTP_ADDRESS", f"127.0.0.1:{free_port()}")
    run = Run(_copy_stream("modbus-to-files", tmp_path))
    runs.append(run)

    assets = [f"line{slave}-{kind}" for slave in (1, 2, 3) for kind in EQUIPMENT]
    expected = {
        "boiler": {"temperature", "pressure", "temperature_x10", "name"},
        "pump": {"discharge_pressure", "run_seconds", "starts", "motor_current", "speed",
                 "running", "fault"},
        "valve": {"position", "open"},
    }  # fmt: skip

    def complete() -> bool:
        for asset in assets:
            seen = {e["parameter"] for e in _jsonl(out / f"{asset}.jsonl")}
            if seen != expected[asset.split("-")[1]]:
                return False
        return True

    wait_until(complete, 20, "every parameter of the nine assets in its own file")

    boiler = _jsonl(out / "line2-boiler.jsonl")
    by_parameter = {e["parameter"]: e for e in boiler}
    assert by_parameter["name"]["value"] == "line2-boiler"
    assert by_parameter["temperature"]["unit"] == "degC"
    assert 15 <= by_parameter["temperature"]["value"] <= 120
    assert abs(by_parameter["temperature_x10"]["value"] - by_parameter["temperature"]["value"]) < 3
    for envelope in boiler:
        assert envelope["asset_id"] == "line2-boiler"
        assert envelope["quality"] == "GOOD"
        assert envelope["metadata"]["modbus_tag_slaveid"] == 2
        assert envelope["timestamps"]["device_time"] == envelope["metadata"]["modbus_read_time"]
    temperatures = {e["value"] for e in boiler if e["parameter"] == "temperature"}
    wait_until(
        lambda: len({e["value"] for e in _jsonl(out / "line2-boiler.jsonl")
                     if e["parameter"] == "temperature"}) > len(temperatures),
        10,
        "a new boiler temperature",
    )  # fmt: skip

    # an operator closes (or opens) valve 3 on the device: the stream reports it
    valve_file = out / "line3-valve.jsonl"
    current = [e["value"] for e in _jsonl(valve_file) if e["parameter"] == "open"][-1]
    client = ModbusTcpClient("127.0.0.1", port=modbus_sim.port, timeout=3)
    assert client.connect()
    assert not client.write_coil(1, not current, device_id=3).isError()
    client.close()
    wait_until(
        lambda: (
            [e["value"] for e in _jsonl(valve_file) if e["parameter"] == "open"][-1]
            is (not current)
        ),
        10,
        "the valve write to show in line3-valve.jsonl",
    )
    assert run.stop() == 0


class _Subscriber:
    """A paho client collecting JSON payloads per topic."""

    def __init__(self, broker: Mosquitto, topic_filter: str) -> None:
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4()}")
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()
        assert subscribed.wait(5), "the test client could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            self.messages.setdefault(msg.topic, []).append(json.loads(msg.payload))

    def topics(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {t: list(m) for t, m in self.messages.items()}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_opcua_to_mqtt_publishes_every_plant_variable_per_asset_and_parameter(
    mosquitto: Mosquitto,
    tmp_path: Path,
    runs: list[Run],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with OpcuaSimulator(interval=0.1, seed=8) as sim:
        sub = _Subscriber(mosquitto, "plant/#")
        try:
            monkeypatch.setenv("OPCUA_ENDPOINT", sim.url)
            monkeypatch.setenv("OPCUA_SAMPLING", "100ms")
            monkeypatch.setenv("MQTT_URL", mosquitto.url)
            monkeypatch.setenv("MQTT_CLIENT_ID", f"sf-opcua-demo-{uuid.uuid4().hex[:8]}")
            monkeypatch.setenv("HTTP_ADDRESS", f"127.0.0.1:{free_port()}")
            run = Run(_copy_stream("opcua-to-mqtt", tmp_path))
            runs.append(run)

            expected = {
                f"plant/line1-{n.folder.rsplit('.', 1)[1].lower()}/{n.name}" for n in PLANT_NODES
            }
            wait_until(lambda: expected <= set(sub.topics()), 30, "a message on every plant topic")
            temperature_topic = "plant/line1-boiler/Temperature"
            wait_until(
                lambda: len({e["value"] for e in sub.topics()[temperature_topic]}) >= 3,
                10,
                "the boiler temperature to change",
            )
            assert run.stop() == 0
        finally:
            sub.close()

    topics = sub.topics()
    assert set(topics) == expected
    for topic, envelopes in topics.items():
        _, asset, parameter = topic.split("/")
        for envelope in envelopes:
            assert envelope["asset_id"] == asset
            assert envelope["parameter"] == parameter
            assert envelope["quality"] == "GOOD"
            assert envelope["metadata"]["opcua_attr_statuscode"] == "Good"
            assert envelope["metadata"]["opcua_attr_nodeid"] == (
                f"ns=2;s=Plant.Line1.{asset.split('-')[1].capitalize()}.{parameter}"
            )
            assert (
                envelope["timestamps"]["device_time"]
                == (envelope["metadata"]["opcua_source_timestamp"])
            )
    temperature = topics["plant/line1-boiler/Temperature"][-1]
    assert temperature["unit"] == "degC" and 15 <= temperature["value"] <= 120
    assert isinstance(topics["plant/line1-pump/Running"][-1]["value"], bool)
    assert isinstance(topics["plant/line1-pump/Speed"][-1]["value"], int)
    assert topics["plant/line1-boiler/Name"][-1]["value"] == "line1-boiler"
