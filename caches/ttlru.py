"""`ttlru` cache: a fixed-size in-memory LRU map whose keys expire a fixed time after writing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamforge.caches.memory import MemoryCache, init_values_of, optimistic_field, positive_int
from streamforge.durations import parse_duration
from streamforge.plugin import BuildContext, Field, ParsedField, register_cache

__all__ = ["TTLRUCache", "ttlru_cache"]

#: how often writes sweep out expired keys, at most
_MAX_COMPACTION = 60.0


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be bigger than 0s, got {value!r}")
    return seconds


def _optional_duration(value: Any) -> float | None:
    return None if value in ("", None) else _positive_duration(value)


class TTLRUCache(MemoryCache):
    """A MemoryCache with one TTL for every key: a TTL given by a writer is ignored."""

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        super().set(key, value)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return super().add(key, value)

    def add_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None = None) -> list[bool]:
        return super().add_many(items)


@register_cache(
    "ttlru",
    fields=[
        ParsedField(
            "cap",
            "int",
            parser=positive_int,
            default=1024,
            description="The most keys held; writing one more evicts the least recently used.",
        ),
        ParsedField(
            "default_ttl",
            "duration",
            parser=_positive_duration,
            default="5m",
            description="How long a key lives after it was last written.",
            examples=("5m", "1h"),
        ),
        ParsedField(
            "ttl",
            "duration",
            parser=_optional_duration,
            default="",
            advanced=True,
            description="Deprecated name of `default_ttl`; when set, it wins.",
        ),
        Field(
            "init_values",
            "map",
            default={},
            item=Field("value", "string"),
            description="Keys and values present from the start; they expire like any other.",
            examples=({"press-1": "hall A"},),
        ),
        optimistic_field(),
    ],
    summary="A fixed-size in-memory LRU cache whose keys expire a fixed time after writing.",
    description=(
        "Every key lives `default_ttl` after it was last written; a TTL given by a writer "
        "(the `cache` processor's `ttl`) is ignored, as in Benthos. When the cache is full, "
        "writing a new key evicts the least recently used one."
    ),
    examples=(
        "cache_resources:\n  - label: recent\n    ttlru:\n      default_ttl: 5m\n      cap: 1024",
    ),
)
def ttlru_cache(conf: dict[str, Any], ctx: BuildContext | None = None) -> TTLRUCache:
    """A fixed-size in-memory LRU cache whose keys expire a fixed time after writing."""
    conf = conf or {}
    cap = positive_int(conf.get("cap", 1024))
    ttl = _optional_duration(conf.get("ttl", ""))
    if ttl is None:
        ttl = _positive_duration(conf.get("default_ttl", "5m"))
    cache = TTLRUCache(ttl, cap=cap, compaction_interval=min(ttl, _MAX_COMPACTION))
    for key, value in init_values_of(conf).items():
        cache.set(key, value)
    return cache
