"""JSON values to OPC UA variants for the `opcua` output, and the read-back comparison.

A value is converted to the node's data type (or the one the config forces): numbers with a
range check, whole numbers only for integer types, booleans from true/false, 0/1 and their
text, strings from any scalar (objects and arrays as JSON text), DateTime from RFC 3339 text or
Unix milliseconds, ByteString from base64. A JSON array becomes an array of that type.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from datetime import datetime, timezone
from typing import Any

import orjson
from asyncua import ua

__all__ = ["Unconvertible", "infer_type", "same_value", "to_variant"]

V = ua.VariantType

#: integer types: (variant type, smallest, largest)
_INTEGERS: dict[str, tuple[ua.VariantType, int, int]] = {
    "SByte": (V.SByte, -(2**7), 2**7 - 1),
    "Byte": (V.Byte, 0, 2**8 - 1),
    "Int16": (V.Int16, -(2**15), 2**15 - 1),
    "UInt16": (V.UInt16, 0, 2**16 - 1),
    "Int32": (V.Int32, -(2**31), 2**31 - 1),
    "UInt32": (V.UInt32, 0, 2**32 - 1),
    "Int64": (V.Int64, -(2**63), 2**63 - 1),
    "UInt64": (V.UInt64, 0, 2**64 - 1),
}
_FLOAT_MAX = 3.4028234663852886e38
_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})


class Unconvertible(ValueError):
    """A value that cannot become the wanted type; the message says why."""


def _shown(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def infer_type(value: Any) -> str:
    """The type a value of a node typed BaseDataType (or Number ...) is written as."""
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        return "Boolean"
    if isinstance(sample, int):
        return "Int64"
    if isinstance(sample, float):
        return "Double"
    return "String"


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Unconvertible(f"{_shown(value)} is not a Boolean (true, false, 1 or 0)")


def _integer(value: Any, name: str) -> int:
    _, low, high = _INTEGERS[name]
    number: int
    if isinstance(value, bool):
        raise Unconvertible(f"{_shown(value)} is not a number for {name}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise Unconvertible(f"{_shown(value)} is not a whole number for {name}")
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip(), 10)
        except ValueError:
            raise Unconvertible(f"{_shown(value)} is not a whole number for {name}") from None
    else:
        raise Unconvertible(f"{_shown(value)} is not a number for {name}")
    if not low <= number <= high:
        raise Unconvertible(f"{number} is outside the range of {name} ({low}..{high})")
    return number


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Unconvertible(f"{_shown(value)} is not a number for {name}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise Unconvertible(f"{_shown(value)} is not a number for {name}") from None
    if name == "Float":
        if math.isfinite(number) and abs(number) > _FLOAT_MAX:
            raise Unconvertible(f"{_shown(value)} is outside the range of Float")
        # the value as the server will keep it, so the read-back compares equal
        number = struct.unpack("<f", struct.pack("<f", number))[0]
    return number


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return orjson.dumps(value).decode()


def _datetime(value: Any) -> datetime:
    if isinstance(value, bool):
        raise Unconvertible(f"{_shown(value)} is not a DateTime")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise Unconvertible(f"{_shown(value)} is out of range for a DateTime (ms)") from None
    if isinstance(value, str):
        from dateutil.parser import isoparse

        try:
            parsed = isoparse(value.strip())
        except (ValueError, OverflowError):
            raise Unconvertible(
                f"{_shown(value)} is not a DateTime (RFC 3339, e.g. 2024-05-06T07:08:09Z, "
                "or Unix milliseconds)"
            ) from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    raise Unconvertible(f"{_shown(value)} is not a DateTime")


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise Unconvertible(f"{_shown(value)} is not base64 for a ByteString") from None
    raise Unconvertible(f"{_shown(value)} is not base64 text for a ByteString")


def _scalar(value: Any, name: str) -> Any:
    if value is None:
        raise Unconvertible(f"null cannot be written as {name}")
    if name == "Boolean":
        return _boolean(value)
    if name in _INTEGERS:
        return _integer(value, name)
    if name in ("Float", "Double"):
        return _real(value, name)
    if name == "String":
        return _string(value)
    if name == "DateTime":
        return _datetime(value)
    if name == "ByteString":
        return _bytes(value)
    raise Unconvertible(f"data type {name} cannot be written")


def to_variant(value: Any, name: str) -> ua.Variant:
    """`value` (from JSON) as a variant of the built-in type `name` (e.g. Int32)."""
    vtype = _INTEGERS[name][0] if name in _INTEGERS else ua.VariantType[name]
    if isinstance(value, list) and name != "String":
        return ua.Variant([_scalar(v, name) for v in value], vtype)
    return ua.Variant(_scalar(value, name), vtype)


def _equal(read: Any, written: Any) -> bool:
    if isinstance(written, list):
        return (
            isinstance(read, list)
            and len(read) == len(written)
            and all(_equal(r, w) for r, w in zip(read, written))
        )
    if isinstance(written, float) and isinstance(read, float):
        return read == written or (math.isnan(read) and math.isnan(written))
    if isinstance(written, datetime) and isinstance(read, datetime):
        utc = read.replace(tzinfo=timezone.utc) if read.tzinfo is None else read
        return abs((utc - written).total_seconds()) < 1e-6
    return bool(read == written and type(read) is type(written))


def same_value(read: ua.Variant | None, written: ua.Variant) -> bool:
    """Whether a read-back variant holds what was written (same type, same value)."""
    if read is None or read.VariantType != written.VariantType:
        return False
    return _equal(read.Value, written.Value)
