"""What the caches on a server (`redis`, `memcached`) share: their `retries` field, its values,
and a base class that retries a command while the server cannot be reached.

Each cache keeps its own defaults (as Benthos has them), its own error texts and its own
bookkeeping of the connection state. `non_negative_duration` also parses the `memory` cache's
durations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from streamforge.durations import parse_duration
from streamforge.plugin import Backoff, Cache, CacheError, Connection, Field, ParsedField

__all__ = ["RetryingCache", "non_negative_duration", "retries_field", "retries_of"]

T = TypeVar("T")

#: the fields of `retries`, each with its description
_RETRIES = (
    ("initial_interval", "The first wait between attempts (doubling each time)."),
    ("max_interval", "The longest wait between attempts."),
    (
        "max_elapsed_time",
        "After this long the command fails (the message gets the error); `0s` tries once.",
    ),
)
#: the shortest first wait: `initial_interval: 0s` still backs off a little
_LEAST_INITIAL = 0.001


def non_negative_duration(value: Any) -> float:
    """Seconds in a duration that must not be negative ("" is 0)."""
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"{value!r} must not be negative")
    return seconds


def retries_field(
    description: str,
    defaults: tuple[str, str, str],
    examples: tuple[tuple[str, ...], ...] = ((), (), ()),
) -> Field:
    """The `retries` object; `defaults` and `examples` are for its three fields, in order."""
    return Field(
        "retries",
        "object",
        default={},
        advanced=True,
        description=description,
        fields=tuple(
            ParsedField(
                name,
                "duration",
                parser=non_negative_duration,
                default=default,
                description=text,
                examples=example,
            )
            for (name, text), default, example in zip(_RETRIES, defaults, examples)
        ),
    )


def retries_of(conf: dict[str, Any], defaults: tuple[str, str, str]) -> tuple[float, float, float]:
    """The first wait, the longest wait and the time to give up after, in seconds."""
    retries = conf.get("retries") or {}
    initial, maximum, elapsed = (
        non_negative_duration(retries.get(name, default))
        for (name, _), default in zip(_RETRIES, defaults)
    )
    initial = initial or _LEAST_INITIAL
    return initial, max(maximum, initial), elapsed


class RetryingCache(Cache):
    """A Cache on a server: a command is retried with backoff while it raises a `transient`
    error, until `max_elapsed` seconds passed, then it raises CacheError. `watch` registers
    the connection state (metrics, /ready) when the first command runs. A subclass's `close`
    sets `_closed`: a command waiting to try again then fails at once.
    """

    def __init__(
        self,
        *,
        retry_initial: float,
        retry_max: float,
        max_elapsed: float,
        transient: tuple[type[Exception], ...],
        watch: Callable[[], Connection] | None,
    ) -> None:
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.max_elapsed = max_elapsed
        self.conn: Connection | None = None
        self._transient = transient
        self._watch = watch
        self._watch_lock = threading.Lock()
        self._closed = threading.Event()

    def _retrying(
        self,
        attempt: Callable[[], T],
        failed: Callable[[Exception], None],
        unreachable: Callable[[Exception], str],
    ) -> T:
        """What `attempt` returns; `failed` hears of each transient error, and the CacheError
        raised when the time is up (or the cache closed) says `unreachable`. Other errors pass
        through untouched."""
        if self._watch is not None:
            with self._watch_lock:
                if self._watch is not None:
                    self.conn, self._watch = self._watch(), None
        backoff = Backoff(initial=self.retry_initial, maximum=self.retry_max)
        deadline = time.monotonic() + self.max_elapsed
        while True:
            try:
                return attempt()
            except self._transient as exc:
                failed(exc)
                delay = backoff.next_delay()
                if time.monotonic() + delay > deadline or self._closed.is_set():
                    raise CacheError(unreachable(exc)) from exc
                self._closed.wait(delay)
