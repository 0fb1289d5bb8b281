"""The `modbus` input against real pymodbus servers: decoding, coalescing, failures, restarts."""

from __future__ import annotations

import json
import math
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.modbus_server import BlackHole, Device, ModbusServer
from peers.ports import free_port
from peers.stream_run import Run, out_lines, wait_until, write

from streamforge.inputs.modbus.device import DevicePoller
from streamforge.inputs.modbus.modbus import ModbusInput
from streamforge.message import Message
from streamforge.observability.metrics import REGISTRY
from streamforge.plugin.connection import Connection, connection

StartServer = Callable[..., ModbusServer]
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


# -- registers as a device with a given byte order holds them --------------------------------


def words(order: str, data: bytes, *, text: bool = False) -> list[int]:
    """The registers of big-endian `data` as a device using byte order `order` sends them."""
    pairs = [data[i : i + 2] for i in range(0, len(data), 2)]
    if order in ("CDAB", "DCBA") and not text:
        pairs.reverse()
    if order in ("BADC", "DCBA"):
        pairs = [p[::-1] for p in pairs]
    return [int.from_bytes(p, "big") for p in pairs]


#: (tag config, big-endian bytes the device holds, expected value); registers from address 0
VALUES: list[tuple[dict[str, Any], bytes, Any]] = [
    ({"type": "INT16"}, struct.pack(">h", -1234), -1234),
    ({"type": "UINT16"}, struct.pack(">H", 65000), 65000),
    ({"type": "INT32"}, struct.pack(">i", -123456789), -123456789),
    ({"type": "UINT32"}, struct.pack(">I", 4000000000), 4000000000),
    ({"type": "INT64"}, struct.pack(">q", -9007199254740993), -9007199254740993),
    ({"type": "UINT64"}, bytes(range(1, 9)), 0x0102030405060708),
    ({"type": "FLOAT32"}, struct.pack(">f", -1234.5), -1234.5),
    ({"type": "FLOAT64"}, struct.pack(">d", math.pi), math.pi),
    ({"type": "STRING", "length": 6}, b"StreamForge\x00", "StreamForge"),
    ({"type": "INT16", "scale": 0.1}, struct.pack(">h", 215), pytest.approx(21.5)),
    ({"type": "INT16", "scale": 2}, struct.pack(">h", -2), -4.0),
    ({"type": "UINT16", "output": "BOOL"}, struct.pack(">H", 1), True),
    ({"type": "INT16", "output": "STRING"}, struct.pack(">h", -7), "-7"),
    ({"type": "FLOAT32", "output": "INT"}, struct.pack(">f", 99.6), 100),
    ({"type": "BIT", "bit": 3}, struct.pack(">H", 0b1000), True),
    ({"type": "BIT", "bit": 2}, struct.pack(">H", 0b1000), False),
]
NAN_BYTES = struct.pack(">f", math.nan)


def device_for(order: str) -> tuple[Device, list[dict[str, Any]]]:
    """A device holding VALUES (and a NaN) in `order`, and the tags that read them."""
    holding: dict[int, int] = {}
    tags: list[dict[str, Any]] = []
    address = 0
    for i, (tag, data, _) in enumerate(VALUES):
        regs = words(order, data, text=tag["type"] == "STRING")
        holding.update({address + k: r for k, r in enumerate(regs)})
        tags.append({"name": f"v{i}", "register": "holding", "address": address, **tag})
        address += len(regs)
    holding.update({address: words(order, NAN_BYTES)[0], address + 1: words(order, NAN_BYTES)[1]})
    tags.append({"name": "nan", "address": address, "type": "FLOAT32"})
    tags.append({"name": "nan_int", "address": address, "type": "FLOAT32", "output": "INT"})
    holding[100] = words(order, struct.pack(">i", -5))[0]
    holding[101] = words(order, struct.pack(">i", -5))[1]
    extra_input = {0: holding[100], 1: holding[101]}
    tags += [
        {"name": "in32", "register": "input", "address": 0, "type": "INT32"},
        {"name": "coil_on", "register": "coil", "address": 0},
        {"name": "coil_off", "register": "coil", "address": 1},
        {"name": "di_on", "register": "discrete", "address": 2, "type": "BIT"},
    ]
    device = Device(
        coils={0: True, 1: False}, discrete={2: True}, holding=holding, input=extra_input
    )
    return device, tags


