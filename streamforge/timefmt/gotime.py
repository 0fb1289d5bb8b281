"""Go's time semantics for Bloblang: nanosecond timestamps and Go reference-time layouts.

Benthos formats and parses time with Go's `time` package, whose layouts spell the reference
time `Mon Jan 2 15:04:05 MST 2006`. This module reproduces its formatting and parsing, error
wording included, over timezone-aware `datetime` values. Python's `datetime` stops at
microseconds, so `Timestamp` carries the full nanosecond.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from streamforge.errors import MappingError

__all__ = [
    "ANSIC",
    "DATE_ONLY",
    "DATETIME",
    "KITCHEN",
    "RFC1123",
    "RFC1123Z",
    "RFC3339",
    "RFC3339_NANO",
    "RFC822",
    "RFC822Z",
    "RFC850",
    "RUBY_DATE",
    "STAMP",
    "STAMP_MICRO",
    "STAMP_MILLI",
    "STAMP_NANO",
    "TIME_ONLY",
    "UNIX_DATE",
    "UTC",
    "Timestamp",
    "add_nanos",
    "format_go",
    "format_rfc3339_nano",
    "LONG_DAYS",
    "LONG_MONTHS",
    "SHORT_DAYS",
    "SHORT_MONTHS",
    "fixed_zone",
    "from_unix_nanos",
    "go_weekday",
    "offset_seconds",
    "year_day",
    "zone_abbrev",
    "zone_abbrev_len",
    "go_date",
    "load_location",
    "local_zone",
    "nanos_of",
    "parse_go",
    "to_zone",
    "unix_nanos",
]

UTC = timezone.utc

ANSIC = "Mon Jan _2 15:04:05 2006"
UNIX_DATE = "Mon Jan _2 15:04:05 MST 2006"
RUBY_DATE = "Mon Jan 02 15:04:05 -0700 2006"
RFC822 = "02 Jan 06 15:04 MST"
RFC822Z = "02 Jan 06 15:04 -0700"
RFC850 = "Monday, 02-Jan-06 15:04:05 MST"
RFC1123 = "Mon, 02 Jan 2006 15:04:05 MST"
RFC1123Z = "Mon, 02 Jan 2006 15:04:05 -0700"
RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"
KITCHEN = "3:04PM"
STAMP = "Jan _2 15:04:05"
STAMP_MILLI = "Jan _2 15:04:05.000"
STAMP_MICRO = "Jan _2 15:04:05.000000"
STAMP_NANO = "Jan _2 15:04:05.000000000"
DATETIME = "2006-01-02 15:04:05"
DATE_ONLY = "2006-01-02"
TIME_ONLY = "15:04:05"

_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LONG_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
SHORT_MONTHS = tuple(m[:3] for m in LONG_MONTHS)
# Sunday first, as Go's time.Weekday.
LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
SHORT_DAYS = tuple(d[:3] for d in LONG_DAYS)
# Days in a non-leap year before month m+1 begins (index 0 = before January).
_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)


# ---------------------------------------------------------------------------------------
# Timestamps with nanoseconds
# ---------------------------------------------------------------------------------------


def _restore_timestamp(
    year: int, month: int, day: int, hour: int, minute: int, second: int,
    nanosecond: int, tz: tzinfo | None, fold: int,
) -> Timestamp:  # fmt: skip
    wall = datetime(year, month, day, hour, minute, second, 0, tz, fold=fold)
    return Timestamp.of(wall, nanosecond)


class Timestamp(datetime):
    """A timezone-aware `datetime` that keeps nanoseconds, as Go's `time.Time` does.

    `nanosecond` is the full fraction of the second (0..999_999_999); `microsecond` is
    `nanosecond // 1000`. Equality, ordering and hashing take the nanoseconds into account.
    """

    __slots__ = ("_ns",)
    _ns: int

    def __new__(cls, *args: Any, nanosecond: int | None = None, **kwargs: Any) -> Timestamp:
        self = super().__new__(cls, *args, **kwargs)
        us_ns = self.microsecond * 1000
        self._ns = us_ns + nanosecond % 1000 if nanosecond is not None else us_ns
        return self

    @classmethod
    def of(cls, dt: datetime, nanosecond: int | None = None) -> Timestamp:
        """`dt` as a Timestamp whose fraction of a second is `nanosecond` (default: dt's)."""
        ns = nanos_of(dt) if nanosecond is None else nanosecond
        self = datetime.__new__(
            cls, dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, ns // 1000,
            dt.tzinfo, fold=dt.fold,
        )  # fmt: skip
        self._ns = ns
        return self

    @property
    def nanosecond(self) -> int:
        """The fraction of the second in nanoseconds (0..999_999_999)."""
        return nanos_of(self)

    def __reduce__(self) -> Any:
        return (
            _restore_timestamp,
            (self.year, self.month, self.day, self.hour, self.minute, self.second,
             nanos_of(self), self.tzinfo, self.fold),
        )  # fmt: skip

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__reduce__()

    def __copy__(self) -> Timestamp:
        return self

    def __deepcopy__(self, memo: Any) -> Timestamp:
        return self

    def __repr__(self) -> str:
        return f"Timestamp({format_rfc3339_nano(self)!r})"

    # -- comparisons include the nanoseconds -------------------------------------------
    def _key(self, other: object) -> tuple[int, int] | None:
        if isinstance(other, datetime) and other.tzinfo is not None and self.tzinfo is not None:
            return unix_nanos(self), unix_nanos(other)
        return None

    def __eq__(self, other: object) -> bool:
        k = self._key(other)
        return super().__eq__(other) if k is None else k[0] == k[1]

    def __ne__(self, other: object) -> bool:
        k = self._key(other)
        return super().__ne__(other) if k is None else k[0] != k[1]

    def __lt__(self, other: object) -> bool:
        k = self._key(other)
        return super().__lt__(other) if k is None else k[0] < k[1]  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        k = self._key(other)
        return super().__le__(other) if k is None else k[0] <= k[1]  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        k = self._key(other)
        return super().__gt__(other) if k is None else k[0] > k[1]  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        k = self._key(other)
        return super().__ge__(other) if k is None else k[0] >= k[1]  # type: ignore[operator]

    def __hash__(self) -> int:
        h = super().__hash__()
        extra = nanos_of(self) % 1000
        return h if not extra else hash((h, extra))

    def __add__(self, other: Any) -> Any:
        result = super().__add__(other)
        if isinstance(other, timedelta) and isinstance(result, datetime):
            return Timestamp.of(result, result.microsecond * 1000 + nanos_of(self) % 1000)
        return result

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        result = super().__sub__(other)
        if isinstance(other, timedelta) and isinstance(result, datetime):
            return Timestamp.of(result, result.microsecond * 1000 + nanos_of(self) % 1000)
        return result


def nanos_of(dt: datetime) -> int:
    """The fraction of the second of `dt` in nanoseconds."""
    ns = getattr(dt, "_ns", None)
    return dt.microsecond * 1000 if ns is None else ns


def unix_nanos(dt: datetime) -> int:
    """Nanoseconds since the unix epoch (naive values count as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = datetime.__sub__(dt, _EPOCH)
    return (d.days * 86400 + d.seconds) * _NS + nanos_of(dt)


def from_unix_nanos(ns: int, tz: tzinfo | None = UTC) -> Timestamp:
    """The instant `ns` nanoseconds after the epoch, shown in `tz` (None: the local zone)."""
    secs, frac = divmod(ns, _NS)
    try:
        dt = _EPOCH + timedelta(seconds=secs, microseconds=frac // 1000)
        if tz is not UTC:
            dt = dt.astimezone(tz if tz is not None else local_zone())
    except (OverflowError, ValueError):
        raise MappingError("timestamp is outside the supported range (years 1-9999)") from None
    return Timestamp.of(dt, frac)


def to_zone(dt: datetime, tz: tzinfo) -> Timestamp:
    """The same instant shown in another zone (Go's `t.In(loc)`)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        moved = dt if dt.tzinfo is tz else dt.astimezone(tz)
    except (OverflowError, ValueError):
        raise MappingError("timestamp is outside the supported range (years 1-9999)") from None
    return Timestamp.of(moved, nanos_of(dt))


def add_nanos(dt: datetime, ns: int) -> Timestamp:
    """`dt` moved by `ns` nanoseconds of elapsed time, in the same zone (Go's `t.Add`)."""
    return from_unix_nanos(unix_nanos(dt) + ns, dt.tzinfo or UTC)


def go_date(
    year: int, month: int, day: int, hour: int, minute: int, second: int, nsec: int,
    tz: tzinfo,
) -> Timestamp:  # fmt: skip
    """Go's `time.Date`: out-of-range fields normalise (Feb 31 is Mar 2 or 3)."""
    carry, month0 = divmod(month - 1, 12)
    extra_s, nsec = divmod(nsec, _NS)
    try:
        first = date(year + carry, month0 + 1, 1)
        wall = datetime(first.year, first.month, 1) + timedelta(
            days=day - 1, hours=hour, minutes=minute, seconds=second + extra_s
        )
    except (OverflowError, ValueError):
        raise MappingError("timestamp is outside the supported range (years 1-9999)") from None
    return Timestamp.of(wall.replace(tzinfo=tz), nsec)


def format_rfc3339_nano(dt: datetime) -> str:
    """RFC 3339 with nanoseconds and trailing zeros trimmed, as Go's `time.RFC3339Nano`."""
    ns = nanos_of(dt)
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
    if ns:
        text += "." + f"{ns:09d}".rstrip("0")
    off = offset_seconds(dt)
    if off == 0:
        return text + "Z"
    sign = "-" if off < 0 else "+"
    minutes = abs(off) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# ---------------------------------------------------------------------------------------
# Zones
# ---------------------------------------------------------------------------------------

_UTC_KEYS = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}
)
_AUTO_ZONE_NAME = re.compile(r"UTC[+-]\d\d:\d\d(:\d\d(\.\d+)?)?")


