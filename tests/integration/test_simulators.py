"""The plant simulators read by real pymodbus and asyncua clients, and `streamforge simulate`."""

from __future__ import annotations

import asyncio
import math
import re
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from asyncua import Client, ua
from peers.stream_run import wait_until
from pymodbus.client import ModbusTcpClient

from streamforge.simulators.modbus import PLANT_TAGS, ModbusSimulator, ModbusTag
from streamforge.simulators.opcua import PLANT_NODES, OpcuaSimulator

# -- Modbus ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def modbus_sim() -> Iterator[ModbusSimulator]:
    with ModbusSimulator(devices=3, interval=0.05, seed=4) as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture
def client(modbus_sim: ModbusSimulator) -> Iterator[ModbusTcpClient]:
    c = ModbusTcpClient("127.0.0.1", port=modbus_sim.port, timeout=3)
    assert c.connect()
    yield c
    c.close()


def _read(client: ModbusTcpClient, tag: ModbusTag, slave: int) -> Any:
    """Read and decode one tag as a client would (ABCD byte order)."""
    if tag.register in ("coil", "discrete"):
        read = client.read_coils if tag.register == "coil" else client.read_discrete_inputs
        resp = read(tag.address, count=1, device_id=slave)
        assert not resp.isError(), resp
        return bool(resp.bits[0])
    count = {"INT16": 1, "UINT16": 1, "UINT32": 2, "FLOAT32": 2, "STRING": tag.length}[tag.type]
    read = (
        client.read_holding_registers
        if tag.register == "holding"
        else (client.read_input_registers)
    )
    resp = read(tag.address, count=count, device_id=slave)
    assert not resp.isError(), resp
    raw = struct.pack(f">{count}H", *resp.registers)
    if tag.type == "STRING":
        return raw.rstrip(b"\0").decode()
    value = struct.unpack(
        {"INT16": ">h", "UINT16": ">H", "UINT32": ">I", "FLOAT32": ">f"}[tag.type], raw
    )[0]
    return value * tag.scale if tag.scale is not None else value


def _tag(name: str) -> ModbusTag:
    return next(t for t in PLANT_TAGS if t.name == name)


def test_every_slave_serves_the_register_map_with_plausible_values(
    client: ModbusTcpClient,
) -> None:
    for slave in (1, 2, 3):
        values = {tag.name: _read(client, tag, slave) for tag in PLANT_TAGS}
        assert 15 <= values["boiler_temperature"] <= 120
        assert 0 < values["boiler_pressure"] < 10
        assert abs(values["boiler_temperature_x10"] - values["boiler_temperature"]) < 2
        assert abs(values["boiler_pressure_x100"] - values["boiler_pressure"]) < 0.2
        assert 0 <= values["valve_position"] <= 100
        assert values["pump_run_seconds"] > 1000 * 3600
        assert values["pump_starts"] > 0
        assert values["boiler_name"] == f"line{slave}-boiler"
        assert 0 <= values["pump_motor_current"] < 20
        if values["pump_running"]:
            assert values["pump_speed"] > 0
        assert isinstance(values["pump_fault"], bool)


def test_values_change_between_reads(client: ModbusTcpClient) -> None:
    tag = _tag("boiler_temperature")
    first = _read(client, tag, 1)
    wait_until(lambda: _read(client, tag, 1) != first, 5, "boiler_temperature to change")


def test_writing_the_valve_coil_moves_the_valve(client: ModbusTcpClient) -> None:
    coil, position = _tag("valve_open"), _tag("valve_position")
    wanted = not _read(client, coil, 2)
    assert not client.write_coil(coil.address, wanted, device_id=2).isError()
    target = 100.0 if wanted else 0.0
    start = _read(client, position, 2)
    wait_until(
        lambda: (
            abs(_read(client, position, 2) - target) < abs(start - target) - 5 or (start == target)
        ),
        10,
        f"valve position to move towards {target}",
    )
    assert _read(client, coil, 2) is wanted


def test_a_slave_that_does_not_exist_and_an_illegal_address_get_exceptions(
    client: ModbusTcpClient,
) -> None:
    missing = client.read_holding_registers(0, count=2, device_id=9)
    assert missing.isError() and missing.exception_code == 11
    beyond = client.read_holding_registers(0, count=40, device_id=1)
    assert beyond.isError() and beyond.exception_code == 2


def test_generated_tags_all_change_each_interval() -> None:
    with ModbusSimulator(devices=2, tags_per_device=50, interval=0.05) as sim:
        addresses = sim.addresses()
        assert [a["address"] for a in addresses] == list(range(0, 100, 2))
        assert {a["type"] for a in addresses} == {"FLOAT32"}
        c = ModbusTcpClient("127.0.0.1", port=sim.port, timeout=3)
        assert c.connect()
        try:

            def floats(slave: int) -> tuple[float, ...]:
                regs = c.read_holding_registers(0, count=100, device_id=slave).registers
                return struct.unpack(">50f", struct.pack(">100H", *regs))

            first = floats(1)
            assert all(math.isfinite(v) for v in first)
            assert floats(2) != first
            wait_until(
                lambda: all(a != b for a, b in zip(first, floats(1))), 5, "all 50 tags to change"
            )
        finally:
            c.close()


