"""What `downsample` reads from a message: its time, its value and its quality."""

from __future__ import annotations

import math
import time
from typing import Any

from streamforge.bloblang import DELETED, NOTHING, Executor, ParseError, parse_query
from streamforge.message import Message
from streamforge.plugin.errors import describe_error
from streamforge.timefmt.timestamps import canonical_nanos, time_nanos

__all__ = [
    "DEFAULT_TIMESTAMP",
    "DEFAULT_VALUE",
    "Point",
    "Reader",
    "ReadingError",
    "Value",
    "point_value",
    "same_value",
]

DEFAULT_TIMESTAMP = "this.timestamps.device_time"
DEFAULT_VALUE = "this.value"

#: a point's value: a finite number as float; anything else as (type name, comparable value)
Value = Any
#: a reading of a series: (message, unix nanoseconds, value, quality)
Point = tuple[Message, int, Value, Any]


class ReadingError(Exception):
    """A message's time or value cannot be read; the text names the field and the cause."""


def point_value(raw: Any) -> Value:
    """Finite numbers become floats (interpolable); other values a tuple compared for change."""
    kind = type(raw)
    if kind is float:
        return raw if math.isfinite(raw) else ("float", repr(raw))
    if kind is int:
        try:
            return float(raw)
        except OverflowError:
            return ("int", raw)
    if raw is NOTHING or raw is DELETED:
        return ("NoneType", None)
    if isinstance(raw, (bytes, bytearray)):
        return ("str", bytes(raw).decode("utf-8", errors="replace"))
    return (kind.__name__, raw)


def same_value(a: Value, b: Value) -> bool:
    """Equal values of the same kind (bool True is not the number 1)."""
    return type(a) is type(b) and a == b


#: nanoseconds per unit of the last digit of a fraction with 1..9 digits
_FRACTION_SCALE = (0, *(10 ** (9 - n) for n in range(1, 10)))


class _TimeCache:
    """Reads RFC 3339 UTC times (`...T12:34:56.789Z`) fast: readings share their second."""

    __slots__ = ("_minutes", "_seconds")

    LIMIT = 4096

    def __init__(self) -> None:
        self._seconds: dict[str, int] = {}
        self._minutes: dict[str, int] = {}

    def nanos(self, text: str) -> int | None:
        """Unix nanoseconds, or None when `text` is not in this form (the slow path decides)."""
        base = self._seconds.get(text[:19])
        if base is None:
            base = self._second(text[:19])
            if base is None:
                return None
        if len(text) == 20 and text[19] == "Z":
            return base
        frac = text[20:-1]
        if text[19:20] != "." or text[-1] != "Z" or not frac.isdigit() or len(frac) > 9:
            return None
        return base + int(frac) * _FRACTION_SCALE[len(frac)]

    def _second(self, prefix: str) -> int | None:
        if len(prefix) != 19 or prefix[16] != ":" or not prefix[17:].isdigit():
            return None
        second = int(prefix[17:])
        minute = self._minutes.get(prefix[:16])
        if minute is None:
            minute = canonical_nanos(prefix[:16] + ":00Z")
            if minute is None:
                return None
            if len(self._minutes) >= self.LIMIT:
                self._minutes.clear()
            self._minutes[prefix[:16]] = minute
        if second > 59:
            return None
        if len(self._seconds) >= self.LIMIT:
            self._seconds.clear()
        base = self._seconds[prefix] = minute + second * 1_000_000_000
        return base


def _query(text: str, name: str) -> Executor:
    try:
        return parse_query(text)
    except ParseError as exc:
        raise ValueError(f"{name}: bad Bloblang: {exc}") from None


class Reader:
    """Reads (time in unix nanoseconds, value, quality) from messages, queries compiled once."""

    def __init__(self, timestamp: str, value: str) -> None:
        timestamp = timestamp.strip() or DEFAULT_TIMESTAMP
        value = value.strip() or DEFAULT_VALUE
        self._time_query = (
            None if timestamp == DEFAULT_TIMESTAMP else _query(timestamp, "timestamp")
        )
        self._value_query = None if value == DEFAULT_VALUE else _query(value, "value")
        self._times = _TimeCache()

    def points(self, batch: list[Message]) -> tuple[list[Point], list[Message]]:
        """The points of a batch in order, and the messages that failed (error set)."""
        if self._time_query is not None or self._value_query is not None:
            return self._points_by_query(batch)
        out: list[Point] = []
        failed: list[Message] = []
        minute_nanos = self._times.nanos
        for msg in batch:
            if msg.error is not None:
                failed.append(msg)
                continue
            try:
                doc = msg.value
            except ValueError as exc:
                msg.error = f"downsample: {exc}"
                failed.append(msg)
                continue
            if type(doc) is dict:
                stamps = doc.get("timestamps")
                raw_time = stamps.get("device_time") if type(stamps) is dict else None
                raw = doc.get("value")
                quality = doc.get("quality")
            else:
                raw_time = raw = None
                quality = msg.metadata.get("quality")
            t = minute_nanos(raw_time) if type(raw_time) is str else None
            if t is None:
                try:
                    t = self._nanos(raw_time)
                except ReadingError as exc:
                    msg.error = f"downsample: {exc}"
                    failed.append(msg)
                    continue
            # a finite float is its own value (inf - inf and nan - nan are nan)
            value = raw if type(raw) is float and raw - raw == 0.0 else point_value(raw)
            out.append((msg, t, value, quality))
        return out, failed

    def _points_by_query(self, batch: list[Message]) -> tuple[list[Point], list[Message]]:
        out: list[Point] = []
        failed: list[Message] = []
        for i, msg in enumerate(batch):
            if msg.error is not None:
                failed.append(msg)
                continue
            try:
                t, value, quality = self.read(msg, batch, i)
            except ReadingError as exc:
                msg.error = f"downsample: {exc}"
                failed.append(msg)
                continue
            out.append((msg, t, value, quality))
        return out, failed

    def read(self, msg: Message, batch: list[Message], i: int) -> tuple[int, Value, str | None]:
        """The point of one message; raises ReadingError naming the field."""
        try:
            doc = msg.value
        except ValueError as exc:
            if self._time_query is None or self._value_query is None:
                raise ReadingError(str(exc)) from None
            doc = None  # both queries are the user's: they may read raw content()
        env = doc if type(doc) is dict else None
        if self._time_query is None:
            stamps = env.get("timestamps") if env is not None else None
            raw_time = stamps.get("device_time") if type(stamps) is dict else None
        else:
            raw_time = self._run("timestamp", self._time_query, msg, batch, i)
        if self._value_query is None:
            raw_value = env.get("value") if env is not None else None
        else:
            raw_value = self._run("value", self._value_query, msg, batch, i)
        quality = env.get("quality") if env is not None else msg.metadata.get("quality")
        return self._nanos(raw_time), point_value(raw_value), quality

    @staticmethod
    def _run(name: str, query: Executor, msg: Message, batch: list[Message], i: int) -> Any:
        try:
            return query.query_message(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - a failing query fails only its message
            raise ReadingError(f"{name}: {describe_error(exc)}") from None

    def _nanos(self, raw: Any) -> int:
        if type(raw) is str:
            ns = self._times.nanos(raw)
            if ns is not None:
                return ns
        if raw is None or raw is NOTHING or raw is DELETED or raw == "":
            return time.time_ns()
        try:
            return time_nanos(raw)
        except ValueError as exc:
            raise ReadingError(f"timestamp: {exc}") from None
