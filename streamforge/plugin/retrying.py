"""Benthos' retry settings (`max_retries`, `backoff.initial_interval`/`max_interval`/
`max_elapsed_time`) and the exponential backoff they describe, for the `retry` components.

The backoff is Benthos' (cenkalti/backoff): each wait is the current interval give or take
half of it, the interval grows by half after each wait up to `max_interval`, and once a wait
would end past `max_elapsed_time` after the first attempt began there is no next attempt.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from streamforge.durations import parse_duration
from streamforge.plugin.spec import Field, ParsedField

__all__ = [
    "ExponentialBackoff",
    "RetrySettings",
    "backoff_field",
    "go_duration",
    "max_retries_field",
]

#: how far each wait may stray from the current interval (a fraction of it), as in Benthos
RANDOMIZATION = 0.5
#: how much the interval grows after each wait, as in Benthos
MULTIPLIER = 1.5


def _non_negative_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def _non_negative_int(value: Any) -> Any:
    if int(value) < 0:
        raise ValueError("must not be negative")
    return value


def backoff_field(initial: str, maximum: str, elapsed: str, elapsed_doc: str) -> Field:
    """The `backoff` object with these defaults."""
    return Field(
        "backoff",
        "object",
        default={"initial_interval": initial, "max_interval": maximum, "max_elapsed_time": elapsed},
        description="The waits between attempts.",
        fields=(
            ParsedField(
                "initial_interval",
                "duration",
                default=initial,
                parser=_non_negative_duration,
                description="The first wait; each later one is half as long again, up to "
                "`max_interval` (each give or take half, at random).",
                examples=("50ms", "1s"),
            ),
            ParsedField(
                "max_interval",
                "duration",
                default=maximum,
                parser=_non_negative_duration,
                description="The longest wait between attempts.",
                examples=("5s", "1m"),
            ),
            ParsedField(
                "max_elapsed_time",
                "duration",
                default=elapsed,
                parser=_non_negative_duration,
                description=elapsed_doc,
                examples=("1m", "1h"),
            ),
        ),
    )


def max_retries_field(description: str) -> Field:
    """The `max_retries` int (0: no limit)."""
    return ParsedField(
        "max_retries", "int", default=0, parser=_non_negative_int, description=description
    )


@dataclass(frozen=True)
class RetrySettings:
    """`max_retries` and `backoff` of a component's config, in seconds."""

    max_retries: int
    initial: float
    maximum: float
    max_elapsed: float

    @classmethod
    def from_conf(cls, conf: dict[str, Any], defaults: tuple[str, str, str]) -> RetrySettings:
        """Read and check the fields; `defaults` are (initial, maximum, elapsed)."""
        backoff = conf.get("backoff") or {}
        values = []
        for name, default in zip(
            ("initial_interval", "max_interval", "max_elapsed_time"), defaults
        ):
            try:
                values.append(_non_negative_duration(backoff.get(name, default)))
            except ValueError as exc:
                raise ValueError(f"backoff.{name}: {exc}") from None
        retries = int(conf.get("max_retries") or 0)
        if retries < 0:
            raise ValueError("max_retries: must not be negative")
        return cls(retries, *values)

    def backoff(self) -> ExponentialBackoff:
        """A fresh backoff: the first attempt begins now."""
        return ExponentialBackoff(self.initial, self.maximum, self.max_elapsed)


@dataclass
class ExponentialBackoff:
    """Waits between attempts, growing by half each time; None once `max_elapsed` would pass."""

    initial: float
    maximum: float
    max_elapsed: float = 0.0
    _current: float = field(default=-1.0, init=False)
    _started: float = field(default_factory=time.monotonic, init=False)

    def next_delay(self) -> float | None:
        """Seconds to wait before the next attempt, or None: no more attempts."""
        if self._current < 0:
            self._current = self.initial
        current = self._current
        delay = current * (1 - RANDOMIZATION + 2 * RANDOMIZATION * random.random())
        self._current = (
            self.maximum if current >= self.maximum / MULTIPLIER else current * MULTIPLIER
        )
        elapsed = time.monotonic() - self._started
        if self.max_elapsed > 0 and elapsed + delay > self.max_elapsed:
            return None
        return delay


def go_duration(seconds: float) -> str:
    """A span as Go prints a time.Duration: `0s`, `750ms`, `1.5s`, `2m3s`, `1h0m0s`."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size or unit == "ns":
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trim(rest / 1e9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")
