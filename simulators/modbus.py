"""A Modbus TCP server (pymodbus) whose slaves 1..N are the plant's lines.

Each slave holds the same register map (`PLANT_TAGS`), all multi-register values big-endian
(byte order ABCD). Writing the `pump_running` or `valve_open` coil starts/stops the pump or
opens/closes the valve. With `tags_per_device=N` every slave instead holds N FLOAT32 holding
registers `tag0001...` that all change each interval (for benchmarks). `thing_description()`
describes the same map as a W3C WoT Thing Description with Modbus binding forms.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from streamforge.simulators._background import BackgroundServer
from streamforge.simulators._plant import RANGES, Line, Plant, bench_value
from streamforge.simulators.descriptions import TD_CONTEXT, advertised_host, nosec, url_host

__all__ = [
    "MODBUS_VOCABULARY",
    "PLANT_TAGS",
    "ModbusSimulator",
    "ModbusTag",
    "addresses",
    "tags",
    "thing_description",
]

_STRING_REGISTERS = 8  # 16 characters


@dataclass(frozen=True)
class ModbusTag:
    """One entry of the register map, in the terms of the `modbus` input's `addresses`."""

    name: str
    register: str  # coil | discrete | holding | input
    address: int
    type: str  # BIT, INT16, UINT16, UINT32, FLOAT32, STRING
    length: int = 1  # registers (STRING only)
    scale: float | None = None  # multiply the raw value by this to get `unit`
    unit: str = ""
    writable: bool = False
    description: str = ""

    def as_address(self) -> dict[str, Any]:
        """This tag as one item of the `modbus` input's `addresses` list."""
        item: dict[str, Any] = {
            "name": self.name,
            "register": self.register,
            "address": self.address,
            "type": self.type,
        }
        if self.type == "STRING":
            item["length"] = self.length
        if self.scale is not None:
            item["scale"] = self.scale
        return item


PLANT_TAGS: tuple[ModbusTag, ...] = (
    ModbusTag("boiler_temperature", "holding", 0, "FLOAT32", unit="degC",
              description="boiler water temperature"),
    ModbusTag("boiler_pressure", "holding", 2, "FLOAT32", unit="bar",
              description="boiler steam pressure"),
    ModbusTag("pump_discharge_pressure", "holding", 4, "FLOAT32", unit="bar",
              description="feed pump discharge pressure"),
    ModbusTag("valve_position", "holding", 6, "FLOAT32", unit="%",
              description="outlet valve position, 0 closed, 100 open"),
    ModbusTag("boiler_temperature_x10", "holding", 8, "INT16", scale=0.1, unit="degC",
              description="boiler temperature x10 as a 16-bit integer"),
    ModbusTag("boiler_pressure_x100", "holding", 9, "INT16", scale=0.01, unit="bar",
              description="boiler pressure x100 as a 16-bit integer"),
    ModbusTag("pump_run_seconds", "holding", 10, "UINT32", unit="s",
              description="pump run-hours counter in seconds (scale 1/3600 for hours)"),
    ModbusTag("pump_starts", "holding", 12, "UINT16",
              description="number of pump starts"),
    ModbusTag("boiler_name", "holding", 13, "STRING", length=_STRING_REGISTERS,
              description="asset name of the line's boiler, e.g. line1-boiler"),
    ModbusTag("pump_motor_current", "input", 0, "FLOAT32", unit="A",
              description="pump motor current"),
    ModbusTag("pump_speed", "input", 2, "UINT16", unit="rpm",
              description="pump shaft speed"),
    ModbusTag("pump_running", "coil", 0, "BIT", writable=True,
              description="pump running; write 1/0 to start/stop it"),
    ModbusTag("valve_open", "coil", 1, "BIT", writable=True,
              description="valve commanded open; write 1/0 to open/close it"),
    ModbusTag("pump_fault", "discrete", 0, "BIT",
              description="pump tripped; clears by itself after a while"),
)  # fmt: skip

_HOLDING_SIZE = 13 + _STRING_REGISTERS
_INPUT_SIZE = 3
_BITS = 16


