"""Messages and batches: raw payload bytes, a lazily parsed structured value, metadata, an error."""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

__all__ = [
    "Batch",
    "ErrorSource",
    "Message",
    "PayloadError",
    "payloads_of",
    "serialise_value",
]


#: the component that failed a message: (label or "", type, config path such as
#: "root.pipeline.processors.0")
ErrorSource = tuple[str, str, str]


class PayloadError(ValueError):
    """The payload could not be parsed as a structured (JSON) document."""


_UNSET: Any = object()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, _dt.datetime):
        from streamforge.timefmt.gotime import format_rfc3339_nano

        return format_rfc3339_nano(obj)
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", errors="replace")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"value of type {type(obj).__name__} is not serialisable")


#: where orjson's JSON is not what Go's encoding/json writes: a whole-number float ("6.0", Go
#: "6"), a float in [1e-6, 1e-5) or [1e16, 1e21) ("1e-6", Go "0.000001"), U+2028 and U+2029
#: (Go escapes them); a string that only looks like one costs the exact path, nothing more
_NOT_GO_JSON = re.compile(rb"\.0(?:[,}\]]|$)|e(?:-6|\+1[6-9]|\+20)(?:[,}\]]|$)|\xe2\x80[\xa8\xa9]")
#: the same over JSON documents joined by newlines
_NOT_GO_JSON_LINES = re.compile(
    rb"\.0(?:[,}\]\n]|$)|e(?:-6|\+1[6-9]|\+20)(?:[,}\]\n]|$)|\xe2\x80[\xa8\xa9]"
)
#: its first alternative alone, which a regex finds many times faster than all three
_WHOLE_FLOAT_LINES = re.compile(rb"\.0(?:[,}\]\n]|$)")


def _not_go_json(data: bytes) -> re.Pattern[bytes]:
    """The pattern to look for what Go writes otherwise in `data`: the whole-number float one
    alone unless `data` holds what the others need ("+", "e-6", U+2028/U+2029's first byte),
    which single-byte searches rule out at memory speed."""
    if b"+" in data or b"\xe2" in data or (b"-" in data and b"e-6" in data):
        return _NOT_GO_JSON_LINES
    return _WHOLE_FLOAT_LINES


#: object keys sorted at every depth while writing, as Go's encoding/json (and Benthos) writes them
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_SORT_KEYS

_SURROGATE = re.compile("[\ud800-\udfff]")


def go_float(value: float) -> str:
    """A finite float64 as Go's encoding/json writes it: the shortest digits that read back
    as the same value, in plain notation from 1e-6 to 1e21 and as `1e-7`, `1e+21` outside."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).rstrip("0")
    point = len(whole) + int(exponent or 0)  # the value is 0.<digits> * 10**point
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    digits = significant
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        exp = point - 1
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exp < 0 else '+'}{abs(exp)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _go_number(value: float) -> Any:
    """A float as orjson writes what Go writes: an int, the float itself, or Go's text of it."""
    if value.is_integer():
        if -1e16 < value < 1e16 and (value or math.copysign(1.0, value) > 0):
            return int(value)
    elif 1e-5 <= abs(value) < 1e16 or not math.isfinite(value):
        return value
    return orjson.Fragment(go_float(value))