@lru_cache(maxsize=1)
def local_zone() -> tzinfo:
    """The zone Go calls Local: `$TZ` if set ("" = UTC), else /etc/localtime, else UTC."""
    name = os.environ.get("TZ")
    if name is not None:
        name = name.lstrip(":")
        if name == "" or name in _UTC_KEYS:
            return UTC
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            return UTC
    path = "/etc/localtime"
    try:
        real = os.path.realpath(path)
        marker = "zoneinfo/"
        if marker in real:
            key = real.split(marker, 1)[1]
            if key in _UTC_KEYS:
                return UTC
            return ZoneInfo(key)
        with open(path, "rb") as fh:
            return ZoneInfo.from_file(fh, key="Local")
    except (ValueError, KeyError, OSError):
        return UTC


def load_location(name: str) -> tzinfo:
    """Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the local zone, else IANA.

    Raises MappingError with Go's wording for unknown names.
    """
    if name == "Local":
        return local_zone()
    return _load_named_location(name)


@lru_cache(maxsize=256)
def _load_named_location(name: str) -> tzinfo:
    if name in ("", "UTC"):
        return UTC
    try:
        if name.startswith("/") or ".." in name.split("/"):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise MappingError(f"unknown time zone {name}") from None


def offset_seconds(dt: datetime) -> int:
    off = dt.utcoffset()
    if off is None:
        return 0
    return off.days * 86400 + off.seconds


