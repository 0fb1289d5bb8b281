"""The `opcua` output against a real asyncua server: values of several types written from
JSON messages, forced data types, the read-back handshake, refused writes routed by
`fallback`, and a server restart in the middle of a stream."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from peers.opcua_server import OpcuaServer, node
from peers.ports import free_port
from peers.stream_run import Run, out_lines, run_to_end, wait_until, write

from streamforge.message import Message
from streamforge.plugin import Output, load_builtins, registry


class _Ctx:
    stream = "opcua_test"
    label = "opcua_out"
    path = "output"


@pytest.fixture
def writer(opcua_server: OpcuaServer) -> Iterator[Callable[..., Output]]:
    """Builds `opcua` outputs on the test server in this process; closes them after the test."""
    load_builtins()
    spec = registry.get("output", "opcua")
    assert spec is not None
    built: list[Output] = []

    def build(mappings: list[dict[str, Any]], **conf: Any) -> Output:
        full = {"endpoint": opcua_server.endpoint, "nodeMappings": mappings, **conf}
        built.append(spec.factory(full, _Ctx()))
        return built[-1]

    opcua_server.writes.clear()
    yield build
    for out in built:
        out.close()


def messages(*values: dict[str, Any], **meta: Any) -> list[Message]:
    return [Message.from_value(v, dict(meta)) for v in values]


def errors(failed: list[Message]) -> list[str]:
    return [m.error or "" for m in failed]


# -- a whole stream: several types --------------------------------------------------------------


def test_stream_writes_message_fields_to_nodes_of_their_types(
    opcua_server: OpcuaServer, tmp_path: Path
) -> None:
    opcua_server.writes.clear()
    data = tmp_path / "setpoints.jsonl"
    docs = [
        {"temp": 21.5, "count": 1, "on": True, "label": "start", "f": 0.5, "small": -3,
         "big": 2**63 + 1, "when": "2024-05-06T07:08:09.5Z"},
        {"temp": 22, "count": "2", "on": "false", "label": 7, "f": 1.25, "small": 4.0,
         "big": 5, "when": 1714979289000},
        {"temp": -1.75, "count": -300000, "on": 1, "label": {"mode": "auto"}, "f": 2,
         "small": 32767, "big": 0, "when": "2024-05-06T09:08:09+02:00"},
    ]  # fmt: skip
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    mapping = {
        "Double": "temp", "Int32": "count", "Boolean": "on", "String": "label", "Float": "f",
        "Int16": "small", "UInt64": "big", "DateTime": "when",
    }  # fmt: skip
    mappings = [{"nodeId": node(f"Setpoints.{n}"), "valueFrom": f} for n, f in mapping.items()]
    cfg = write(
        tmp_path / "write.yaml",
        f"""
        input:
          file: {{ paths: [ "{data}" ], codec: lines }}
        output:
          opcua:
            endpoint: {opcua_server.endpoint}
            nodeMappings: {json.dumps(mappings)}
        http: {{ enabled: false }}
        """,
    )
    done = run_to_end(cfg)
    assert done.returncode == 0, done.stderr
    assert "write failed" not in done.stdout + done.stderr
    w = opcua_server.writes
    # each node took every message's value, in order, as its own type
    assert w["Double"] == [21.5, 22.0, -1.75]
    assert w["Int32"] == [1, 2, -300000]
    assert w["Boolean"] == [True, False, True]
    assert w["String"] == ["start", "7", '{"mode":"auto"}']
    assert w["Float"] == [0.5, 1.25, 2.0]
    assert w["Int16"] == [-3, 4, 32767]
    assert w["UInt64"] == [2**63 + 1, 5, 0]
    may6 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert [d.replace(tzinfo=timezone.utc) for d in w["DateTime"]] == [
        may6.replace(microsecond=500000), may6, may6,
    ]  # fmt: skip
    assert opcua_server.read("Setpoints.Double") == -1.75
    assert opcua_server.read("Setpoints.String") == '{"mode":"auto"}'


# -- data types ---------------------------------------------------------------------------------


def test_forced_and_per_message_data_types(
    opcua_server: OpcuaServer, writer: Callable[..., Output]
) -> None:
    # `Any` is declared BaseDataType: a JSON integer is written as Int64, which this server
    # refuses (it holds a Double); forcing Double writes it
    loose = writer([{"nodeId": node("Setpoints.Any"), "valueFrom": "v"}])
    failed = loose.write_batch(messages({"v": 3}))
    assert len(failed) == 1 and "BadTypeMismatch" in errors(failed)[0]
    assert loose.write_batch(messages({"v": 2.5})) == []
    forced = writer(
        [{"nodeId": node("Setpoints.Any"), "valueFrom": "v"}],
        forcedDataTypes={node("Setpoints.Any"): "Double"},
    )
    assert forced.write_batch(messages({"v": 3})) == []
    assert opcua_server.writes["Any"] == [2.5, 3.0]
    assert opcua_server.read("Setpoints.Any") == 3.0
    # a forced type is written as it is, even where the node wants another
    wrong = writer(
        [{"nodeId": node("Setpoints.Int32"), "valueFrom": "v"}],
        forcedDataTypes={node("Setpoints.Int32"): "String"},
    )
    failed = wrong.write_batch(messages({"v": 5}))
    assert "BadTypeMismatch" in errors(failed)[0]
    # a mapping's dataType, chosen per message, wins over forcedDataTypes
    per_message = writer(
        [{"nodeId": "ns=2;s=Setpoints.${! @name }", "valueFrom": "v", "dataType": "${! @type }"}],
        forcedDataTypes={node("Setpoints.Any"): "String"},
    )
    batch = [
        Message.from_value({"v": "41"}, {"name": "Any", "type": "Double"}),
        Message.from_value({"v": 7}, {"name": "Int16", "type": "Int16"}),
        Message.from_value({"v": 7}, {"name": "Int16", "type": "Quaternion"}),
    ]
    failed = per_message.write_batch(batch)
    assert [m.metadata["type"] for m in failed] == ["Quaternion"]
    assert "'Quaternion' is not a data type this output writes" in errors(failed)[0]
    assert opcua_server.writes["Any"][-1] == 41.0 and opcua_server.writes["Int16"] == [7]


def test_values_that_do_not_fit_the_node_fail_alone(
    opcua_server: OpcuaServer, writer: Callable[..., Output]
) -> None:
    out = writer(
        [
            {"nodeId": node("Setpoints.Int16"), "valueFrom": "a"},
            {"nodeId": node("Setpoints.Boolean"), "valueFrom": "data.on"},
        ]
    )
    batch = messages(
        {"a": 1, "data": {"on": True}},
        {"a": 40000, "data": {"on": True}},
        {"a": 2.5, "data": {"on": True}},
        {"a": 3, "data": {"on": "maybe"}},
        {"a": 4},
        {"a": None, "data": {"on": False}},
        {"a": 5, "data": {"on": False}},
    )
    failed = out.write_batch(batch)
    assert len(failed) == 5
    why = [m.error or "" for m in batch]
    assert why[0] == "" and why[6] == ""
    assert "40000 is outside the range of Int16" in why[1]
    assert "2.5 is not a whole number for Int16" in why[2]
    assert '"maybe" is not a Boolean' in why[3]
    assert "field 'data.on' is not in the message" in why[4]
    assert "field 'a' is null" in why[5]
    # nothing of a failed message is written; the others went through in order
    assert opcua_server.writes["Int16"] == [1, 5]
    assert opcua_server.writes["Boolean"] == [True, False]
    failed = errors(out.write_batch([Message(b"not json", {})]))
    assert "failed to parse message as JSON" in failed[0]


# -- the handshake ------------------------------------------------------------------------------


def test_handshake_reads_back_and_retries(
    opcua_server: OpcuaServer, writer: Callable[..., Output]
) -> None:
    limited = [{"nodeId": node("Setpoints.Limited"), "valueFrom": "v"}]
    out = writer(
        limited,
        handshake={
            "enabled": True, "readbackTimeoutMs": 200, "maxWriteAttempts": 3,
            "timeBetweenRetriesMs": 50,
        },
    )  # fmt: skip
    assert out.write_batch(messages({"v": 42.5})) == []
    # the server clamps 150 to 100: the read-back shows it, each attempt writes again
    failed = errors(out.write_batch(messages({"v": 150})))
    assert len(failed) == 1
    assert "node ns=2;s=Setpoints.Limited: read back 100.0 after writing 150.0" in failed[0]
    assert "(3 attempts)" in failed[0]
    assert opcua_server.writes["Limited"] == [42.5, 150.0, 150.0, 150.0]
    # without the handshake the accepted write is all there is
    blind = writer(limited, handshake={"enabled": False})
    assert blind.write_batch(messages({"v": 120})) == []
    assert opcua_server.read("Setpoints.Limited") == 100.0
    # a server that shows a write a moment later: the read-back waits for it
    slow = writer([{"nodeId": node("Setpoints.Slow"), "valueFrom": "v"}])
    assert slow.write_batch(messages({"v": 17})) == []
    assert opcua_server.read("Setpoints.Slow") == 17


# -- refused writes and fallback ----------------------------------------------------------------


def test_refused_writes_go_to_the_fallback_and_the_stream_goes_on(
    opcua_server: OpcuaServer, tmp_path: Path
) -> None:
    opcua_server.writes.clear()
    data = tmp_path / "commands.jsonl"
    docs = [
        {"target": "Setpoints.Int32", "v": 1},
        {"target": "Plant.Types.Double", "v": 2},  # read-only
        {"target": "No.Such.Node", "v": 3},
        {"target": "Setpoints.Int32", "v": "four"},
        {"target": "Setpoints.Int32", "v": 5},
    ]
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    failed = tmp_path / "failed.jsonl"
    cfg = write(
        tmp_path / "fallback.yaml",
        f"""
        input:
          file: {{ paths: [ "{data}" ], codec: lines }}
        output:
          fallback:
            - opcua:
                endpoint: {opcua_server.endpoint}
                nodeMappings:
                  - nodeId: 'ns=2;s=${{! this.target }}'
                    valueFrom: v
            - file: {{ path: "{failed}", codec: lines }}
              processors:
                - mapping: 'root = this.merge({{"error": @fallback_error}})'
        http: {{ enabled: false }}
        """,
    )
    done = run_to_end(cfg)
    assert done.returncode == 0, done.stderr
    assert opcua_server.writes["Int32"] == [1, 5]
    routed = [json.loads(line) for line in out_lines(failed)]
    assert [d["v"] for d in routed] == [2, 3, "four"]
    assert "node ns=2;s=Plant.Types.Double: the server refused the write" in routed[0]["error"]
    assert "BadUserAccessDenied" in routed[0]["error"]
    assert "node ns=2;s=No.Such.Node: BadNodeIdUnknown" in routed[1]["error"]
    assert '"four" is not a whole number for Int32' in routed[2]["error"]


# -- a server restart ---------------------------------------------------------------------------


@pytest.fixture
def restartable_server() -> Iterator[OpcuaServer]:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = OpcuaServer()
    server.start()
    yield server
    server.close()


def test_output_reconnects_after_a_server_restart(
    restartable_server: OpcuaServer, tmp_path: Path, runs: list[Run]
) -> None:
    server = restartable_server
    failed = tmp_path / "failed.jsonl"
    http_port = free_port()
    cfg = write(
        tmp_path / "restart.yaml",
        f"""
        input:
          generate:
            mapping: 'root.n = counter()'
            interval: 50ms
        output:
          fallback:
            - label: plc
              opcua:
                endpoint: {server.endpoint}
                nodeMappings: [ {{ nodeId: "{node("Setpoints.Int32")}", valueFrom: n }} ]
                write_timeout: 500ms
                maxReconnectDelay: 500ms
            - file: {{ path: "{failed}", codec: lines }}
        http: {{ address: 127.0.0.1:{http_port} }}
        """,
    )
    run = Run(cfg, http_port)
    runs.append(run)

    def written() -> list[int]:
        return list(server.writes.get("Int32", []))

    wait_until(lambda: len(written()) >= 5, 20, "writes before the restart")
    run.wait_log("opcua output plc: connected to")
    server.stop()
    wait_until(lambda: run.get("/ready")[0] == 503, 15, "/ready to report the lost server")
    assert "plc" in run.get("/ready")[1]
    wait_until(lambda: len(out_lines(failed)) >= 2, 15, "messages failing while it is away")
    before = max(written())

    server.start()
    wait_until(lambda: max(written()) > before + 5, 20, "writes after the restart")
    wait_until(lambda: run.get("/ready")[0] == 200, 10, "/ready after the restart")
    run.wait_log("opcua output plc: reconnected to")
    assert run.stop() == 0
    # every message was written or handed to the fallback: none was lost
    routed = {json.loads(line)["n"] for line in out_lines(failed)}
    values = set(written()) | routed
    assert values >= set(range(1, max(values) + 1))
    assert server.read("Setpoints.Int32") == max(written())