def tags(tags_per_device: int | None = None) -> list[ModbusTag]:
    """The register map of every slave: the plant's, or `tags_per_device` FLOAT32 tags."""
    if tags_per_device is None:
        return list(PLANT_TAGS)
    return [
        ModbusTag(f"tag{i + 1:04d}", "holding", 2 * i, "FLOAT32", description="generated")
        for i in range(tags_per_device)
    ]


def addresses(tags_per_device: int | None = None) -> list[dict[str, Any]]:
    """The register map as a `modbus` input `addresses:` list."""
    return [tag.as_address() for tag in tags(tags_per_device)]


#: the IRI of the W3C WoT Modbus binding vocabulary, prefix `modv`
MODBUS_VOCABULARY = "https://www.w3.org/2019/wot/modbus#"
_XSD = "http://www.w3.org/2001/XMLSchema#"

_ENTITIES = {
    "holding": "HoldingRegister", "input": "InputRegister",
    "coil": "Coil", "discrete": "DiscreteInput",
}  # fmt: skip
_XSD_TYPES = {
    "BIT": "xsd:boolean", "INT16": "xsd:short", "UINT16": "xsd:unsignedShort",
    "UINT32": "xsd:unsignedInt", "FLOAT32": "xsd:float", "STRING": "xsd:string",
}  # fmt: skip
_WIDTHS = {"BIT": 1, "INT16": 1, "UINT16": 1, "UINT32": 2, "FLOAT32": 2}
_INTEGER_LIMITS = {"INT16": (-32768, 32767), "UINT16": (0, 65535), "UINT32": (0, 2**32 - 1)}
#: scaled integer tags and the plant quantity they carry
_SCALED_FROM = {
    "boiler_temperature_x10": "boiler_temperature",
    "boiler_pressure_x100": "boiler_pressure",
}


def thing_description(
    host: str,
    port: int,
    *,
    devices: int = 3,
    tags_per_device: int | None = None,
    interval: float = 0.1,
) -> dict[str, Any]:
    """A W3C WoT Thing Description (TD 1.1) of a Modbus simulator listening on `host`:`port`.

    One property per tag and slave (`line2_boiler_pressure`), each with one form in the terms of
    the WoT Modbus binding (`modv:`): unit ID, zero-based address, quantity, entity, payload type,
    byte and word order (big-endian), and the polling time (the simulator's interval). A server
    bound to every interface is described by its loopback address.
    """
    shown = advertised_host(host)
    authority = f"{url_host(shown)}:{port}"
    polling_ms = max(1, round(interval * 1000))
    properties: dict[str, Any] = {}
    for slave in range(1, devices + 1):
        for tag in tags(tags_per_device):
            properties[f"line{slave}_{tag.name}"] = _tag_property(tag, slave, authority, polling_ms)
    kind = "plant" if tags_per_device is None else "benchmark"
    slaves = "1" if devices == 1 else f"1..{devices}"
    return {
        "@context": [TD_CONTEXT, {"modv": MODBUS_VOCABULARY, "xsd": _XSD}],
        "id": f"urn:streamforge:simulator:modbus:{shown}:{port}",
        "title": f"StreamForge Modbus {kind} simulator",
        "description": (
            f"Simulated {kind} on Modbus TCP at {authority}: slave IDs {slaves}, one per "
            "process line, each with the same register map. Multi-register values are "
            "big-endian (ABCD); addresses count from 0 as on the wire."
        ),
        **nosec(),
        "properties": properties,
    }


def _tag_property(tag: ModbusTag, slave: int, authority: str, polling_ms: int) -> dict[str, Any]:
    quantity = tag.length if tag.type == "STRING" else _WIDTHS[tag.type]
    ops = ["readproperty", "observeproperty"]
    if tag.writable:
        ops.insert(1, "writeproperty")
    form: dict[str, Any] = {
        "href": f"modbus+tcp://{authority}/{slave}/{tag.address}?quantity={quantity}",
        "op": ops,
        "modv:unitID": slave,
        "modv:address": tag.address,
        "modv:quantity": quantity,
        "modv:entity": _ENTITIES[tag.register],
        "modv:type": _XSD_TYPES[tag.type],
        "modv:zeroBasedAddressing": True,
    }
    if tag.register in ("holding", "input"):
        form["modv:mostSignificantByte"] = True
        form["modv:mostSignificantWord"] = True
    form["modv:pollingTime"] = polling_ms
    description = tag.description
    if tag.description == "generated":
        description = f"generated {tag.type} value for benchmarks"
    schema: dict[str, Any] = {
        "description": f"line {slave} (slave ID {slave}): {description}",
        **_data_schema(tag),
        "readOnly": not tag.writable,
        "observable": True,
        "forms": [form],
    }
    return schema


