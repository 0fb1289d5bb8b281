"""Polling one Modbus device (one slave ID behind one controller) on a thread of its own.

Each poll reads the device's planned requests and turns every tag into one message. A tag that
could not be read still gives a message, with a null payload, `modbus_error` and (when the
device answered with an exception) `modbus_exception_code`. A device that stops answering is
disconnected and reached again with backoff; meanwhile its tags report it unreachable.
"""

from __future__ import annotations

import inspect
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from streamforge.inputs.modbus.decode import Decoder, make_decoder
from streamforge.inputs.modbus.metrics import POLL_SECONDS, READ_FAILURES, REQUESTS
from streamforge.inputs.modbus.plan import ReadRequest, plan, split
from streamforge.inputs.modbus.tags import Tag
from streamforge.message import Message
from streamforge.plugin.connection import Backoff, Connection
from streamforge.timefmt.gotime import format_rfc3339_nano

__all__ = ["DevicePoller", "DeviceSettings", "EXCEPTION_NAMES", "ReadFailure"]

log = logging.getLogger("streamforge.inputs.modbus")

#: Modbus exception codes as the specification names them
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    7: "negative acknowledge",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
#: exception codes that say the request itself is wrong: a merged read getting one is split
SPLIT_CODES = frozenset({1, 2, 3})
DEVICE_BUSY = 6
#: how often the same problem of a device is logged
LOG_INTERVAL = 10.0
#: tags named in one log line
TAGS_NAMED = 5

_FUNCTIONS = {
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
    "holding": "read_holding_registers",
    "input": "read_input_registers",
}
_DEVICE_KW = (
    "device_id" if "device_id" in inspect.signature(ModbusTcpClient.read_coils).parameters
    else "slave"
)  # fmt: skip


@dataclass(frozen=True)
class DeviceSettings:
    """Everything one device's poller needs besides its tags."""

    controller: str
    host: str
    port: int
    slave_id: int
    rtu_over_tcp: bool = False
    timeout: float = 1.0
    busy_retries: int = 3
    busy_retries_wait: float = 0.2
    period: float = 1.0
    byte_order: str = "ABCD"
    #: `optimization`, `optimizationMaxRegisterFill`
    optimization: str = "none"
    max_fill: int = 50
    #: `workarounds`
    pause_after_connect: float = 0.0
    one_per_field: bool = False
    coils_from_zero: bool = False
    between_requests: float = 0.0
    string_location: str = ""

    @property
    def key(self) -> str:
        """The partition key, e.g. `tcp://127.0.0.1:5020/slave/1`."""
        return f"{self.controller}/slave/{self.slave_id}"


@dataclass(frozen=True)
class ReadFailure:
    """Why a request gave no values."""

    error: str
    code: int | None = None
    #: the device stopped answering: the rest of this poll is not attempted
    lost: bool = False


def _cause(exc: Exception) -> str:
    """A short cause for a lost connection, without pymodbus' decorations."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    text = str(exc)
    if "unexpectedly closed" in text:
        return "the device closed the connection"
    return text.split("] ", 1)[-1] if text.startswith("Modbus Error: [") else text


class _Client(ModbusTcpClient):
    """pymodbus' TCP client keeping why the last connection attempt failed."""

    last_error: str = ""

    def connect(self) -> bool:
        if self.socket:
            return True
        params = self.comm_params
        try:
            sock = socket.create_connection(
                (params.host, params.port), timeout=params.timeout_connect
            )
        except OSError as exc:
            self.last_error = exc.strerror or str(exc) or type(exc).__name__
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket = sock
        return True


@dataclass
class _Problem:
    """A problem logged at most every LOG_INTERVAL seconds, with how often it recurred."""

    last: float = -float("inf")
    suppressed: int = 0


@dataclass
class _Tagged:
    """A tag with everything built once: its decoder and its fixed metadata."""

    tag: Tag
    decode: Decoder
    meta: dict[str, Any] = field(default_factory=dict)