def test_a_stopped_simulator_starts_again_on_the_same_port() -> None:
    sim = ModbusSimulator(devices=1, interval=0.05)
    sim.start()
    port = sim.port
    sim.stop()
    sim.start()
    try:
        assert sim.port == port
        c = ModbusTcpClient("127.0.0.1", port=port, timeout=3)
        assert c.connect()
        assert _read(c, _tag("boiler_name"), 1) == "line1-boiler"
        c.close()
    finally:
        sim.stop()


# -- OPC UA ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def opcua_sim() -> Iterator[OpcuaSimulator]:
    with OpcuaSimulator(interval=0.05, seed=4) as sim:
        yield sim  # type: ignore[misc]


async def _browse(node: Any, depth: int = 0) -> dict[str, tuple[str, Any, ua.DataValue]]:
    """Every variable below `node`: node id -> (folder path, browse name, data value)."""
    found: dict[str, tuple[str, Any, ua.DataValue]] = {}
    for child in await node.get_children():
        if await child.read_node_class() == ua.NodeClass.Variable:
            name = (await child.read_browse_name()).Name
            found[child.nodeid.to_string()] = (name, child, await child.read_data_value())
        else:
            found.update(await _browse(child, depth + 1))
    return found


def _value(dv: ua.DataValue) -> Any:
    assert dv.Value is not None
    return dv.Value.Value


def test_the_opcua_tree_browses_with_the_documented_node_ids(opcua_sim: OpcuaSimulator) -> None:
    async def run() -> dict[str, tuple[str, Any, ua.DataValue]]:
        async with Client(opcua_sim.url) as client:
            assert await client.get_namespace_index("urn:streamforge:plant") == 2
            line1 = client.get_node("ns=2;s=Plant.Line1")
            folders = [(await c.read_browse_name()).Name for c in await line1.get_children()]
            assert folders == ["Boiler", "Pump", "Valve"]
            return await _browse(client.get_node(opcua_sim.root_nodeid))

    found = asyncio.run(run())
    assert set(found) == {n.nodeid for n in PLANT_NODES}
    for spec in PLANT_NODES:
        name, _, dv = found[spec.nodeid]
        assert name == spec.name
        assert dv.Value is not None and dv.Value.VariantType.name == spec.datatype
        assert dv.SourceTimestamp is not None
        assert dv.StatusCode is None or dv.StatusCode.is_good()
    assert _value(found["ns=2;s=Plant.Line1.Boiler.Name"][2]) == "line1-boiler"
    assert 15 <= _value(found["ns=2;s=Plant.Line1.Boiler.Temperature"][2]) <= 120


def test_opcua_values_change_and_the_valve_follows_a_write(opcua_sim: OpcuaSimulator) -> None:
    async def run() -> None:
        async with Client(opcua_sim.url) as client:
            temperature = client.get_node("ns=2;s=Plant.Line1.Boiler.Temperature")
            first = await temperature.read_data_value()
            for _ in range(100):
                again = await temperature.read_data_value()
                if _value(again) != _value(first):
                    break
                await asyncio.sleep(0.05)
            assert _value(again) != _value(first)
            assert again.SourceTimestamp and first.SourceTimestamp
            assert again.SourceTimestamp > first.SourceTimestamp

            valve_open = client.get_node("ns=2;s=Plant.Line1.Valve.Open")
            position = client.get_node("ns=2;s=Plant.Line1.Valve.Position")
            wanted = not await valve_open.read_value()
            await valve_open.write_value(ua.DataValue(ua.Variant(wanted, ua.VariantType.Boolean)))
            target = 100.0 if wanted else 0.0
            start = await position.read_value()
            for _ in range(200):
                if abs(await position.read_value() - target) < abs(start - target) - 5:
                    break
                await asyncio.sleep(0.05)
            assert start == target or abs(await position.read_value() - target) < abs(
                start - target
            )
            assert await valve_open.read_value() is wanted

    asyncio.run(run())


def test_a_thousand_bench_nodes_all_change_through_a_subscription() -> None:
    class Changes:
        def __init__(self) -> None:
            self.seen: dict[str, set[float]] = {}

        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            self.seen.setdefault(node.nodeid.to_string(), set()).add(val)

    async def run(sim: OpcuaSimulator) -> int:
        handler = Changes()
        async with Client(sim.url) as client:
            nodes = [client.get_node(n.nodeid) for n in sim.tree()]
            sub = await client.create_subscription(100, handler)
            await sub.subscribe_data_change(nodes, sampling_interval=ua.Double(100))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while loop.time() < deadline:
                if len(handler.seen) == 1000 and all(len(v) >= 3 for v in handler.seen.values()):
                    break
                await asyncio.sleep(0.1)
            await sub.delete()
        return sum(1 for v in handler.seen.values() if len(v) >= 3)

    with OpcuaSimulator(nodes=1000, interval=0.1) as sim:
        assert sim.root_nodeid == "ns=2;s=Bench"
        assert asyncio.run(run(sim)) == 1000


# -- the command -----------------------------------------------------------------------------


def test_simulate_modbus_prints_where_it_listens_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamforge", "simulate", "modbus", "--port", "0",
         "--devices", "2", "--seed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"modbus simulator: 2 devices on tcp://127\.0\.0\.1:(\d+) .*\n", line)
        assert match, line
        client = ModbusTcpClient("127.0.0.1", port=int(match.group(1)), timeout=3)
        assert client.connect()
        assert _read(client, _tag("boiler_name"), 2) == "line2-boiler"
        client.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