def zone_abbrev(dt: datetime) -> str:
    """Go's zone abbreviation of `dt`; "" for unnamed fixed offsets."""
    tz = dt.tzinfo
    if tz is None or tz is UTC:
        return "UTC"
    name = dt.tzname() or ""
    if isinstance(tz, timezone) and _AUTO_ZONE_NAME.fullmatch(name):
        return ""
    return name


def fixed_zone(offset: int, name: str = "") -> tzinfo:
    if not -86400 < offset < 86400:
        raise MappingError("time zone offset out of range")
    if name:
        return timezone(timedelta(seconds=offset), name)
    return UTC if offset == 0 else timezone(timedelta(seconds=offset))


def _local_by_name(wall: datetime, name: str) -> datetime | None:
    """`wall` in the local zone when the local zone uses the abbreviation `name`."""
    local = local_zone()
    for fold in (0, 1):
        cand = wall.replace(tzinfo=local, fold=fold)
        if cand.tzname() == name:
            return cand
    for probe_month in (1, 7):
        probe = datetime(wall.year, probe_month, 1, tzinfo=local)
        off = probe.utcoffset()
        if probe.tzname() == name and off is not None:
            return (wall.replace(tzinfo=UTC) - off).astimezone(local)
    return None


# ---------------------------------------------------------------------------------------
# Go layouts: tokenisation
# ---------------------------------------------------------------------------------------

_LIT = 0
_LONG_MONTH, _MONTH, _NUM_MONTH, _ZERO_MONTH = 1, 2, 3, 4
_LONG_WEEKDAY, _WEEKDAY = 5, 6
_DAY, _UNDER_DAY, _ZERO_DAY = 7, 8, 9
_UNDER_YEAR_DAY, _ZERO_YEAR_DAY = 10, 11
_HOUR, _HOUR12, _ZERO_HOUR12 = 12, 13, 14
_MINUTE, _ZERO_MINUTE, _SECOND, _ZERO_SECOND = 15, 16, 17, 18
_LONG_YEAR, _YEAR = 19, 20
_PM, _PM_LOWER = 21, 22
_TZ = 23
_ISO_TZ, _ISO_SECONDS_TZ, _ISO_SHORT_TZ, _ISO_COLON_TZ, _ISO_COLON_SECONDS_TZ = 24, 25, 26, 27, 28
_NUM_TZ, _NUM_SECONDS_TZ, _NUM_SHORT_TZ, _NUM_COLON_TZ, _NUM_COLON_SECONDS_TZ = 29, 30, 31, 32, 33
_FRAC0, _FRAC9 = 34, 35
_UNDERSCORE_LONG_YEAR = 36  # "_2006": a literal "_" then the year

