"""An OPC UA server (asyncua) with the plant's line 1 as a folder tree, security None.

Namespace `urn:streamforge:plant` (index 2); folders Plant/Line1/{Boiler,Pump,Valve} with string
node ids `ns=2;s=Plant.Line1.Boiler.Temperature`. Every interval each variable gets its new value
with a source timestamp. `Plant.Line1.Pump.Running` and `Plant.Line1.Valve.Open` are writable.
With `nodes=N` the tree is instead a `Bench` folder of N Double variables `ns=2;s=Bench.Tag0001...`
that all change each interval (for benchmarks). `thing_description()` describes the variables as
a W3C WoT Thing Description whose forms name each node by `opcua:nodeId`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from asyncua import Server, ua

from streamforge.simulators._background import BackgroundServer
from streamforge.simulators._plant import RANGES, Line, Plant, bench_value
from streamforge.simulators.descriptions import (
    TD_CONTEXT,
    advertised_host,
    nosec,
    snake_case,
    url_host,
)

__all__ = [
    "NAMESPACE",
    "OPCUA_VOCABULARY",
    "PATH",
    "PLANT_NODES",
    "OpcuaNode",
    "OpcuaSimulator",
    "nodes",
    "thing_description",
]

NAMESPACE = "urn:streamforge:plant"
PATH = "/streamforge/plant"
_NS = 2


@dataclass(frozen=True)
class OpcuaNode:
    """One variable of the tree: its folder path, browse name, data type and unit."""

    folder: str  # dot-joined, e.g. Plant.Line1.Boiler
    name: str
    datatype: str  # Double, Boolean, Int32, String
    unit: str = ""
    writable: bool = False
    description: str = ""

    @property
    def path(self) -> str:
        return f"{self.folder}.{self.name}"

    @property
    def nodeid(self) -> str:
        return f"ns={_NS};s={self.path}"


_BOILER, _PUMP, _VALVE = "Plant.Line1.Boiler", "Plant.Line1.Pump", "Plant.Line1.Valve"

PLANT_NODES: tuple[OpcuaNode, ...] = (
    OpcuaNode(_BOILER, "Temperature", "Double", "degC", description="boiler water temperature"),
    OpcuaNode(_BOILER, "Pressure", "Double", "bar", description="boiler steam pressure"),
    OpcuaNode(_BOILER, "Setpoint", "Double", "degC", description="temperature setpoint"),
    OpcuaNode(_BOILER, "Name", "String", description="asset name, line1-boiler"),
    OpcuaNode(_PUMP, "Running", "Boolean", writable=True,
              description="pump running; write to start/stop it"),
    OpcuaNode(_PUMP, "Fault", "Boolean", description="pump tripped; clears by itself"),
    OpcuaNode(_PUMP, "Speed", "Int32", "rpm", description="pump shaft speed"),
    OpcuaNode(_PUMP, "MotorCurrent", "Double", "A", description="pump motor current"),
    OpcuaNode(_PUMP, "DischargePressure", "Double", "bar", description="pump discharge pressure"),
    OpcuaNode(_PUMP, "RunHours", "Double", "h", description="pump run-hours counter"),
    OpcuaNode(_PUMP, "Starts", "Int32", description="number of pump starts"),
    OpcuaNode(_VALVE, "Open", "Boolean", writable=True,
              description="valve commanded open; write to open/close it"),
    OpcuaNode(_VALVE, "Position", "Double", "%", description="valve position, 0 closed"),
)  # fmt: skip

_VALUES: dict[str, Callable[[Line], Any]] = {
    "Boiler.Temperature": lambda line: line.boiler_temperature,
    "Boiler.Pressure": lambda line: line.boiler_pressure,
    "Boiler.Setpoint": lambda line: line.setpoint,
    "Boiler.Name": lambda line: f"{line.name}-boiler",
    "Pump.Running": lambda line: line.pump_running,
    "Pump.Fault": lambda line: line.pump_fault,
    "Pump.Speed": lambda line: int(round(line.pump_speed)),
    "Pump.MotorCurrent": lambda line: line.pump_motor_current,
    "Pump.DischargePressure": lambda line: line.pump_discharge_pressure,
    "Pump.RunHours": lambda line: line.pump_run_seconds / 3600.0,
    "Pump.Starts": lambda line: line.pump_starts,
    "Valve.Open": lambda line: line.valve_open,
    "Valve.Position": lambda line: line.valve_position,
}

_VARIANT = {
    "Double": ua.VariantType.Double,
    "Boolean": ua.VariantType.Boolean,
    "Int32": ua.VariantType.Int32,
    "String": ua.VariantType.String,
}


class _SharedDataValue(ua.DataValue):
    """A value the server may hand to every subscription as it is: it is never changed after
    it is written, so asyncua's defensive deep copy per monitored item (the main cost of 1,000
    nodes at 10 Hz) is not needed."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedDataValue:
        return self


