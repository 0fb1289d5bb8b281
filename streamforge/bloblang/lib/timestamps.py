"""Bloblang time functions and the "Timestamp Manipulation" methods, as Benthos v4 has them.

Timestamps are `gotime.Timestamp` values (timezone-aware datetimes with nanoseconds). Methods
that take a timestamp also accept RFC 3339 strings and unix numbers (seconds, with decimals
for sub-second precision; shown in the local zone), as Benthos does.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.registry import Param, function, method
from streamforge.timefmt.gotime import (
    RFC3339_NANO,
    UTC,
    Timestamp,
    add_nanos,
    format_go,
    format_rfc3339_nano,
    from_unix_nanos,
    go_date,
    load_location,
    nanos_of,
    parse_go,
    to_zone,
    unix_nanos,
)
from streamforge.timefmt.strftime import format_strftime, parse_strptime

__all__ = [
    "IsoPeriod",
    "as_time_string",
    "as_timestamp",
    "parse_go_duration",
    "parse_iso_period",
]

_NS = 1_000_000_000
_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)
_ZERO_TIME_UNIX_S = 62_135_596_800  # seconds from 0001-01-01T00:00:00Z to the unix epoch

_TIME = "timestamp_manipulation"
_ENV = "environment"
_DEPRECATED = "deprecated"
_COERCION = "coercion"

_NO_DEFAULT: Any = type("_NoDefault", (), {"__repr__": lambda self: "<none>"})()


# ---------------------------------------------------------------------------------------
# Value coercion
# ---------------------------------------------------------------------------------------


def as_timestamp(value: Any) -> Timestamp:
    """A Bloblang value as a timestamp: timestamps as they are, RFC 3339 strings parsed,
    numbers as unix seconds (decimals give sub-second precision) in the local zone."""
    if isinstance(value, datetime):
        if isinstance(value, Timestamp):
            return value
        return Timestamp.of(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, bool):
        raise type_error("number or string", value)
    if isinstance(value, int):
        return from_unix_nanos(value * _NS, None)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MappingError(f"cannot use {value} as a unix timestamp")
        whole = math.trunc(value)
        return from_unix_nanos(int(whole) * _NS + int((value - whole) * 1e9), None)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return parse_go(value, RFC3339_NANO)
    raise type_error("number or string", value)


def as_time_string(value: Any) -> str:
    """A Bloblang value as a string for parsing: strings, bytes, timestamps (RFC 3339)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, datetime):
        return format_rfc3339_nano(value)
    raise type_error("string", value)


def _string_arg(value: Any) -> str:
    if not isinstance(value, str):
        raise type_error("string", value)
    return value


