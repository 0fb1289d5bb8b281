"""The simulators' Thing Descriptions, read back through their own forms by real clients.

Each property is read only from what its form says (entity, address, quantity, payload type,
byte and word order for Modbus; endpoint and node id for OPC UA), never from the simulator's
own register map, so a TD that does not match the server fails here.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asyncua import Client, ua
from peers.stream_run import wait_until
from pymodbus.client import ModbusTcpClient

from streamforge.simulators import modbus as modbus_sim
from streamforge.simulators import opcua as opcua_sim
from streamforge.simulators.modbus import ModbusSimulator
from streamforge.simulators.opcua import OpcuaSimulator

TD_11 = "https://www.w3.org/2022/wot/td/v1.1"
MODV = "https://www.w3.org/2019/wot/modbus#"

# -- what every TD needs ---------------------------------------------------------------------


def _check_td_terms(td: dict[str, Any], prefix: str, iri: str) -> None:
    """The terms TD 1.1 requires, the binding prefix, and a data schema on every property."""
    assert json.loads(json.dumps(td)) == td  # plain JSON, nothing Python-only
    context = td["@context"]
    assert context[0] == TD_11
    assert {prefix: iri}.items() <= context[1].items()
    assert td["id"].startswith("urn:streamforge:simulator:")
    assert td["title"] and td["description"]
    assert td["securityDefinitions"] == {"nosec_sc": {"scheme": "nosec"}}
    assert td["security"] == ["nosec_sc"]
    assert td["properties"]
    for name, prop in td["properties"].items():
        assert re.fullmatch(r"[a-z0-9_]+", name), name
        assert prop["type"] in ("number", "integer", "boolean", "string"), name
        assert isinstance(prop["readOnly"], bool) and prop["observable"] is True
        assert prop["description"]
        if "minimum" in prop and "maximum" in prop:
            assert prop["minimum"] <= prop["maximum"], name
        (form,) = prop["forms"]
        assert "readproperty" in form["op"] and "observeproperty" in form["op"]
        assert ("writeproperty" in form["op"]) is not prop["readOnly"]
        assert all(key.startswith(f"{prefix}:") for key in form if key not in ("href", "op"))


def _check_value(prop: dict[str, Any], value: Any, where: str) -> None:
    """`value` is of the property's type and within its minimum and maximum."""
    kinds: dict[str, tuple[type, ...]] = {
        "number": (float, int),
        "integer": (int,),
        "boolean": (bool,),
        "string": (str,),
    }
    assert isinstance(value, kinds[prop["type"]]), (where, value)
    if prop["type"] in ("number", "integer"):
        assert not isinstance(value, bool), (where, value)
        assert prop.get("minimum", value) <= value <= prop.get("maximum", value), (where, value)
    if prop["type"] == "string":
        assert value and len(value) <= prop.get("maxLength", len(value)), (where, value)


def _check_td_is_valid(td: dict[str, Any]) -> None:
    """No problems from StreamForge's own TD validation, when this build has it."""
    try:
        from streamforge.wot.validation import check_td
    except ImportError:
        return
    assert not check_td(td)


# -- Modbus ----------------------------------------------------------------------------------

_READS = {
    "HoldingRegister": "read_holding_registers",
    "InputRegister": "read_input_registers",
    "Coil": "read_coils",
    "DiscreteInput": "read_discrete_inputs",
}
_UNPACK = {
    "xsd:short": "h", "xsd:unsignedShort": "H", "xsd:int": "i", "xsd:unsignedInt": "I",
    "xsd:float": "f", "xsd:double": "d",
}  # fmt: skip


def _modbus_client(td: dict[str, Any]) -> ModbusTcpClient:
    """A client connected to the host and port the TD's first form names."""
    url = urlsplit(next(iter(td["properties"].values()))["forms"][0]["href"])
    assert url.hostname and url.port
    client = ModbusTcpClient(url.hostname, port=url.port, timeout=3)
    assert client.connect()
    return client


def _modbus_read(client: ModbusTcpClient, form: dict[str, Any]) -> Any:
    """Read and decode one property using nothing but its form's terms."""
    url = urlsplit(form["href"])
    assert url.scheme == "modbus+tcp"
    assert (url.hostname, url.port) == (client.comm_params.host, client.comm_params.port)
    unit, address = (int(part) for part in url.path.strip("/").split("/"))
    quantity = int(parse_qs(url.query)["quantity"][0])
    assert (unit, address, quantity) == (
        form["modv:unitID"], form["modv:address"], form["modv:quantity"],
    )  # fmt: skip
    if not form.get("modv:zeroBasedAddressing", False):
        address -= 1  # the binding's default: the first register is address 1
    read = getattr(client, _READS[form["modv:entity"]])
    resp = read(address, count=quantity, device_id=unit)
    assert not resp.isError(), (form["href"], resp)
    kind = form["modv:type"]
    if kind == "xsd:boolean":
        assert quantity == 1
        return bool(resp.bits[0])
    words = list(resp.registers)
    assert len(words) == quantity
    if not form.get("modv:mostSignificantWord", True) and kind != "xsd:string":
        words.reverse()
    raw = struct.pack(f">{quantity}H", *words)
    if not form.get("modv:mostSignificantByte", True):
        raw = b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw), 2))
    if kind == "xsd:string":
        return raw.rstrip(b"\0").decode("ascii")
    fmt = _UNPACK[kind]
    assert struct.calcsize(fmt) == 2 * quantity, (kind, quantity)
    return struct.unpack(f">{fmt}", raw)[0]