class DevicePoller:
    """Reads one device every `period` seconds and hands the messages to `emit`."""

    def __init__(
        self,
        settings: DeviceSettings,
        tags: list[Tag],
        emit: Callable[[list[Message]], None],
        stop: threading.Event,
        conn: Connection,
        *,
        stream: str = "stream",
        component: str = "modbus",
    ) -> None:
        self.settings = settings
        self.emit = emit
        self.stop = stop
        self.conn = conn
        self.stream = stream
        self.component = component
        self.plan: list[ReadRequest] = plan(
            tags,
            settings.optimization,
            max_fill=settings.max_fill,
            one_per_field=settings.one_per_field,
            coils_from_zero=settings.coils_from_zero,
        )
        self._last_request = -float("inf")
        self._tagged = {t: self._prepare(t) for t in tags}
        self.client = _Client(
            settings.host,
            port=settings.port,
            framer=FramerType.RTU if settings.rtu_over_tcp else FramerType.SOCKET,
            timeout=settings.timeout,
            retries=0,
        )
        self._read = {r: getattr(self.client, f) for r, f in _FUNCTIONS.items()}
        self._backoff = Backoff(initial=0.2, maximum=10.0)
        self._retry_at = 0.0
        self._down_reason = ""
        self._answered = False
        self._problems: dict[str, _Problem] = {}
        labels = {"stream": stream, "component": component, "device": settings.key}
        self._requests = REQUESTS.labels(**labels)
        self._poll_seconds = POLL_SECONDS.labels(**labels)
        self._failures: dict[str, Any] = {}
        self.polls = 0

    def _prepare(self, tag: Tag) -> _Tagged:
        s = self.settings
        meta = {
            "modbus_tag_name": tag.name,
            "modbus_tag_datatype": tag.type,
            "modbus_tag_address": tag.address,
            "modbus_tag_register": tag.register,
            "modbus_tag_slaveid": s.slave_id,
            "modbus_controller": s.controller,
        }
        return _Tagged(tag, make_decoder(tag, s.byte_order, s.string_location), meta)

    # -- the thread ----------------------------------------------------------------------------

    def run(self) -> None:
        """Poll until `stop` is set; each poll starts `period` after the previous one."""
        period = self.settings.period
        due = time.monotonic()
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                messages = self.poll()
                self._poll_seconds.observe(time.monotonic() - started)
                if messages:
                    self.emit(messages)
                due += period
                now = time.monotonic()
                if due < now:
                    due = now
                if self.stop.wait(due - now):
                    break
        finally:
            self.client.close()

    def poll(self) -> list[Message]:
        """One reading of every tag (failed ones included)."""
        self.polls += 1
        if not self.client.connected and not self._connect():
            return self._all_failed(ReadFailure(self._down_reason))
        messages: list[Message] = []
        new_plan: list[ReadRequest] = []
        lost: ReadFailure | None = None
        for request in self.plan:
            if lost is None and not self.client.connected:
                lost = ReadFailure(f"not read, the device stopped answering: {self._down_reason}")
            if lost is not None:
                messages.extend(self._failed(request.tags, lost))
                new_plan.append(request)
                continue
            result = self._execute(request)
            if isinstance(result, ReadFailure):
                if result.lost:
                    lost = ReadFailure(f"not read, the device stopped answering: {result.error}")
                elif result.code in SPLIT_CODES and len(request.tags) > 1:
                    replaced, read = self._read_alone(request)
                    new_plan.extend(replaced)
                    messages.extend(read)
                    continue
                messages.extend(self._failed(request.tags, result))
            else:
                messages.extend(self._decoded(request, *result))
            new_plan.append(request)
        self.plan = new_plan
        return messages

    # -- connection ----------------------------------------------------------------------------

    def _connect(self) -> bool:
        now = time.monotonic()
        if now < self._retry_at:
            return False
        if self.client.connect():
            pause = self.settings.pause_after_connect
            return not (pause and self.stop.wait(pause))
        s = self.settings
        self._mark_down(f"cannot connect to {s.host}:{s.port}: {self.client.last_error}")
        return False

    def _mark_down(self, reason: str) -> None:
        self.client.close()
        self._down_reason = reason
        self._answered = False
        self._retry_at = time.monotonic() + self._backoff.next_delay()
        self.conn.down(reason)

    def _mark_answered(self) -> None:
        if self._answered:
            return
        self._answered = True
        self._backoff.reset()
        was_down = bool(self._down_reason)
        self._down_reason = ""
        self.conn.up()
        if was_down:
            log.info(
                "modbus %s: %s answers again",
                self.component,
                self.settings.key,
                extra=self._fields(),
            )

    # -- requests ------------------------------------------------------------------------------

    def _execute(self, request: ReadRequest) -> tuple[list[Any], str] | ReadFailure:
        """The values of one read and when they arrived, or why there are none."""
        s = self.settings
        read = self._read[request.register]
        kwargs = {"count": request.count, _DEVICE_KW: s.slave_id}
        where = f"{request.describe()} on slave {s.slave_id}"
        attempts = 0
        gap = s.between_requests
        while True:
            if gap:
                wait = self._last_request + gap - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    return ReadFailure(f"stopped before reading {where}")
            self._requests.inc()
            try:
                response = read(request.address, **kwargs)
            except (ModbusException, OSError) as exc:
                self._last_request = time.monotonic()
                return self._lost(exc, where)
            self._last_request = time.monotonic()
            self._mark_answered()
            if not response.isError():
                break
            code = int(getattr(response, "exception_code", 0) or 0)
            if code == DEVICE_BUSY and attempts < s.busy_retries:
                attempts += 1
                if self.stop.wait(s.busy_retries_wait):
                    return ReadFailure(f"stopped while {where} was busy", code)
                continue
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            tries = f" after {attempts + 1} attempts" if attempts else ""
            return ReadFailure(f"{name} (exception {code}) reading {where}{tries}", code)
        read_time = format_rfc3339_nano(datetime.now(timezone.utc))
        values = response.registers if request.register in ("holding", "input") else response.bits
        if len(values) < request.count:
            got = len(values)
            return ReadFailure(f"short response reading {where}: {got} of {request.count} values")
        return values, read_time

    def _lost(self, exc: Exception, where: str) -> ReadFailure:
        text = str(exc)
        if "No response received" in text or "timed out" in text.lower():
            reason = f"no response within {self.settings.timeout:g}s reading {where}"
        else:
            reason = f"connection lost reading {where}: {_cause(exc)}"
        self._mark_down(reason)
        return ReadFailure(reason, lost=True)

    def _read_alone(self, request: ReadRequest) -> tuple[list[ReadRequest], list[Message]]:
        """Read the tags of a rejected merged read one by one; split it for later polls."""
        messages: list[Message] = []
        rejected: list[Tag] = []
        lost: ReadFailure | None = None
        for tag in request.tags:
            single = ReadRequest.of([tag])
            result = lost or self._execute(single)
            if isinstance(result, ReadFailure):
                lost = result if result.lost else lost
                if result.code in SPLIT_CODES:
                    rejected.append(tag)
                messages.extend(self._failed((tag,), result))
            else:
                messages.extend(self._decoded(single, *result))
        if lost is not None:
            return [request], messages
        replaced = split(request, rejected)
        log.info(
            "modbus %s: %s rejected %s; reading it as %d request(s) from now on",
            self.component,
            self.settings.key,
            request.describe(),
            len(replaced),
            extra=self._fields(),
        )
        return replaced, messages

    # -- messages ------------------------------------------------------------------------------

    def _decoded(self, request: ReadRequest, values: list[Any], read_time: str) -> list[Message]:
        out: list[Message] = []
        base = request.address
        for tag in request.tags:
            tagged = self._tagged[tag]
            meta = dict(tagged.meta)
            meta["modbus_read_time"] = read_time
            start = tag.address - base
            try:
                value = tagged.decode(values[start : start + tag.length])
            except (ValueError, OverflowError, TypeError) as exc:
                failure = ReadFailure(f"cannot decode tag {tag.name}: {exc}")
                out.extend(self._failed((tag,), failure, read_time))
                continue
            if isinstance(value, str):
                out.append(Message(orjson.dumps(value), meta))
            else:
                out.append(Message.from_value(value, meta))
        return out

    def _failed(
        self, tags: tuple[Tag, ...], failure: ReadFailure, read_time: str | None = None
    ) -> list[Message]:
        stamp = read_time or format_rfc3339_nano(datetime.now(timezone.utc))
        out: list[Message] = []
        for tag in tags:
            meta = dict(self._tagged[tag].meta)
            meta["modbus_read_time"] = stamp
            meta["modbus_error"] = failure.error
            if failure.code is not None:
                meta["modbus_exception_code"] = failure.code
            out.append(Message.from_value(None, meta))
            self._failure_counter(tag.name).inc()
        self._report(tags, failure)
        return out

    def _all_failed(self, failure: ReadFailure) -> list[Message]:
        return self._failed(tuple(t for r in self.plan for t in r.tags), failure)

    def _failure_counter(self, name: str) -> Any:
        child = self._failures.get(name)
        if child is None:
            child = READ_FAILURES.labels(
                stream=self.stream, component=self.component, device=self.settings.key, tag=name
            )
            self._failures[name] = child
        return child

    # -- logging -------------------------------------------------------------------------------

    def _report(self, tags: tuple[Tag, ...], failure: ReadFailure) -> None:
        """Log a failure naming the device, the tags and the cause; each at most every 10 s."""
        key = failure.error.split(" reading ")[0] + "|" + ",".join(t.name for t in tags)
        if failure.lost or not self._answered:
            key = "device"
        problem = self._problems.setdefault(key, _Problem())
        now = time.monotonic()
        if now - problem.last < LOG_INTERVAL:
            problem.suppressed += 1
            return
        problem.last = now
        again = f" ({problem.suppressed} more since last logged)" if problem.suppressed else ""
        problem.suppressed = 0
        names = ", ".join(t.name for t in tags[:TAGS_NAMED])
        if len(tags) > TAGS_NAMED:
            names += f" and {len(tags) - TAGS_NAMED} more"
        noun = "tag" if len(tags) == 1 else f"{len(tags)} tags"
        log.error(
            "modbus %s: %s: %s %s not read: %s%s",
            self.component,
            self.settings.key,
            noun,
            names,
            failure.error,
            again,
            extra=self._fields(error=failure.error, tags=[t.name for t in tags]),
        )

    def _fields(self, **more: Any) -> dict[str, Any]:
        fields = {"stream": self.stream, "component": self.component, "device": self.settings.key}
        fields.update(more)
        return {"fields": fields}
