"""`opcua` output: writes fields of each JSON message to OPC UA variables, as benthos-umh's
`opcua` output does (`nodeMappings`, `forcedDataTypes`, the read-back `handshake`).

Each message is one Write request with a value per mapping, converted to the node's data type
(read once per connection and kept) unless the mapping's `dataType` or `forcedDataTypes` names
one. A message counts as written once the server accepted every value and, with the handshake,
reading the nodes back showed them; otherwise it fails (for `fallback`). The asyncua client
lives on its own event loop thread and connects again with backoff after losing the server; a
batch waits for it up to `write_timeout`. asyncua is imported when the output is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamforge.connectors.loop_thread import LoopThread
from streamforge.connectors.opcua import (
    ConnectionSettings,
    connect,
    connection_fields,
    datatype_name,
    describe_error,
    endpoint_field,
    new_client,
    parse_connection,
    parse_node_id,
    quiet_asyncua,
    status_name,
    status_text,
)
from streamforge.connectors.peer import PeerLink, fail_each, prepare_each, write_timeout_field
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString, has_interpolation
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, ParsedField, register_output
from streamforge.plugin.connection import Backoff
from streamforge.plugin.spec import offline_check

if TYPE_CHECKING:
    from asyncua import Client, ua

__all__ = ["TYPE_NAMES", "OpcuaOutput", "parse_type_name"]

log = logging.getLogger("streamforge.outputs.opcua")

#: the data types values are written as (`dataType`, `forcedDataTypes`)
TYPE_NAMES = (
    "Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
    "Float", "Double", "String", "DateTime", "ByteString",
)  # fmt: skip
#: how long closing the session may take when the output stops
CLOSE_TIMEOUT = 2.0
#: how often the handshake reads a node again while it does not show the written value
READBACK_INTERVAL = 0.05
#: service results that mean the session or channel is gone (the client connects again)
_SESSION_LOST = frozenset(
    {
        "BadSessionIdInvalid", "BadSessionClosed", "BadSessionNotActivated",
        "BadSecureChannelIdInvalid", "BadSecureChannelClosed", "BadConnectionClosed",
        "BadServerNotConnected", "BadCommunicationError", "BadNotConnected", "BadTimeout",
        "BadRequestTimeout", "BadShutdown", "BadServerHalted", "BadTcpInternalError",
    }
)  # fmt: skip


# -- config -----------------------------------------------------------------------------------


def parse_type_name(text: Any) -> str:
    """A data type name of TYPE_NAMES (any case), as OPC UA spells it."""
    raw = str(text or "").strip()
    for name in TYPE_NAMES:
        if raw.lower() == name.lower():
            return name
    raise ValueError(
        f"{raw!r} is not a data type this output writes; one of {', '.join(TYPE_NAMES)}"
    )


def _node_id_field(text: Any) -> str:
    """`nodeId`: a node id, or text with interpolations that renders one per message."""
    raw = str(text or "").strip()
    if not has_interpolation(raw):
        parse_node_id(raw)
    return raw


def _value_from(text: Any) -> str:
    raw = str(text or "").strip()
    if not raw:
        raise ValueError("name the message field whose value is written, e.g. setpoint")
    return raw


def _data_type_field(text: Any) -> str:
    raw = str(text or "").strip()
    if raw and not has_interpolation(raw):
        return parse_type_name(raw)
    return raw


def _mappings(value: Any) -> Any:
    if not value:
        raise ValueError("at least one mapping (nodeId, valueFrom) is required")
    return value


def _forced(value: Any) -> dict[str, str]:
    """`forcedDataTypes`: node id -> type name, keyed by the node id's canonical form."""
    out: dict[str, str] = {}
    for key, name in dict(value or {}).items():
        try:
            node = parse_node_id(key)
        except ValueError as exc:
            raise ValueError(f"key {exc}") from None
        out[node.to_string()] = parse_type_name(name)
    return out