_ZERO_X = {
    "1": _ZERO_MONTH, "2": _ZERO_DAY, "3": _ZERO_HOUR12,
    "4": _ZERO_MINUTE, "5": _ZERO_SECOND, "6": _YEAR,
}  # fmt: skip
_NUM_TZ_CHUNKS = (
    ("070000", _NUM_SECONDS_TZ), ("07:00:00", _NUM_COLON_SECONDS_TZ), ("0700", _NUM_TZ),
    ("07:00", _NUM_COLON_TZ), ("07", _NUM_SHORT_TZ),
)  # fmt: skip
_ISO_TZ_CHUNKS = (
    ("070000", _ISO_SECONDS_TZ), ("07:00:00", _ISO_COLON_SECONDS_TZ), ("0700", _ISO_TZ),
    ("07:00", _ISO_COLON_TZ), ("07", _ISO_SHORT_TZ),
)  # fmt: skip
_ISO_TZS = frozenset(code for _, code in _ISO_TZ_CHUNKS)
_COLON_TZS = frozenset({_ISO_COLON_TZ, _NUM_COLON_TZ})
_SHORT_TZS = frozenset({_ISO_SHORT_TZ, _NUM_SHORT_TZ})
_COLON_SECONDS_TZS = frozenset({_ISO_COLON_SECONDS_TZ, _NUM_COLON_SECONDS_TZ})
_SECONDS_TZS = frozenset({_ISO_SECONDS_TZ, _NUM_SECONDS_TZ})

# A token: (code, argument, the layout text it came from). Literals carry their text.
_Token = tuple[int, Any, str]


def _is_digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _lower_at(s: str, i: int) -> bool:
    return i < len(s) and "a" <= s[i] <= "z"


def _std_at(s: str, i: int) -> tuple[int, int, Any] | None:
    """Go's `nextStdChunk` at position i: (code, length, argument), or None for a literal."""
    c = s[i]
    if c == "J":
        if s.startswith("Jan", i):
            if s.startswith("January", i):
                return _LONG_MONTH, 7, None
            if not _lower_at(s, i + 3):
                return _MONTH, 3, None
    elif c == "M":
        if s.startswith("Mon", i):
            if s.startswith("Monday", i):
                return _LONG_WEEKDAY, 6, None
            if not _lower_at(s, i + 3):
                return _WEEKDAY, 3, None
        if s.startswith("MST", i):
            return _TZ, 3, None
    elif c == "0":
        if i + 1 < len(s) and "1" <= s[i + 1] <= "6":
            return _ZERO_X[s[i + 1]], 2, None
        if s.startswith("002", i):
            return _ZERO_YEAR_DAY, 3, None
    elif c == "1":
        if s.startswith("15", i):
            return _HOUR, 2, None
        return _NUM_MONTH, 1, None
    elif c == "2":
        if s.startswith("2006", i):
            return _LONG_YEAR, 4, None
        return _DAY, 1, None
    elif c == "_":
        if s.startswith("_2", i):
            if s.startswith("_2006", i):
                return _UNDERSCORE_LONG_YEAR, 5, None
            return _UNDER_DAY, 2, None
        if s.startswith("__2", i):
            return _UNDER_YEAR_DAY, 3, None
    elif c == "3":
        return _HOUR12, 1, None
    elif c == "4":
        return _MINUTE, 1, None
    elif c == "5":
        return _SECOND, 1, None
    elif c == "P":
        if s.startswith("PM", i):
            return _PM, 2, None
    elif c == "p":
        if s.startswith("pm", i):
            return _PM_LOWER, 2, None
    elif c in "-Z":
        for chunk, code in _NUM_TZ_CHUNKS if c == "-" else _ISO_TZ_CHUNKS:
            if s.startswith(chunk, i + 1):
                return code, 1 + len(chunk), None
    elif c in ".," and i + 1 < len(s) and s[i + 1] in "09":
        ch = s[i + 1]
        j = i + 1
        while j < len(s) and s[j] == ch:
            j += 1
        if not _is_digit(s, j):
            return (_FRAC0 if ch == "0" else _FRAC9), j - i, (j - i - 1, c)
    return None


@lru_cache(maxsize=1024)
def _tokenize(layout: str) -> tuple[_Token, ...]:
    """Split a Go layout into literal text and reference-time elements (cached per layout)."""
    tokens: list[_Token] = []
    literal: list[str] = []
    i = 0
    while i < len(layout):
        found = _std_at(layout, i)
        if found is None:
            literal.append(layout[i])
            i += 1
            continue
        code, length, arg = found
        if code == _UNDERSCORE_LONG_YEAR:
            literal.append("_")
            i += 1
            code, length = _LONG_YEAR, 4
        if literal:
            text = "".join(literal)
            tokens.append((_LIT, text, text))
            literal = []
        tokens.append((code, arg, layout[i : i + length]))
        i += length
    if literal:
        text = "".join(literal)
        tokens.append((_LIT, text, text))
    return tuple(tokens)


# ---------------------------------------------------------------------------------------
# Go layouts: formatting
# ---------------------------------------------------------------------------------------


def go_weekday(dt: datetime) -> int:
    """Day of the week, Sunday = 0 (Go's numbering)."""
    return (dt.weekday() + 1) % 7


def year_day(dt: datetime) -> int:
    return dt.toordinal() - date(dt.year, 1, 1).toordinal() + 1