#: the IRI the `opcua:` prefix of the WoT OPC UA binding terms (`opcua:nodeId`) expands to
OPCUA_VOCABULARY = "http://opcfoundation.org/UA/"

_JSON_TYPES = {"Double": "number", "Int32": "integer", "Boolean": "boolean", "String": "string"}
#: the plant quantity behind each variable with a known range
_MEASURES = {
    "Boiler.Temperature": "boiler_temperature",
    "Boiler.Pressure": "boiler_pressure",
    "Pump.Speed": "pump_speed",
    "Pump.MotorCurrent": "pump_motor_current",
    "Pump.DischargePressure": "pump_discharge_pressure",
    "Valve.Position": "valve_position",
}
_SETPOINT_RANGE = (80.0, 90.0)  # each line draws its setpoint once, in Line.create
_INT32_MAX = 2**31 - 1


def thing_description(
    host: str, port: int, *, nodes: int | None = None, interval: float = 0.1
) -> dict[str, Any]:
    """A W3C WoT Thing Description (TD 1.1) of an OPC UA simulator listening on `host`:`port`.

    One property per variable (`line1_pump_motor_current`); its form's `href` is the server's
    endpoint and `opcua:nodeId` the variable's node id, as the WoT OPC UA binding has it. A
    server bound to every interface is described by its loopback address.
    """
    shown = advertised_host(host)
    endpoint = f"opc.tcp://{url_host(shown)}:{port}{PATH}"
    properties = {
        snake_case(spec.path.removeprefix("Plant.")): _node_property(spec, endpoint)
        for spec in _variables(nodes)
    }
    kind = "plant" if nodes is None else "benchmark"
    root = "Plant" if nodes is None else "Bench"
    return {
        "@context": [TD_CONTEXT, {"opcua": OPCUA_VOCABULARY}],
        "id": f"urn:streamforge:simulator:opcua:{shown}:{port}",
        "title": f"StreamForge OPC UA {kind} simulator",
        "description": (
            f"Simulated {kind} on OPC UA at {endpoint} (security None), namespace {NAMESPACE} "
            f"(index {_NS}); the variables are below ns={_NS};s={root} and change every "
            f"{interval:g} s."
        ),
        **nosec(),
        "properties": properties,
    }


def _node_property(spec: OpcuaNode, endpoint: str) -> dict[str, Any]:
    ops = ["readproperty", "observeproperty"]
    if spec.writable:
        ops.insert(1, "writeproperty")
    description = spec.description or f"generated {spec.datatype} value for benchmarks"
    schema: dict[str, Any] = {
        "description": f"{description} ({spec.path})",
        **_data_schema(spec),
        "readOnly": not spec.writable,
        "observable": True,
        "forms": [{"href": endpoint, "op": ops, "opcua:nodeId": spec.nodeid}],
    }
    return schema


def _data_schema(spec: OpcuaNode) -> dict[str, Any]:
    """Type, unit and range of the variable's value."""
    schema: dict[str, Any] = {"type": _JSON_TYPES[spec.datatype]}
    if spec.unit:
        schema["unit"] = spec.unit
    if not spec.folder.startswith("Plant."):
        return schema
    key = _value_key(spec)
    if key in _MEASURES:
        _, low, high = RANGES[_MEASURES[key]]
        if schema["type"] == "integer":
            low, high = round(low), round(high)
        schema["minimum"], schema["maximum"] = low, high
    elif key == "Boiler.Setpoint":
        schema["minimum"], schema["maximum"] = _SETPOINT_RANGE
    elif key == "Pump.RunHours":
        schema["minimum"] = 0.0
    elif spec.datatype == "Int32":
        schema["minimum"], schema["maximum"] = 0, _INT32_MAX
    return schema


def nodes(count: int | None = None) -> list[OpcuaNode]:
    """The variables of the tree: the plant's, or `count` generated Double variables."""
    if count is None:
        return list(PLANT_NODES)
    return [OpcuaNode("Bench", f"Tag{i + 1:04d}", "Double") for i in range(count)]


_variables = nodes  # `thing_description` takes a `nodes` count, as the simulator does


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _nodeid(path: str) -> ua.NodeId:
    return ua.NodeId(ua.String(path), ua.Int16(_NS))


def _value_key(node: OpcuaNode) -> str:
    return node.path.split(".", 2)[-1]