def _int_arg(value: Any) -> int:
    if isinstance(value, bool):
        raise type_error("number", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise type_error("integer", value)


def _location(name: Any) -> Any:
    try:
        return load_location(_string_arg(name))
    except MappingError as exc:
        raise MappingError(f"failed to parse timezone location name: {exc.reason}") from None


def _clamp_int64(n: int) -> int:
    return max(_INT64_MIN, min(_INT64_MAX, n))


# ---------------------------------------------------------------------------------------
# Go durations and ISO 8601 periods
# ---------------------------------------------------------------------------------------

_DURATION_UNITS = {
    "ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
    "s": _NS, "m": 60 * _NS, "h": 3600 * _NS,
}  # fmt: skip


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch < " " or ch >= "\x80":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


def parse_go_duration(text: str) -> int:
    """Nanoseconds in a Go duration such as "300ms", "-1.5h" or "2h45m" (Go's ParseDuration).

    Raises MappingError with Go's wording, e.g. `time: invalid duration "foo"`.
    """
    invalid = MappingError(f"time: invalid duration {_go_quote(text)}")
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        whole = int(s[:i]) if i else 0
        pre = i > 0
        s = s[i:]
        frac, scale, post = 0, 1, False
        if s[:1] == ".":
            s = s[1:]
            i = 0
            while i < len(s) and "0" <= s[i] <= "9":
                if frac < (1 << 63) // 10:
                    frac = frac * 10 + ord(s[i]) - 48
                    scale *= 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise MappingError(f"time: missing unit in duration {_go_quote(text)}")
        unit_text, s = s[:i], s[i:]
        unit = _DURATION_UNITS.get(unit_text)
        if unit is None:
            raise MappingError(
                f"time: unknown unit {_go_quote(unit_text)} in duration {_go_quote(text)}"
            )
        if whole > (1 << 63) // unit:
            raise invalid
        value = whole * unit
        if frac:
            value += int(float(frac) * (float(unit) / scale))
        total += value
        if total > 1 << 63:
            raise invalid
    if neg:
        return -total
    if total > _INT64_MAX:
        raise invalid
    return total


_PERIOD_NUMBER = r"[+-]?[0-9]+(?:[.,][0-9]*)?"
_PERIOD_RE = re.compile(
    (
        r"(?P<sign>[+-]?)P(?:(?P<Y>N)Y)?(?:(?P<M>N)M)?(?:(?P<W>N)W)?(?:(?P<D>N)D)?"
        r"(?:(?P<T>T)(?:(?P<h>N)H)?(?:(?P<m>N)M)?(?:(?P<s>N)S)?|(?:(?P<h2>N)H)?(?:(?P<s2>N)S)?)"
    ).replace("N", _PERIOD_NUMBER)
)  # hours and seconds are also accepted without the "T" ("P3.5S"), as Benthos does
# Nanoseconds in a tenth of each field; years and months are averages (365.2425 days a year).
_TENTH_NS = {
    "Y": 31_556_952 * _NS // 10,
    "M": 2_629_746 * _NS // 10,
    "W": 604_800 * _NS // 10,
    "D": 86_400 * _NS // 10,
    "h": 3_600 * _NS // 10,
    "m": 60 * _NS // 10,
    "s": _NS // 10,
}


class IsoPeriod:
    """An ISO 8601 period ("P1Y2M3DT4H5M6S"); fields are held in tenths (one decimal)."""

    __slots__ = ("tenths",)

    def __init__(self, tenths: dict[str, int]) -> None:
        self.tenths = tenths

    def negate(self) -> IsoPeriod:
        return IsoPeriod({k: -v for k, v in self.tenths.items()})

    def approx_nanos(self) -> int:
        """Length in nanoseconds, with a year of 365.2425 days and a month of 1/12 of it."""
        return sum(v * _TENTH_NS[k] for k, v in self.tenths.items())

    def add_to(self, t: datetime) -> Timestamp:
        """`t` moved by the period: calendar-exact for whole years, months, weeks and days."""
        f = self.tenths
        date_fields = (f.get("Y", 0), f.get("M", 0), f.get("W", 0), f.get("D", 0))
        if any(v % 10 for v in date_fields):
            return add_nanos(t, self.approx_nanos())
        years, months, weeks, days = (v // 10 for v in date_fields)
        moved = t
        if years or months or weeks or days:
            moved = go_date(
                t.year + years, t.month + months, t.day + 7 * weeks + days,
                t.hour, t.minute, t.second, nanos_of(t), t.tzinfo or UTC,
            )  # fmt: skip
        clock = sum(f.get(k, 0) * _TENTH_NS[k] for k in "hms")
        return add_nanos(moved, clock) if clock else Timestamp.of(moved)


def _tenths(number: str) -> int:
    neg = number.startswith("-")
    whole, _, frac = number.lstrip("+-").replace(",", ".").partition(".")
    value = int(whole) * 10 + (int(frac[0]) if frac else 0)
    return -value if neg else value


def parse_iso_period(text: str) -> IsoPeriod:
    """Parse an ISO 8601 period; decimals beyond the first are truncated."""
    if not text:
        raise MappingError("cannot parse a blank string as a period")
    body = text.lstrip("+-")
    if not body.startswith("P"):
        raise MappingError(f"{text}: expected 'P' period mark at the start")
    if body == "P0":
        return IsoPeriod({})
    m = _PERIOD_RE.fullmatch(text)
    if m is None:
        raise MappingError(f"{text}: expected a number and a designator (Y, M, W, D, H, M, S)")
    fields = m.groupdict()
    fields["h"] = fields["h"] or fields.pop("h2")
    fields["s"] = fields["s"] or fields.pop("s2")
    names = ("Y", "M", "W", "D", "h", "m", "s")
    if all(fields[k] is None for k in names):
        raise MappingError(f"{text}: expected a number and a designator (Y, M, W, D, H, M, S)")
    if m.group("T") is not None and all(fields[k] is None for k in "hms"):
        raise MappingError(f"{text}: expected a number and a designator after 'T'")
    tenths = {k: _tenths(fields[k]) for k in names if fields[k] is not None}
    period = IsoPeriod(tenths)
    return period.negate() if m.group("sign") == "-" else period


# ---------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------


@function("now", category=_ENV)
def now() -> str:
    """The current time as an RFC 3339 string with nanoseconds, in the local timezone."""
    return format_rfc3339_nano(from_unix_nanos(time.time_ns(), None))


@function("timestamp_unix", category=_ENV)
def timestamp_unix() -> int:
    """The current unix time in seconds."""
    return time.time_ns() // _NS


@function("timestamp_unix_milli", category=_ENV)
def timestamp_unix_milli() -> int:
    """The current unix time in milliseconds."""
    return time.time_ns() // 1_000_000


@function("timestamp_unix_micro", category=_ENV)
def timestamp_unix_micro() -> int:
    """The current unix time in microseconds."""
    return time.time_ns() // 1_000


@function("timestamp_unix_nano", category=_ENV)
def timestamp_unix_nano() -> int:
    """The current unix time in nanoseconds."""
    return time.time_ns()


# ---------------------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------------------

_FORMAT_PARAMS = (
    Param("format", "string", RFC3339_NANO, "The output format, as Go's reference time."),
    Param("tz", "string", None, "A timezone for the output; default: the input's."),
)
_STRFTIME_PARAMS = (
    Param("format", "string", description="The output format, with strftime directives."),
    Param("tz", "string", None, "A timezone for the output; default: the input's."),
)


@method("ts_format", _FORMAT_PARAMS, category=_TIME)
def ts_format(target: Any, layout: Any = RFC3339_NANO, tz: Any = None) -> str:
    """Format a timestamp with a Go reference-time layout (default RFC 3339 with nanos)."""
    t = as_timestamp(target)
    if tz is not None:
        t = to_zone(t, _location(tz))
    return format_go(t, _string_arg(layout))


@method("ts_strftime", _STRFTIME_PARAMS, category=_TIME)
def ts_strftime(target: Any, fmt: Any, tz: Any = None) -> str:
    """Format a timestamp with strftime directives (%f gives microseconds)."""
    t = as_timestamp(target)
    if tz is not None:
        t = to_zone(t, _location(tz))
    return format_strftime(t, _string_arg(fmt))


@method("ts_parse", [Param("format", "string", description="The input's Go layout.")],
        category=_TIME)  # fmt: skip
def ts_parse(target: Any, layout: Any) -> Timestamp:
    """Parse a string as a timestamp with a Go reference-time layout."""
    return parse_go(as_time_string(target), _string_arg(layout))


@method("ts_strptime", [Param("format", "string", description="The input's strptime format.")],
        category=_TIME)  # fmt: skip
def ts_strptime(target: Any, fmt: Any) -> Timestamp:
    """Parse a string as a timestamp with strptime directives (%f reads microseconds)."""
    return parse_strptime(as_time_string(target), _string_arg(fmt))


@method("ts_unix", category=_TIME)
def ts_unix(target: Any) -> int:
    """A timestamp as unix seconds."""
    return unix_nanos(as_timestamp(target)) // _NS


@method("ts_unix_milli", category=_TIME)
def ts_unix_milli(target: Any) -> int:
    """A timestamp as unix milliseconds."""
    return unix_nanos(as_timestamp(target)) // 1_000_000


@method("ts_unix_micro", category=_TIME)
def ts_unix_micro(target: Any) -> int:
    """A timestamp as unix microseconds."""
    return unix_nanos(as_timestamp(target)) // 1_000


@method("ts_unix_nano", category=_TIME)
def ts_unix_nano(target: Any) -> int:
    """A timestamp as unix nanoseconds."""
    return unix_nanos(as_timestamp(target))


method("format_timestamp", _FORMAT_PARAMS, category=_DEPRECATED,
       description="Deprecated: use `ts_format`.")(ts_format)  # fmt: skip
method("format_timestamp_strftime", _STRFTIME_PARAMS, category=_DEPRECATED,
       description="Deprecated: use `ts_strftime`.")(ts_strftime)  # fmt: skip
method("format_timestamp_unix", category=_DEPRECATED,
       description="Deprecated: use `ts_unix`.")(ts_unix)  # fmt: skip
method("format_timestamp_unix_milli", category=_DEPRECATED,
       description="Deprecated: use `ts_unix_milli`.")(ts_unix_milli)  # fmt: skip
method("format_timestamp_unix_micro", category=_DEPRECATED,
       description="Deprecated: use `ts_unix_micro`.")(ts_unix_micro)  # fmt: skip
method("format_timestamp_unix_nano", category=_DEPRECATED,
       description="Deprecated: use `ts_unix_nano`.")(ts_unix_nano)  # fmt: skip


@method("parse_timestamp", [Param("format", "string")], category=_DEPRECATED)
def parse_timestamp(target: Any, layout: Any) -> str:
    """Deprecated: parse with a Go layout and return the time as an RFC 3339 string."""
    return format_rfc3339_nano(ts_parse(target, layout))


@method("parse_timestamp_strptime", [Param("format", "string")], category=_DEPRECATED)
def parse_timestamp_strptime(target: Any, fmt: Any) -> str:
    """Deprecated: parse with strptime directives and return an RFC 3339 string."""
    return format_rfc3339_nano(ts_strptime(target, fmt))


@method("ts_round", [Param("duration", "int", description="Nanoseconds to round to.")],
        category=_TIME)  # fmt: skip
def ts_round(target: Any, duration: Any) -> Timestamp:
    """Round a timestamp to the nearest multiple of a duration in nanoseconds (halves up)."""
    t = as_timestamp(target)
    d = _int_arg(duration)
    if d <= 0:
        return t
    r = (unix_nanos(t) + _ZERO_TIME_UNIX_S * _NS) % d
    return add_nanos(t, -r if r + r < d else d - r)


@method("ts_tz", [Param("tz", "string", description="An IANA zone, \"UTC\" or \"Local\".")],
        category=_TIME)  # fmt: skip
def ts_tz(target: Any, tz: Any) -> Timestamp:
    """The same instant in another timezone."""
    return to_zone(as_timestamp(target), _location(tz))


@method("ts_sub", [Param("t2", "any", description="The timestamp to subtract.")],
        category=_TIME)  # fmt: skip
def ts_sub(target: Any, t2: Any) -> int:
    """Nanoseconds from `t2` to the target timestamp (negative when t2 is later)."""
    return _clamp_int64(unix_nanos(as_timestamp(target)) - unix_nanos(as_timestamp(t2)))


@method("ts_add_iso8601", [Param("duration", "string", description="An ISO 8601 period.")],
        category=_TIME)  # fmt: skip
def ts_add_iso8601(target: Any, duration: Any) -> Timestamp:
    """Add an ISO 8601 period; years, months and days follow the calendar."""
    period = parse_iso_period(_string_arg(duration))
    return period.add_to(as_timestamp(target))


@method("ts_sub_iso8601", [Param("duration", "string", description="An ISO 8601 period.")],
        category=_TIME)  # fmt: skip
def ts_sub_iso8601(target: Any, duration: Any) -> Timestamp:
    """Subtract an ISO 8601 period; years, months and days follow the calendar."""
    period = parse_iso_period(_string_arg(duration))
    return period.negate().add_to(as_timestamp(target))


@method("parse_duration", category=_TIME)
def parse_duration(target: Any) -> int:
    """Nanoseconds in a Go duration string such as "300ms", "-1.5h" or "2h45m"."""
    return parse_go_duration(as_time_string(target))


@method("parse_duration_iso8601", category=_TIME)
def parse_duration_iso8601(target: Any) -> int:
    """Nanoseconds in an ISO 8601 duration ("P3Y6M4DT12H30M5S"); years and months averaged."""
    return _clamp_int64(parse_iso_period(as_time_string(target)).approx_nanos())


@method("timestamp", [Param("default", "any", _NO_DEFAULT, "Returned when parsing fails.")],
        category=_COERCION)  # fmt: skip
def timestamp(target: Any, default: Any = _NO_DEFAULT) -> Any:
    """A value as a timestamp (RFC 3339 strings, unix numbers), or the default on failure."""
    try:
        return as_timestamp(target)
    except MappingError:
        if default is _NO_DEFAULT:
            raise
        return default