def _format_zone(dt: datetime, code: int) -> str:
    offset = offset_seconds(dt)
    if code in _ISO_TZS and offset == 0:
        return "Z"
    zone = offset // 60 if offset >= 0 else -((-offset) // 60)
    absoffset = abs(offset)
    sign = "-" if zone < 0 else "+"
    zone = abs(zone)
    out = [sign, f"{zone // 60:02d}"]
    if code in _COLON_TZS or code in _COLON_SECONDS_TZS:
        out.append(":")
    if code not in _SHORT_TZS:
        out.append(f"{zone % 60:02d}")
    if code in _SECONDS_TZS or code in _COLON_SECONDS_TZS:
        if code in _COLON_SECONDS_TZS:
            out.append(":")
        out.append(f"{absoffset % 60:02d}")
    return "".join(out)


def _format_tz_name(dt: datetime) -> str:
    name = zone_abbrev(dt)
    if name:
        return name
    zone = offset_seconds(dt) // 60
    sign = "-" if zone < 0 else "+"
    zone = abs(zone)
    return f"{sign}{zone // 60:02d}{zone % 60:02d}"


def _format_frac(dt: datetime, code: int, arg: tuple[int, str]) -> str:
    ndigits, sep = arg
    ns = nanos_of(dt)
    if code == _FRAC9:
        if ndigits == 0 or ns == 0:
            return ""
        digits = f"{ns:09d}"[:ndigits].rstrip("0")
        return sep + digits if digits else ""
    return sep + f"{ns:09d}"[:ndigits]


def _hour12(hour: int) -> int:
    h = hour % 12
    return 12 if h == 0 else h


def format_go(dt: datetime, layout: str) -> str:
    """Format `dt` with a Go reference-time layout, as Go's `Time.Format`."""
    out: list[str] = []
    for code, arg, _ in _tokenize(layout):
        if code == _LIT:
            out.append(arg)
        elif code == _LONG_YEAR:
            out.append(f"{dt.year:04d}")
        elif code == _YEAR:
            out.append(f"{dt.year % 100:02d}")
        elif code == _ZERO_MONTH:
            out.append(f"{dt.month:02d}")
        elif code == _NUM_MONTH:
            out.append(str(dt.month))
        elif code == _MONTH:
            out.append(SHORT_MONTHS[dt.month - 1])
        elif code == _LONG_MONTH:
            out.append(LONG_MONTHS[dt.month - 1])
        elif code == _ZERO_DAY:
            out.append(f"{dt.day:02d}")
        elif code == _DAY:
            out.append(str(dt.day))
        elif code == _UNDER_DAY:
            out.append(f"{dt.day:2d}")
        elif code == _WEEKDAY:
            out.append(SHORT_DAYS[go_weekday(dt)])
        elif code == _LONG_WEEKDAY:
            out.append(LONG_DAYS[go_weekday(dt)])
        elif code == _ZERO_YEAR_DAY:
            out.append(f"{year_day(dt):03d}")
        elif code == _UNDER_YEAR_DAY:
            out.append(f"{year_day(dt):3d}")
        elif code == _HOUR:
            out.append(f"{dt.hour:02d}")
        elif code == _HOUR12:
            out.append(str(_hour12(dt.hour)))
        elif code == _ZERO_HOUR12:
            out.append(f"{_hour12(dt.hour):02d}")
        elif code == _MINUTE:
            out.append(str(dt.minute))
        elif code == _ZERO_MINUTE:
            out.append(f"{dt.minute:02d}")
        elif code == _SECOND:
            out.append(str(dt.second))
        elif code == _ZERO_SECOND:
            out.append(f"{dt.second:02d}")
        elif code == _PM:
            out.append("PM" if dt.hour >= 12 else "AM")
        elif code == _PM_LOWER:
            out.append("pm" if dt.hour >= 12 else "am")
        elif code == _TZ:
            out.append(_format_tz_name(dt))
        elif code in (_FRAC0, _FRAC9):
            out.append(_format_frac(dt, code, arg))
        else:
            out.append(_format_zone(dt, code))
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Go layouts: parsing
# ---------------------------------------------------------------------------------------


class _Bad(Exception):
    """The value does not match the layout element being parsed."""


def _quote(s: str) -> str:
    """Go's time-package quoting: double quotes, non-ASCII and controls as \\x bytes."""
    out = ['"']
    for ch in s:
        if ch < " " or ch >= "\x80":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            if ch in '"\\':
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


def _parse_error(layout: str, value: str, layout_elem: str, value_elem: str) -> MappingError:
    return MappingError(
        f"parsing time {_quote(value)} as {_quote(layout)}: "
        f"cannot parse {_quote(value_elem)} as {_quote(layout_elem)}"
    )


def _message_error(value: str, message: str) -> MappingError:
    return MappingError(f"parsing time {_quote(value)}{message}")


