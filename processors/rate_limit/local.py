"""`local` rate limit: at most `count` accesses per `interval`, shared by a process's workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from streamforge.durations import parse_duration
from streamforge.plugin import BuildContext, ParsedField, RateLimit, register_rate_limit

__all__ = ["LocalRateLimit", "local_rate_limit"]


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be larger than zero, got {value!r}")
    return value


def _non_negative_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"{value!r} must not be negative")
    return seconds


class LocalRateLimit(RateLimit):
    """A bucket of `count` accesses refilled whole once `interval` seconds have passed since
    the last refill (Benthos' `local`): bursts of up to `count`, then waiting."""

    def __init__(
        self, count: int, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = _positive_int(count)
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._bucket = count
        self._refilled = clock()

    def access(self) -> float:
        with self._lock:
            if self._bucket > 0:
                self._bucket -= 1
                return 0.0
            now = self._clock()
            remaining = self.interval - (now - self._refilled)
            if remaining > 0:
                return remaining
            self._bucket = self.size - 1
            self._refilled = now
            return 0.0


@register_rate_limit(
    "local",
    fields=[
        ParsedField(
            "count",
            "int",
            parser=_positive_int,
            default=1000,
            description="The most accesses allowed per interval.",
            examples=(10, 500),
        ),
        ParsedField(
            "interval",
            "duration",
            parser=_non_negative_duration,
            default="1s",
            description="The window the count applies to.",
            examples=("1s", "1m"),
        ),
    ],
    summary="At most `count` accesses per `interval`, shared by every user in the process.",
    description=(
        "Every `rate_limit` processor (and every worker) naming the resource draws from one "
        "bucket; the processes of a cluster each have their own."
    ),
    examples=(
        "rate_limit_resources:\n  - label: slow\n    local:\n      count: 10\n      interval: 1s",
    ),
)
def local_rate_limit(conf: dict[str, Any], ctx: BuildContext | None = None) -> LocalRateLimit:
    """At most `count` accesses per `interval`, shared by every user in the process."""
    conf = conf or {}
    return LocalRateLimit(
        _positive_int(conf.get("count", 1000)),
        _non_negative_duration(conf.get("interval", "1s")),
    )
