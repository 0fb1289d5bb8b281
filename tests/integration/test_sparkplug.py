"""The `sparkplug_b` input and output against a real Mosquitto broker, through `streamforge run`.

Payloads the tests publish or check are built and read with the protobuf runtime from a .proto
written from the Sparkplug B specification (tests/fixtures/sparkplug), independently of the
components' own codec.
"""

from __future__ import annotations

import json
import signal
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from google.protobuf import message_factory
from peers.mosquitto import Mosquitto
from peers.ports import free_port
from peers.stream_run import Run, out_lines, wait_until, write

from streamforge.processors.protobuf import compile_protos

PROTO_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "sparkplug"


@pytest.fixture(scope="module")
def Payload() -> Any:  # noqa: N802 - the protobuf message class
    pool = compile_protos([str(PROTO_DIR)])
    descriptor = pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    return message_factory.GetMessageClass(descriptor)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Client:
    """A paho client of the test: publishes, and records what arrives on its subscriptions."""

    def __init__(self, broker: Mosquitto, *topics: str) -> None:
        self.received: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.c.reconnect_delay_set(0.2, 1)
        subscribed = threading.Event()

        def connected(client: paho.Client, *args: Any) -> None:
            if topics:
                client.subscribe([(t, 1) for t in topics])
            else:
                subscribed.set()

        self.c.on_connect = connected
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", broker.port, keepalive=10)
        self.c.loop_start()
        assert subscribed.wait(5), "the test client could not connect and subscribe"

    def _on_message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append(msg)

    def messages(self, kind: str = "") -> list[paho.MQTTMessage]:
        with self._lock:
            return [m for m in self.received if not kind or f"/{kind}/" in m.topic]

    def wait_for(self, kind: str, n: int = 1, timeout: float = 20.0) -> list[paho.MQTTMessage]:
        wait_until(lambda: len(self.messages(kind)) >= n, timeout, f"{n} {kind} message(s)")
        return self.messages(kind)

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def metric(p: Any, name: str | None = None, alias: int | None = None, **fields: Any) -> Any:
    m = p.metrics.add()
    if name is not None:
        m.name = name
    if alias is not None:
        m.alias = alias
    for key, value in fields.items():
        setattr(m, key, value)
    return m


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out_lines(path)]


def host_stream(tmp: Path, name: str, broker: Mosquitto, group: str, extra: str = "") -> Path:
    """An input stream writing each message as {"v": value, "meta": metadata}; errored
    messages get {"error", "doc"} as their value."""
    return write(
        tmp / f"{name}.yaml",
        f"""
        input:
          label: spb_in
          sparkplug_b:
            mqtt:
              urls: [ {broker.url} ]
            identity:
              group_id: {group}
{extra}
        pipeline:
          processors:
            - catch:
                - mapping: 'root = {{"error": error(), "doc": this.catch(null)}}'
            - mapping: |
                root.v = this
                root.meta = @
        output:
          file: {{ path: "{tmp / (name + ".jsonl")}", codec: lines }}
        http: {{ enabled: false }}
        """,
    )


# -- tests -----------------------------------------------------------------------------------


