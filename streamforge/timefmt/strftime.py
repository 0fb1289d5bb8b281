"""strftime and strptime as Benthos does them (the directives of `itchyny/timefmt-go`).

Used by `ts_strftime`/`ts_strptime`; `%f` is microseconds, flags `-`, `_`, `0`, `^`, `#` and a
width are accepted when formatting, as timefmt-go does. Parse failures read
`failed to parse "x" with "%Y": cannot parse "%Y"`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any

from streamforge.errors import MappingError
from streamforge.timefmt.gotime import (
    LONG_DAYS,
    LONG_MONTHS,
    SHORT_DAYS,
    SHORT_MONTHS,
    UTC,
    Timestamp,
    fixed_zone,
    from_unix_nanos,
    go_date,
    go_weekday,
    local_zone,
    nanos_of,
    offset_seconds,
    unix_nanos,
    year_day,
    zone_abbrev,
    zone_abbrev_len,
)

__all__ = ["format_strftime", "parse_strptime"]

_NS = 1_000_000_000

_COMPOSITIONS = {
    "c": "a b e H:M:S Y",
    "+": "a b e H:M:S Z Y",
    "F": "Y-m-d",
    "D": "m/d/y",
    "x": "m/d/y",
    "v": "e-b-Y",
    "T": "H:M:S",
    "X": "H:M:S",
    "r": "I:M:S p",
    "R": "H:M",
}
_SPACE_PADDED = frozenset("eksl")

# A strftime token: literal text, or (directive, padding, width, upper, swap, colons).
# padding: None = the directive's default, "" = none, " " or "0" = explicit pad character.
_StrfToken = tuple[Any, ...]


@lru_cache(maxsize=512)
def _strf_tokens(fmt: str) -> tuple[_StrfToken, ...]:
    tokens: list[_StrfToken] = []
    lit: list[str] = []

    def flush() -> None:
        if lit:
            tokens.append(("lit", "".join(lit)))
            lit.clear()

    i, n = 0, len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            lit.append(ch)
            i += 1
            continue
        start = i
        i += 1
        if i == n:
            lit.append("%")
            break
        padding: str | None = None
        width = 0
        upper = swap = False
        while i < n and fmt[i] in "-_^#0":
            flag = fmt[i]
            if flag == "-":
                padding = ""
            elif flag == "_":
                padding = " "
            elif flag == "0":
                padding = "0"
            elif flag == "^":
                upper = True
            else:
                swap = True
            i += 1
        if i < n and "1" <= fmt[i] <= "9":
            j = i
            while j < n and fmt[j].isdigit() and fmt[j].isascii():
                j += 1
            width = min(int(fmt[i:j]), 1024)
            i = j
            if padding == "":
                padding = " "
        if i == n:
            lit.append(fmt[start:])
            break
        d = fmt[i]
        colons = 0
        if d == ":":
            j = i
            while j < n and fmt[j] == ":" and colons < 3:
                colons += 1
                j += 1
            if j < n and fmt[j] == "z":
                i = j
                d = "z"
            else:
                lit.append(fmt[start:j])
                i = j
                continue
        i += 1
        if d in _COMPOSITIONS:
            flush()
            for part in _COMPOSITIONS[d]:
                if part.isalpha():
                    flush()
                    tokens.append(("dir", part, None, 0, upper, False, 0))
                else:
                    lit.append(part)
            continue
        if d in "YyCgGmBbhAawuVUWedjkHlIpPMSsfZzn%t":
            flush()
            tokens.append(("dir", d, padding, width, upper, swap, colons))
            continue
        lit.append(fmt[start:i])
    flush()
    return tuple(tokens)


def _pad_int(num: int, width: int, padding: str | None, default_pad: str = "0") -> str:
    pad = default_pad if padding is None else padding
    text = str(num)
    if not pad or width <= len(text):
        return text
    if num < 0 and pad == "0":
        return "-" + text[1:].rjust(width - 1, "0")
    return text.rjust(width, pad)


def _pad_str(text: str, width: int, padding: str | None, upper: bool, swap: bool) -> str:
    if swap and text[-1:] < "a":
        text = text.lower()
    elif swap or upper:
        text = text.upper()
    if width > len(text) and padding != "":
        text = text.rjust(width, " " if padding is None else padding)
    return text


def _strf_zone(dt: datetime, colons: int, width: int, padding: str | None) -> str:
    offset = offset_seconds(dt)
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    rest = offset % 3600
    body = f"{offset // 3600:02d}"
    if colons <= 2 or rest != 0:
        if colons:
            body += ":"
        body += f"{rest // 60:02d}"
        if colons == 2 or (colons == 3 and rest % 60 != 0):
            body += f":{rest % 60:02d}"
    text = sign + body
    if width > len(text) and padding != "":
        if padding == " ":
            return text.rjust(width, " ")
        return sign + body.rjust(width - 1, "0")
    return text


def format_strftime(dt: datetime, fmt: str) -> str:
    """Format `dt` with strftime directives as `itchyny/timefmt-go` does (%f = microseconds)."""
    out: list[str] = []
    for tok in _strf_tokens(fmt):
        if tok[0] == "lit":
            out.append(tok[1])
            continue
        _, d, padding, width, upper, swap, colons = tok
        if d in _SPACE_PADDED and padding is None:
            padding = " "
        if d == "Y":
            out.append(_pad_int(dt.year, width or 4, padding))
        elif d in "yCgmdeHkMSVUWlI":
            if d == "y":
                num = dt.year % 100
            elif d == "C":
                num = dt.year // 100
            elif d == "g":
                num = dt.isocalendar()[0] % 100
            elif d == "m":
                num = dt.month
            elif d in "de":
                num = dt.day
            elif d in "Hk":
                num = dt.hour
            elif d == "M":
                num = dt.minute
            elif d == "S":
                num = dt.second
            elif d == "V":
                num = dt.isocalendar()[1]
            elif d == "U":
                num = (year_day(dt) + 6 - go_weekday(dt)) // 7
            elif d == "W":
                num = year_day(dt)
                if go_weekday(dt) > 0:
                    num -= go_weekday(dt) - 7
                num //= 7
            elif d == "l":
                num = dt.hour - 12 if dt.hour > 12 else dt.hour
            else:
                num = dt.hour - 12 if dt.hour > 12 else (12 if dt.hour == 0 else dt.hour)
            out.append(_pad_int(num, max(width, 2), padding))
        elif d == "G":
            out.append(_pad_int(dt.isocalendar()[0], width or 4, padding))
        elif d == "j":
            out.append(_pad_int(year_day(dt), max(width, 3), padding))
        elif d in "wu":
            wd = go_weekday(dt)
            if d == "u" and wd == 0:
                wd = 7
            out.append(_pad_int(wd, width, padding))
        elif d == "s":
            out.append(_pad_int(unix_nanos(dt) // _NS, width, padding))
        elif d == "f":
            out.append(_pad_int(nanos_of(dt) // 1000, width or 6, padding))
        elif d == "B":
            out.append(_pad_str(LONG_MONTHS[dt.month - 1], width, padding, upper, swap))
        elif d in "bh":
            out.append(_pad_str(SHORT_MONTHS[dt.month - 1], width, padding, upper, swap))
        elif d == "A":
            out.append(_pad_str(LONG_DAYS[go_weekday(dt)], width, padding, upper, swap))
        elif d == "a":
            out.append(_pad_str(SHORT_DAYS[go_weekday(dt)], width, padding, upper, swap))
        elif d in "pP":
            word = "AM" if dt.hour < 12 else "PM"
            out.append(_pad_str(word if d == "p" else word.lower(), width, padding, upper, swap))
        elif d == "Z" and zone_abbrev(dt):
            out.append(_pad_str(zone_abbrev(dt), width, padding, upper, swap))
        elif d in "Zz":
            out.append(_strf_zone(dt, colons, width, padding))
        elif d == "n":
            out.append(_pad_str("\n", width, padding, False, False))
        elif d == "t":
            out.append(_pad_str("\t", width, padding, False, False))
        else:  # "%"
            out.append(_pad_str("%", width, padding, False, False))
    return "".join(out)


class _StrpError(Exception):
    """A strptime failure; the message is timefmt-go's reason."""


