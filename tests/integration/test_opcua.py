"""The `opcua` input against a real asyncua server: types, browsing, subscriptions, security,
bad nodes and a server restart (the last through `streamforge run`)."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from peers.modbus_server import BlackHole
from peers.opcua_server import (
    TYPE_VALUES,
    USERS,
    OpcuaServer,
    ServerCertificate,
    node,
)
from peers.ports import free_port
from peers.stream_run import Run, out_lines, wait_until, write

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


# -- data types, browsing, polling, subscriptions -----------------------------------------------


def test_every_data_type_with_its_metadata(opcua_server: OpcuaServer, reading: Any) -> None:
    r = reading({"endpoint": opcua_server.endpoint, "nodeIDs": [node("Plant.Types")]})
    r.until(lambda ms: len(ms) >= len(TYPE_VALUES), "one poll of every type")
    got = r.by_path()
    expected = {
        "Double": (3.25, "number"), "Float": (1.5, "number"), "Int16": (-1234, "number"),
        "Int32": (-123456, "number"), "Int64": (-(2**40), "number"),
        "UInt16": (65535, "number"), "UInt32": (4_000_000_000, "number"),
        "UInt64": (2**63 + 5, "number"), "Byte": (200, "number"), "SByte": (-100, "number"),
        "Boolean": (True, "bool"), "String": ("hello, plant", "string"),
        "DateTime": ("2024-05-06T07:08:09.123456Z", "string"),
        "ByteString": (base64.b64encode(b"\x00\x01\xff").decode(), "string"),
        "DoubleArray": ([1.5, -2.5, 3.0], "other"), "Int32Array": ([1, 2, 3], "other"),
        "StringArray": (["a", "b"], "other"),
    }  # fmt: skip
    assert set(expected) == set(TYPE_VALUES)
    for name, (value, tag_type) in expected.items():
        m = got[f"Types.{name}"]
        assert m.value == value, name
        meta = m.metadata
        declared = name.removesuffix("Array")
        assert meta["opcua_tag_name"] == name
        assert meta["opcua_tag_type"] == tag_type, name
        assert meta["opcua_attr_datatype"] == declared
        assert meta["opcua_attr_nodeid"] == node(f"Plant.Types.{name}")
        assert meta["opcua_attr_statuscode"] == "Good"
        assert meta["opcua_endpoint"] == opcua_server.endpoint
        assert RFC3339_NANO.match(meta["opcua_source_timestamp"]), meta
        assert RFC3339_NANO.match(meta["opcua_server_timestamp"]), meta
        assert m.error is None and "opcua_error" not in meta
    # what a file output writes: numbers and arrays as JSON, strings as they are
    assert got["Types.UInt64"].payload == b"9223372036854775813"
    assert got["Types.DoubleArray"].payload == b"[1.5,-2.5,3]"
    assert got["Types.String"].payload == b"hello, plant"


def test_folder_browse_over_nested_folders(opcua_server: OpcuaServer, reading: Any) -> None:
    r = reading({"endpoint": opcua_server.endpoint, "nodeIDs": [node("Plant")]})
    r.until(lambda ms: any(m.metadata["opcua_tag_name"] == "Speed" for m in ms), "a poll")
    r.until(lambda ms: len({m.metadata["opcua_tag_path"] for m in ms}) < len(ms), "two polls")
    paths = {m.metadata["opcua_tag_path"] for m in r.messages}
    # objects (HasComponent) and folders (Organizes) are both followed
    assert "Plant.Line1.Boiler.Temperature" in paths
    assert "Plant.Line1.Pump.Speed" in paths
    assert "Plant.Counter" in paths
    assert "Plant.Types.DoubleArray" in paths
    # Deep/V0 is 2 levels below Plant, Deep/L1/.../Lk/Vk is k+2: ten levels at most
    deep = sorted(p for p in paths if ".Deep." in p)
    assert "Plant.Deep.L1.L2.L3.L4.L5.L6.L7.L8.V8" in deep
    assert not any(p.endswith(".V9") or p.endswith(".V10") for p in deep)
    assert len(deep) == 9
    temp = r.by_path()["Plant.Line1.Boiler.Temperature"]
    assert temp.value == 71.5 and temp.metadata["opcua_tag_name"] == "Temperature"


def test_polling_sees_values_written_on_the_server(opcua_server: OpcuaServer, reading: Any) -> None:
    r = reading(
        {
            "endpoint": opcua_server.endpoint,
            "nodeIDs": [node("Plant.Counter")],
            "pollInterval": 0.05,
        }
    )
    r.until(lambda ms: len(ms) >= 1, "a first poll")
    opcua_server.write("Plant.Counter", 4242, ua.VariantType.Int32)
    r.until(lambda ms: ms[-1].value == 4242, "the written value")
    assert all(m.metadata["opcua_tag_path"] == "Counter" for m in r.messages)


def test_subscription_delivers_each_change(opcua_server: OpcuaServer, reading: Any) -> None:
    r = reading(
        {
            "endpoint": opcua_server.endpoint,
            "nodeIDs": [node("Plant.Counter"), node("Plant.Line1.Boiler")],
            "subscribeEnabled": True,
            "samplingInterval": "50ms",
        }
    )
    # the server sends every monitored item's current value first
    r.until(lambda ms: len(ms) >= 4, "the initial values")
    assert {m.metadata["opcua_tag_name"] for m in r.messages} == {
        "Counter", "Temperature", "Pressure", "Running",
    }  # fmt: skip
    for n in range(1, 6):
        opcua_server.write("Plant.Counter", 1000 + n, ua.VariantType.Int32)
        r.until(lambda ms, n=n: ms[-1].value == 1000 + n, f"change {n}")
    counter = [m.value for m in r.messages if m.metadata["opcua_tag_name"] == "Counter"]
    assert counter[-5:] == [1001, 1002, 1003, 1004, 1005]
    opcua_server.write_status("Plant.Counter", ua.StatusCodes.UncertainLastUsableValue)
    r.until(
        lambda ms: ms[-1].metadata["opcua_attr_statuscode"] == "UncertainLastUsableValue",
        "an uncertain value",
    )
    assert r.messages[-1].value == 1005


def test_unknown_node_is_bad_while_the_others_flow(
    opcua_server: OpcuaServer, reading: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "streamforge.inputs.opcua")
    r = reading(
        {
            "endpoint": opcua_server.endpoint,
            "nodeIDs": ["ns=2;s=No.Such.Node", node("Plant.Line1.Pump.Speed")],
            "pollInterval": 0.05,
        }
    )
    r.until(lambda ms: sum(m.metadata["opcua_tag_name"] == "Speed" for m in ms) >= 3, "3 polls")
    bad = [m for m in r.messages if m.metadata["opcua_attr_nodeid"] == "ns=2;s=No.Such.Node"]
    assert bad, "no message for the unknown node"
    m = bad[0]
    assert m.payload == b"null" and m.error is None
    assert m.metadata["opcua_attr_statuscode"] == "BadNodeIdUnknown"
    assert "ns=2;s=No.Such.Node" in m.metadata["opcua_error"]
    assert "does not exist" in m.metadata["opcua_error"]
    speed = [x for x in r.messages if x.metadata["opcua_tag_name"] == "Speed"]
    assert all(x.value == 1450 and x.metadata["opcua_attr_statuscode"] == "Good" for x in speed)
    logged = [rec.getMessage() for rec in caplog.records]
    assert sum("No.Such.Node" in line and "BadNodeIdUnknown" in line for line in logged) == 1


def test_unknown_node_in_a_subscription(opcua_server: OpcuaServer, reading: Any) -> None:
    r = reading(
        {
            "endpoint": opcua_server.endpoint,
            "nodeIDs": ["ns=2;i=999999", node("Plant.Types.Double")],
            "subscribeEnabled": True,
            "samplingInterval": "50ms",
        }
    )
    r.until(lambda ms: len(ms) >= 2, "the unknown node and the value")
    by_id = {m.metadata["opcua_attr_nodeid"]: m for m in r.messages}
    assert by_id["ns=2;i=999999"].metadata["opcua_attr_statuscode"] == "BadNodeIdUnknown"
    assert by_id[node("Plant.Types.Double")].value == 3.25


# -- security -----------------------------------------------------------------------------------


def secure_conf(server: OpcuaServer, certs: Path, **extra: Any) -> dict[str, Any]:
    user, password = next(iter(USERS.items()))
    return {
        "endpoint": server.endpoint,
        "nodeIDs": [node("Plant.Line1.Boiler")],
        "securityMode": "SignAndEncrypt",
        "securityPolicy": "Basic256Sha256",
        "username": user,
        "password": password,
        "certificateDir": str(certs),
        "pollInterval": 0.1,
        **extra,
    }


def test_signed_and_encrypted_session_with_user_and_pinned_certificate(
    opcua_secure_server: OpcuaServer,
    opcua_server_certificate: ServerCertificate,
    tmp_path: Path,
    reading: Any,
) -> None:
    certs = tmp_path / "pki"
    r = reading(
        secure_conf(
            opcua_secure_server,
            certs,
            serverCertificateFingerprint=opcua_server_certificate.sha256,
        )
    )
    r.until(lambda ms: len(ms) >= 3, "values over the encrypted session")
    assert r.by_path()["Boiler.Temperature"].value == 71.5
    assert r.reader.conn.connected
    r.close()
    cert = (certs / "client_cert.der").read_bytes()
    # the certificate is kept and used again; Sign mode with a SHA-1 pin (colon form) works too
    sha1 = opcua_server_certificate.sha1
    pin = ":".join(sha1[i : i + 2] for i in range(0, len(sha1), 2)).upper()
    again = reading(
        secure_conf(
            opcua_secure_server, certs, securityMode="Sign", serverCertificateFingerprint=pin
        )
    )
    again.until(lambda ms: len(ms) >= 3, "values over the signed session")
    assert (certs / "client_cert.der").read_bytes() == cert


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"password": "wrong"}, "the server rejected user 'operator' (BadUserAccessDenied)"),
        ({"username": "", "password": ""}, "the server refuses anonymous sessions"),
        (
            {"serverCertificateFingerprint": "ab" * 32},
            "does not match serverCertificateFingerprint",
        ),
        (
            {"securityPolicy": "Aes256_Sha256_RsaPss"},
            "the server offers no endpoint with securityPolicy Aes256_Sha256_RsaPss",
        ),
    ],
    ids=["wrong-password", "anonymous", "wrong-fingerprint", "policy-not-offered"],
)
def test_refused_connections_say_why(
    opcua_secure_server: OpcuaServer,
    tmp_path: Path,
    reading: Any,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
    expected: str,
) -> None:
    caplog.set_level(logging.ERROR, "streamforge.inputs.opcua")
    r = reading(secure_conf(opcua_secure_server, tmp_path / "pki", **change))
    wait_until(lambda: expected in r.reader.conn.last_error, 15, f"the error {expected!r}")
    assert not r.reader.conn.connected
    line = next(rec.getMessage() for rec in caplog.records if expected in rec.getMessage())
    assert opcua_secure_server.endpoint in line and "opcua_in" in line
    assert r.drain() == [] and r.messages == []


def test_rejected_client_certificate_names_the_certificate(
    opcua_secure_server: OpcuaServer, tmp_path: Path, reading: Any
) -> None:
    async def reject(cert: Any, app: Any) -> None:
        raise ua.uaerrors.BadCertificateUntrusted()

    server = opcua_secure_server._server
    assert server is not None
    server.set_certificate_validator(reject)
    try:
        r = reading(secure_conf(opcua_secure_server, tmp_path / "pki"))
        wait_until(lambda: "rejected the client certificate" in r.reader.conn.last_error, 15, "")
        assert str(tmp_path / "pki" / "client_cert.der") in r.reader.conn.last_error
    finally:
        server.iserver.certificate_validator = None


def test_a_server_that_never_answers_is_a_timeout_naming_the_endpoint(
    black_hole: BlackHole, tmp_path: Path, reading: Any
) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{black_hole.port}/plant"
    r = reading(
        {
            "endpoint": endpoint,
            "nodeIDs": ["ns=2;s=Plant"],
            "timeout": "500ms",
            "certificateDir": str(tmp_path / "pki"),
        }
    )
    wait_until(lambda: bool(r.reader.conn.last_error), 15, "a connection error")
    assert not r.reader.conn.connected
    assert r.reader.conn.describe() == (
        f"opcua_test/opcua_in: not connected to {endpoint} (no answer within 0.5s)"
    )
    wait_until(lambda: black_hole.accepted >= 2, 15, "a second attempt to connect")
    assert r.drain() == []


# -- a whole stream: server restart ----------------------------------------------------------------


@pytest.fixture
def restartable_server() -> Iterator[OpcuaServer]:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = OpcuaServer()
    server.start()
    yield server
    server.close()


def test_stream_resumes_after_a_server_restart(
    restartable_server: OpcuaServer, tmp_path: Path, runs: list[Run]
) -> None:
    server = restartable_server
    out = tmp_path / "out.jsonl"
    http_port = free_port()
    cfg = write(
        tmp_path / "opcua.yaml",
        f"""
        input:
          label: plant_opcua
          opcua:
            endpoint: {server.endpoint}
            nodeIDs: [ "{node("Plant.Counter")}", "{node("Plant.Line1")}" ]
            subscribeEnabled: true
            samplingInterval: 50ms
            maxReconnectDelay: 1s
        pipeline:
          processors:
            - mapping: |
                root.value = this
                root.meta = @
        output:
          file: {{ path: "{out}", codec: lines }}
        http: {{ address: 127.0.0.1:{http_port} }}
        """,
    )
    run = Run(cfg, http_port)
    runs.append(run)

    def counters() -> list[Any]:
        docs = [json.loads(line) for line in out_lines(out)]
        return [d["value"] for d in docs if d["meta"]["opcua_tag_name"] == "Counter"]

    wait_until(lambda: len(out_lines(out)) >= 5, 20, "the initial values")
    first = json.loads(out_lines(out)[0])
    assert first["meta"]["opcua_endpoint"] == server.endpoint
    server.write("Plant.Counter", 1, ua.VariantType.Int32)
    wait_until(lambda: 1 in counters(), 10, "a change before the restart")

    server.stop()
    wait_until(lambda: run.get("/ready")[0] == 503, 15, "/ready to report the lost server")
    status, body = run.get("/ready")
    assert "plant_opcua" in body and server.endpoint in body
    run.wait_log("lost the connection")

    server.start()
    # a restarted server starts from 0 again; the input subscribes anew and gets it
    wait_until(lambda: run.get("/ready")[0] == 200, 20, "/ready after the restart")
    server.write("Plant.Counter", 2, ua.VariantType.Int32)
    wait_until(lambda: 2 in counters(), 15, "a change after the restart")
    assert counters().index(2) > counters().index(1)
    _, metrics = run.get("/metrics")
    reconnects = [
        line
        for line in metrics.splitlines()
        if line.startswith("streamforge_reconnects_total{") and "plant_opcua" in line
    ]
    assert reconnects and float(reconnects[0].rsplit(" ", 1)[1]) >= 1
    assert run.proc.poll() is None
    assert run.stop() == 0