def _go_numbers(value: Any) -> Any:
    """The value with its floats, and integers wider than orjson's 64 bits, as Go writes them."""
    t = type(value)
    if t is float:
        return _go_number(value)
    if t is dict:
        return {k: _go_numbers(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_go_numbers(v) for v in value]
    if t is int:
        return value if -(2**63) <= value < 2**64 else orjson.Fragment(str(value))
    if t is str or value is None or t is bool:
        return value
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_go_numbers(v) for v in value]
    if isinstance(value, float):
        return _go_number(float(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _go_numbers(int(value))
    return value


def _go_strings(value: Any) -> Any:
    """The value with every string and key valid Unicode: a lone surrogate becomes U+FFFD, as
    Go's decoder reads one and its encoder writes a string that is not UTF-8."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {
            _go_strings(k) if isinstance(k, str) else _key_text(k): _go_strings(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_go_strings(v) for v in value]
    return value


def _key_text(key: Any) -> str:
    """A key that is not a string, as orjson writes it."""
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, float) and key.is_integer() and abs(key) < 1e21:
        return str(int(key))
    return str(_json_default(key)) if isinstance(key, (_dt.datetime, bytes)) else str(key)


def _orjson(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default, option=_ORJSON_OPTIONS)


def _as_go_json(data: bytes) -> bytes | None:
    """orjson's output rewritten as Go writes it, when only whole-number floats ("6.0") and
    U+2028/U+2029 differ; None when a float needs Go's own digits (the exact path).

    Without a backslash in the JSON every `"` opens or closes a string, so counting them
    tells a number from text that only looks like one.
    """
    if b"\\" in data:
        return None
    parts: list[bytes] = []
    start = counted = quotes = 0
    separators = False
    for match in _NOT_GO_JSON.finditer(data):
        pos = match.start()
        quotes += data.count(b'"', counted, pos)
        counted = pos
        if data[pos] == 0xE2:
            separators = True  # U+2028/U+2029, only ever inside a string
        elif quotes & 1:
            continue  # text inside a string
        elif data[pos] == 0x2E:
            parts.append(data[start:pos])  # a whole-number float: drop its ".0"
            start = pos + 2
        else:
            return None  # 1e-6 or 1e+16: Go writes other digits
    if parts:
        parts.append(data[start:])
        data = b"".join(parts)
    if separators:
        data = data.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return data


def _exact_go_json(value: Any) -> bytes:
    """The slow, exact path: floats as `go_float` writes them, wide integers, lone surrogates."""
    value = _go_numbers(value)
    try:
        data = _orjson(value)
    except TypeError:
        data = _orjson(_go_strings(value))
    return data.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")


def _go_json_of(value: Any, data: bytes) -> bytes:
    """orjson's JSON `data` of `value` as Go's encoding/json writes it."""
    if not _not_go_json(data).search(data):
        return data
    fixed = _as_go_json(data)
    return fixed if fixed is not None else _exact_go_json(value)


def _dumps(value: Any) -> bytes:
    """JSON as Go's encoding/json writes it (without HTML escaping, as Benthos does)."""
    try:
        data = orjson.dumps(value, default=_json_default, option=_ORJSON_OPTIONS)
    except TypeError:
        return _exact_go_json(value)  # an integer wider than 64 bits or a lone surrogate
    return _go_json_of(value, data)


#: how deeply a JSON document may nest (orjson's limit; deeper ones are refused, not recursed)
MAX_JSON_DEPTH = 1024


def parse_json(raw: bytes) -> Any:
    """Parse JSON bytes; the standard library's error messages when they are not valid.

    A document nested deeper than MAX_JSON_DEPTH is a ValueError like any invalid one.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise ValueError(f"document nested deeper than {MAX_JSON_DEPTH} levels") from None
        try:
            value = json.loads(raw)  # lone surrogates, or a real error worded as Python words it
        except RecursionError:
            raise ValueError(f"document nested deeper than {MAX_JSON_DEPTH} levels") from None
        if b"\\ud" in raw or b"\\uD" in raw:
            value = _go_strings(value)  # a lone surrogate escape reads as U+FFFD in Go
        return value


def serialise_value(value: Any) -> bytes:
    """Serialise a structured value the way Benthos does: bytes raw, strings unquoted, else JSON.

    As Go's encoding/json writes them: object keys sorted at every depth (while writing, in
    one pass), floats as `go_float` writes them (`6`, not `6.0`), U+2028 and U+2029 escaped.
    """
    if type(value) is dict or type(value) is list:
        return _dumps(value)
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytearray):
        return bytes(value)
    return _dumps(value)


class Message:
    """One message: payload bytes with a structured view parsed at most once.

    The structured value is kept while processors work on it and serialised once when
    `payload` is read again (normally at the output).
    """

    #: `error_source` is set only on a failed message whose failing component is known:
    #: (label, type, config path), as Bloblang's error_source_*() read it; `origin` only on a
    #: message being written whose input answers its peer (the input batch's acknowledgement,
    #: which a `sync_response` output hands it to)
    __slots__ = ("_payload", "_value", "metadata", "error", "error_source", "origin")
    error_source: ErrorSource | None
    origin: Any

    def __init__(
        self,
        payload: bytes | str = b"",
        metadata: dict[str, Any] | None = None,
        *,
        value: Any = _UNSET,
        error: str | None = None,
    ) -> None:
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self._payload: bytes | None = payload if value is _UNSET else None
        self._value: Any = value
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.error: str | None = error

    @classmethod
    def from_value(
        cls, value: Any, metadata: dict[str, Any] | None = None, error: str | None = None
    ) -> Message:
        """A message whose structured value is already known (no parse needed)."""
        new = cls.__new__(cls)
        new._payload = None
        new._value = value
        new.metadata = metadata if metadata is not None else {}
        new.error = error
        return new

    @classmethod
    def from_payloads(cls, payloads: Iterable[bytes], metadata: dict[str, Any]) -> list[Message]:
        """One message per payload, each with its own copy of `metadata` (inputs' batches)."""
        new, unset = cls.__new__, _UNSET
        out: list[Message] = []
        append = out.append
        for payload in payloads:
            msg = new(cls)
            msg._payload = payload
            msg._value = unset
            msg.metadata = metadata.copy()
            msg.error = None
            append(msg)
        return out

    # -- payload ------------------------------------------------------------------------
    @property
    def payload(self) -> bytes:
        """The raw bytes; serialises the structured value once if it was changed."""
        payload = self._payload
        if payload is None:
            payload = self._payload = serialise_value(self._value)
        return payload

    def set_payload(self, payload: bytes | str) -> None:
        """Replace the raw bytes; the structured view is parsed again when next read."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self._payload = payload
        self._value = _UNSET

    # -- structured value ---------------------------------------------------------------
    @property
    def has_value(self) -> bool:
        """True when the structured value is already parsed or set."""
        return self._value is not _UNSET

    @property
    def value(self) -> Any:
        """The structured (JSON) value of the payload, parsed on first access.

        Raises `PayloadError` when the payload is not valid JSON.
        """
        if self._value is _UNSET:
            raw = self._payload or b""
            try:
                self._value = parse_json(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise PayloadError(f"failed to parse message as JSON: {exc}") from None
        return self._value

    def set_value(self, value: Any) -> None:
        """Replace the structured value; the payload is serialised lazily."""
        self._value = value
        self._payload = None

    # -- errors -------------------------------------------------------------------------
    @property
    def errored(self) -> bool:
        return self.error is not None

    def fail(self, error: str | BaseException) -> Message:
        """Flag the message as failed with the given reason; returns self."""
        self.error = str(error)
        return self

    # -- copies -------------------------------------------------------------------------
    def copy(self) -> Message:
        """A deep, independent copy (value, metadata and error)."""
        new = Message.__new__(Message)
        new._payload = self._payload
        new._value = self._value if self._value is _UNSET else copy.deepcopy(self._value)
        new.metadata = dict(self.metadata)
        new.error = self.error
        if self.error is not None:
            new.error_source = getattr(self, "error_source", None)
        origin = getattr(self, "origin", None)
        if origin is not None:
            new.origin = origin
        return new

    def shallow_copy(self) -> Message:
        """A copy sharing the structured value; metadata dict is copied."""
        new = Message.__new__(Message)
        new._payload = self._payload
        new._value = self._value
        new.metadata = dict(self.metadata)
        new.error = self.error
        if self.error is not None:
            new.error_source = getattr(self, "error_source", None)
        origin = getattr(self, "origin", None)
        if origin is not None:
            new.origin = origin
        return new

    def __getstate__(self) -> tuple[bytes, dict[str, Any], str | None]:
        return (self.payload, self.metadata, self.error)

    def __setstate__(self, state: tuple[bytes, dict[str, Any], str | None]) -> None:
        self._payload, self.metadata, self.error = state
        self._value = _UNSET

    def __repr__(self) -> str:
        body = self._payload if self._payload is not None else self._value
        return f"Message({body!r}, metadata={self.metadata!r}, error={self.error!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.payload == other.payload
            and self.metadata == other.metadata
            and self.error == other.error
        )

    __hash__ = None  # type: ignore[assignment]


Batch = list[Message]


def payloads_of(batch: Sequence[Message]) -> list[bytes]:
    """Each message's payload bytes, serialising (once) those that hold a structured value.

    The JSON written for the batch is checked for what Go writes differently in one pass
    over all of it, not message by message.
    """
    out: list[bytes] = []
    append = out.append
    dumps, default, options = orjson.dumps, _json_default, _ORJSON_OPTIONS
    ready: list[int] = []  # where `out` holds bytes that need no check against Go's JSON
    for msg in batch:
        payload = msg._payload
        if payload is None:
            value = msg._value
            if type(value) is dict or type(value) is list:
                try:
                    payload = dumps(value, default=default, option=options)
                except TypeError:
                    payload = _exact_go_json(value)
                    ready.append(len(out))
            else:
                payload = serialise_value(value)
                ready.append(len(out))
            msg._payload = payload
        else:
            ready.append(len(out))
        append(payload)
    if not ready:
        _write_as_go(batch, out, range(len(out)))
    elif len(ready) < len(out):
        skip = set(ready)
        _write_as_go(batch, out, [i for i in range(len(out)) if i not in skip])
    return out


def _write_as_go(batch: Sequence[Message], payloads: list[bytes], unchecked: Sequence[int]) -> None:
    """Rewrite, in `payloads` and their messages, the JSON at `unchecked` Go writes otherwise."""
    jsons = payloads if len(unchecked) == len(payloads) else [payloads[i] for i in unchecked]
    joined = b"\n".join(jsons)  # orjson never writes a raw newline
    pattern = _not_go_json(joined)
    first = pattern.search(joined)
    if first is None:
        return
    k = start = 0  # the match at `start` is in the k-th JSON
    done = -1
    for match in pattern.finditer(joined, first.start()):
        k += joined.count(b"\n", start, match.start())
        start = match.start()
        if k == done:
            continue
        done = k
        i = unchecked[k]
        msg = batch[i]
        msg._payload = payloads[i] = _go_json_of(msg._value, payloads[i])


def batch_of(payloads: Iterable[bytes | str]) -> Batch:
    """A batch from raw payloads (handy in tests and plugins)."""
    return [Message(p) for p in payloads]
