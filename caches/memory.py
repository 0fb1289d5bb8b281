"""`memory` cache: an in-process LRU map with TTLs, shared by every worker of a process."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from streamforge.caches._retrying import non_negative_duration
from streamforge.plugin import BuildContext, Cache, Field, register_cache
from streamforge.plugin.spec import ParsedField

__all__ = ["MemoryCache", "init_values_of", "optimistic_field", "positive_int"]

_NEVER = math.inf
T = TypeVar("T")


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {value!r}")
    return value


def positive_int(value: Any) -> int:
    """A whole number bigger than 0 (the `cap` of the `lru` and `ttlru` caches)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be bigger than 0, got {value!r}")
    return value


def init_values_of(conf: dict[str, Any]) -> dict[str, bytes]:
    """The `init_values` of a cache config as stored bytes."""
    return {str(k): str(v).encode("utf-8") for k, v in (conf.get("init_values") or {}).items()}


def optimistic_field() -> Field:
    """`optimistic` of the `lru` and `ttlru` caches: accepted, `add` is atomic anyway."""
    return Field(
        "optimistic",
        "bool",
        default=False,
        advanced=True,
        description="Accepted for Benthos compatibility; `add` is always atomic here.",
    )


def _option(conf: dict[str, Any], name: str, default: Any, parse: Callable[[Any], T]) -> T:
    try:
        return parse(conf.get(name, default))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


class MemoryCache(Cache):
    """A thread-safe LRU map whose entries expire `ttl` seconds after they were written.

    Expired entries are invisible at once and removed on access, or by a compaction that
    writes run at most every `compaction_interval` seconds. A `cap` above 0 bounds the entries:
    writing one more evicts the least recently used. `clock` is injectable for tests.
    """

    def __init__(
        self,
        default_ttl: float = 300.0,
        *,
        cap: int = 0,
        compaction_interval: float = 60.0,
        init_values: Mapping[str, bytes] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_ttl = default_ttl
        self.cap = cap
        self.expires = compaction_interval > 0
        self.compaction_interval = compaction_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._next_compaction = clock() + compaction_interval if self.expires else _NEVER
        for key, value in (init_values or {}).items():
            self._entries[key] = (value, _NEVER)
        self._evict()

    # -- Cache ----------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        now = self._clock()
        with self._lock:
            self._store(key, value, self._expiry(now, ttl))
            self._after_write(now)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now = self._clock()
        with self._lock:
            added = self._add(key, value, now, self._expiry(now, ttl))
            self._after_write(now)
            return added

    def add_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None = None) -> list[bool]:
        now = self._clock()
        with self._lock:
            expires = self._expiry(now, ttl)
            added = [self._add(key, value, now, expires) for key, value in items]
            self._after_write(now)
            return added

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()

    # -- inspection -------------------------------------------------------------------------
    def __len__(self) -> int:
        """Entries held, including expired ones no access or compaction has removed yet."""
        return len(self._entries)

    def compact(self) -> int:
        """Remove every expired entry now; returns how many went."""
        now = self._clock()
        with self._lock:
            return self._compact(now)

    # -- internals (called with the lock held) ----------------------------------------------
    def _expiry(self, now: float, ttl: float | None) -> float:
        seconds = self.default_ttl if ttl is None else ttl
        if not self.expires or seconds <= 0:
            return _NEVER
        return now + seconds

    def _add(self, key: str, value: bytes, now: float, expires: float) -> bool:
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now:
            self._entries.move_to_end(key)
            return False
        self._store(key, value, expires)
        return True

    def _store(self, key: str, value: bytes, expires: float) -> None:
        entries = self._entries
        entries[key] = (value, expires)
        entries.move_to_end(key)

    def _after_write(self, now: float) -> None:
        if now >= self._next_compaction:
            self._compact(now)
        self._evict()

    def _evict(self) -> None:
        if self.cap:
            entries = self._entries
            while len(entries) > self.cap:
                entries.popitem(last=False)

    def _compact(self, now: float) -> int:
        expired = [k for k, (_, expires) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
        if self.expires:
            self._next_compaction = now + self.compaction_interval
        return len(expired)


@register_cache(
    "memory",
    fields=[
        ParsedField(
            "default_ttl",
            "duration",
            parser=non_negative_duration,
            default="5m",
            description=(
                "How long an entry lives after it was last written, unless the writer gives "
                "its own TTL. `0s` keeps entries until they are evicted."
            ),
            examples=("5m", "24h"),
        ),
        ParsedField(
            "compaction_interval",
            "duration",
            parser=non_negative_duration,
            default="60s",
            description=(
                "How often writes also sweep out expired entries (an expired entry is never "
                "returned, swept or not). An empty string (or `0s`) turns expiry off entirely, "
                "as in Benthos."
            ),
        ),
        ParsedField(
            "cap",
            "int",
            parser=_non_negative_int,
            default=0,
            description=(
                "The most entries held; writing one more evicts the least recently used "
                "(read or written) entry. 0 means no limit."
            ),
            examples=(100000,),
        ),
        Field(
            "init_values",
            "map",
            default={},
            item=Field("value", "string"),
            description=(
                "Entries present from the start; they never expire until overwritten, "
                "then the TTL applies as usual."
            ),
            examples=({"boiler-1/temp/2024-05-01T10:00:00Z": "t"},),
        ),
        Field(
            "shards",
            "int",
            default=1,
            advanced=True,
            description=(
                "Accepted for Benthos compatibility; the cache is one map under one lock "
                "(its operations are O(1))."
            ),
        ),
    ],
    summary="An in-memory LRU map with TTLs, shared by every worker of the process.",
    description=(
        "Keys and values live in the memory of the process, so they are lost on restart and "
        "not shared between the processes of a cluster. Reads and writes are O(1): an LRU map "
        "under one lock, with one clock reading per call (per batch for `dedupe`)."
    ),
    examples=(
        "cache_resources:\n  - label: seen\n    memory:\n      default_ttl: 10m\n      cap: 100000",
    ),
)
def memory_cache(conf: dict[str, Any], ctx: BuildContext | None = None) -> MemoryCache:
    """An in-memory LRU map with TTLs, shared by every worker of the process."""
    conf = conf or {}
    init = init_values_of(conf)
    return MemoryCache(
        _option(conf, "default_ttl", "5m", non_negative_duration),
        cap=_option(conf, "cap", 0, _non_negative_int),
        compaction_interval=_option(conf, "compaction_interval", "60s", non_negative_duration),
        init_values=init,
    )
