"""`modbus` input: polls tags of Modbus TCP devices, one partition per device (slave ID).

Field names follow benthos-umh so its configs port as they are. Each device is polled on a
thread of its own (a QueuedReader), so a silent device never holds a Bytewax worker.
pymodbus is imported when the input is built, not to register it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from streamforge.durations import parse_duration
from streamforge.inputs.modbus import metrics as _metrics  # noqa: F401 - registers the metric families
from streamforge.inputs.modbus.plan import OPTIMIZATIONS
from streamforge.inputs.modbus.tags import (
    BYTE_ORDERS,
    DATA_TYPES,
    OUTPUTS,
    REGISTERS,
    TRANSMISSION_MODES,
    Tag,
    parse_controller,
    parse_slave_ids,
    parse_tag,
    parse_tags,
)
from streamforge.inputs.modbus.unified import parse_unified_addresses, unified_entries
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.connection import connection
from streamforge.plugin.readers import QueuedReader
from streamforge.plugin.spec import ParsedField

if TYPE_CHECKING:
    from streamforge.inputs.modbus.device import DeviceSettings

__all__ = ["ModbusInput", "ModbusReader"]

_TAG_FIELDS = (
    Field("name", "string", description="Tag name, passed on as `modbus_tag_name`."),
    Field(
        "register",
        "string",
        default="holding",
        options=tuple(REGISTERS),
        description="Register kind: coil, discrete (input), holding or input (register).",
    ),
    Field("address", "int", description="Address of the first register or bit, 0..65535."),
    Field(
        "type",
        "string",
        default="",
        options=tuple(DATA_TYPES),
        description=(
            "Data type. Coils and discrete inputs hold BIT only; empty means BIT for them and "
            "INT16 for registers. 32-bit types span 2 registers, 64-bit types 4."
        ),
    ),
    Field(
        "length",
        "int",
        default=0,
        description=(
            "Registers the tag spans. STRING needs it (2 characters per register); for other "
            "types 0 means the type's own length and any other value must equal it."
        ),
    ),
    Field(
        "scale",
        "float",
        default=1.0,
        description="Factor applied to numbers; a scale other than 1 makes the output FLOAT.",
    ),
    Field(
        "output",
        "string",
        default="",
        options=OUTPUTS,
        description=(
            "Type of the payload: BOOL, INT (floats are rounded), FLOAT or STRING. Empty means "
            "the data type's own: BOOL for BIT, FLOAT for floats and scaled numbers, else INT."
        ),
    ),
    Field(
        "slaveID",
        "int",
        default=None,
        description=(
            "Read this tag from this slave only (it becomes a device of its own when it is "
            "not in slaveIDs). Unset: the tag is read from every slave of slaveIDs."
        ),
    ),
    Field(
        "bit",
        "int",
        default=None,
        description="For type BIT on a holding or input register: the bit of the register's "
        "16-bit value (byte order applied), 0 (least significant, the default) to 15. On a coil "
        "or discrete input, whose address names one bit already, it changes nothing.",
    ),
)

_DESCRIPTION = """\
Polls the configured tags of one or more Modbus devices every `timeBetweenReads` and emits one
message per tag per poll. The payload is the value as JSON (bool, number or quoted string; numbers
after `scale`). A FLOAT32/FLOAT64 holding NaN keeps `NaN` as the message's structured value;
its serialised payload is `null` (JSON has no NaN).

Metadata: `modbus_tag_name`, `modbus_tag_datatype` (e.g. FLOAT32), `modbus_tag_address`,
`modbus_tag_register` (coil, discrete, holding, input), `modbus_tag_slaveid`,
`modbus_controller` and `modbus_read_time` (RFC 3339, when the gateway got the reading).

A tag that cannot be read (an exception response, a timeout, an unreachable device, a value
its output type cannot hold) still gives its message, with a `null` payload, `modbus_error`
naming the cause and, when the device answered with a Modbus exception,
`modbus_exception_code` (e.g. 2 illegal address, 6 device busy, 11 gateway target failed). The
message's error is not set: a missing reading is data of BAD quality.