def _data_schema(tag: ModbusTag) -> dict[str, Any]:
    """Type, unit and range of the value a client reads at the tag's registers, unscaled."""
    if tag.type == "BIT":
        return {"type": "boolean"}
    if tag.type == "STRING":
        return {"type": "string", "maxLength": 2 * tag.length}
    schema: dict[str, Any] = {"type": "number" if tag.type == "FLOAT32" else "integer"}
    measure = _SCALED_FROM.get(tag.name, tag.name)
    if tag.scale is not None:
        schema["unit"] = f"{tag.scale:g} {tag.unit}"
    elif tag.unit:
        schema["unit"] = tag.unit
    if measure in RANGES:
        _, low, high = RANGES[measure]
        if tag.scale is not None:
            low, high = low / tag.scale, high / tag.scale
        if schema["type"] == "integer":
            schema["minimum"], schema["maximum"] = round(low), round(high)
        else:
            schema["minimum"], schema["maximum"] = low, high
    elif tag.type in _INTEGER_LIMITS:
        schema["minimum"], schema["maximum"] = _INTEGER_LIMITS[tag.type]
    return schema


def _float32(value: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def _uint32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def _int16(value: float) -> int:
    return int(round(value)) & 0xFFFF


def _string(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii")[: 2 * registers].ljust(2 * registers, b"\0")
    return list(struct.unpack(f">{registers}H", raw))


def _holding(line: Line) -> list[int]:
    return [
        *_float32(line.boiler_temperature),
        *_float32(line.boiler_pressure),
        *_float32(line.pump_discharge_pressure),
        *_float32(line.valve_position),
        _int16(line.boiler_temperature * 10),
        _int16(line.boiler_pressure * 100),
        *_uint32(int(line.pump_run_seconds)),
        line.pump_starts & 0xFFFF,
        *_string(f"{line.name}-boiler", _STRING_REGISTERS),
    ]


def _input(line: Line) -> list[int]:
    return [*_float32(line.pump_motor_current), int(round(line.pump_speed))]


class _PlantCore(SimCore):
    """SimCore that answers an unknown slave with GATEWAY_NO_RESPONSE instead of failing."""

    def _known(self, device_id: int) -> None:
        if device_id not in self.devices:
            raise NoSuchIdException(f"device_id {device_id} does not exist")

    async def async_getValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        self._known(device_id)
        return await super().async_getValues(device_id, func_code, address, count)

    async def async_setValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        self._known(device_id)
        return await super().async_setValues(device_id, func_code, address, values)


_READ_COILS, _WRITE_COILS, _DISCRETE, _HOLDING, _INPUT = 1, 15, 2, 16, 4


class ModbusSimulator(BackgroundServer):
    """Modbus TCP server with slaves 1..`devices`; values change every `interval` seconds."""

    kind = "modbus simulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        devices: int = 3,
        tags_per_device: int | None = None,
        interval: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__(host, port, interval)
        if not 1 <= devices <= 247:
            raise ValueError(f"devices must be 1..247, got {devices}")
        if tags_per_device is not None and not 1 <= tags_per_device <= 32_000:
            raise ValueError(f"tags_per_device must be 1..32000, got {tags_per_device}")
        self.devices = devices
        self.tags_per_device = tags_per_device
        self.plant = Plant(lines=devices, seed=seed)
        self._server: ModbusTcpServer | None = None
        self._core: _PlantCore | None = None
        self._coils: dict[int, list[bool]] = {}
        self._bench_tick = 0

    @property
    def url(self) -> str:
        """The `controller` URL of the `modbus` input."""
        return f"tcp://{self.host}:{self.port}"

    @property
    def slave_ids(self) -> list[int]:
        return list(range(1, self.devices + 1))

    def tags(self) -> list[ModbusTag]:
        """The register map of every slave."""
        return tags(self.tags_per_device)

    def addresses(self) -> list[dict[str, Any]]:
        """The register map as a `modbus` input `addresses:` list."""
        return addresses(self.tags_per_device)

    def thing_description(self) -> dict[str, Any]:
        """This server as a W3C WoT Thing Description (the bound port once started)."""
        return thing_description(
            self.host,
            int(self.port),
            devices=self.devices,
            tags_per_device=self.tags_per_device,
            interval=self.interval,
        )

    def _device(self, slave: int) -> SimDevice:
        def bits() -> list[SimData]:
            return [SimData(0, values=[False] * _BITS, datatype=DataType.BITS)]

        def registers(count: int) -> list[SimData]:
            return [SimData(0, count=count, datatype=DataType.REGISTERS)]

        if self.tags_per_device is not None:
            holding, inputs = registers(2 * self.tags_per_device), registers(1)
        else:
            holding, inputs = registers(_HOLDING_SIZE), registers(_INPUT_SIZE)
        return SimDevice(slave, simdata=(bits(), bits(), holding, inputs))

    async def _open(self) -> int:
        devices = [self._device(slave) for slave in self.slave_ids]
        host, port = self.host, int(self.port)
        server = ModbusTcpServer(devices, address=(host, port))
        self._core = _PlantCore(devices)
        server.context = self._core
        await self._publish()
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            _raise_bind_error(host, port)
        sockets = getattr(server.transport, "sockets", None)
        if not sockets:
            await server.shutdown()
            raise OSError(f"cannot listen on {host}:{port}")
        self._server = server
        return int(sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def _tick(self) -> None:
        if self.tags_per_device is None:
            await self._take_commands()
            self.plant.step(self.interval)
        await self._publish()

    async def _take_commands(self) -> None:
        """Coils a client wrote since the last tick become pump/valve commands."""
        core = self._core
        assert core is not None
        for line in self.plant.lines:
            current = await core.async_getValues(line.index, _READ_COILS, 0, 2)
            published = self._coils.get(line.index)
            if not isinstance(current, list) or published is None:
                continue
            if bool(current[0]) != published[0]:
                line.command_pump(bool(current[0]))
            if bool(current[1]) != published[1]:
                line.command_valve(bool(current[1]))

    async def _publish(self) -> None:
        core = self._core
        assert core is not None
        if self.tags_per_device is not None:
            await self._publish_bench(core)
            return
        for line in self.plant.lines:
            slave = line.index
            coils = [line.pump_running, line.valve_open]
            self._coils[slave] = coils
            await _write(core.async_setValues, slave, _WRITE_COILS, 0, coils)
            await _write(core.async_setValues, slave, _DISCRETE, 0, [line.pump_fault])
            await _write(core.async_setValues, slave, _HOLDING, 0, _holding(line))
            await _write(core.async_setValues, slave, _INPUT, 0, _input(line))

    async def _publish_bench(self, core: _PlantCore) -> None:
        count = self.tags_per_device or 0
        self._bench_tick += 1
        for slave in self.slave_ids:
            offset = slave * count
            values = [bench_value(offset + i, self._bench_tick) for i in range(count)]
            registers = list(struct.unpack(f">{2 * count}H", struct.pack(f">{count}f", *values)))
            await _write(core.async_setValues, slave, _HOLDING, 0, registers)


def _raise_bind_error(host: str, port: int) -> NoReturn:
    """pymodbus only says it could not listen; binding once more tells why."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    raise OSError(f"cannot listen on {host}:{port}")


async def _write(
    setter: Callable[[int, int, int, list[Any]], Any],
    slave: int,
    func_code: int,
    address: int,
    values: Sequence[int] | Sequence[bool],
) -> None:
    result = await setter(slave, func_code, address, list(values))
    if result is not None:
        raise RuntimeError(f"slave {slave}: writing {func_code}@{address} failed: {result}")
