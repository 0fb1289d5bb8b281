"""`multilevel` cache: caches as levels, read-through and write-through, as Benthos."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from streamforge.plugin import BuildContext, Cache, Field, register_cache

__all__ = ["MultilevelCache"]


class MultilevelCache(Cache):
    """Levels tried in order on `get` (a hit is written back into the earlier levels); `set`
    and `delete` go to every level; `add` succeeds only when no level holds the key.

    The levels are resolved on first use (`resolve(label)`), as cache resources are built
    lazily and one may not be built from within another's construction.
    """

    def __init__(self, labels: Sequence[str], resolve: Callable[[str], Cache]) -> None:
        self.labels = list(labels)
        self._resolve = resolve
        self._levels: list[Cache] | None = None
        self._lock = threading.Lock()

    @property
    def levels(self) -> list[Cache]:
        levels = self._levels
        if levels is None:
            with self._lock:
                if self._levels is None:
                    self._levels = [self._resolve(label) for label in self.labels]
                levels = self._levels
        return levels

    def get(self, key: str) -> bytes | None:
        levels = self.levels
        for i, level in enumerate(levels):
            value = level.get(key)
            if value is not None:
                for earlier in levels[:i]:
                    earlier.set(key, value)
                return value
        return None

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        for level in self.levels:
            level.set(key, value, ttl)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        *upper, last = self.levels
        if any(level.get(key) is not None for level in upper):
            return False
        if not last.add(key, value, ttl):
            return False
        for level in upper:
            level.set(key, value, ttl)
        return True

    def delete(self, key: str) -> None:
        for level in self.levels:
            level.delete(key)


@register_cache(
    "multilevel",
    config=Field(
        "multilevel",
        "array",
        item=Field("level", "string", references="cache"),
        description="The labels of the cache resources that are the levels, first one first.",
        examples=(["hot", "cold"],),
    ),
    summary="Combines caches as levels, reading and writing through them.",
    description=(
        "Matches Benthos' `multilevel` cache. `get` asks each level in order and writes a hit "
        "back into the levels before it (without a TTL, so each takes its default); `set` and "
        "`delete` go to every level; `add` fails when any level but the last holds the key or "
        "the last refuses it, and then sets the earlier levels. Use a local `memory` cache "
        "in front of a shared `redis` one to spare the server most reads."
    ),
    examples=(
        "cache_resources:\n"
        "  - label: leveled\n"
        "    multilevel: [ hot, cold ]\n"
        "  - label: hot\n"
        "    memory:\n"
        "      default_ttl: 60s\n"
        "  - label: cold\n"
        "    redis:\n"
        "      url: redis://localhost:6379",
    ),
)
def multilevel_cache(conf: Any, ctx: BuildContext) -> MultilevelCache:
    """Combines caches as levels, reading and writing through them."""
    if not isinstance(conf, list):
        raise ValueError("expected a list of cache resource labels")
    labels = [str(label) for label in conf]
    if len(labels) < 2:
        raise ValueError(f"expected at least two cache levels, found {len(labels)}")
    own = getattr(ctx, "label", "")
    if own and own in labels:
        raise ValueError(f"the cache {own!r} cannot be one of its own levels")
    return MultilevelCache(labels, ctx.cache)
