"""Bloblang type coercion methods: `bool`, `bytes`, `number`, `string`, `type`, `array` and the
`not_null` / `not_empty` guards."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from streamforge.bloblang.errors import MappingError, type_error, type_name
from streamforge.bloblang.lib.numbers import format_go_float, is_number, norm_float, to_float
from streamforge.bloblang.registry import Param, method
from streamforge.timefmt.gotime import format_rfc3339_nano

__all__ = ["format_timestamp", "to_bool", "to_bytes", "to_string"]

CATEGORY = "coercion"

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def format_timestamp(value: datetime) -> str:
    """RFC 3339 with only the significant fraction digits and `Z` for UTC (Go's RFC3339Nano)."""
    return format_rfc3339_nano(value)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return format_timestamp(obj)
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", "replace")
    raise TypeError(f"value of type {type(obj).__name__} is not serialisable")


def _integral_floats_as_ints(value: Any) -> Any:
    """Integral floats print as integers in Benthos' JSON; rebuild containers only if needed."""
    if isinstance(value, float):
        return norm_float(value)
    if isinstance(value, list):
        items = [_integral_floats_as_ints(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    if isinstance(value, dict):
        pairs = {k: _integral_floats_as_ints(v) for k, v in value.items()}
        return pairs if any(pairs[k] is not v for k, v in value.items()) else value
    return value


def to_json(value: Any) -> str:
    """Compact JSON text of a structured value, as Benthos marshals it."""
    try:
        return json.dumps(
            _integral_floats_as_ints(value),
            separators=(",", ":"),
            ensure_ascii=False,
            default=_json_default,
        )
    except (TypeError, ValueError) as exc:
        raise MappingError(f"failed to serialise value: {exc}") from None


def to_string(value: Any) -> str:
    """Benthos IToString: the textual form of any value; structured values become JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_go_float(value)
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return format_timestamp(value)
    return to_json(value)


def to_bytes(value: Any) -> bytes:
    """Benthos IToBytes: like `to_string` but as bytes; bytes are returned unchanged."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    return to_string(value).encode("utf-8")


def to_bool(value: Any) -> bool:
    """Benthos IToBool: booleans, numbers (non-zero is true) and Go's boolean strings."""
    if isinstance(value, bool):
        return value
    if is_number(value):
        return bool(value != 0)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    raise type_error("bool", value)


@method("bool", [Param("default", "bool", None)], category=CATEGORY)
def bool_(target: Any, default: Any = None) -> bool:
    """Parse a value into a boolean, or yield `default` when that fails."""
    try:
        return to_bool(target)
    except MappingError:
        if default is not None:
            return bool(default)
        raise


@method("number", [Param("default", "float", None)], category=CATEGORY)
def number(target: Any, default: Any = None) -> int | float:
    """Parse a value into a number, or yield `default` when that fails."""
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    try:
        return norm_float(to_float(target))
    except MappingError:
        if default is None:
            raise
        fallback: Any = norm_float(float(default)) if is_number(default) else default
        return fallback


@method("string", category=CATEGORY)
def string(target: Any) -> str:
    """Marshal a value into a string; structured values become JSON."""
    return to_string(target)


@method("bytes", category=CATEGORY)
def bytes_(target: Any) -> bytes:
    """Marshal a value into a byte array; structured values become JSON."""
    return to_bytes(target)


@method("type", category=CATEGORY)
def type_(target: Any) -> str:
    """The Bloblang type name of a value."""
    return type_name(target)


@method("array", category=CATEGORY)
def array(target: Any) -> list[Any]:
    """The value wrapped in an array, unless it already is one."""
    return target if isinstance(target, list) else [target]


@method("not_null", category=CATEGORY)
def not_null(target: Any) -> Any:
    """The value, or an error when it is null."""
    if target is None:
        raise MappingError("value is null")
    return target


@method("not_empty", category=CATEGORY)
def not_empty(target: Any) -> Any:
    """The string, array or object, or an error when it is empty."""
    if isinstance(target, str):
        kind = "string"
    elif isinstance(target, list):
        kind = "array"
    elif isinstance(target, dict):
        kind = "object"
    else:
        raise type_error("string, array or object", target)
    if not target:
        raise MappingError(f"{kind} value is empty")
    return target