def test_output_to_input_round_trip_keeps_names_types_values_and_timestamps(
    mosquitto: Mosquitto,
    tmp_path: Path,
    runs: list[Run],
    Payload: Any,  # noqa: N803
) -> None:
    group = unique("rt")
    n = 300
    spy = Client(mosquitto, f"spBv1.0/{group}/#")
    host = Run(
        host_stream(tmp_path, "host", mosquitto, group, "            role: secondary_active")
    )
    runs.append(host)
    host.wait_log("host subscribed to", timeout=40)
    edge = write(
        tmp_path / "edge.yaml",
        f"""
        input:
          generate:
            count: {n}
            interval: ""
            batch_size: 1
            mapping: |
              let n = counter()
              root = {{
                "count": 4000000000 + $n, "temp": $n / 4, "ratio": $n / 3,
                "running": $n % 2 == 0, "label": "batch-" + $n.string(), "neg": 0 - $n,
                "at": 1714564800000 + $n, "timestamp_ms": 1700000000000 + $n * 1000
              }}
        output:
          sparkplug_b:
            mqtt: {{ urls: [ {mosquitto.url} ] }}
            identity: {{ group_id: {group}, edge_node_id: edge1, device_id: "press:1" }}
            metrics:
              - {{ name: count, alias: 1, type: uint32, value_from: count }}
              - {{ name: temp, alias: 2, type: float, value_from: temp }}
              - {{ name: ratio, alias: 3, type: double, value_from: ratio }}
              - {{ name: running, alias: 4, type: boolean, value_from: running }}
              - {{ name: label, alias: 5, type: string, value_from: label }}
              - {{ name: neg, alias: 6, type: int16, value_from: neg }}
              - {{ name: at, alias: 7, type: datetime, value_from: at }}
        http: {{ enabled: false }}
        """,
    )
    done = Run(edge)
    runs.append(done)
    assert done.proc.wait(60) == 0, done.logs()
    out = tmp_path / "host.jsonl"
    wait_until(lambda: sum(r["meta"]["spb_message_type"] == "DDATA" for r in rows(out)) >= 7 * n,
               15, "every metric at the host")  # fmt: skip
    assert host.stop() == 0
    spy.close()

    got = rows(out)
    assert not [r for r in got if "error" in r["v"]], got[:3]
    births = [r for r in got if r["meta"]["spb_message_type"] == "DBIRTH"]
    assert {r["v"]["name"] for r in births} == {
        "count", "temp", "ratio", "running", "label", "neg", "at"
    }  # fmt: skip
    data = [r for r in got if r["meta"]["spb_message_type"] == "DDATA"]
    expected_types = {"count": "UInt32", "temp": "Float", "ratio": "Double",
                      "running": "Boolean", "label": "String", "neg": "Int16",
                      "at": "DateTime"}  # fmt: skip
    for i in range(n):
        k = i + 1
        batch = {r["v"]["name"]: r for r in data[7 * i : 7 * i + 7]}
        values = {name: r["v"]["value"] for name, r in batch.items()}
        assert values == {
            "count": 4000000000 + k, "temp": k / 4, "ratio": k / 3, "running": k % 2 == 0,
            "label": f"batch-{k}", "neg": -k, "at": 1714564800000 + k,
        }, (i, batch)  # fmt: skip
        for name, r in batch.items():
            meta = r["meta"]
            assert meta["spb_datatype"] == expected_types[name]
            assert meta["spb_timestamp"] == str(1700000000000 + k * 1000)
            assert meta["spb_device_id"] == "press:1" and meta["spb_edge_node_id"] == "edge1"
            assert meta["umh_location_path"] == "press.1" and meta["umh_tag_name"] == name
    assert "sequence gap" not in host.logs()

    # what went over the wire: NBIRTH with seq 0 and bdSeq, then seq 1, 2 ... wrapping at 255
    wire = [(m.topic.split("/")[2], Payload.FromString(m.payload)) for m in spy.messages()]
    kinds = [k for k, _ in wire]
    assert kinds[:2] == ["NBIRTH", "DBIRTH"] and kinds[-1] == "NDEATH", kinds[:3]
    nbirth = wire[0][1]
    assert nbirth.seq == 0
    bdseq = next(m.long_value for m in nbirth.metrics if m.name == "bdSeq")
    seqs = [p.seq for k, p in wire[1:-1]]
    assert seqs == [(i + 1) % 256 for i in range(len(seqs))] and len(seqs) == n + 1
    ddata = [p for k, p in wire if k == "DDATA"]
    assert all(m.alias and not m.name for p in ddata for m in p.metrics)
    death = wire[-1][1]
    assert [(m.name, m.long_value) for m in death.metrics] == [("bdSeq", bdseq)]


