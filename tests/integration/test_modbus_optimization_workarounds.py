"""benthos-umh `modbus` fields against a real pymodbus server, requests counted server-side:
optimization (none, max_insert, rearrange), workarounds (oneRequestPerField,
readCoilsStartingAtZero, timeBetweenRequests, pauseAfterConnect, stringRegisterLocation) and
unifiedAddresses (the same readings as the classic address list)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from peers.modbus_server import Device, ModbusServer
from peers.stream_run import wait_until

from streamforge.inputs.modbus.device import DevicePoller
from streamforge.inputs.modbus.modbus import ModbusInput
from streamforge.message import Message
from streamforge.plugin.connection import Connection, connection

StartServer = Callable[..., ModbusServer]
_connections: list[Connection] = []


@pytest.fixture(autouse=True)
def _forget_test_connections() -> Iterator[None]:
    yield
    while _connections:
        _connections.pop().close()


def poller(server: ModbusServer, **conf: Any) -> DevicePoller:
    """The poller of slave 1, driven by the test one poll at a time."""
    inp = ModbusInput({"controller": server.controller, "slaveIDs": [1], **conf})
    settings, tags = inp.devices[f"{server.controller}/slave/1"]
    conn = connection("modbus_umh_test", "device_1", server.controller)
    _connections.append(conn)
    return DevicePoller(settings, tags, lambda _m: None, threading.Event(), conn)


def values(messages: list[Message]) -> dict[str, Any]:
    assert all("modbus_error" not in m.metadata for m in messages), [m.metadata for m in messages]
    return {m.metadata["modbus_tag_name"]: m.value for m in messages}


def one_poll(server: ModbusServer, **conf: Any) -> tuple[dict[str, Any], list[tuple[int, ...]]]:
    """The values of one poll and the requests the server got for it."""
    p = poller(server, **conf)
    try:
        before = server.count()
        read = values(p.poll())
        return read, list(server.requests[before:])
    finally:
        p.client.close()


HOLDING = {a: 1000 + a for a in (0, 1, 2, 10, 11, 40, 41, 42, 43)}
TAGS = [
    {"name": "a0", "address": 0},
    {"name": "a1", "address": 1},
    {"name": "a2", "address": 2},
    {"name": "b10", "address": 10, "type": "UINT32"},
    {"name": "c40", "address": 40},
    {"name": "c42", "address": 42, "type": "INT32"},
]
EXPECTED = {
    "a0": 1000, "a1": 1001, "a2": 1002, "b10": (1010 << 16) | 1011, "c40": 1040,
    "c42": (1042 << 16) | 1043,
}  # fmt: skip


# -- optimization ---------------------------------------------------------------------------------


def test_none_merges_touching_registers_only(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding=HOLDING)})
    read, requests = one_poll(server, addresses=TAGS)
    assert read == EXPECTED
    assert requests == [(1, 3, 0, 3), (1, 3, 10, 2), (1, 3, 40, 1), (1, 3, 42, 2)]
    read, requests = one_poll(server, addresses=TAGS, optimization="shrink")
    assert read == EXPECTED and len(requests) == 4


def test_max_insert_reads_holes_up_to_the_fill(modbus_server: StartServer) -> None:
    holding = {a: 1000 + a for a in range(0, 44)}
    server = modbus_server({1: Device(holding=holding)})
    read, requests = one_poll(
        server, addresses=TAGS, optimization="max_insert", optimizationMaxRegisterFill=7
    )
    # holes: 3..9 (7 registers, filled), 12..39 (28, not), 41 (1, filled)
    assert read == EXPECTED
    assert requests == [(1, 3, 0, 12), (1, 3, 40, 4)]
    read, requests = one_poll(
        server, addresses=TAGS, optimization="max_insert", optimizationMaxRegisterFill=50
    )
    assert read == EXPECTED and requests == [(1, 3, 0, 44)]
    # the default fill is 50
    read, requests = one_poll(server, addresses=TAGS, optimization="max_insert")
    assert requests == [(1, 3, 0, 44)]


def test_rearrange_makes_the_fewest_reads_of_the_fewest_registers(
    modbus_server: StartServer,
) -> None:
    holding = {a: a for a in range(0, 250)}
    server = modbus_server({1: Device(holding=holding)})
    addresses = [{"name": f"r{a}", "address": a} for a in (0, 1, 100, 124, 130, 240)]
    read, requests = one_poll(server, addresses=addresses, optimization="rearrange")
    assert read == {f"r{a}": a for a in (0, 1, 100, 124, 130, 240)}
    # two reads are the fewest (0..240 is more than 125 registers); of the two-read splits,
    # 0..1 + 100..240 is too long, 0..124 + 130..240 reads 236 registers, 0..100 + 124..240 218
    assert requests == [(1, 3, 0, 101), (1, 3, 124, 117)]
    _, aggressive = one_poll(server, addresses=addresses, optimization="aggressive")
    assert aggressive == requests
    _, plain = one_poll(server, addresses=addresses)
    assert len(plain) == 5


# -- workarounds ----------------------------------------------------------------------------------


def test_one_request_per_field(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding=HOLDING, coils={0: True, 1: False})})
    tags = [*TAGS, {"name": "k0", "register": "coil", "address": 0}, {"name": "k1",
            "register": "coil", "address": 1}]  # fmt: skip
    read, requests = one_poll(
        server, addresses=tags, optimization="max_insert",
        workarounds={"oneRequestPerField": True},
    )  # fmt: skip
    assert read == {**EXPECTED, "k0": True, "k1": False}
    assert len(requests) == len(tags)
    assert sorted(requests) == sorted(
        [(1, 3, 0, 1), (1, 3, 1, 1), (1, 3, 2, 1), (1, 3, 10, 2), (1, 3, 40, 1), (1, 3, 42, 2),
         (1, 1, 0, 1), (1, 1, 1, 1)]
    )  # fmt: skip
    _, merged = one_poll(server, addresses=tags)
    assert len(merged) == 5


def test_read_coils_starting_at_zero(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(coils={8: True, 9: False, 30: True})})
    tags = [
        {"name": "c8", "register": "coil", "address": 8},
        {"name": "c9", "register": "coil", "address": 9},
        {"name": "c30", "register": "coil", "address": 30},
    ]
    read, requests = one_poll(server, addresses=tags)
    assert read == {"c8": True, "c9": False, "c30": True}
    assert requests == [(1, 1, 8, 2), (1, 1, 30, 1)]
    read, requests = one_poll(server, addresses=tags, workarounds={"readCoilsStartingAtZero": True})
    assert read == {"c8": True, "c9": False, "c30": True}
    assert requests == [(1, 1, 0, 10), (1, 1, 30, 1)]


def test_time_between_requests_and_pause_after_connect(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding=HOLDING)})
    started = time.monotonic()
    read, requests = one_poll(server, addresses=TAGS)
    quick = time.monotonic() - started
    assert len(requests) == 4 and quick < 0.5
    started = time.monotonic()
    read, requests = one_poll(server, addresses=TAGS, workarounds={"timeBetweenRequests": "150ms"})
    spaced = time.monotonic() - started
    assert read == EXPECTED and len(requests) == 4
    assert spaced >= 3 * 0.15, spaced  # three gaps between four requests
    started = time.monotonic()
    read, _ = one_poll(server, addresses=TAGS, workarounds={"pauseAfterConnect": "400ms"})
    assert read == EXPECTED and time.monotonic() - started >= 0.4


def test_string_register_location(modbus_server: StartServer) -> None:
    # a device putting one character in each register's lower byte, another in the upper one
    lower = {20 + i: ord(c) for i, c in enumerate("PUMP")}
    upper = {30 + i: ord(c) << 8 for i, c in enumerate("FAN1")}
    both = {40: 0x4142, 41: 0x4344}
    server = modbus_server({1: Device(holding={**lower, **upper, **both})})
    tags = [
        {"name": "low", "address": 20, "type": "STRING", "length": 4},
        {"name": "up", "address": 30, "type": "STRING", "length": 4},
        {"name": "both", "address": 40, "type": "STRING", "length": 2},
    ]
    read, _ = one_poll(server, addresses=tags, workarounds={"stringRegisterLocation": "lower"})
    assert read["low"] == "PUMP" and read["both"] == "BD"
    read, _ = one_poll(server, addresses=tags, workarounds={"stringRegisterLocation": "upper"})
    assert read["up"] == "FAN1" and read["both"] == "AC"
    read, _ = one_poll(server, addresses=tags)
    assert read["both"] == "ABCD" and read["low"] == "\x00P\x00U\x00M\x00P"  # both bytes


# -- unifiedAddresses -----------------------------------------------------------------------------


def test_unified_addresses_read_what_the_address_list_reads(modbus_server: StartServer) -> None:
    holding = {**HOLDING, 50: 0x5354, 51: 0x4F50, 60: 215, 70: 0b1000}
    server = modbus_server(
        {1: Device(holding=holding, coils={3: True}, input={5: 7}), 2: Device(holding={0: 42})}
    )
    classic = [
        *TAGS,
        {"name": "text", "address": 50, "type": "STRING", "length": 2},
        {"name": "scaled", "address": 60, "type": "INT16", "scale": 0.1, "output": "FLOAT"},
        {"name": "flag", "address": 70, "type": "BIT", "bit": 3},
        {"name": "coil3", "register": "coil", "address": 3, "type": "BIT"},
        {"name": "in5", "register": "input", "address": 5, "type": "UINT16"},
    ]
    unified = [
        "a0.holding.0.INT16", "a1.holding.1.INT16", "a2.holding.2.INT16",
        "b10.holding.10.UINT32", "c40.holding.40.INT16", "c42.holding.42.INT32",
        "text.holding.50.STRING:length=2", "scaled.holding.60.INT16:scale=0.1:output=FLOAT64",
        "flag.holding.70.BIT:bit=3", "coil3.coil.3.BIT", "in5.input.5.UINT16",
    ]  # fmt: skip
    by_classic, requests_classic = one_poll(server, addresses=classic)
    by_unified, requests_unified = one_poll(server, unifiedAddresses=unified)
    assert by_unified == by_classic
    assert by_unified["text"] == "STOP" and by_unified["scaled"] == pytest.approx(21.5)
    assert by_unified["flag"] is True and by_unified["coil3"] is True and by_unified["in5"] == 7
    assert requests_unified == requests_classic


def test_unified_address_slave_option_through_the_input(modbus_server: StartServer) -> None:
    server = modbus_server({1: Device(holding={0: 11}), 2: Device(holding={0: 22, 5: 55})})
    inp = ModbusInput(
        {
            "controller": server.controller,
            "slaveIDs": [1, 2],
            "timeBetweenReads": "1h",
            "unifiedAddresses": ["v.holding.0.INT16", "only2.holding.5.INT16:slave=2"],
        }
    )
    readers = [inp.open(p, None) for p in inp.partitions()]
    got: list[Message] = []

    def drained() -> bool:
        for reader in readers:
            got.extend(reader.read() or [])
        return len(got) >= 3

    try:
        wait_until(drained, 10, "a poll of both slaves")
    finally:
        for reader in readers:
            reader.close()
    seen = {(m.metadata["modbus_tag_slaveid"], m.metadata["modbus_tag_name"]): m.value for m in got}
    assert seen == {(1, "v"): 11, (2, "v"): 22, (2, "only2"): 55}