def _atoi(s: str) -> int:
    """Go's time-package `atoi`: optional sign then only digits."""
    digits = s[1:] if s[:1] in ("-", "+") else s
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise _Bad
    n = int(digits)
    return -n if s[:1] == "-" else n


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if s and "0" <= s[0] <= "9":
        if len(s) > 1 and "0" <= s[1] <= "9":
            return int(s[:2]), s[2:]
        if fixed:
            raise _Bad
        return ord(s[0]) - 48, s[1:]
    raise _Bad


def _getnum3(s: str, fixed: bool) -> tuple[int, str]:
    n = i = 0
    while i < 3 and _is_digit(s, i):
        n = n * 10 + ord(s[i]) - 48
        i += 1
    if i == 0 or (fixed and i != 3):
        raise _Bad
    return n, s[i:]


@lru_cache(maxsize=8)
def _name_index(table: tuple[str, ...]) -> tuple[tuple[int, dict[str, int]], ...]:
    """Per name length, lower-cased names to their position (no name prefixes another)."""
    by_len: dict[int, dict[str, int]] = {}
    for i, name in enumerate(table):
        by_len.setdefault(len(name), {})[name.lower()] = i
    return tuple(sorted(by_len.items()))


def _lookup(table: tuple[str, ...], value: str) -> tuple[int, str]:
    """Go's case-insensitive (ASCII) lookup of a month or day name at the start of value."""
    for length, names in _name_index(table):
        seg = value[:length]
        if seg.isascii():
            i = names.get(seg.lower())
            if i is not None:
                return i, value[length:]
    raise _Bad


def _skip(value: str, prefix: str) -> tuple[bool, str]:
    """Match literal layout text; a space matches any run of spaces (Go's `skip`)."""
    if value.startswith(prefix) and " " not in prefix:
        return True, value[len(prefix) :]
    i = j = 0
    while i < len(prefix):
        if prefix[i] == " ":
            if j < len(value) and value[j] != " ":
                return False, value[j:]
            while i < len(prefix) and prefix[i] == " ":
                i += 1
            while j < len(value) and value[j] == " ":
                j += 1
            continue
        if j >= len(value) or value[j] != prefix[i]:
            return False, value[j:]
        i += 1
        j += 1
    return True, value[j:]


def _parse_nanos(value: str, nbytes: int) -> tuple[int, str]:
    """(nanoseconds, range error) from a separator and digits (Go's `parseNanoseconds`)."""
    if value[0] not in ".,":
        raise _Bad
    if nbytes > 10:
        value = value[:10]
        nbytes = 10
    ns = _atoi(value[1:nbytes])
    if ns < 0:
        return 0, "fractional second"
    return ns * 10 ** (10 - nbytes), ""


def _signed_offset_len(value: str) -> int:
    if not value or value[0] not in "+-":
        return 0
    i = 1
    while i < len(value) and "0" <= value[i] <= "9":
        i += 1
    if i == 1 or int(value[1:i]) > 23:
        return 0
    return i


def zone_abbrev_len(value: str) -> int:
    """Length of a zone abbreviation at the start of `value`, 0 if none (Go's rules)."""
    if len(value) < 3:
        return 0
    if value[:4] in ("ChST", "MeST"):
        return 4
    if value[:3] == "GMT":
        return 3 + _signed_offset_len(value[3:]) if len(value) > 3 else 3
    if value[0] in "+-":
        return _signed_offset_len(value)
    upper = 0
    while upper < 6 and upper < len(value) and "A" <= value[upper] <= "Z":
        upper += 1
    if upper == 3:
        return 3
    if upper == 4 and (value[3] == "T" or value[:4] == "WITA"):
        return 4
    if upper == 5 and value[4] == "T":
        return 5
    return 0


def _parse_num_zone(code: int, value: str) -> tuple[int, str, str]:
    """(offset seconds, remaining value, range error) for a numeric zone element."""
    if code in _COLON_TZS:
        if len(value) < 6 or value[3] != ":":
            raise _Bad
        sign, hh, mm, ss, rest = value[0], value[1:3], value[4:6], "00", value[6:]
    elif code in _SHORT_TZS:
        if len(value) < 3:
            raise _Bad
        sign, hh, mm, ss, rest = value[0], value[1:3], "00", "00", value[3:]
    elif code in _COLON_SECONDS_TZS:
        if len(value) < 9 or value[3] != ":" or value[6] != ":":
            raise _Bad
        sign, hh, mm, ss, rest = value[0], value[1:3], value[4:6], value[7:9], value[9:]
    elif code in _SECONDS_TZS:
        if len(value) < 7:
            raise _Bad
        sign, hh, mm, ss, rest = value[0], value[1:3], value[3:5], value[5:7], value[7:]
    else:
        if len(value) < 5:
            raise _Bad
        sign, hh, mm, ss, rest = value[0], value[1:3], value[3:5], "00", value[5:]
    hr = _getnum(hh, True)[0]
    mi = _getnum(mm, True)[0]
    se = _getnum(ss, True)[0]
    rng = ""
    if hr > 24:
        rng = "time zone offset hour"
    if mi > 60:
        rng = "time zone offset minute"
    if se > 60:
        rng = "time zone offset second"
    offset = (hr * 60 + mi) * 60 + se
    if sign == "-":
        offset = -offset
    elif sign != "+" and not rng:
        raise _Bad
    return offset, rest, rng


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in(month: int, year: int) -> int:
    if month == 2 and _is_leap(year):
        return 29
    return _DAYS_BEFORE[month] - _DAYS_BEFORE[month - 1]