def test_input_reads_hand_built_payloads_and_handles_missing_births_gaps_and_deaths(
    mosquitto: Mosquitto,
    tmp_path: Path,
    runs: list[Run],
    Payload: Any,  # noqa: N803
) -> None:
    group = unique("hb")
    base = f"spBv1.0/{group}"
    peer = Client(mosquitto, f"{base}/NCMD/#")
    host = Run(
        host_stream(
            tmp_path,
            "host",
            mosquitto,
            group,
            "            role: secondary_active\n            birth_request_throttle: 0s",
        )
    )
    runs.append(host)
    host.wait_log("host subscribed to", timeout=40)
    out = tmp_path / "host.jsonl"

    # DATA before any BIRTH: the alias cannot be named; the host asks the node for a rebirth
    early = Payload(timestamp=1714564800000, seq=4)
    metric(early, alias=7, double_value=21.5)
    peer.publish(f"{base}/DDATA/N1/D1", early.SerializeToString())
    commands = peer.wait_for("NCMD")
    request = Payload.FromString(commands[0].payload)
    assert commands[0].topic == f"{base}/NCMD/N1"
    assert [(m.name, m.boolean_value) for m in request.metrics] == [("Node Control/Rebirth", True)]
    wait_until(lambda: len(rows(out)) >= 1, 10, "the unnamed metric")
    unnamed = rows(out)[0]
    assert unnamed["meta"]["spb_metric_name"] == "alias_7"
    assert "alias 7" in unnamed["v"]["error"] and "no BIRTH" in unnamed["v"]["error"]
    assert unnamed["v"]["doc"] == {"alias": 7, "value": 21.5}

    # the node's birth, its device's birth, then data by alias without datatypes
    nbirth = Payload(timestamp=1714564801000, seq=0)
    metric(nbirth, "bdSeq", datatype=4, long_value=3)
    metric(nbirth, "Node Control/Rebirth", datatype=11, boolean_value=False)
    dbirth = Payload(timestamp=1714564801000, seq=1)
    temp = metric(dbirth, "Temperature", 7, datatype=10, double_value=20.0)
    temp.properties.keys.append("engUnit")
    temp.properties.values.add(type=12, string_value="degC")
    metric(dbirth, "Pressure:raw", 8, datatype=1, int_value=(1 << 32) - 5)
    metric(dbirth, "Counter", 9, datatype=7, int_value=4000000000)
    metric(dbirth, "Offset", 10, datatype=4, long_value=(1 << 64) - 42)
    metric(dbirth, "Ratio", 11, datatype=9, float_value=1.1)
    metric(dbirth, "Running", 12, datatype=11, boolean_value=True)
    metric(dbirth, "Status", 13, datatype=12, string_value="ok")
    metric(dbirth, "StartedAt", 14, datatype=13, long_value=1714564800123)
    metric(dbirth, "Recipe", 15, datatype=24, bytes_value=struct.pack("<3i", -1, 2, 3))
    metric(dbirth, "Spare", 16, datatype=10, is_null=True)
    ddata = Payload(timestamp=1714564802000, seq=2)
    metric(ddata, alias=7, double_value=22.25, timestamp=1714564800999)
    metric(ddata, alias=8, int_value=(1 << 32) - 7)
    for kind, payload in (("NBIRTH", nbirth), ("DBIRTH", dbirth), ("DDATA", ddata)):
        topic = f"{base}/{kind}/N1" + ("/D1" if kind[0] == "D" else "")
        peer.publish(topic, payload.SerializeToString())
    wait_until(
        lambda: sum(r["meta"]["spb_message_type"] == "DDATA" for r in rows(out)) >= 3,
        10,
        "births and data",
    )
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in rows(out)[1:]:  # after the unnamed metric
        by_type.setdefault(r["meta"]["spb_message_type"], []).append(r)
    birth_values = {r["v"]["name"]: r["v"]["value"] for r in by_type["DBIRTH"]}
    assert birth_values == {
        "Temperature": 20.0, "Pressure:raw": -5, "Counter": 4000000000, "Offset": -42,
        "Ratio": 1.1, "Running": True, "Status": "ok", "StartedAt": 1714564800123,
        "Recipe": [-1, 2, 3], "Spare": None,
    }  # fmt: skip
    pressure = next(r for r in by_type["DBIRTH"] if r["v"]["name"] == "Pressure:raw")
    assert pressure["meta"]["umh_virtual_path"] == "Pressure"
    assert pressure["meta"]["umh_tag_name"] == "raw"
    assert pressure["meta"]["umh_location_path"] == "D1"
    data = {r["v"].get("name"): r for r in by_type["DDATA"]}
    assert data["Temperature"]["v"] == {"name": "Temperature", "alias": 7, "value": 22.25}
    assert data["Temperature"]["meta"]["spb_datatype"] == "Double"
    assert data["Temperature"]["meta"]["spb_timestamp"] == "1714564800999"
    assert data["Pressure:raw"]["v"]["value"] == -7
    assert data["Pressure:raw"]["meta"]["spb_datatype"] == "Int8"
    assert data["Pressure:raw"]["meta"]["spb_timestamp"] == "1714564802000"
    assert data["Pressure:raw"]["meta"]["spb_bdseq"] == "3"
    assert data["Pressure:raw"]["meta"]["spb_sequence"] == "2"

    # a gap in the sequence numbers: logged, and a rebirth is requested
    asked = len(peer.messages("NCMD"))
    gap = Payload(timestamp=1714564803000, seq=5)
    metric(gap, alias=13, string_value="late")
    peer.publish(f"{base}/DDATA/N1/D1", gap.SerializeToString())
    host.wait_log(f"sequence gap from {group}/N1 (DDATA): expected 3, got 5")
    peer.wait_for("NCMD", asked + 1)

    # a malformed payload, a stale NDEATH, then the node's own NDEATH
    peer.publish(f"{base}/DDATA/N1/D1", b"\x0a\xff\x01")
    stale = Payload(timestamp=1714564804000)
    metric(stale, "bdSeq", datatype=4, long_value=2)
    peer.publish(f"{base}/NDEATH/N1", stale.SerializeToString())
    host.wait_log(f"ignoring a stale NDEATH of {group}/N1: its bdSeq 2")
    death = Payload(timestamp=1714564805000)
    metric(death, "bdSeq", datatype=4, long_value=3)
    peer.publish(f"{base}/NDEATH/N1", death.SerializeToString())
    wait_until(lambda: rows(out)[-1]["meta"]["spb_message_type"] == "NDEATH", 10, "the NDEATH")
    assert host.stop() == 0
    peer.close()
    tail = rows(out)
    bad = next(r for r in tail if "not a Sparkplug B payload" in (r["v"].get("error") or ""))
    assert bad["meta"]["spb_topic"] == f"{base}/DDATA/N1/D1"
    deaths = [r for r in tail if r["meta"]["spb_message_type"] == "NDEATH"]
    assert len(deaths) == 1
    assert deaths[0]["v"]["event"] == "DeviceOffline" and deaths[0]["meta"]["spb_bdseq"] == "3"
    assert deaths[0]["meta"]["event_type"] == "device_offline"