# -- reading in-process ------------------------------------------------------------------------


def first_poll(conf: dict[str, Any]) -> dict[tuple[int, str], Message]:
    """Every tag's message from the first poll of each device, through the input's readers."""
    inp = ModbusInput({"timeBetweenReads": "1h", **conf})
    expected = sum(len(tags) for _, tags in inp.devices.values())
    readers = [inp.open(p, None) for p in inp.partitions()]
    got: list[Message] = []

    def drained() -> bool:
        for reader in readers:
            got.extend(reader.read() or [])
        return len(got) >= expected

    try:
        wait_until(drained, 10, "a first poll of every device")
    finally:
        for reader in readers:
            reader.close()
    return {(m.metadata["modbus_tag_slaveid"], m.metadata["modbus_tag_name"]): m for m in got}


_connections: list[Connection] = []


@pytest.fixture(autouse=True)
def _forget_test_connections() -> Iterator[None]:
    """Connections of pollers a test drove itself do not outlive it (they would show in /ready)."""
    yield
    while _connections:
        _connections.pop().close()


def poller(controller: str, addresses: list[dict[str, Any]], slave: int = 1, **conf: Any) -> Any:
    """The poller of one device, driven by the test one poll at a time."""
    inp = ModbusInput(
        {"controller": controller, "slaveIDs": [slave], "addresses": addresses, **conf}
    )
    settings, tags = inp.devices[f"{controller}/slave/{slave}"]
    conn = connection("modbus_test", f"device_{slave}", controller)
    _connections.append(conn)
    return DevicePoller(settings, tags, lambda _m: None, threading.Event(), conn)


def by_name(messages: list[Message]) -> dict[str, Message]:
    return {m.metadata["modbus_tag_name"]: m for m in messages}


def values(messages: list[Message]) -> dict[str, Any]:
    return {m.metadata["modbus_tag_name"]: m.value for m in messages}


# -- decoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_every_type_decodes_in_every_byte_order(modbus_server: StartServer, order: str) -> None:
    device, tags = device_for(order)
    server = modbus_server({1: device})
    got = first_poll({"controller": server.controller, "byteOrder": order, "addresses": tags})
    for i, (tag, _, expected) in enumerate(VALUES):
        msg = got[(1, f"v{i}")]
        assert msg.value == expected, (tag, msg)
        assert msg.metadata["modbus_tag_datatype"] == tag["type"]
        assert "modbus_error" not in msg.metadata
    nan = got[(1, "nan")]
    assert math.isnan(nan.value) and nan.payload == b"null"
    assert got[(1, "nan_int")].value is None
    assert got[(1, "nan_int")].metadata["modbus_error"] == (
        "cannot decode tag nan_int: cannot output nan as INT"
    )
    assert got[(1, "v8")].payload == b'"StreamForge"'
    assert got[(1, "in32")].value == -5
    assert (got[(1, "coil_on")].value, got[(1, "coil_off")].value) == (True, False)
    assert got[(1, "di_on")].value is True


def test_metadata_of_a_reading(modbus_server: StartServer) -> None:
    server = modbus_server({3: Device(holding={40: 0x449A, 41: 0x5000})})
    tag = {"name": "boiler_temp", "address": 40, "type": "FLOAT32"}
    got = first_poll({"controller": server.controller, "slaveIDs": [3], "addresses": [tag]})
    meta = got[(3, "boiler_temp")].metadata
    read_time = meta.pop("modbus_read_time")
    assert meta == {
        "modbus_tag_name": "boiler_temp",
        "modbus_tag_datatype": "FLOAT32",
        "modbus_tag_address": 40,
        "modbus_tag_register": "holding",
        "modbus_tag_slaveid": 3,
        "modbus_controller": server.controller,
    }
    assert read_time.endswith("Z") and "T" in read_time


def test_rtu_frames_over_tcp(modbus_server: StartServer) -> None:
    server = modbus_server(
        {2: Device(holding={0: 0xFFFF, 1: 0xFFFE}, coils={0: True})}, framer="rtu"
    )
    p = poller(
        server.controller,
        [
            {"name": "n", "type": "INT32", "address": 0},
            {"name": "c", "register": "coil", "address": 0},
        ],
        slave=2,
        transmissionMode="RTUOverTCP",
    )
    assert values(p.poll()) == {"n": -2, "c": True}


