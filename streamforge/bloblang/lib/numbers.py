"""Bloblang number methods: rounding, logarithms, min/max, sized integer and float conversions.

Numbers are Python `int` and `float` (never `bool`). Where Benthos computes a float64 that a
JSON document would print without a fraction, the result is returned as an `int`, so the
serialised output matches Benthos (`7`, not `7.0`).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.registry import Param, function, method

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "UINT64_MAX",
    "format_go_float",
    "is_number",
    "norm_float",
    "parse_go_float",
    "to_float",
    "to_int64",
    "to_uint64",
]

CATEGORY = "number"

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
UINT64_MAX = (1 << 64) - 1


def is_number(value: Any) -> bool:
    """True for Bloblang numbers (Python int/float, excluding bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def norm_float(value: float) -> int | float:
    """An integral, finite float that fits in int64 becomes an int; anything else is unchanged."""
    if value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    return value


def format_go_float(value: float) -> str:
    """Format a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` does (Benthos `.string()`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exp = len(digit_tuple) + int(exponent) - 1
    sign = "-" if value < 0 else ""
    if exp < -4 or exp >= 6:
        tail = digits[1:]
        body = digits[0] + ("." + tail if tail else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return f"{sign}{digits}{'0' * (exp + 1 - len(digits))}"
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"


_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_SPECIAL_FLOATS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
                   "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}  # fmt: skip


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def parse_go_float(text: str, bits: int = 64) -> float:
    """Parse a float as Go's `strconv.ParseFloat`; errors carry Go's wording."""
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    try:
        if _FLOAT_RE.fullmatch(text):
            result = float(text)
        elif re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][+-]?\d+", text):
            result = float.fromhex(text)
        else:
            raise ValueError
    except (ValueError, OverflowError):
        raise MappingError(f"strconv.ParseFloat: parsing {_quote(text)}: invalid syntax") from None
    if math.isinf(result) or (bits == 32 and abs(result) > 3.4028234663852886e38):
        raise MappingError(f"strconv.ParseFloat: parsing {_quote(text)}: value out of range")
    return result


_INT_BODY = {
    2: re.compile(r"[01](?:_?[01])*"),
    8: re.compile(r"[0-7](?:_?[0-7])*"),
    10: re.compile(r"\d(?:_?\d)*"),
    16: re.compile(r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"),
}


def _parse_go_int(text: str, signed: bool) -> int:
    """Parse an integer as Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint(s, 0, 64)`."""
    fn = "ParseInt" if signed else "ParseUint"
    body = text
    negative = False
    if signed and body[:1] in ("+", "-"):
        negative = body[0] == "-"
        body = body[1:]
    base = 10
    lowered = body[:2].lower()
    if lowered == "0x":
        base, body = 16, body[2:].lstrip("_") if body[2:3] == "_" else body[2:]
    elif lowered == "0b":
        base, body = 2, body[2:].lstrip("_") if body[2:3] == "_" else body[2:]
    elif lowered == "0o":
        base, body = 8, body[2:].lstrip("_") if body[2:3] == "_" else body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:].lstrip("_") if body[1:2] == "_" else body[1:]
    if not _INT_BODY[base].fullmatch(body):
        raise MappingError(f"strconv.{fn}: parsing {_quote(text)}: invalid syntax")
    result = int(body.replace("_", ""), base)
    if negative:
        result = -result
    if (signed and not INT64_MIN <= result <= INT64_MAX) or (not signed and result > UINT64_MAX):
        raise MappingError(f"strconv.{fn}: parsing {_quote(text)}: value out of range")
    return result


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return None


def to_float(value: Any, bits: int = 64) -> float:
    """Benthos IToFloat64: numbers widen, strings/bytes are parsed, anything else fails."""
    if is_number(value):
        return float(value)
    text = _as_text(value)
    if text is not None:
        return parse_go_float(text, bits)
    raise type_error("number", value)


def to_int64(value: Any) -> int:
    """Benthos IToInt: a signed 64-bit integer from a number or a string (Go literal syntax)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value > INT64_MAX:
            raise MappingError("unsigned integer value is too large to be cast as a signed integer")
        if value < INT64_MIN:
            raise MappingError("integer value is too small to be cast as a signed integer")
        return value
    if isinstance(value, float):
        if math.isinf(value):
            raise MappingError("cannot convert +/-INF to an integer")
        if math.isnan(value):
            raise MappingError("cannot convert NAN to an integer")
        if value > INT64_MAX:
            raise MappingError("float value is too large to be cast as a signed integer")
        if value < INT64_MIN:
            raise MappingError("float value is too small to be cast as a signed integer")
        if not value.is_integer():
            raise MappingError(
                "float value contains decimals and therefore cannot be cast as a signed "
                "integer, if you intend to round the value then call `.round()` explicitly "
                "before this cast"
            )
        return int(value)
    text = _as_text(value)
    if text is not None:
        return _parse_go_int(text, signed=True)
    raise type_error("number", value)


def to_uint64(value: Any) -> int:
    """Benthos IToUint: an unsigned 64-bit integer from a number or a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise MappingError(
                "signed integer value is negative and cannot be cast as an unsigned integer"
            )
        if value > UINT64_MAX:
            raise MappingError("integer value is too large to be cast as an unsigned integer")
        return value
    if isinstance(value, float):
        if value < 0:
            raise MappingError("float value is negative and cannot be cast as an unsigned integer")
        if math.isinf(value):
            raise MappingError("cannot convert +/-INF to an unsigned integer")
        if math.isnan(value):
            raise MappingError("cannot convert NAN to an unsigned integer")
        if value > UINT64_MAX:
            raise MappingError("float value is too large to be cast as an unsigned integer")
        if not value.is_integer():
            raise MappingError(
                "float value contains decimals and therefore cannot be cast as an unsigned "
                "integer, if you intend to round the value then call `.round()` explicitly "
                "before this cast"
            )
        return int(value)
    text = _as_text(value)
    if text is not None:
        return _parse_go_int(text, signed=False)
    raise type_error("number", value)


def _number(value: Any) -> int | float:
    if not is_number(value):
        raise type_error("number", value)
    return value


def _int_result(result: float) -> int | float:
    """Rounded floats become int64 when they fit (Benthos), otherwise stay floats."""
    if math.isfinite(result) and INT64_MIN <= result <= INT64_MAX:
        return int(result)
    return float(result)


# -- rounding -----------------------------------------------------------------------------


@method("ceil", category=CATEGORY)
def ceil(target: Any) -> int | float:
    """The least integer value greater than or equal to a number."""
    value = _number(target)
    if isinstance(value, int) or not math.isfinite(value):
        return value
    return _int_result(math.ceil(value))


@method("floor", category=CATEGORY)
def floor(target: Any) -> int | float:
    """The greatest integer value less than or equal to a number."""
    value = _number(target)
    if isinstance(value, int) or not math.isfinite(value):
        return value
    return _int_result(math.floor(value))


def _round_half_away(value: float) -> float:
    truncated = math.trunc(value)
    if abs(value - truncated) >= 0.5:
        truncated += 1 if value > 0 else -1
    return float(truncated)


@method("round", category=CATEGORY)
def round_(target: Any) -> int | float:
    """Round to the nearest integer, halves away from zero."""
    value = _number(target)
    if isinstance(value, int) or not math.isfinite(value):
        return value
    return _int_result(_round_half_away(value))


@method("abs", category=CATEGORY)
def abs_(target: Any) -> int | float:
    """The absolute value; the minimum int64 maps to the maximum int64."""
    if not is_number(target):
        raise type_error("number or integer", target)
    if isinstance(target, int):
        if target == INT64_MIN:
            return INT64_MAX
        return -target if target < 0 else target
    return abs(target)


# -- logarithms, powers -------------------------------------------------------------------


def _log(value: float, fn: Callable[[float], float]) -> int | float:
    if value > 0:
        return norm_float(fn(value)) if math.isfinite(value) else value
    if value == 0:
        return -math.inf
    return math.nan


@method("log", category=CATEGORY)
def log(target: Any) -> int | float:
    """The natural logarithm of a number."""
    return _log(float(_number(target)), math.log)


@method("log10", category=CATEGORY)
def log10(target: Any) -> int | float:
    """The decimal logarithm of a number."""
    return _log(float(_number(target)), math.log10)


@method("pow", [Param("exponent", "float")], category=CATEGORY)
def pow_(target: Any, exponent: Any) -> int | float:
    """The number raised to the given exponent."""
    base = float(_number(target))
    exp = float(_number(exponent))
    try:
        result = math.pow(base, exp)
    except OverflowError:
        result = math.inf if base > 0 or exp.is_integer() and exp % 2 == 0 else -math.inf
    except ValueError:
        result = math.inf if base == 0 else math.nan
    return norm_float(result) if math.isfinite(result) else result


def _cbrt(x: float) -> float:
    root = abs(x) ** (1 / 3) if math.isfinite(x) else abs(x)
    near = round(root)
    if near**3 == abs(x):
        root = float(near)
    return math.copysign(root, x)


def _unary(fn: Callable[[float], float]) -> Callable[[Any], int | float]:
    """A float64 function of the target, NaN outside its domain (as Go's math package)."""

    def apply(target: Any) -> int | float:
        try:
            result = fn(float(_number(target)))
        except ValueError:
            return math.nan
        except OverflowError:
            return math.inf
        return norm_float(result) if math.isfinite(result) else result

    return apply


for _name, _fn, _doc in (
    ("sin", math.sin, "The sine of a number of radians."),
    ("cos", math.cos, "The cosine of a number of radians."),
    ("tan", math.tan, "The tangent of a number of radians."),
    ("asin", math.asin, "The arcsine of a number, in radians."),
    ("acos", math.acos, "The arccosine of a number, in radians."),
    ("atan", math.atan, "The arctangent of a number, in radians."),
    ("sqrt", math.sqrt, "The square root of a number."),
    ("cbrt", lambda x: _cbrt(x), "The cube root of a number."),
    ("exp", math.exp, "e raised to the power of a number."),
):
    method(_name, category=CATEGORY, description=_doc)(_unary(_fn))


@method("atan2", [Param("x", "float")], category=CATEGORY)
def atan2(target: Any, x: Any) -> int | float:
    """The arctangent of target/x (target is y), using the signs of both for the quadrant."""
    return norm_float(math.atan2(float(_number(target)), float(_number(x))))


# -- aggregates ---------------------------------------------------------------------------


def _extreme(target: Any, pick_max: bool) -> int | float:
    if not isinstance(target, list):
        raise type_error("array", target)
    if not target:
        raise MappingError("the array was empty")
    best = 0.0
    for i, item in enumerate(target):
        if not is_number(item):
            raise MappingError(f"index {i} of array: {type_error('number', item).reason}")
        value = float(item)
        if i == 0 or (value > best if pick_max else value < best):
            best = value
    return norm_float(best)


@method("max", category=CATEGORY)
def max_(target: Any) -> int | float:
    """The largest number in an array."""
    return _extreme(target, True)


@method("min", category=CATEGORY)
def min_(target: Any) -> int | float:
    """The smallest number in an array."""
    return _extreme(target, False)


# -- bitwise ------------------------------------------------------------------------------


def _to_go_int64(value: Any) -> int:
    if not is_number(value):
        raise type_error("integer", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return INT64_MIN
        value = math.trunc(value)
    return ((int(value) + (1 << 63)) % (1 << 64)) - (1 << 63)


@method("bitwise_and", [Param("value", "int")], category=CATEGORY)
def bitwise_and(target: Any, value: Any) -> int:
    """The number AND-ed bitwise with the argument."""
    return _to_go_int64(target) & _to_go_int64(value)


@method("bitwise_or", [Param("value", "int")], category=CATEGORY)
def bitwise_or(target: Any, value: Any) -> int:
    """The number OR-ed bitwise with the argument."""
    return _to_go_int64(target) | _to_go_int64(value)


@method("bitwise_xor", [Param("value", "int")], category=CATEGORY)
def bitwise_xor(target: Any, value: Any) -> int:
    """The number XOR-ed bitwise with the argument."""
    return _to_go_int64(target) ^ _to_go_int64(value)


# -- sized conversions --------------------------------------------------------------------


def _sized_signed(bits: int, article: str) -> Callable[[Any], int]:
    high = (1 << (bits - 1)) - 1
    low = -(1 << (bits - 1))

    def convert(target: Any) -> int:
        result = to_int64(target)
        if result > high:
            raise MappingError(
                f"value is too large to be cast as {article} {bits}-bit signed integer"
            )
        if result < low:
            raise MappingError(
                f"value is too small to be cast as {article} {bits}-bit signed integer"
            )
        return result

    return convert


def _sized_unsigned(bits: int, article: str) -> Callable[[Any], int]:
    high = (1 << bits) - 1

    def convert(target: Any) -> int:
        result = to_uint64(target)
        if result > high:
            raise MappingError(
                f"value is too large to be cast as {article} {bits}-bit unsigned integer"
            )
        return result

    return convert


method("int64", category=CATEGORY, description="Convert to a 64-bit signed integer.")(to_int64)
method("int32", category=CATEGORY, description="Convert to a 32-bit signed integer.")(
    _sized_signed(32, "a")
)
method("int16", category=CATEGORY, description="Convert to a 16-bit signed integer.")(
    _sized_signed(16, "a")
)
method("int8", category=CATEGORY, description="Convert to an 8-bit signed integer.")(
    _sized_signed(8, "an")
)
method("uint64", category=CATEGORY, description="Convert to a 64-bit unsigned integer.")(to_uint64)
method("uint32", category=CATEGORY, description="Convert to a 32-bit unsigned integer.")(
    _sized_unsigned(32, "a")
)
method("uint16", category=CATEGORY, description="Convert to a 16-bit unsigned integer.")(
    _sized_unsigned(16, "a")
)
method("uint8", category=CATEGORY, description="Convert to an 8-bit unsigned integer.")(
    _sized_unsigned(8, "an")
)


@method("float64", category=CATEGORY)
def float64(target: Any) -> float:
    """Convert a number, or parse a string, into a 64-bit float."""
    return to_float(target)


def _shortest_float32(value: float) -> float:
    """The float32 nearest to `value`, as the shortest decimal that round-trips in 32 bits."""
    if not math.isfinite(value) or value == 0:
        return value
    try:
        packed = struct.pack("<f", value)
    except OverflowError:
        return math.copysign(math.inf, value)
    single = struct.unpack("<f", packed)[0]
    if not math.isfinite(single):
        return float(single)
    for digits in range(1, 10):
        candidate = float(f"{single:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return float(single)


@method("float32", category=CATEGORY)
def float32(target: Any) -> float:
    """Convert a number, or parse a string, into a 32-bit float."""
    return _shortest_float32(to_float(target, bits=32))


# -- functions ----------------------------------------------------------------------------


@function("pi", category=CATEGORY)
def pi() -> float:
    """The mathematical constant Pi."""
    return math.pi