def test_output_is_reborn_on_ncmd_and_its_will_is_the_ndeath_with_the_session_bdseq(
    mosquitto: Mosquitto,
    tmp_path: Path,
    runs: list[Run],
    Payload: Any,  # noqa: N803
) -> None:
    group = unique("edge")
    base = f"spBv1.0/{group}"
    spy = Client(mosquitto, f"{base}/#")
    cfg = write(
        tmp_path / "edge.yaml",
        f"""
        input:
          generate:
            interval: 50ms
            mapping: |
              root = {{"value": counter(), "timestamp_ms": 1714564800000 + counter()}}
              meta tag_name = "temp"
              meta virtual_path = "motor.diag"
              meta location_path = "acme.line1"
        output:
          sparkplug_b:
            mqtt: {{ urls: [ {mosquitto.url} ], keep_alive: 5s }}
            identity: {{ group_id: {group}, edge_node_id: node7 }}
        http: {{ enabled: false }}
        """,
    )
    edge = Run(cfg)
    runs.append(edge)
    nbirth = Payload.FromString(spy.wait_for("NBIRTH", timeout=40)[0].payload)
    bdseq = next(m.long_value for m in nbirth.metrics if m.name == "bdSeq")
    assert nbirth.seq == 0
    assert {m.name for m in nbirth.metrics} == {"bdSeq", "Node Control/Rebirth"}
    dbirth_msg = spy.wait_for("DBIRTH")[0]
    assert dbirth_msg.topic == f"{base}/DBIRTH/node7/acme:line1"
    (temp,) = Payload.FromString(dbirth_msg.payload).metrics
    assert (temp.name, temp.datatype, temp.long_value) == ("motor:diag:temp", 4, 1)
    ddata = Payload.FromString(spy.wait_for("DDATA", 3)[0].payload)
    assert [(m.name, m.alias) for m in ddata.metrics] == [("", temp.alias)]

    rebirth = Payload(timestamp=int(time.time() * 1000))
    metric(rebirth, "Node Control/Rebirth", datatype=11, boolean_value=True)
    spy.publish(f"{base}/NCMD/node7", rebirth.SerializeToString())
    births = spy.wait_for("NBIRTH", 2)
    again = Payload.FromString(births[1].payload)
    assert again.seq == 0
    assert next(m.long_value for m in again.metrics if m.name == "bdSeq") == bdseq
    spy.wait_for("DBIRTH", 2)
    edge.wait_log("a host requested a rebirth")

    edge.proc.send_signal(signal.SIGKILL)
    edge.proc.wait(10)
    (death_msg,) = spy.wait_for("NDEATH")
    assert death_msg.topic == f"{base}/NDEATH/node7"
    death = Payload.FromString(death_msg.payload)
    assert [(m.name, m.long_value) for m in death.metrics] == [("bdSeq", bdseq)]
    spy.close()
    late = Client(mosquitto, f"{base}/NDEATH/#")  # the death is retained for later hosts
    (retained,) = late.wait_for("NDEATH")
    assert retained.retain and Payload.FromString(retained.payload) == death
    late.c.publish(f"{base}/NDEATH/node7", b"", qos=1, retain=True).wait_for_publish(5)
    late.close()