def _next_is_frac(tokens: tuple[_Token, ...], index: int) -> bool:
    for code, _, _ in tokens[index + 1 :]:
        if code != _LIT:
            return code in (_FRAC0, _FRAC9)
    return False


_RFC3339_FAST = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d\d):(\d\d))",
    re.ASCII,
)


def parse_go(text: str, layout: str) -> Timestamp:
    """Parse `text` with a Go reference-time layout, as Go's `time.Parse`.

    Values without a zone are UTC; a numeric offset that matches the local zone at that
    instant gives the local zone. Failures raise MappingError with Go's wording, e.g.
    `parsing time "x" as "2006-01-02": cannot parse "x" as "2006"`.
    """
    if layout in (RFC3339, RFC3339_NANO):
        m = _RFC3339_FAST.fullmatch(text)
        if m is not None:
            try:
                return _parse_rfc3339_match(text, m)
            except MappingError:
                pass  # let the general parser produce Go's exact error
    return _parse_layout(text, layout)


def _parse_rfc3339_match(text: str, m: re.Match[str]) -> Timestamp:
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    frac = m.group(7)
    nsec = int(frac) * 10 ** (9 - len(frac)) if frac else 0
    if not (1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
        raise MappingError("out of range")
    if day < 1 or day > _days_in(month, year):
        raise MappingError("out of range")
    if m.group(8):
        return _assemble(text, year, month, day, hour, minute, second, nsec, UTC, None, "")
    offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
    if int(m.group(10)) > 24 or int(m.group(11)) > 60:
        raise MappingError("out of range")
    if m.group(9) == "-":
        offset = -offset
    return _assemble(text, year, month, day, hour, minute, second, nsec, None, offset, "")


def _parse_layout(text: str, layout: str) -> Timestamp:
    tokens = _tokenize(layout)
    value = text
    year, month, day, yday = 0, -1, -1, -1
    hour = minute = second = nsec = 0
    z: tzinfo | None = None
    zone_offset: int | None = None
    zone_name = ""
    am_set = pm_set = False
    for index, (code, arg, stdstr) in enumerate(tokens):
        if code == _LIT:
            ok, value = _skip(value, arg)
            if not ok:
                raise _parse_error(layout, text, arg, value)
            continue
        hold = value
        rng = ""
        try:
            if code == _YEAR:
                if len(value) < 2:
                    raise _Bad
                year = _atoi(value[:2])
                value = value[2:]
                year += 1900 if year >= 69 else 2000
            elif code == _LONG_YEAR:
                if len(value) < 4 or not _is_digit(value, 0):
                    raise _Bad
                year = _atoi(value[:4])
                value = value[4:]
            elif code == _MONTH:
                month, value = _lookup(SHORT_MONTHS, value)
                month += 1
            elif code == _LONG_MONTH:
                month, value = _lookup(LONG_MONTHS, value)
                month += 1
            elif code in (_NUM_MONTH, _ZERO_MONTH):
                month, value = _getnum(value, code == _ZERO_MONTH)
                if not 0 < month <= 12:
                    rng = "month"
            elif code == _WEEKDAY:
                _, value = _lookup(SHORT_DAYS, value)
            elif code == _LONG_WEEKDAY:
                _, value = _lookup(LONG_DAYS, value)
            elif code in (_DAY, _UNDER_DAY, _ZERO_DAY):
                if code == _UNDER_DAY and value[:1] == " ":
                    value = value[1:]
                day, value = _getnum(value, code == _ZERO_DAY)
            elif code in (_UNDER_YEAR_DAY, _ZERO_YEAR_DAY):
                for _ in range(2):
                    if code == _UNDER_YEAR_DAY and value[:1] == " ":
                        value = value[1:]
                yday, value = _getnum3(value, code == _ZERO_YEAR_DAY)
            elif code == _HOUR:
                hour, value = _getnum(value, False)
                if hour >= 24:
                    rng = "hour"
            elif code in (_HOUR12, _ZERO_HOUR12):
                hour, value = _getnum(value, code == _ZERO_HOUR12)
                if hour > 12:
                    rng = "hour"
            elif code in (_MINUTE, _ZERO_MINUTE):
                minute, value = _getnum(value, code == _ZERO_MINUTE)
                if minute >= 60:
                    rng = "minute"
            elif code in (_SECOND, _ZERO_SECOND):
                second, value = _getnum(value, code == _ZERO_SECOND)
                if second >= 60:
                    rng = "second"
                elif (
                    len(value) >= 2
                    and value[0] in ".,"
                    and _is_digit(value, 1)
                    and not _next_is_frac(tokens, index)
                ):
                    n = 2
                    while _is_digit(value, n):
                        n += 1
                    nsec, rng = _parse_nanos(value, n)
                    value = value[n:]
            elif code in (_PM, _PM_LOWER):
                if len(value) < 2:
                    raise _Bad
                p, value = value[:2], value[2:]
                pm_word, am_word = ("PM", "AM") if code == _PM else ("pm", "am")
                if p == pm_word:
                    pm_set = True
                elif p == am_word:
                    am_set = True
                else:
                    raise _Bad
            elif code == _TZ:
                if value[:3] == "UTC":
                    z = UTC
                    value = value[3:]
                else:
                    n = zone_abbrev_len(value)
                    if n == 0:
                        raise _Bad
                    zone_name, value = value[:n], value[n:]
            elif code == _FRAC0:
                ndigit = 1 + arg[0]
                if len(value) < ndigit:
                    raise _Bad
                nsec, rng = _parse_nanos(value, ndigit)
                value = value[ndigit:]
            elif code == _FRAC9:
                if len(value) >= 2 and value[0] in ".," and _is_digit(value, 1):
                    i = 0
                    while _is_digit(value, i + 1):
                        i += 1
                    nsec, rng = _parse_nanos(value, 1 + i)
                    value = value[1 + i :]
            elif code in _ISO_TZS and value[:1] == "Z":
                value = value[1:]
                z = UTC
            else:
                zone_offset, value, rng = _parse_num_zone(code, value)
        except _Bad:
            raise _parse_error(layout, text, stdstr, hold) from None
        if rng:
            raise _message_error(text, f": {rng} out of range")
    if value:
        raise _message_error(text, f": extra text: {_quote(value)}")

    if pm_set and hour < 12:
        hour += 12
    elif am_set and hour == 12:
        hour = 0

    if yday >= 0:
        m = d = 0
        if _is_leap(year):
            if yday == 31 + 29:
                m, d = 2, 29
            elif yday > 31 + 29:
                yday -= 1
        if yday < 1 or yday > 365:
            raise _message_error(text, ": day-of-year out of range")
        if m == 0:
            m = (yday - 1) // 31 + 1
            if _DAYS_BEFORE[m] < yday:
                m += 1
            d = yday - _DAYS_BEFORE[m - 1]
        if month >= 0 and month != m:
            raise _message_error(text, ": day-of-year does not match month")
        month = m
        if day >= 0 and day != d:
            raise _message_error(text, ": day-of-year does not match day")
        day = d
    else:
        if month < 0:
            month = 1
        if day < 0:
            day = 1
    if day < 1 or day > _days_in(month, year):
        raise _message_error(text, ": day out of range")
    return _assemble(text, year, month, day, hour, minute, second, nsec, z, zone_offset, zone_name)


def _assemble(
    text: str, year: int, month: int, day: int, hour: int, minute: int, second: int, nsec: int,
    z: tzinfo | None, zone_offset: int | None, zone_name: str,
) -> Timestamp:  # fmt: skip
    """Build the parsed time in the zone Go would choose."""
    if not 1 <= year <= 9999:
        raise _message_error(text, f": year {year} is outside the supported range 1-9999")
    wall = datetime(year, month, day, hour, minute, second, nsec // 1000)
    try:
        if z is not None:
            return Timestamp.of(wall.replace(tzinfo=z), nsec)
        if zone_offset is not None:
            instant = wall.replace(tzinfo=UTC) - timedelta(seconds=zone_offset)
            in_local = instant.astimezone(local_zone())
            if offset_seconds(in_local) == zone_offset and (
                not zone_name or in_local.tzname() == zone_name
            ):
                return Timestamp.of(in_local, nsec)
            try:
                fixed = fixed_zone(zone_offset, zone_name)
            except MappingError:
                raise _message_error(text, ": time zone offset hour out of range") from None
            return Timestamp.of(wall.replace(tzinfo=fixed), nsec)
        if zone_name:
            local = _local_by_name(wall, zone_name)
            if local is not None:
                return Timestamp.of(local, nsec)
            offset = 0
            if len(zone_name) > 3 and zone_name.startswith("GMT"):
                offset = int(zone_name[3:]) * 3600
            fixed = fixed_zone(offset, zone_name)
            return Timestamp.of(wall.replace(tzinfo=UTC).astimezone(fixed), nsec)
    except (OverflowError, ValueError):
        raise _message_error(text, ": timestamp is outside the supported range") from None
    return Timestamp.of(wall.replace(tzinfo=UTC), nsec)