@pytest.fixture(scope="module")
def modbus_server() -> Iterator[ModbusSimulator]:
    with ModbusSimulator(devices=3, interval=0.05, seed=7) as sim:
        yield sim  # type: ignore[misc]


def test_the_modbus_td_has_the_td_terms_and_one_property_per_tag_and_slave(
    modbus_server: ModbusSimulator,
) -> None:
    td = modbus_server.thing_description()
    _check_td_terms(td, "modv", MODV)
    assert td["@context"][1]["xsd"] == "http://www.w3.org/2001/XMLSchema#"
    assert td["id"] == f"urn:streamforge:simulator:modbus:127.0.0.1:{modbus_server.port}"
    assert len(td["properties"]) == 3 * len(modbus_sim.PLANT_TAGS)
    temperature = td["properties"]["line2_boiler_temperature"]
    assert temperature["unit"] == "degC"
    assert (temperature["minimum"], temperature["maximum"]) == (15.0, 120.0)
    (form,) = temperature["forms"]
    assert form["href"] == f"modbus+tcp://127.0.0.1:{modbus_server.port}/2/0?quantity=2"
    assert form["modv:entity"] == "HoldingRegister" and form["modv:type"] == "xsd:float"
    assert form["modv:pollingTime"] == 50
    assert td["properties"]["line1_pump_running"]["readOnly"] is False
    assert td["properties"]["line1_pump_fault"]["forms"][0]["modv:entity"] == "DiscreteInput"
    _check_td_is_valid(td)


def test_every_modbus_property_reads_through_its_form_within_its_range(
    modbus_server: ModbusSimulator,
) -> None:
    td = modbus_server.thing_description()
    client = _modbus_client(td)
    try:
        values = {}
        for name, prop in td["properties"].items():
            (form,) = prop["forms"]
            values[name] = _modbus_read(client, form)
            _check_value(prop, values[name], name)
    finally:
        client.close()
    assert values["line3_boiler_name"] == "line3-boiler"
    # the scaled copy agrees with the float: the two forms point at the same quantity
    assert abs(values["line1_boiler_temperature_x10"] / 10 - values["line1_boiler_temperature"]) < 2


def test_writing_a_coil_through_its_form_moves_the_valve(modbus_server: ModbusSimulator) -> None:
    td = modbus_server.thing_description()
    coil = td["properties"]["line2_valve_open"]["forms"][0]
    position = td["properties"]["line2_valve_position"]["forms"][0]
    assert "writeproperty" in coil["op"] and coil["modv:entity"] == "Coil"
    client = _modbus_client(td)
    try:
        wanted = not _modbus_read(client, coil)
        written = client.write_coil(coil["modv:address"], wanted, device_id=coil["modv:unitID"])
        assert not written.isError()
        target = 100.0 if wanted else 0.0
        wait_until(
            lambda: abs(_modbus_read(client, position) - target) < 1.0, 15, "the valve to travel"
        )
        assert _modbus_read(client, coil) is wanted
    finally:
        client.close()


def test_the_benchmark_modbus_td_describes_the_generated_tags() -> None:
    with ModbusSimulator(devices=2, tags_per_device=20, interval=0.05) as sim:
        td = sim.thing_description()
        _check_td_terms(td, "modv", MODV)
        assert len(td["properties"]) == 40
        client = _modbus_client(td)
        try:
            for name, prop in td["properties"].items():
                value = _modbus_read(client, prop["forms"][0])
                _check_value(prop, value, name)
                assert 0 < value < 200
        finally:
            client.close()


def test_a_server_bound_to_every_interface_is_described_by_its_loopback_address() -> None:
    td = modbus_sim.thing_description("0.0.0.0", 5020, devices=1)
    assert td["id"] == "urn:streamforge:simulator:modbus:127.0.0.1:5020"
    hrefs = {p["forms"][0]["href"] for p in td["properties"].values()}
    assert all(h.startswith("modbus+tcp://127.0.0.1:5020/1/") for h in hrefs)
    td = opcua_sim.thing_description("0.0.0.0", 4840)
    assert td["properties"]["line1_pump_speed"]["forms"][0]["href"] == (
        "opc.tcp://127.0.0.1:4840/streamforge/plant"
    )
    td = opcua_sim.thing_description("::", 4841)
    assert td["properties"]["line1_pump_speed"]["forms"][0]["href"].startswith(
        "opc.tcp://[::1]:4841/"
    )


# -- OPC UA ----------------------------------------------------------------------------------