# -- coalescing --------------------------------------------------------------------------------


def test_adjacent_tags_are_read_with_few_requests(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding={a: a for a in range(250)})})

    def requests_per_poll(n: int) -> tuple[int, dict[str, Any]]:
        p = poller(server.controller, [{"name": f"r{a}", "address": a} for a in range(n)])
        before = server.count()
        read = values(p.poll())
        return server.count() - before, read

    count, read = requests_per_poll(20)
    assert count == 1 and read == {f"r{a}": a for a in range(20)}
    count, read = requests_per_poll(200)
    assert count == 2 and read == {f"r{a}": a for a in range(200)}
    assert server.requests[-2:] == [(1, 3, 0, 125), (1, 3, 125, 75)]


# -- bad tags, devices and peers ----------------------------------------------------------------


def test_bad_tags_fail_alone_and_the_others_keep_flowing(modbus_server: StartServer) -> None:
    holding = {a: 100 + a for a in range(10) if a != 5}
    server = modbus_server({1: Device(holding=holding, coils={0: True})})
    tags = [{"name": f"h{a}", "address": a} for a in range(10)]
    tags[5]["name"] = "missing"
    tags += [
        {"name": "wrong_kind", "register": "input", "address": 0},
        {"name": "pump", "register": "coil", "address": 0},
    ]
    p = poller(server.controller, tags)
    good = {f"h{a}": 100 + a for a in range(10) if a != 5} | {"pump": True}
    for _ in range(2):
        before = server.count()
        got = by_name(p.poll())
        assert {n: m.value for n, m in got.items() if n in good} == good
        missing, wrong = got["missing"], got["wrong_kind"]
        assert missing.value is None and missing.error is None
        assert missing.metadata["modbus_exception_code"] == 2
        assert missing.metadata["modbus_error"] == (
            "illegal data address (exception 2) reading holding 5 on slave 1"
        )
        assert wrong.metadata["modbus_exception_code"] == 2
        assert "reading input 0 on slave 1" in wrong.metadata["modbus_error"]
    # the split is remembered: holding 0..4, 6..9 and 5 alone, plus the input and coil reads
    assert server.count() - before == 5
    failures = REGISTRY.get_sample_value(
        "streamforge_modbus_read_failures_total",
        {"stream": "stream", "component": "modbus", "device": p.settings.key, "tag": "missing"},
    )
    assert failures is not None and failures >= 2


def test_a_slave_that_does_not_exist(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding={0: 7})})
    got = first_poll(
        {
            "controller": server.controller,
            "slaveIDs": [1, 9],
            "addresses": [{"name": "speed", "address": 0}],
        }
    )
    assert got[(1, "speed")].value == 7
    ghost = got[(9, "speed")]
    assert ghost.value is None
    assert ghost.metadata["modbus_exception_code"] == 11
    assert ghost.metadata["modbus_error"] == (
        "gateway target device failed to respond (exception 11) reading holding 0 on slave 9"
    )


def test_a_busy_device_is_asked_again(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding={0: 42})})
    tag = [{"name": "level", "address": 0}]
    p = poller(server.controller, tag, busyRetries=3, busyRetriesWait="10ms")
    server.busy_next = 2
    assert values(p.poll()) == {"level": 42}
    server.busy_next = 10
    (msg,) = p.poll()
    assert msg.value is None and msg.metadata["modbus_exception_code"] == 6
    assert msg.metadata["modbus_error"] == (
        "server device busy (exception 6) reading holding 0 on slave 1 after 4 attempts"
    )


def test_a_server_that_never_answers_times_out(black_hole: BlackHole) -> None:
    tags = [{"name": "a", "address": 0}, {"name": "b", "address": 1}]
    p = poller(black_hole.controller, tags, timeout="200ms")
    got = by_name(p.poll())
    assert black_hole.accepted == 1
    for msg in got.values():
        assert msg.value is None and "modbus_exception_code" not in msg.metadata
        assert (
            msg.metadata["modbus_error"]
            == "no response within 0.2s reading holding 0..1 on slave 1"
        )
    assert not p.conn.connected and "no response within 0.2s" in p.conn.describe()
    again = by_name(p.poll())  # backing off: answered at once, not after another timeout
    assert again["a"].metadata["modbus_error"] == got["a"].metadata["modbus_error"]