def _go_char(ch: str) -> str:
    """Go's %q of a single byte: a character literal such as 'x' or '\\t'."""
    escapes = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "'": "\\'", "\\": "\\\\"}
    if ch in escapes:
        return f"'{escapes[ch]}'"
    if ch < " " or ch == "\x7f":
        return f"'\\x{ord(ch):02x}'"
    return f"'{ch}'"


def _go_string(s: str) -> str:
    """Go's %q of a string (strconv.Quote for printable text)."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch < " " or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _strp_int(src: str, j: int, size: int, lo: int, hi: int, d: str) -> tuple[int, int]:
    end = min(j + size, len(src))
    i = j
    value = 0
    while i < end and "0" <= src[i] <= "9":
        value = value * 10 + ord(src[i]) - 48
        i += 1
    if i == j or not lo <= value <= hi:
        raise _StrpError(f'cannot parse "%{d}"')
    return value, i


def _strp_any(src: str, j: int, names: tuple[str, ...], d: str) -> tuple[int, int]:
    for idx, name in enumerate(names):
        seg = src[j : j + len(name)]
        if len(seg) == len(name) and seg.isascii() and seg.lower() == name.lower():
            return idx + 1, j + len(name)
    raise _StrpError(f'cannot parse "%{d}"')


def _zone_for_abbrev(name: str) -> tzinfo | None:
    """The zone Go's `time.Parse("MST", name)` would give, or None if it is no zone name."""
    if not name:
        return None
    if name == "UTC":
        return UTC
    if zone_abbrev_len(name) != len(name):
        return None
    now = datetime.now(UTC)
    local = local_zone()
    for probe_month in (1, 7):
        probe = datetime(now.year, probe_month, 1, tzinfo=local)
        if probe.tzname() == name:
            return local
    offset = int(name[3:]) * 3600 if len(name) > 3 and name.startswith("GMT") else 0
    return fixed_zone(offset, name)


