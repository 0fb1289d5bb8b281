"""The `window` processor's window definition: type, sizes, lateness, alignment, arithmetic.

Window arithmetic is done in integer microseconds, the resolution of the datetimes Bytewax
windows on and its formulas, so windows start and end where Bytewax's windowers put them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from streamforge.durations import parse_duration
from streamforge.timefmt.timestamps import format_nanos, time_nanos

__all__ = [
    "AGGREGATES",
    "DEFAULT_AGGREGATES",
    "LATE_MODES",
    "WINDOW_TYPES",
    "WindowSpec",
    "format_duration_us",
    "format_micros",
    "micros_datetime",
    "parse_aggregates",
    "parse_align",
    "system_window_spec",
]

WINDOW_TYPES = ("tumbling", "sliding", "session")
AGGREGATES = ("count", "sum", "avg", "min", "max", "first", "last", "stddev")
DEFAULT_AGGREGATES = ("count", "avg", "min", "max")
LATE_MODES = ("drop", "emit", "error")

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros_datetime(us: int) -> datetime:
    """Unix microseconds as an aware UTC datetime (what Bytewax windows compare)."""
    return EPOCH + timedelta(microseconds=us)


def _micros(name: str, text: Any, *, positive: bool) -> int:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    us = round(seconds * 1_000_000)
    if seconds < 0 or (positive and us <= 0):
        need = "a positive duration of at least 1us" if positive else "not negative"
        raise ValueError(f"{name}: {text!r} must be {need}")
    return us


def parse_align(value: Any) -> int:
    """`align_to` as unix microseconds: an RFC 3339 time, a datetime or a unix number."""
    if value is None or value == "":
        return 0
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        return time_nanos(value) // 1000
    except ValueError as exc:
        raise ValueError(f"align_to: {exc}") from None


def parse_aggregates(value: Any) -> tuple[str, ...]:
    """The requested aggregates, checked and de-duplicated, in the order given."""
    if value is None:
        return DEFAULT_AGGREGATES
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"aggregates: expected a list of {', '.join(AGGREGATES)}")
    out: list[str] = []
    for i, name in enumerate(value):
        text = str(name).strip().lower()
        if text not in AGGREGATES:
            raise ValueError(f"aggregates[{i}]: {name!r} is not one of {', '.join(AGGREGATES)}")
        if text not in out:
            out.append(text)
    if not out:
        raise ValueError("aggregates: name at least one of " + ", ".join(AGGREGATES))
    return tuple(out)


@dataclass(frozen=True)
class WindowSpec:
    """What windows a `window` processor keeps; all times in unix microseconds."""

    type: str
    size_us: int
    slide_us: int
    gap_us: int
    lateness_us: int
    future_us: int
    align_us: int
    aggregates: tuple[str, ...]
    late: str
    size_text: str = ""
    gap_text: str = ""

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> WindowSpec:
        """Check the window fields together; errors name the field first."""
        kind = str(conf.get("type") or "tumbling").strip().lower()
        if kind not in WINDOW_TYPES:
            raise ValueError(f"type: {kind!r} is not one of {', '.join(WINDOW_TYPES)}")
        size_text = str(conf.get("size") or "").strip()
        slide_text = str(conf.get("slide") or "").strip()
        gap_text = str(conf.get("gap") or "").strip()
        size = slide = gap = 0
        if kind == "session":
            if not gap_text:
                raise ValueError("gap: a session window needs a gap, e.g. 30s")
            gap = _micros("gap", gap_text, positive=True)
        else:
            if not size_text:
                raise ValueError(f"size: a {kind} window needs a size, e.g. 1s or 1m")
            size = _micros("size", size_text, positive=True)
            slide = size
            if kind == "sliding":
                if not slide_text:
                    raise ValueError("slide: a sliding window needs a slide, e.g. 10s")
                slide = _micros("slide", slide_text, positive=True)
                if slide > size:
                    raise ValueError(
                        f"slide: {slide_text} is longer than size {size_text}; "
                        "readings between windows would be lost"
                    )
        lateness = _micros("allowed_lateness", conf.get("allowed_lateness", "1s"), positive=False)
        future = _micros("max_future", conf.get("max_future", "1h"), positive=False)
        late = str(conf.get("late") or "drop").strip().lower()
        if late not in LATE_MODES:
            raise ValueError(f"late: {late!r} is not one of {', '.join(LATE_MODES)}")
        return cls(
            type=kind,
            size_us=size,
            slide_us=slide,
            gap_us=gap,
            lateness_us=lateness,
            future_us=future,
            align_us=parse_align(conf.get("align_to")),
            aggregates=parse_aggregates(conf.get("aggregates")),
            late=late,
            size_text=size_text,
            gap_text=gap_text,
        )

    # -- fixed windows (tumbling, sliding): ids counted in slides from `align_to` -----------

    def bounds(self, window_id: int) -> tuple[int, int]:
        """Start (inclusive) and end (exclusive) of a fixed window."""
        start = self.align_us + window_id * self.slide_us
        return start, start + self.size_us

    def describe_future(self) -> str:
        """`max_future` for messages: `1h`, `5m`."""
        return format_duration_us(self.future_us)

    def describe_lateness(self) -> str:
        """The allowed lateness for messages: `1s`, `250ms`."""
        return format_duration_us(self.lateness_us)


def format_duration_us(us: int) -> str:
    """Microseconds as a short duration: `0s`, `250ms`, `1.5s`."""
    if us and us % 3_600_000_000 == 0:
        return f"{us // 3_600_000_000}h"
    if us and us % 60_000_000 == 0:
        return f"{us // 60_000_000}m"
    if us % 1_000_000 == 0:
        return f"{us // 1_000_000}s"
    if us % 1000 == 0 and us < 1_000_000:
        return f"{us // 1000}ms"
    return f"{us / 1_000_000:g}s"


def format_micros(us: int) -> str:
    """Unix microseconds as RFC 3339 UTC text."""
    return format_nanos(us * 1000)


def system_window_spec(conf: Mapping[str, Any]) -> WindowSpec:
    """The WindowSpec of a `buffer: system_window` conf; ValueError names the field at fault."""
    slide = str(conf.get("slide") or "").strip()
    spec = WindowSpec.from_conf(
        {
            "type": "sliding" if slide else "tumbling",
            "size": conf.get("size"),
            "slide": slide,
            "allowed_lateness": conf.get("allowed_lateness") or "0s",
            "max_future": "0s",
            "aggregates": ["count"],
        }
    )
    offset_text = str(conf.get("offset") or "").strip()
    offset_us = round(parse_duration(offset_text) * 1_000_000) if offset_text else 0
    if offset_us < 0 or offset_us >= spec.slide_us:
        raise ValueError(
            f"offset: {offset_text} must be at least 0s and less than the "
            f"{'slide' if slide else 'size'}"
        )
    return dataclasses.replace(spec, align_us=offset_us)