def _non_negative(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of milliseconds >= 0, got {value!r}")
    return value


def _attempts(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number >= 1, got {value!r}")
    return value


_HANDSHAKE = (
    Field(
        "enabled",
        "bool",
        default=True,
        description="After writing, read the nodes back; a message is written only once they "
        "show the values.",
    ),
    ParsedField(
        "readbackTimeoutMs",
        "int",
        default=2000,
        parser=_non_negative,
        description="How long (ms) the read-back may wait for the server to show the values; "
        "the nodes are read again every 50 ms meanwhile.",
    ),
    ParsedField(
        "maxWriteAttempts",
        "int",
        default=1,
        parser=_attempts,
        description="How many times a message's values are written when the server refuses "
        "them or the read-back does not show them (1: no retry). Retries write the nodes that "
        "failed.",
    ),
    ParsedField(
        "timeBetweenRetriesMs",
        "int",
        default=1000,
        parser=_non_negative,
        description="Wait (ms) between two write attempts.",
    ),
)


@dataclass(frozen=True)
class _Mapping:
    node: InterpolatedString
    value_from: str
    data_type: InterpolatedString | None


@dataclass(frozen=True)
class _Config:
    """The output's config, checked."""

    connection: ConnectionSettings
    mappings: tuple[_Mapping, ...]
    forced: dict[str, str]
    handshake: bool
    readback: float
    attempts: int
    between: float
    write_timeout: float


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> _Config:
    link = parse_connection(conf)
    mappings = []
    for i, item in enumerate(_mappings(conf.get("nodeMappings"))):
        where = f"nodeMappings[{i}]"
        try:
            node = _node_id_field(item.get("nodeId"))
            value_from = _value_from(item.get("valueFrom"))
            data_type = _data_type_field(item.get("dataType"))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        mappings.append(
            _Mapping(
                InterpolatedString(node),
                value_from,
                InterpolatedString(data_type) if data_type else None,
            )
        )
    handshake = conf.get("handshake") or {}
    text = str(conf.get("write_timeout") or "10s")
    write_timeout = parse_duration(text)
    if write_timeout <= 0:
        raise ValueError("write_timeout: must be positive")
    return _Config(
        connection=link,
        mappings=tuple(mappings),
        forced=_forced(conf.get("forcedDataTypes")),
        handshake=bool(handshake.get("enabled", True)),
        readback=_non_negative(handshake.get("readbackTimeoutMs", 2000)) / 1000.0,
        attempts=_attempts(handshake.get("maxWriteAttempts", 1)),
        between=_non_negative(handshake.get("timeBetweenRetriesMs", 1000)) / 1000.0,
        write_timeout=write_timeout,
    )


# -- per message ---------------------------------------------------------------------------------


@dataclass
class _Target:
    """One value of a message for one node."""

    text: str
    node: ua.NodeId
    value: Any
    #: the type asked for by `dataType` or `forcedDataTypes`; "" uses the node's
    type_name: str


class _Refused(Exception):
    """The message cannot be written as it is (the text says why); not a connection problem."""


@dataclass(eq=False)
class _Session:
    """One connection: its client, when it was lost and why, and what it learned."""

    client: Client
    lost: asyncio.Event
    reason: str = "lost the connection"
    #: node id -> the type its values are written as ("" for an abstract type: from the value)
    types: dict[ua.NodeId, str] = field(default_factory=dict)
    namespaces: list[str] | None = None


def _field(value: dict[str, Any], path: str) -> Any:
    """`valueFrom` in a message: a top-level key, else a dot path into nested objects."""
    if path in value:
        return value[path]
    current: Any = value
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            raise KeyError(path)
        current = current[part]
    return current


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@register_output(
    "opcua",
    fields=[
        endpoint_field(),
        ParsedField(
            "nodeMappings",
            "array",
            parser=_mappings,
            item=Field(
                "mapping",
                "object",
                fields=(
                    ParsedField(
                        "nodeId",
                        "string",
                        parser=_node_id_field,
                        interpolable=True,
                        description="The node to write, in the OPC UA string form; "
                        "interpolations choose it per message.",
                        examples=("ns=2;s=Line1.Setpoint", "ns=2;s=${! @tag }"),
                    ),
                    ParsedField(
                        "valueFrom",
                        "string",
                        parser=_value_from,
                        description="The field of the JSON message whose value is written: a "
                        "top-level key, or a dot path into nested objects.",
                        examples=("setpoint", "data.temperature"),
                    ),
                    ParsedField(
                        "dataType",
                        "string",
                        default="",
                        parser=_data_type_field,
                        interpolable=True,
                        description="Write the value as this type ("
                        + ", ".join(TYPE_NAMES)
                        + "); empty: `forcedDataTypes`, else the node's own data type.",
                        examples=("Int32", "${! @datatype }"),
                    ),
                ),
            ),
            description="Which message field is written to which node. Each message is one "
            "Write request with one value per mapping.",
            examples=(
                [
                    {"nodeId": "ns=2;s=Line1.Setpoint", "valueFrom": "setpoint"},
                    {"nodeId": "ns=2;s=Line1.Enable", "valueFrom": "enable_flag"},
                ],
            ),
        ),
        ParsedField(
            "forcedDataTypes",
            "map",
            default={},
            parser=_forced,
            item=ParsedField("dataType", "string", parser=parse_type_name),
            description="Node id -> the data type its values are written as, instead of the "
            "node's own (read from the server once per connection). A mapping's `dataType` "
            "wins over it.",
            examples=({"ns=2;s=Line1.Setpoint": "Float"},),
            advanced=True,
        ),
        Field(
            "handshake",
            "object",
            default={
                "enabled": True,
                "readbackTimeoutMs": 2000,
                "maxWriteAttempts": 1,
                "timeBetweenRetriesMs": 1000,
            },
            fields=_HANDSHAKE,
            description="Read-back verification and retries of refused writes.",
        ),
        *connection_fields(),
        write_timeout_field("server"),
    ],
    summary="Writes fields of JSON messages to OPC UA variables, checked by reading them back.",
    description=(
        "A message must be a JSON object. Values are converted to the node's data type: "
        "numbers (integers must be whole and in range), booleans (true/false, 1/0 and their "
        "text), strings (other values as JSON text), DateTime (RFC 3339 text or Unix "
        "milliseconds), ByteString (base64); a JSON array writes an array. A node typed "
        "BaseDataType or Number takes Boolean, Int64, Double or String after the JSON value. "
        "A message fails (for `fallback`) when a field is missing or null, a value does not "
        "convert, the server refuses a write (unknown node, not writable, type mismatch) or the "
        "read-back does not show the value within `handshake.readbackTimeoutMs`, after "
        "`handshake.maxWriteAttempts`. After losing the server the output connects again with "
        "backoff up to `maxReconnectDelay`; a batch waits up to `write_timeout` for it, then "
        "its messages fail."
    ),
    examples=(
        "opcua:\n  endpoint: opc.tcp://plc1:4840\n  nodeMappings:\n"
        "    - nodeId: ns=2;s=Line1.Setpoint\n      valueFrom: setpoint\n"
        "    - nodeId: ns=2;s=Line1.Enable\n      valueFrom: enable_flag\n"
        "  handshake:\n    enabled: true\n    readbackTimeoutMs: 2000\n"
        "    maxWriteAttempts: 3\n    timeBetweenRetriesMs: 500",
    ),
)
@offline_check(_check)
class OpcuaOutput(Output):
    """Writes fields of JSON messages to OPC UA variables."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        quiet_asyncua()
        self.config = _check(conf, ctx)
        self.settings = self.config.connection
        self.link = PeerLink("opcua", "output", ctx, self.settings.endpoint, log)
        self.name = f"opcua output {self.link.label}"
        self._session: _Session | None = None
        self._ready: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self.loop = LoopThread(f"opcua-out-{self.link.label}")
        self.loop.run(self._setup(), 10.0)
        self._supervisor = self.loop.submit(self._supervise())

    async def _setup(self) -> None:
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()

    # -- the connection (on the loop) --------------------------------------------------------

    async def _supervise(self) -> None:
        """Connect, wait until the connection is lost, connect again with backoff; until close."""
        assert self._ready is not None and self._closing is not None
        s = self.settings
        first = max(s.first_reconnect_delay, 0.05)
        backoff = Backoff(initial=first, maximum=max(s.max_reconnect_delay, first))
        while not self._closing.is_set():
            client = new_client(s)
            session = _Session(client, asyncio.Event())

            async def lost(exc: Exception, session: _Session = session) -> None:
                self._lose(session, describe_error(exc, s))

            client.connection_lost_callback = lost
            try:
                await connect(client, s)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, then retried
                if not self._closing.is_set():
                    self.link.down(describe_error(exc, s))
                await self._disconnect(client)
                await self._pause(backoff.next_delay())
                continue
            self._session = session
            self.link.up()
            backoff.reset()
            self._ready.set()
            await self._first(session.lost, self._closing)
            self._ready.clear()
            self._session = None
            if not self._closing.is_set():
                self.link.down(session.reason)
            await self._disconnect(client)
            if not self._closing.is_set():
                await self._pause(backoff.next_delay())

    def _lose(self, session: _Session, reason: str) -> None:
        """The session is gone: writes wait for the next one."""
        if session.lost.is_set():
            return
        session.reason = reason
        session.lost.set()
        if self._session is session and self._ready is not None:
            self._ready.clear()

    @staticmethod
    async def _first(*events: asyncio.Event, timeout: float | None = None) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _pause(self, seconds: float) -> None:
        assert self._closing is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    @staticmethod
    async def _disconnect(client: Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), CLOSE_TIMEOUT)

    async def _wait_ready(self, deadline: float) -> _Session | None:
        """The connected session; None when none came before `deadline` or the output closes."""
        assert self._ready is not None and self._closing is not None
        while not self._closing.is_set():
            session = self._session
            if session is not None and not session.lost.is_set():
                return session
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await self._first(self._ready, self._closing, timeout=remaining)
            await asyncio.sleep(0)
        return None

    # -- writing (on the loop) ------------------------------------------------------------------

    async def _write_all(self, messages: list[list[_Target]]) -> list[str | None]:
        """Each message's values in turn; None for a written message, else why not."""
        timeout = self.config.write_timeout
        deadline = time.monotonic() + timeout
        results: list[str | None] = []
        for targets in messages:
            error = await self._write_message(targets, deadline)
            if error is None:
                deadline = max(deadline, time.monotonic() + timeout)
            results.append(error)
        return results

    async def _write_message(self, targets: list[_Target], deadline: float) -> str | None:
        c = self.config
        pending = targets
        attempts = 0
        while True:
            session = await self._wait_ready(deadline)
            if session is None:
                cause = self.link.last_error or "connecting"
                return f"not connected to {self.settings.endpoint} ({cause})"
            try:
                variants = [await self._variant(session, t) for t in pending]
                attempts += 1
                failures = await self._write(session, pending, variants)
            except _Refused as exc:
                return str(exc)
            except Exception as exc:  # noqa: BLE001 - the connection failed; write again after it
                self._lose(session, describe_error(exc, self.settings))
                continue
            if not failures:
                return None
            if attempts >= c.attempts:
                tried = f" ({attempts} attempts)" if attempts > 1 else ""
                return "; ".join(why for _, why in failures) + tried
            pending = [t for t, _ in failures]
            await self._pause(c.between)

    async def _write(
        self, session: _Session, targets: list[_Target], variants: list[ua.Variant]
    ) -> list[tuple[_Target, str]]:
        """One Write request (and the read-back); the targets that failed, with why."""
        from asyncua import ua

        params = ua.WriteParameters()
        for target, variant in zip(targets, variants):
            params.NodesToWrite.append(
                ua.WriteValue(
                    NodeId=target.node,
                    AttributeId=ua.AttributeIds.Value,
                    Value=ua.DataValue(Value=variant, StatusCode=None),
                )
            )
        codes = await self._service(session.client.uaclient.write(params))
        failures = [
            (t, f"node {t.text}: the server refused the write: {status_text(code)}")
            for t, code in zip(targets, codes)
            if not code.is_good()
        ]
        if failures or not self.config.handshake:
            return failures
        return await self._read_back(session, targets, variants)

    async def _read_back(
        self, session: _Session, targets: list[_Target], variants: list[ua.Variant]
    ) -> list[tuple[_Target, str]]:
        """Read the nodes until they show the written values or `readbackTimeoutMs` passed."""
        from asyncua import ua

        from streamforge.outputs._opcua_values import same_value

        loop = asyncio.get_running_loop()
        until = loop.time() + self.config.readback
        pending = list(zip(targets, variants))
        while True:
            nodes = [t.node for t, _ in pending]
            values = await self._service(
                session.client.uaclient.read_attributes(nodes, ua.AttributeIds.Value)
            )
            still: list[tuple[ua.Variant, tuple[_Target, str]]] = []
            for (target, variant), dv in zip(pending, values):
                code = dv.StatusCode.value if dv.StatusCode is not None else 0
                if code & 0x80000000:
                    why = f"node {target.text}: reading it back failed: {status_text(code)}"
                    still.append((variant, (target, why)))
                elif not same_value(dv.Value, variant):
                    got = dv.Value.Value if dv.Value is not None else None
                    why = (
                        f"node {target.text}: read back {_shown(got)} after writing "
                        f"{_shown(variant.Value)} (handshake)"
                    )
                    still.append((variant, (target, why)))
            remaining = until - loop.time()
            if not still or remaining <= 0:
                return [failure for _, failure in still]
            pending = [(t, v) for v, (t, _) in still]
            await asyncio.sleep(min(READBACK_INTERVAL, remaining))

    async def _service(self, call: Any) -> Any:
        """A service call within `timeout`; a lost session raises ConnectionError, another
        service fault `_Refused`."""
        from asyncua import ua

        try:
            return await asyncio.wait_for(call, self.settings.timeout)
        except ua.UaStatusCodeError as exc:
            if status_name(exc.code) in _SESSION_LOST:
                raise ConnectionError(status_text(exc.code)) from exc
            raise _Refused(f"the server refused the request: {status_text(exc.code)}") from exc

    async def _variant(self, session: _Session, target: _Target) -> ua.Variant:
        """The target's value as a variant of the type it is written as."""
        from streamforge.outputs._opcua_values import Unconvertible, infer_type, to_variant

        target.node = await self._resolved(session, target.node)
        name = target.type_name or await self._node_type(session, target)
        try:
            return to_variant(target.value, name or infer_type(target.value))
        except Unconvertible as exc:
            raise _Refused(f"node {target.text}: {exc}") from None

    async def _resolved(self, session: _Session, node: ua.NodeId) -> ua.NodeId:
        """A node id with its `nsu=` namespace URI replaced by the server's index."""
        from asyncua import ua

        uri = getattr(node, "NamespaceUri", None)
        if not uri:
            return node
        if session.namespaces is None:
            session.namespaces = list(await self._service(session.client.get_namespace_array()))
        if uri not in session.namespaces:
            raise _Refused(f"the server has no namespace {uri!r}")
        return ua.NodeId(node.Identifier, ua.Int16(session.namespaces.index(uri)), node.NodeIdType)

    async def _node_type(self, session: _Session, target: _Target) -> str:
        """The type a node's values are written as, read from the server once per session."""
        from asyncua import ua
        from asyncua.common.ua_utils import data_type_to_variant_type

        known = session.types.get(target.node)
        if known is not None:
            return known
        client = session.client
        dv = (
            await self._service(
                client.uaclient.read_attributes([target.node], ua.AttributeIds.DataType)
            )
        )[0]
        code = dv.StatusCode.value if dv.StatusCode is not None else 0
        if code & 0x80000000 or dv.Value is None or not isinstance(dv.Value.Value, ua.NodeId):
            raise _Refused(f"node {target.text}: {status_text(code)}")
        dtype = dv.Value.Value
        vtype = await asyncio.wait_for(
            data_type_to_variant_type(client.get_node(dtype)), self.settings.timeout
        )
        if vtype == ua.VariantType.Variant:
            name = ""
        elif vtype.name in TYPE_NAMES:
            name = vtype.name
        else:
            raise _Refused(
                f"node {target.text}: its data type {datatype_name(dtype)} cannot be written "
                "from JSON; set dataType or forcedDataTypes to a type this output writes"
            )
        session.types[target.node] = name
        return name

    # -- the worker ---------------------------------------------------------------------------

    def _targets(self, msg: Message, batch: list[Message], index: int) -> list[_Target]:
        value = msg.value
        if not isinstance(value, dict):
            raise ValueError("the message is not a JSON object; nodeMappings take its fields")
        targets = []
        for m in self.config.mappings:
            text = m.node.render(msg, batch, index).strip()
            if not text or text == "null":
                raise ValueError(f"nodeId {m.node.text!r} gave no node id")
            node = parse_node_id(text)
            try:
                field_value = _field(value, m.value_from)
            except KeyError:
                raise ValueError(f"field {m.value_from!r} is not in the message") from None
            if field_value is None:
                raise ValueError(f"field {m.value_from!r} is null; there is nothing to write")
            if m.data_type is not None:
                type_name = parse_type_name(m.data_type.render(msg, batch, index))
            else:
                type_name = self.config.forced.get(node.to_string(), "")
            targets.append(_Target(text, node, field_value, type_name))
        return targets

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        items = prepare_each(self.name, batch, lambda m, i: self._targets(m, batch, i), failed)
        if not items:
            return failed
        try:
            errors = self.loop.run(self._write_all([targets for _, targets in items]))
        except Exception as exc:  # noqa: BLE001 - the output is closing
            errors = [f"not written: {exc or type(exc).__name__}"] * len(items)
        return fail_each(self.name, (m for m, _ in items), errors, failed)

    def close(self) -> None:
        if self.loop.running:
            with contextlib.suppress(Exception):
                self.loop.run(self._close(), CLOSE_TIMEOUT + 3.0)
            self.loop.stop()
        self.link.close()

    async def _close(self) -> None:
        assert self._closing is not None
        self._closing.set()
        session = self._session
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.wrap_future(self._supervisor), CLOSE_TIMEOUT + 1.0)
        if session is not None:
            await self._disconnect(session.client)