def parse_strptime(text: str, fmt: str) -> Timestamp:
    """Parse `text` with strptime directives as `itchyny/timefmt-go` does (UTC by default).

    Failures raise MappingError: `failed to parse "x" with "%Y": cannot parse "%Y"`.
    """
    try:
        return _strptime(text, fmt)
    except _StrpError as exc:
        raise MappingError(
            f"failed to parse {_go_string(text)} with {_go_string(fmt)}: {exc}"
        ) from None


def _strptime(src: str, fmt: str) -> Timestamp:
    year, month, day, hour, minute, second, nsec = 1900, 1, 0, 0, 0, 0, 0
    loc: tzinfo = UTC
    j = week = weekday = yday = 0
    century, weekstart = -1, -1
    pm = has_iso_year = has_zone_name = has_zone_offset = False
    ln = len(src)
    # Expand compositions up front: each item is (directive or None, literal char).
    items: list[tuple[str | None, str, int]] = []
    i, n = 0, len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            items.append((None, ch, 0))
            i += 1
            continue
        i += 1
        if i == n:
            raise _StrpError('stray "%"')
        d = fmt[i]
        i += 1
        if d == ":":
            colons = 1
            while i < n and fmt[i] == ":" and colons < 3:
                colons += 1
                i += 1
            if i < n and fmt[i] == "z":
                items.append(("z", "", colons))
                i += 1
                continue
            raise _StrpError("expected 'z' after \"%" + ":" * colons + '"')
        if d in _COMPOSITIONS:
            for part in _COMPOSITIONS[d]:
                items.append((part, "", 0) if part.isalpha() else (None, part, 0))
            continue
        items.append((d, "", 0))

    for spec, literal, colons in items:
        if spec is None:
            if j >= ln or src[j] != literal:
                raise _StrpError(f"expected {_go_char(literal)}")
            j += 1
            continue
        d = spec
        if d in "YG":
            has_iso_year = has_iso_year or d == "G"
            sign = 1
            if j < ln and src[j] == "-":
                sign, j = -1, j + 1
            year, j = _strp_int(src, j, 4, 0, 9999, d)
            year *= sign
        elif d in "yg":
            has_iso_year = has_iso_year or d == "g"
            year, j = _strp_int(src, j, 2, 0, 99, d)
            year += 2000 if year < 69 else 1900
        elif d == "C":
            if j < ln and src[j] == "-":
                raise _StrpError('negative century is not supported for "%C"')
            century, j = _strp_int(src, j, 2, 0, 99, "C")
        elif d == "m":
            month, j = _strp_int(src, j, 2, 1, 12, "m")
        elif d == "B":
            month, j = _strp_any(src, j, LONG_MONTHS, "B")
        elif d in "bh":
            month, j = _strp_any(src, j, SHORT_MONTHS, d)
        elif d == "A":
            weekday, j = _strp_any(src, j, LONG_DAYS, "A")
        elif d == "a":
            weekday, j = _strp_any(src, j, SHORT_DAYS, "a")
        elif d == "w":
            weekday, j = _strp_int(src, j, 1, 0, 6, "w")
            weekday += 1
        elif d == "u":
            weekday, j = _strp_int(src, j, 1, 1, 7, "u")
            weekday = weekday % 7 + 1
        elif d in "VUW":
            week, j = _strp_int(src, j, 2, 1 if d == "V" else 0, 53, d)
            weekstart = {"V": 4, "U": 0, "W": 1}[d]
            weekday = weekday or (1 if d == "U" else 2)
        elif d in "ed":
            if d == "e" and j < ln and src[j] == " ":
                j += 1
            day, j = _strp_int(src, j, 2, 1, 31, d)
        elif d == "j":
            yday, j = _strp_int(src, j, 3, 1, 366, "j")
        elif d in "kH":
            if d == "k" and j < ln and src[j] == " ":
                j += 1
            hour, j = _strp_int(src, j, 2, 0, 23, d)
        elif d in "lI":
            if d == "l" and j < ln and src[j] == " ":
                j += 1
            hour, j = _strp_int(src, j, 2, 1, 12, d)
            if hour == 12:
                hour = 0
        elif d in "pP":
            ampm, j = _strp_any(src, j, ("AM", "PM"), d)
            pm = ampm == 2
        elif d == "M":
            minute, j = _strp_int(src, j, 2, 0, 59, "M")
        elif d == "S":
            second, j = _strp_int(src, j, 2, 0, 60, "S")
        elif d == "s":
            sign = 1
            if j < ln and src[j] == "-":
                sign, j = -1, j + 1
            start = j
            while j < ln and j - start < 19 and "0" <= src[j] <= "9":
                j += 1
            if j == start:
                raise _StrpError('cannot parse "%s"')
            t = from_unix_nanos(sign * int(src[start:j]) * _NS, UTC)
            year, month, day = t.year, t.month, t.day
            hour, minute, second = t.hour, t.minute, t.second
        elif d == "f":
            start = j
            micro, j = _strp_int(src, j, 6, 0, 999999, "f")
            micro *= 10 ** (6 - (j - start))
            nsec = micro * 1000
        elif d == "Z":
            start = j
            while j < ln and "A" <= src[j] <= "Z":
                j += 1
            zone = _zone_for_abbrev(src[start:j])
            if zone is None:
                raise _StrpError(f'cannot parse {_go_string(src[start:j])} with "%Z"')
            if has_zone_offset:
                loc = fixed_zone(
                    offset_seconds(datetime(2000, 1, 1, tzinfo=loc)),
                    datetime(2000, 1, 1, tzinfo=zone).tzname() or "",
                )
            else:
                loc = zone
            has_zone_name = True
        elif d == "z":
            loc, j = _strp_zone(src, j, colons, loc, has_zone_name)
            has_zone_offset = True
        elif d in "tn":
            start = j
            while j < ln and src[j] in " \t\n\v\f\r":
                j += 1
            if j == start:
                raise _StrpError(f'expected a space for "%{d}"')
        elif d == "%":
            if j >= ln or src[j] != "%":
                raise _StrpError("expected '%'")
            j += 1
        else:
            raise _StrpError(f'unexpected format "%{d}"')
    if j < ln:
        raise _StrpError(f"unparsed string {_go_string(src[j:])}")
    if pm:
        hour += 12
    if century >= 0:
        year = century * 100 + year % 100
    if not 1 <= year <= 9999:
        raise _StrpError(f"year {year} is outside the supported range 1-9999")
    if day == 0:
        if yday > 0:
            if has_iso_year:
                raise _StrpError('use "%Y" to parse non-ISO year for "%j"')
            return go_date(year, 1, yday, hour, minute, second, nsec, loc)
        if weekstart >= 0:
            if weekstart == 4:
                if not has_iso_year:
                    raise _StrpError('use "%G" to parse ISO year for "%V"')
            elif has_iso_year:
                raise _StrpError('use "%Y" to parse non-ISO year for "%U" or "%W"')
            if weekstart > 0 and weekday == 1:
                week += 1
            t = go_date(year, 1, -weekstart, hour, minute, second, nsec, loc)
            return go_date(
                t.year, t.month, t.day + week * 7 - go_weekday(t) + weekday - 1,
                hour, minute, second, nsec, loc,
            )  # fmt: skip
        day = 1
    return go_date(year, month, day, hour, minute, second, nsec, loc)


