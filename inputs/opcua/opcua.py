"""`opcua` input: values of OPC UA variables, by subscription or polling (benthos-umh fields).

The asyncua client runs on its own thread and event loop (`_opcua_session`) and hands messages
to a `QueuedReader`, so a slow or silent server never holds a Bytewax worker. One partition.
asyncua is imported when a node id is parsed or the input is built, not to register it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from streamforge.connectors.opcua import (
    connection_fields,
    endpoint_field,
    parse_connection,
    parse_endpoint,
    parse_node_id,
    quiet_asyncua,
)
from streamforge.durations import parse_duration
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.connection import connection
from streamforge.plugin.readers import QueuedReader
from streamforge.plugin.spec import ParsedField

__all__ = ["OpcuaInput", "OpcuaReader", "parse_endpoint", "parse_interval_ms", "parse_node_id"]

log = logging.getLogger("streamforge.inputs.opcua")

_METADATA = (
    "Metadata of every message: `opcua_tag_name` (browse name), `opcua_tag_path` (browse path "
    "from the configured node, dot-joined), `opcua_tag_type` (number, string, bool or other), "
    "`opcua_source_timestamp` and `opcua_server_timestamp` (RFC 3339 UTC with nanoseconds; "
    "absent when the server gave none), `opcua_attr_nodeid`, `opcua_attr_datatype` (e.g. "
    "Double), `opcua_attr_statuscode` (e.g. Good, UncertainLastUsableValue, BadNodeIdUnknown), "
    "`opcua_endpoint`. The payload is the value: numbers and booleans as JSON, strings as they "
    "are, DateTime as an RFC 3339 string, ByteString as base64, arrays as JSON arrays, "
    "structures as objects. A node that cannot be read (unknown id, access denied ...) gives a "
    "message with payload `null`, its Bad status and `opcua_error`; the others keep flowing. "
    "Folders and objects in `nodeIDs` are browsed through Organizes and HasComponent references, "
    "at most 10 levels deep, and every Variable found is read. After the server goes away the "
    "input reconnects with backoff, browses and subscribes again."
)


def _optional_node_id(text: Any) -> str:
    """`nodeID`: empty, or one node id (checked as `parse_node_id` does)."""
    raw = str(text or "").strip()
    if raw:
        parse_node_id(raw)
    return raw


def node_id_list(conf: dict[str, Any]) -> list[Any]:
    """The raw node ids to read: `nodeIDs`, or the older single `nodeID` as a list of one."""
    many = list(conf.get("nodeIDs") or [])
    single = str(conf.get("nodeID") or "").strip()
    if single and many:
        raise ValueError(
            "nodeID and nodeIDs: give one of them (nodeID is the older form of a one-item "
            "nodeIDs; add its node id to nodeIDs)"
        )
    if single:
        return [single]
    if not many:
        raise ValueError("nodeIDs: at least one node id is required")
    return many


def parse_interval_ms(value: Any) -> float:
    """An interval in milliseconds from a duration ("500ms", "1s") or a bare number of ms."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ms = float(value)
    else:
        ms = parse_duration(str(value)) * 1000.0
    if ms < 0:
        raise ValueError(f"{value!r}: must not be negative")
    return ms


def _positive_interval_ms(value: Any) -> float:
    ms = parse_interval_ms(value)
    if ms <= 0:
        raise ValueError(f"{value!r}: must be more than zero")
    return ms


def _poll_seconds(conf: dict[str, Any]) -> float:
    """Seconds between reads without subscriptions: `pollRate` (ms) when set, else
    `pollInterval`."""
    rate = int(conf.get("pollRate") or 0)
    if rate < 0:
        raise ValueError("pollRate: must not be negative")
    if rate:
        return rate / 1000.0
    return _positive_interval_ms(conf.get("pollInterval", "1s")) / 1000.0


#: `deadbandType` values
DEADBAND_TYPES = ("none", "absolute", "percent")


def _deadband_type(value: Any) -> str:
    text = str(value if value is not None else "none").strip().lower() or "none"
    if text not in DEADBAND_TYPES:
        raise ValueError(f"{value!r} is not one of {', '.join(DEADBAND_TYPES)}")
    return text


def _deadband_value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{value!r} must be a finite number >= 0")
    return float(value)


def _queue_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{value} is outside 0..4294967295")
    return value


def _deadband(conf: dict[str, Any], subscribe: bool) -> tuple[str, float]:
    """(type, value) of the deadband filter; ValueError for combinations that cannot work."""
    kind = _deadband_type(conf.get("deadbandType", "none"))
    value = _deadband_value(conf.get("deadbandValue", 0.0))
    if kind == "percent" and value > 100:
        raise ValueError(f"deadbandValue {value:g}: a percent deadband is 0..100")
    if kind != "none" and not subscribe:
        raise ValueError(
            f"deadbandType {kind}: the server filters monitored items, so a deadband needs "
            "subscribeEnabled: true"
        )
    return kind, value


