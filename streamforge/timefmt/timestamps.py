"""Device and gateway times of the telemetry envelope: reading times, printing them, clock skew."""

from __future__ import annotations

import calendar
import math
import re
from datetime import datetime

from streamforge.errors import MappingError
from streamforge.timefmt.gotime import RFC3339_NANO, from_unix_nanos, parse_go, unix_nanos
from streamforge.timefmt.gotime import format_rfc3339_nano as _format

__all__ = [
    "SOURCE_TIME_KEYS",
    "canonical_nanos",
    "describe_ms",
    "format_nanos",
    "skew_ms",
    "time_nanos",
]

#: metadata keys holding the time a reading was taken by its source, first found wins
SOURCE_TIME_KEYS = ("opcua_source_timestamp",)

#: unix numbers below these magnitudes are seconds, milliseconds, microseconds; above: nanoseconds
_UNIX_SCALES = ((1e11, 1_000_000_000), (1e14, 1_000_000), (1e17, 1_000))


#: the RFC 3339 UTC form StreamForge prints (and inputs write): it needs no reformatting
_CANONICAL = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{0,8}[1-9]))?Z")


def canonical_nanos(text: str) -> int | None:
    """Unix nanoseconds of a time already in StreamForge's RFC 3339 UTC form, else None."""
    m = _CANONICAL.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        datetime(y, mo, d, h, mi, sec)  # validates the ranges
    except ValueError:
        return None
    frac = m.group(7)
    ns = int(frac.ljust(9, "0")) if frac else 0
    return calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) * 1_000_000_000 + ns


def _number_nanos(number: float) -> int:
    if not math.isfinite(number):
        raise ValueError(f"{number!r} is not a time")
    size = abs(number)
    for limit, scale in _UNIX_SCALES:
        if size < limit:
            return round(number * scale)
    return round(number)


def time_nanos(value: object) -> int:
    """Unix nanoseconds of a device time: an RFC 3339 string, a unix number or a datetime.

    Numbers (and numeric strings) are unix time in seconds below 1e11, milliseconds below 1e14,
    microseconds below 1e17, nanoseconds above. Raises ValueError naming the value otherwise.
    """
    if type(value) is str:
        ns = canonical_nanos(value)  # the common form, without the general parser
        if ns is not None:
            return ns
    if isinstance(value, datetime):
        return unix_nanos(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number_nanos(value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        text = value.strip()
        try:
            return unix_nanos(parse_go(text, RFC3339_NANO))
        except MappingError:
            pass
        try:
            return _number_nanos(float(text))
        except ValueError:
            pass
        raise ValueError(
            f"{value!r} is not a time: expected RFC 3339 (2024-05-01T12:00:00Z) or unix time"
        )
    raise ValueError(f"{value!r} is not a time: expected an RFC 3339 string or a unix number")


def format_nanos(ns: int) -> str:
    """Unix nanoseconds as an RFC 3339 UTC string with nanoseconds."""
    try:
        return _format(from_unix_nanos(ns))
    except MappingError as exc:
        raise ValueError(str(exc)) from None


def skew_ms(gateway_ns: int, device_ns: int) -> float:
    """Gateway minus device time in milliseconds, to the microsecond."""
    return round((gateway_ns - device_ns) / 1_000_000, 3)


def describe_ms(ms: float) -> str:
    """A millisecond span for people: `850ms`, `12.5s`, `-61s`."""
    if abs(ms) < 1000:
        return f"{ms:.3f}".rstrip("0").rstrip(".") + "ms"
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