class OpcuaSimulator(BackgroundServer):
    """OPC UA server at opc.tcp://host:port/streamforge/plant; values change every `interval`."""

    kind = "opcua simulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        nodes: int | None = None,
        interval: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__(host, port, interval)
        if nodes is not None and not 1 <= nodes <= 100_000:
            raise ValueError(f"nodes must be 1..100000, got {nodes}")
        self.nodes = nodes
        self.plant = Plant(lines=1, seed=seed)
        self._server: Server | None = None
        self._ids: list[ua.NodeId] = []
        self._variants: list[ua.VariantType] = []
        self._getters: list[Callable[[Line], Any]] = []
        self._commands: dict[str, tuple[ua.NodeId, bool]] = {}
        self._bench_tick = 0

    @property
    def url(self) -> str:
        """The `endpoint` of the `opcua` input."""
        return f"opc.tcp://{self.host}:{self.port}{PATH}"

    @property
    def root_nodeid(self) -> str:
        """The folder a stream subscribes to: `ns=2;s=Plant` (or `ns=2;s=Bench`)."""
        return f"ns={_NS};s={'Plant' if self.nodes is None else 'Bench'}"

    def tree(self) -> list[OpcuaNode]:
        """The variables this server exposes."""
        return nodes(self.nodes)

    def thing_description(self) -> dict[str, Any]:
        """This server as a W3C WoT Thing Description (the bound port once started)."""
        return thing_description(
            self.host, int(self.port), nodes=self.nodes, interval=self.interval
        )

    async def _open(self) -> int:
        # asyncua announces the port in its endpoint descriptions before it binds, so pick one
        port = int(self.port) or _free_port(self.host)
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{port}{PATH}")
        server.set_server_name("StreamForge plant simulator")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NAMESPACE)
        if idx != _NS:
            raise RuntimeError(f"namespace {NAMESPACE} got index {idx}, expected {_NS}")
        await self._build_tree(server)
        await server.start()
        self._server = server
        await self._publish()
        return port

    async def _build_tree(self, server: Server) -> None:
        folders: dict[str, Any] = {}

        async def folder(path: str) -> Any:
            if path not in folders:
                parent_path, _, name = path.rpartition(".")
                parent = await folder(parent_path) if parent_path else server.nodes.objects
                nodeid = _nodeid(path)
                folders[path] = await parent.add_folder(nodeid, ua.QualifiedName(name, _NS))
            return folders[path]

        line = self.plant.lines[0]
        for spec in self.tree():
            parent = await folder(spec.folder)
            nodeid = _nodeid(spec.path)
            variant = _VARIANT[spec.datatype]
            getter = _VALUES[_value_key(spec)] if self.nodes is None else _zero
            var = await parent.add_variable(
                nodeid, ua.QualifiedName(spec.name, _NS), ua.Variant(getter(line), variant)
            )
            if spec.writable:
                await var.set_writable()
                self._commands[_value_key(spec)] = (nodeid, bool(getter(line)))
            self._ids.append(nodeid)
            self._variants.append(variant)
            self._getters.append(getter)

    async def _close(self) -> None:
        server, self._server = self._server, None
        self._ids, self._variants, self._getters, self._commands = [], [], [], {}
        if server is not None:
            await server.stop()

    async def _tick(self) -> None:
        if self.nodes is None:
            self._take_commands()
            self.plant.step(self.interval)
        await self._publish()

    def _take_commands(self) -> None:
        """Values a client wrote to Running/Open since the last tick become commands."""
        server = self._server
        assert server is not None
        line = self.plant.lines[0]
        for key, (nodeid, published) in self._commands.items():
            written = server.iserver.aspace.read_attribute_value(nodeid, ua.AttributeIds.Value)
            value = written.Value.Value if written.Value is not None else published
            if bool(value) == published:
                continue
            if key == "Pump.Running":
                line.command_pump(bool(value))
            else:
                line.command_valve(bool(value))

    async def _publish(self) -> None:
        server = self._server
        assert server is not None
        now = cast(ua.DateTime, datetime.now(timezone.utc))
        write = server.iserver.aspace.write_attribute_value
        attr = ua.AttributeIds.Value
        if self.nodes is None:
            line = self.plant.lines[0]
            values = [getter(line) for getter in self._getters]
        else:
            self._bench_tick += 1
            values = [bench_value(i, self._bench_tick) for i in range(len(self._ids))]
        for nodeid, variant, value in zip(self._ids, self._variants, values):
            datavalue = _SharedDataValue(
                ua.Variant(value, variant), SourceTimestamp=now, ServerTimestamp=now
            )
            await write(nodeid, attr, datavalue)
        for key, (nodeid, _) in self._commands.items():
            self._commands[key] = (nodeid, bool(_VALUES[key](self.plant.lines[0])))


def _zero(_line: Line) -> float:
    return 0.0
