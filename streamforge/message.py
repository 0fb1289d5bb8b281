"""Messages and batches: raw payload bytes, a lazily parsed structured value, metadata, an error."""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["Batch", "Message", "PayloadError", "serialise_value"]


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


#: a whole-number float as Python's JSON writes it ("6.0"), which Go writes as "6"
_WHOLE_FLOAT = re.compile(r"\d\.0(?=[,}\]]|$)")


def _whole_floats_as_ints(value: Any) -> Any:
    t = type(value)
    if t is float:
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if t is dict:
        return {k: _whole_floats_as_ints(v) for k, v in value.items()}
    if t is list:
        return [_whole_floats_as_ints(v) for v in value]
    return value


#: object keys sorted at every depth while writing, as Go's encoding/json (and Benthos) writes them
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_SORT_KEYS


def _str_keys(value: Any) -> Any:
    """Object keys as strings, so keys of mixed types sort as the text they are written as."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key_text(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_str_keys(v) for v in value]
    return value


def _key_text(key: Any) -> str:
    """A key that is not a string, as orjson writes it."""
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, float) and key.is_integer() and abs(key) < 1e21:
        return str(int(key))
    return str(_json_default(key)) if isinstance(key, (_dt.datetime, bytes)) else str(key)


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_json_default, option=_ORJSON_OPTIONS).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        # integers beyond 64 bits and other values orjson refuses: the standard library
        return json.dumps(
            _str_keys(value),
            separators=(",", ":"),
            ensure_ascii=False,
            sort_keys=True,
            default=_json_default,
        )


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
            return json.loads(raw)  # big integers, or a real error worded as Python words it
        except RecursionError:
            raise ValueError(f"document nested deeper than {MAX_JSON_DEPTH} levels") from None


def serialise_value(value: Any) -> bytes:
    """Serialise a structured value the way Benthos does: bytes raw, strings unquoted, else JSON.

    As Go's encoding/json writes them: object keys sorted at every depth (while writing, in
    one pass), and a whole-number float without `.0`.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytearray):
        return bytes(value)
    text = _dumps(value)
    if _WHOLE_FLOAT.search(text):
        text = _dumps(_whole_floats_as_ints(value))
    return text.encode("utf-8")


class Message:
    """One message: payload bytes with a structured view parsed at most once.

    The structured value is kept while processors work on it and serialised once when
    `payload` is read again (normally at the output).
    """

    __slots__ = ("_payload", "_value", "metadata", "error")

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
    def from_value(cls, value: Any, metadata: dict[str, Any] | None = None) -> Message:
        """A message whose structured value is already known (no parse needed)."""
        return cls(value=value, metadata=metadata)

    # -- payload ------------------------------------------------------------------------
    @property
    def payload(self) -> bytes:
        """The raw bytes; serialises the structured value once if it was changed."""
        if self._payload is None:
            self._payload = serialise_value(self._value)
        return self._payload

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
        return new

    def shallow_copy(self) -> Message:
        """A copy sharing the structured value; metadata dict is copied."""
        new = Message.__new__(Message)
        new._payload = self._payload
        new._value = self._value
        new.metadata = dict(self.metadata)
        new.error = self.error
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


def batch_of(payloads: Iterable[bytes | str]) -> Batch:
    """A batch from raw payloads (handy in tests and plugins)."""
    return [Message(p) for p in payloads]