Each device (controller and slave ID) is a partition, e.g. `tcp://10.0.0.5:502/slave/1`, so
devices spread over workers; each is polled on its own thread. Tags of one register kind are
read together as `optimization` says, up to 125 registers (2000 bits) per request: `none`
(and `shrink`) merge tags whose registers touch, `max_insert` also reads holes of up to
`optimizationMaxRegisterFill` registers, `rearrange` (and `aggressive`) make the fewest reads
and, among those, read the fewest registers. When the device rejects a merged read (illegal
address, function or value), its tags are read one by one so only the bad tag reports the
error, and the read stays split. Busy devices (exception 6) are asked again `busyRetries`
times. A device that stops answering is reconnected with backoff; its tags report it
unreachable until it answers again. `workarounds` take benthos-umh's device quirks:
`pauseAfterConnect`, `oneRequestPerField`, `readCoilsStartingAtZero`, `timeBetweenRequests`,
`stringRegisterLocation`.
Metrics: `streamforge_modbus_requests_total` and `streamforge_modbus_poll_seconds` per device,
`streamforge_modbus_read_failures_total` per tag; `/ready` names devices that do not answer."""

_EXAMPLE = """\
modbus:
  controller: tcp://192.168.0.10:502
  transmissionMode: TCP
  slaveIDs: [ 1 ]
  timeBetweenReads: 1s
  byteOrder: ABCD
  addresses:
    - { name: boiler_temp, register: holding, address: 0, type: FLOAT32 }
    - { name: flow, register: input, address: 10, type: INT16, scale: 0.1 }
    - { name: pump_running, register: coil, address: 0, type: BIT }
    - { name: alarm_active, register: holding, address: 20, type: BIT, bit: 3 }
    - { name: serial_no, register: holding, address: 30, type: STRING, length: 8 }"""


#: `workarounds.stringRegisterLocation` values ("" = both bytes)
STRING_LOCATIONS = ("", "lower", "upper")


def _addresses(raw: Any) -> Any:
    """`addresses` (may be empty when `unifiedAddresses` is used)."""
    if raw:
        parse_tags(raw)
    return raw


def _unified(raw: Any) -> Any:
    if raw:
        parse_unified_addresses(raw)
    return raw


def _optimization(value: Any) -> str:
    text = str(value or "none")
    if text not in OPTIMIZATIONS:
        raise ValueError(f"{text!r} is not one of {', '.join(OPTIMIZATIONS)}")
    return text


def _max_fill(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")
    return value


def _string_location(value: Any) -> str:
    text = str(value or "").lower()
    if text not in STRING_LOCATIONS:
        raise ValueError(f"{value!r} is not one of lower, upper or empty (both bytes)")
    return text


def _workarounds(raw: Any) -> dict[str, Any]:
    """The checked `workarounds` object, with its defaults."""
    conf = raw if isinstance(raw, dict) else {}
    return {
        "pause_after_connect": _nonnegative(
            "workarounds.pauseAfterConnect", conf.get("pauseAfterConnect", "0s")
        ),
        "one_per_field": bool(conf.get("oneRequestPerField", False)),
        "coils_from_zero": bool(conf.get("readCoilsStartingAtZero", False)),
        "between_requests": _nonnegative(
            "workarounds.timeBetweenRequests", conf.get("timeBetweenRequests", "0s")
        ),
        "string_location": _string_location(conf.get("stringRegisterLocation", "")),
    }


def _nonnegative(name: str, value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"{name} must not be negative")
    return seconds


@register_input(
    "modbus",
    fields=[
        ParsedField(
            "controller",
            "string",
            default="tcp://localhost:502",
            parser=parse_controller,
            description="The device or gateway, `tcp://host:port` (port 502 when omitted).",
            examples=("tcp://192.168.0.10:502",),
        ),
        Field(
            "transmissionMode",
            "string",
            default="TCP",
            options=TRANSMISSION_MODES,
            description="TCP (Modbus TCP framing) or RTUOverTCP (RTU frames over a TCP socket, "
            "as serial gateways speak it).",
        ),
        ParsedField(
            "slaveIDs",
            "array",
            default=[1],
            item=Field("slaveID", "int"),
            parser=parse_slave_ids,
            description="Slave (unit) IDs to poll; each is a device and a partition.",
            examples=([1], [1, 2, 3]),
        ),
        Field("timeout", "duration", default="1s", description="How long a request waits."),
        Field(
            "busyRetries",
            "int",
            default=3,
            description="Times a read answered with exception 6 (device busy) is asked again.",
        ),
        Field(
            "busyRetriesWait",
            "duration",
            default="200ms",
            description="Wait before asking a busy device again.",
        ),
        Field(
            "timeBetweenReads",
            "duration",
            default="1s",
            description="Poll period: each poll of a device starts this long after the last.",
        ),
        Field(
            "byteOrder",
            "string",
            default="ABCD",
            options=BYTE_ORDERS,
            description=(
                "Order of the bytes of multi-byte values as the device sends them, A most "
                "significant: ABCD big-endian, DCBA little-endian, BADC byte-swapped words, "
                "CDAB swapped word order. 16-bit values only swap bytes (BADC, DCBA)."
            ),
        ),
        ParsedField(
            "optimization",
            "string",
            default="none",
            parser=_optimization,
            options=OPTIMIZATIONS,
            description=(
                "How tags are batched into reads: none and shrink merge tags whose registers "
                "touch; max_insert also reads holes of up to `optimizationMaxRegisterFill` "
                "registers; rearrange and aggressive make the fewest reads, then read the "
                "fewest registers."
            ),
        ),
        ParsedField(
            "optimizationMaxRegisterFill",
            "int",
            default=50,
            parser=_max_fill,
            description="With max_insert: the largest hole (registers, or bits) read over.",
        ),
        Field(
            "workarounds",
            "object",
            default={},
            description="Device quirks, as benthos-umh names them; leave alone unless needed.",
            fields=(
                Field(
                    "pauseAfterConnect",
                    "duration",
                    default="0s",
                    description="Wait this long after connecting before the first request.",
                ),
                Field(
                    "oneRequestPerField",
                    "bool",
                    default=False,
                    description="Read every tag with a request of its own.",
                ),
                Field(
                    "readCoilsStartingAtZero",
                    "bool",
                    default=False,
                    description="Start the first coil read at address 0 (devices that need it).",
                ),
                Field(
                    "timeBetweenRequests",
                    "duration",
                    default="0s",
                    description="Least time between two requests to the device.",
                ),
                ParsedField(
                    "stringRegisterLocation",
                    "string",
                    default="",
                    parser=_string_location,
                    description=(
                        "STRINGs use only the lower or the upper byte of each register (after "
                        "byteOrder); empty: both."
                    ),
                ),
            ),
        ),
        ParsedField(
            "unifiedAddresses",
            "array",
            default=[],
            parser=_unified,
            item=Field("unifiedAddress", "string"),
            description=(
                "The tags as strings, `name.register.address.type[:key=value]...` (options "
                "slave, length, bit, scale, output), instead of `addresses`."
            ),
            examples=(
                [
                    "temperature.holding.100.INT16",
                    "serial.holding.200.STRING:length=10",
                    "pressure.holding.300.FLOAT32:scale=0.1:output=FLOAT64",
                ],
            ),
        ),
        ParsedField(
            "addresses",
            "array",
            default=[],
            parser=_addresses,
            item=ParsedField("address", "object", default={}, fields=_TAG_FIELDS, parser=parse_tag),
            description="The tags to read (names unique per slave); or use `unifiedAddresses`.",
            examples=(
                [
                    {"name": "temperature", "register": "holding", "address": 0, "type": "FLOAT32"},
                    {"name": "running", "register": "coil", "address": 5, "type": "BIT"},
                ],
            ),  # fmt: skip
        ),
    ],
    summary="Polls tags of Modbus TCP devices; one message per tag per poll.",
    description=_DESCRIPTION,
    examples=(_EXAMPLE,),
)
class ModbusInput(Input):
    """Polls tags of Modbus TCP devices; one message per tag per poll."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        from streamforge.inputs.modbus.device import DeviceSettings

        controller = str(conf.get("controller") or "tcp://localhost:502").strip()
        host, port = parse_controller(controller)
        if "://" not in controller:
            controller = f"tcp://{controller}"
        mode = str(conf.get("transmissionMode") or "TCP")
        modes = {m.upper(): m for m in TRANSMISSION_MODES}
        if mode.upper() not in modes:
            raise ValueError(f"transmissionMode {mode!r} is not one of TCP, RTUOverTCP")
        byte_order = str(conf.get("byteOrder") or "ABCD").upper()
        if byte_order not in BYTE_ORDERS:
            raise ValueError(f"byteOrder {byte_order!r} is not one of {', '.join(BYTE_ORDERS)}")
        busy_retries = int(conf.get("busyRetries", 3) or 0)
        if busy_retries < 0:
            raise ValueError("busyRetries must not be negative")
        timeout = _nonnegative("timeout", conf.get("timeout", "1s"))
        if timeout <= 0:
            raise ValueError("timeout must be greater than 0")
        period = _nonnegative("timeBetweenReads", conf.get("timeBetweenReads", "1s"))
        workarounds = _workarounds(conf.get("workarounds"))
        optimization = _optimization(conf.get("optimization", "none"))
        max_fill = _max_fill(conf.get("optimizationMaxRegisterFill", 50))
        raw_tags = conf.get("addresses") or []
        unified = conf.get("unifiedAddresses") or []
        if raw_tags and unified:
            raise ValueError("unifiedAddresses: use it or addresses, not both")
        if unified:
            parse_unified_addresses(unified)
            raw_tags = unified_entries(unified)
        elif not raw_tags:
            raise ValueError("addresses: at least one tag is required (or unifiedAddresses)")
        self.stream = getattr(ctx, "stream", "") or "stream"
        self.label = getattr(ctx, "label", "") or "modbus"
        slaves = parse_slave_ids(conf.get("slaveIDs", [1]))
        self.devices: dict[str, tuple[DeviceSettings, list[Tag]]] = {}
        for slave, tags in _tags_by_slave(slaves, raw_tags).items():
            settings = DeviceSettings(
                controller=controller,
                host=host,
                port=port,
                slave_id=slave,
                rtu_over_tcp=modes[mode.upper()] == "RTUOverTCP",
                timeout=timeout,
                busy_retries=busy_retries,
                busy_retries_wait=_nonnegative(
                    "busyRetriesWait", conf.get("busyRetriesWait", "200ms")
                ),
                period=period,
                byte_order=byte_order,
                optimization=optimization,
                max_fill=max_fill,
                **workarounds,
            )
            self.devices[settings.key] = (settings, tags)
        _quiet_pymodbus()

    def partitions(self) -> list[str]:
        return list(self.devices)

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        if partition not in self.devices:
            raise ValueError(f"modbus: no device {partition!r} in this config")
        settings, tags = self.devices[partition]
        return ModbusReader(settings, tags, stream=self.stream, component=self.label)