def test_readings_resume_after_the_server_restarts(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding={0: 5})})
    p = poller(server.controller, [{"name": "x", "address": 0}])
    assert values(p.poll()) == {"x": 5} and p.conn.connected
    server.stop()
    (lost,) = p.poll()
    assert (
        lost.value is None and "connection lost reading holding 0" in lost.metadata["modbus_error"]
    )
    assert not p.conn.connected
    server.start()
    wait_until(lambda: values(p.poll()) == {"x": 5}, 15, "readings after the restart")
    assert p.conn.connected


# -- end to end ----------------------------------------------------------------------------------

MAPPING = """root = {"tag": @modbus_tag_name, "slave": @modbus_tag_slaveid, "value": this,
  "error": @modbus_error, "code": @modbus_exception_code}"""


def stream(path: Path, label: str, controller: str, out: Path, http_port: int, tags: str) -> Path:
    return write(
        path,
        f"""
        http: {{ address: 127.0.0.1:{http_port} }}
        input:
          label: {label}
          modbus:
            controller: {controller}
            slaveIDs: [ 1 ]
            timeout: 300ms
            timeBetweenReads: 100ms
            addresses:
{tags}
          processors:
            - mapping: |
                {MAPPING.replace(chr(10), chr(10) + " " * 16)}
        output:
          file: {{ path: "{out}", codec: lines }}
        """,
    )


def docs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out_lines(path)]


def test_streamforge_run_survives_a_restart_and_a_silent_device(
    modbus_server: StartServer, black_hole: BlackHole, runs: list[Run], tmp_path: Path
) -> None:
    server = modbus_server({1: Device(holding={0: 0x449A, 1: 0x5000}, coils={0: True})})
    port = free_port()
    tags = (
        " " * 14 + "- { name: temp, address: 0, type: FLOAT32 }\n"
        + " " * 14 + "- { name: pump, register: coil, address: 0 }\n"
        + " " * 14 + "- { name: nowhere, address: 9 }"
    )  # fmt: skip
    plant_out, dead_out = tmp_path / "plant.jsonl", tmp_path / "dead.jsonl"
    plant = stream(tmp_path / "plant.yaml", "plant", server.controller, plant_out, port, tags)
    dead = stream(tmp_path / "dead.yaml", "dead", black_hole.controller, dead_out, port, tags)
    run = Run(plant, port, extra_args=(str(dead),))
    runs.append(run)

    def readings(tag: str, after: int = 0) -> list[dict[str, Any]]:
        return [d for d in docs(plant_out)[after:] if d["tag"] == tag]

    wait_until(lambda: any(d["value"] == 1234.5 for d in readings("temp")), 20, "temp readings")
    assert readings("pump")[0]["value"] is True
    assert readings("nowhere")[0] == {
        "tag": "nowhere", "slave": 1, "value": None, "code": 2,
        "error": "illegal data address (exception 2) reading holding 9 on slave 1",
    }  # fmt: skip
    wait_until(lambda: len(docs(dead_out)) >= 3, 20, "timeout errors from the silent device")
    first = {d["tag"]: d["error"] for d in docs(dead_out)[:3]}
    assert first == {
        "pump": "no response within 0.3s reading coil 0 on slave 1",
        "temp": "not read, the device stopped answering: "
        "no response within 0.3s reading coil 0 on slave 1",
        "nowhere": "not read, the device stopped answering: "
        "no response within 0.3s reading coil 0 on slave 1",
    }
    status, body = run.get("/ready")
    assert status == 503 and "dead/slave/1" in body and "plant/slave/1" not in body
    status, metrics = run.get("/metrics")
    assert 'streamforge_modbus_requests_total{component="plant"' in metrics

    server.stop()
    mark = len(out_lines(plant_out))
    wait_until(
        lambda: any(d["value"] is None for d in readings("temp", mark)), 20, "errors while down"
    )
    down = next(d for d in readings("temp", mark) if d["value"] is None)
    assert "connection lost" in down["error"] or "cannot connect" in down["error"]
    server.start()
    mark = len(out_lines(plant_out))
    wait_until(lambda: any(d["value"] == 1234.5 for d in readings("temp", mark)), 20, "resumed")
    assert run.proc.poll() is None
    assert "no response within 0.3s" in run.logs() and "nowhere" in run.logs()
    assert run.stop() == 0
