"""Go-style durations as Benthos configs write them: "500ms", "1s", "1m30s", "2h"."""

from __future__ import annotations

import re

__all__ = ["DurationError", "parse_duration", "describe_seconds"]

_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3,
    "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")


class DurationError(ValueError):
    """A duration string could not be parsed."""


def parse_duration(text: str | int | float | None) -> float:
    """Seconds in a duration; "" and "0" mean zero; bare numbers are seconds."""
    if text is None:
        return 0.0
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    s = str(text).strip()
    if s in ("", "0"):
        return 0.0
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise DurationError(
            f"invalid duration {text!r}: expected a number with a unit such as 500ms, 1s, 1m30s"
        )
    return sign * total


def describe_seconds(seconds: float) -> str:
    """A span as a person reads it in an error: `90s`, `45m`, `3.5h`, `412d`."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.0f}d"