def test_primary_host_announces_its_state_and_its_will_says_offline(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    group, host_id = unique("st"), unique("host")
    state = f"spBv1.0/STATE/{host_id}"
    spy = Client(mosquitto, state)
    host = Run(
        host_stream(
            tmp_path,
            "primary",
            mosquitto,
            group,
            f"              edge_node_id: {host_id}\n            role: primary",
        )
    )
    runs.append(host)
    online = json.loads(spy.wait_for("STATE", timeout=40)[0].payload)
    assert online["online"] is True and isinstance(online["timestamp"], int)
    host.proc.send_signal(signal.SIGKILL)
    host.proc.wait(10)
    offline = json.loads(spy.wait_for("STATE", 2)[1].payload)
    assert offline == {"online": False, "timestamp": online["timestamp"]}
    spy.c.publish(state, b"", qos=1, retain=True).wait_for_publish(5)
    spy.close()


def test_output_without_broker_fails_messages_to_the_fallback(
    tmp_path: Path, runs: list[Run]
) -> None:
    dead = tmp_path / "dead.txt"
    url = f"tcp://127.0.0.1:{free_port()}"
    cfg = write(
        tmp_path / "nobroker.yaml",
        f"""
        input:
          generate:
            count: 5
            interval: ""
            mapping: |
              root = {{"value": counter()}}
              meta tag_name = "level"
        output:
          fallback:
            - sparkplug_b:
                mqtt: {{ urls: [ {url} ] }}
                identity: {{ group_id: g, edge_node_id: n }}
                write_timeout: 300ms
            - file:
                path: "{dead}"
              processors:
                - mapping: 'root = content().string() + " | " + @fallback_error'
        http: {{ enabled: false }}
        """,
    )
    run = Run(cfg)
    runs.append(run)
    assert run.proc.wait(60) == 0, run.logs()
    lines = out_lines(dead)
    assert len(lines) == 5
    for line in lines:
        assert f"not connected to {url}" in line and "connection refused" in line, line


def test_node_metrics_rebirth_the_node_and_a_new_connection_births_with_the_next_bdseq(
    mosquitto: Mosquitto,
    tmp_path: Path,
    runs: list[Run],
    Payload: Any,  # noqa: N803
) -> None:
    group = unique("rc")
    base = f"spBv1.0/{group}"
    spy = Client(mosquitto, f"{base}/#")
    cfg = write(
        tmp_path / "edge.yaml",
        f"""
        input:
          generate:
            interval: 50ms
            mapping: |
              root = {{"value": counter()}}
              meta tag_name = "level"
        output:
          sparkplug_b:
            mqtt: {{ urls: [ {mosquitto.url} ], keep_alive: 2s }}
            identity: {{ group_id: {group}, edge_node_id: tank }}
        http: {{ enabled: false }}
        """,
    )
    edge = Run(cfg)
    runs.append(edge)
    # the first node metric is announced by a rebirth of the node, carrying its first value
    first, second = (
        Payload.FromString(m.payload) for m in spy.wait_for("NBIRTH", 2, timeout=40)[:2]
    )
    bdseq = next(m.long_value for m in first.metrics if m.name == "bdSeq")
    assert next(m.long_value for m in second.metrics if m.name == "bdSeq") == bdseq
    level = next(m for m in second.metrics if m.name == "level")
    assert (second.seq, level.datatype, level.long_value) == (0, 4, 1)
    ndata = [Payload.FromString(m.payload) for m in spy.wait_for("NDATA", 3)]
    assert [p.seq for p in ndata[:3]] == [1, 2, 3]
    assert all([m.alias for m in p.metrics] == [level.alias] for p in ndata)

    mosquitto.restart(down_for=1.0)
    following = (bdseq + 1) % 256

    def bdseqs(kind: str) -> list[int]:
        found = [Payload.FromString(m.payload) for m in spy.messages(kind)]
        return [m.long_value for p in found for m in p.metrics if m.name == "bdSeq"]

    # the broker published the lost connection's will; the next connection is born with the
    # next bdSeq, and the node's metric keeps its alias
    wait_until(lambda: following in bdseqs("NBIRTH"), 20, "the NBIRTH after the restart")
    assert bdseqs("NDEATH")[0] == bdseq
    reborn = next(
        p
        for p in (Payload.FromString(m.payload) for m in spy.messages("NBIRTH"))
        if any(m.name == "bdSeq" and m.long_value == following for m in p.metrics)
    )
    assert any(m.name == "level" and m.alias == level.alias for m in reborn.metrics)
    spy.wait_for("NDATA", len(ndata) + 2)
    assert edge.stop() == 0
    wait_until(lambda: bdseqs("NDEATH")[-1:] == [following], 10, "the NDEATH of the stop")
    spy.close()
    assert "reconnected to" in edge.logs()