_VARIANT_TYPES = {
    "number": {"Double", "Float"},
    "integer": {"Int16", "Int32", "Int64", "UInt16", "UInt32", "UInt64"},
    "boolean": {"Boolean"},
    "string": {"String"},
}


async def _opcua_read_all(td: dict[str, Any]) -> dict[str, ua.DataValue]:
    """Every property's value, read at its form's endpoint and `opcua:nodeId`."""
    found: dict[str, ua.DataValue] = {}
    clients: dict[str, Client] = {}
    try:
        for name, prop in td["properties"].items():
            (form,) = prop["forms"]
            href = form["href"]
            assert href.startswith("opc.tcp://")
            if href not in clients:
                clients[href] = Client(href)
                await clients[href].connect()
            node = clients[href].get_node(form["opcua:nodeId"])
            found[name] = await node.read_data_value()
    finally:
        for client in clients.values():
            await client.disconnect()
    return found


@pytest.fixture(scope="module")
def opcua_server() -> Iterator[OpcuaSimulator]:
    with OpcuaSimulator(interval=0.05, seed=7) as sim:
        yield sim  # type: ignore[misc]


def test_every_opcua_property_reads_through_its_form_within_its_range(
    opcua_server: OpcuaSimulator,
) -> None:
    td = opcua_server.thing_description()
    _check_td_terms(td, "opcua", "http://opcfoundation.org/UA/")
    assert td["id"] == f"urn:streamforge:simulator:opcua:127.0.0.1:{opcua_server.port}"
    assert len(td["properties"]) == len(opcua_sim.PLANT_NODES)
    assert td["properties"]["line1_boiler_temperature"]["unit"] == "degC"
    assert td["properties"]["line1_valve_open"]["readOnly"] is False
    _check_td_is_valid(td)

    values = asyncio.run(_opcua_read_all(td))
    assert set(values) == set(td["properties"])
    for name, dv in values.items():
        prop = td["properties"][name]
        assert dv.StatusCode is None or dv.StatusCode.is_good(), name
        assert dv.Value is not None
        assert dv.Value.VariantType.name in _VARIANT_TYPES[prop["type"]], name
        _check_value(prop, dv.Value.Value, name)
    assert values["line1_boiler_name"].Value.Value == "line1-boiler"  # type: ignore[union-attr]


def test_the_benchmark_opcua_td_describes_the_bench_folder() -> None:
    with OpcuaSimulator(nodes=25, interval=0.05) as sim:
        td = sim.thing_description()
        _check_td_terms(td, "opcua", "http://opcfoundation.org/UA/")
        assert list(td["properties"])[:2] == ["bench_tag0001", "bench_tag0002"]
        values = asyncio.run(_opcua_read_all(td))
    assert len(values) == 25
    for name, dv in values.items():
        assert dv.Value is not None
        _check_value(td["properties"][name], dv.Value.Value, name)


# -- streamforge simulate --td-out -----------------------------------------------------------


def _simulate(kind: str, td_out: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    """Start `streamforge simulate KIND --td-out`; returns the process and its port once it
    says it wrote the TD."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamforge", "simulate", kind, "--port", "0",
         "--interval", "50ms", "--td-out", str(td_out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = [proc.stdout.readline()]
    while lines[-1] and not lines[-1].startswith("thing description written to"):
        lines.append(proc.stdout.readline())
    match = re.search(r"(?:tcp|opc\.tcp)://127\.0\.0\.1:(\d+)", lines[0])
    if match is None or lines[-1] != f"thing description written to {td_out}\n":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"unexpected output {lines!r}: {err}")
    return proc, int(match.group(1))


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_simulate_modbus_td_out_writes_the_same_td(tmp_path: Path) -> None:
    td_file = tmp_path / "modbus.td.json"
    proc, port = _simulate("modbus", td_file, "--devices", "2")
    try:
        written = json.loads(td_file.read_text())
        assert written == modbus_sim.thing_description("127.0.0.1", port, devices=2, interval=0.05)
        client = _modbus_client(written)
        try:
            prop = written["properties"]["line2_boiler_pressure"]
            _check_value(prop, _modbus_read(client, prop["forms"][0]), "line2_boiler_pressure")
        finally:
            client.close()
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulate_opcua_td_out_writes_the_same_td(tmp_path: Path) -> None:
    td_file = tmp_path / "opcua.td.json"
    proc, port = _simulate("opcua", td_file)
    try:
        written = json.loads(td_file.read_text())
        assert written == opcua_sim.thing_description("127.0.0.1", port, interval=0.05)
        values = asyncio.run(_opcua_read_all(written))
        _check_value(
            written["properties"]["line1_pump_motor_current"],
            values["line1_pump_motor_current"].Value.Value,  # type: ignore[union-attr]
            "line1_pump_motor_current",
        )
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulate_td_out_to_a_missing_folder_fails_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamforge", "simulate", "modbus", "--port", "0",
         "--td-out", str(tmp_path / "no" / "such" / "td.json")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert "streamforge simulate:" in result.stderr and "td.json" in result.stderr