@register_input(
    "opcua",
    fields=[
        endpoint_field(),
        Field(
            "nodeIDs",
            "array",
            default=[],
            item=ParsedField("nodeID", "string", parser=parse_node_id),
            description=(
                "Node ids to read, in the OPC UA string form. A Variable is read itself; a "
                "folder or object is browsed recursively (Organizes and HasComponent "
                "references, at most 10 levels) and every Variable below it is read. "
                "Required unless the older `nodeID` is given."
            ),
            examples=(["ns=2;s=Plant.Boiler.Temperature", "ns=3;i=1001"], ["i=85"]),
        ),
        ParsedField(
            "nodeID",
            "string",
            default="",
            parser=_optional_node_id,
            advanced=True,
            description=(
                "The older benthos-umh form of a single node: read as `nodeIDs: [ <it> ]`. "
                "Give either nodeID or nodeIDs, not both."
            ),
            examples=("ns=2;s=Plant.Boiler",),
        ),
        Field(
            "subscribeEnabled",
            "bool",
            default=False,
            description=(
                "Subscribe (monitored items: the server sends changes) instead of polling "
                "every `pollInterval`."
            ),
        ),
        ParsedField(
            "samplingInterval",
            "duration",
            default="1s",
            parser=parse_interval_ms,
            description=(
                "With subscriptions: the sampling interval requested for each monitored item "
                "and the subscription's publishing interval (a duration, or a number of ms)."
            ),
            examples=("100ms", "1s", 500),
        ),
        ParsedField(
            "pollInterval",
            "duration",
            default="1s",
            parser=_positive_interval_ms,
            description="Without subscriptions: time between reads of all nodes.",
            examples=("1s", "250ms"),
        ),
        Field(
            "pollRate",
            "int",
            default=0,
            advanced=True,
            description="benthos-umh's name for `pollInterval`, in milliseconds; overrides it "
            "when more than 0.",
            examples=(1000,),
        ),
        ParsedField(
            "queueSize",
            "int",
            default=10,
            parser=_queue_size,
            description=(
                "With subscriptions: the queue size requested for each monitored item, i.e. how "
                "many changes the server keeps between two publishes (oldest discarded first); "
                "0 lets the server choose."
            ),
            advanced=True,
        ),
        ParsedField(
            "deadbandType",
            "string",
            default="none",
            parser=_deadband_type,
            options=DEADBAND_TYPES,
            description=(
                "With subscriptions: a DataChangeFilter with this deadband on numeric variables "
                "(the server filters): absolute (change of more than `deadbandValue`), percent "
                "(of the variable's EURange, servers that support it) or none."
            ),
        ),
        ParsedField(
            "deadbandValue",
            "float",
            default=0.0,
            parser=_deadband_value,
            description=(
                "The deadband: an absolute change, or a percent 0..100. 0 with absolute "
                "suppresses repeats of the same value."
            ),
        ),
        *connection_fields(),
        Field(
            "useHeartbeat",
            "bool",
            default=False,
            description=(
                "Watch the server's CurrentTime (ns=0;i=2258) beside the nodes: when it has not "
                "reported for 10s the connection counts as lost and the input reconnects. Its "
                "values are not emitted unless i=2258 is among `nodeIDs`."
            ),
        ),
        Field(
            "browseHierarchicalReferences",
            "bool",
            default=False,
            description=(
                "Browse folders and objects through every hierarchical reference "
                "(HierarchicalReferences and its subtypes, HasProperty included) instead of "
                "only Organizes and HasComponent."
            ),
        ),
    ],
    summary="Reads OPC UA variables by subscription or polling; folders are browsed.",
    description=_METADATA,
    examples=(
        "opcua:\n  endpoint: opc.tcp://localhost:4840\n"
        "  nodeIDs: [ ns=2;s=Plant ]\n  subscribeEnabled: true\n  samplingInterval: 500ms",
        "opcua:\n  endpoint: opc.tcp://plc1:4840\n  nodeIDs: [ ns=3;i=1001, ns=3;i=1002 ]\n"
        "  username: gateway\n  password: ${OPCUA_PASSWORD}\n  securityMode: SignAndEncrypt\n"
        "  securityPolicy: Basic256Sha256\n  pollInterval: 2s",
    ),
)
class OpcuaInput(Input):
    """Reads OPC UA variables by subscription or polling; folders are browsed."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        from streamforge.inputs.opcua.session import SessionSettings

        quiet_asyncua()
        parse_endpoint(conf.get("endpoint"))
        raw_nodes = node_id_list(conf)
        nodes = []
        for i, raw in enumerate(raw_nodes):
            try:
                nodes.append(parse_node_id(raw))
            except ValueError as exc:
                where = "nodeID" if conf.get("nodeID") else f"nodeIDs[{i}]"
                raise ValueError(f"{where}: {exc}") from None
        link = parse_connection(conf)
        subscribe = bool(conf.get("subscribeEnabled", False))
        deadband = _deadband(conf, subscribe)
        self.ctx = ctx
        self.label = ctx.label if ctx is not None else "opcua"
        self.stream = ctx.stream if ctx is not None else ""
        self.settings = SessionSettings(
            **link.connection_kwargs(),
            nodes=tuple(nodes),
            subscribe=subscribe,
            sampling_ms=parse_interval_ms(conf.get("samplingInterval", "1s")),
            poll_seconds=_poll_seconds(conf),
            label=self.label,
            heartbeat=bool(conf.get("useHeartbeat", False)),
            hierarchical=bool(conf.get("browseHierarchicalReferences", False)),
            queue_size=_queue_size(conf.get("queueSize", 10)),
            deadband=deadband,
        )

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return OpcuaReader(self)


class OpcuaReader(QueuedReader):
    """The one partition: a session thread puts values, the worker drains them."""

    def __init__(self, source: OpcuaInput) -> None:
        from streamforge.inputs.opcua.session import OpcuaSession

        super().__init__()
        self.conn = connection(source.stream, source.label, source.settings.endpoint)
        self.session = OpcuaSession(source.settings, self, self.conn)
        self.session.start()

    def full(self) -> bool:
        """True while `put` would wait (the stream is behind)."""
        return len(self._queue) >= self.queue_limit

    def close(self) -> None:
        super().close()
        self.session.stop()
        self.conn.close()