def _tags_by_slave(slaves: list[int], raw_tags: Any) -> dict[int, list[Tag]]:
    """The tags of each device: tags without slaveID go to every slave of slaveIDs."""
    tags = parse_tags(raw_tags)
    by_slave: dict[int, list[Tag]] = {s: [] for s in slaves}
    first: dict[tuple[int, str], int] = {}
    for i, tag in enumerate(tags):
        targets = slaves if tag.slave_id is None else [tag.slave_id]
        for slave in targets:
            seen = first.setdefault((slave, tag.name), i)
            if seen != i:
                raise ValueError(
                    f"addresses[{i}] ({tag.name}): duplicate tag name on slave {slave}, "
                    f"first used by addresses[{seen}]"
                )
            by_slave.setdefault(slave, []).append(tag)
    return {s: t for s, t in by_slave.items() if t}


def _quiet_pymodbus() -> None:
    """pymodbus logs every failed request itself; this input reports them rate-limited."""
    library = logging.getLogger("pymodbus")
    if library.level == logging.NOTSET:
        library.setLevel(logging.CRITICAL)


class ModbusReader(QueuedReader):
    """One device: a polling thread puts each poll's messages, `read()` drains them."""

    def __init__(
        self, settings: DeviceSettings, tags: list[Tag], *, stream: str, component: str
    ) -> None:
        from streamforge.inputs.modbus.device import DevicePoller

        super().__init__()
        self.settings = settings
        self.conn = connection(
            stream, f"{component}/slave/{settings.slave_id}", settings.controller
        )
        self.poller = DevicePoller(
            settings, tags, self.put, self.stopping, self.conn, stream=stream, component=component
        )
        self._thread = threading.Thread(
            target=self.poller.run, name=f"modbus {settings.key}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        super().close()
        self._thread.join(self.settings.timeout * 2 + self.settings.busy_retries_wait + 1.0)
        self.conn.close()