def _strp_zone(
    src: str, j: int, colons: int, loc: tzinfo, has_zone_name: bool
) -> tuple[tzinfo, int]:
    """Parse a %z offset ("+hhmm", "+hh:mm", "Z", and the %:z variants)."""
    ln = len(src)
    spec = '"%' + ":" * colons + 'z"'
    if j >= ln:
        raise _StrpError(f"cannot parse {spec}")
    if src[j] == "Z":
        return UTC, j + 1
    if src[j] not in "+-":
        raise _StrpError(f"cannot parse {spec}")
    sign = -1 if src[j] == "-" else 1
    i = j + 1
    try:
        hour, j = _strp_int(src, i, 2, 0, 23, "z")
    except _StrpError:
        raise _StrpError(f"cannot parse {spec}") from None
    if j != i + 2:
        raise _StrpError(f"cannot parse {spec}")
    minute = second = 0
    if j >= ln or src[j] != ":":
        if 0 < colons < 3:
            raise _StrpError(f"expected ':' for {spec}")
    else:
        j += 1
        if colons == 0:
            colons = 4
    i = j
    try:
        minute, j = _strp_int(src, i, 2, 0, 59, "z")
        ok = j == i + 2
    except _StrpError:
        ok = False
    if not ok:
        if colons > 0 and colons != 3:
            raise _StrpError('cannot parse "%' + ":" * (colons & 3) + 'z"')
        minute, j = 0, i
    elif colons > 1:
        if j >= ln or src[j] != ":":
            if colons < 3:
                raise _StrpError(f"expected ':' for {spec}")
        else:
            i = j + 1
            try:
                second, j = _strp_int(src, i, 2, 0, 59, "z")
                ok = j == i + 2
            except _StrpError:
                ok = False
            if not ok:
                if colons < 3:
                    raise _StrpError(f"cannot parse {spec}")
                second, j = 0, i - 1
    name = ""
    if has_zone_name:
        name = datetime(2000, 1, 1, tzinfo=loc).tzname() or ""
    offset = sign * ((hour * 60 + minute) * 60 + second)
    return fixed_zone(offset, name), j
