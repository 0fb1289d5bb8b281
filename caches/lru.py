"""`lru` cache: a fixed-size in-memory map that evicts the least recently used key."""

from __future__ import annotations

from typing import Any

from streamforge.caches.memory import MemoryCache, init_values_of, optimistic_field, positive_int
from streamforge.plugin import BuildContext, Field, ParsedField, register_cache

__all__ = ["ALGORITHMS", "lru_cache"]

ALGORITHMS = ("standard", "arc", "two_queues")


def _ratio(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"must be a ratio between 0 and 1, got {value!r}")
    return float(value)


@register_cache(
    "lru",
    fields=[
        ParsedField(
            "cap",
            "int",
            parser=positive_int,
            default=1000,
            description="The most keys held; writing one more evicts the least recently used.",
        ),
        Field(
            "init_values",
            "map",
            default={},
            item=Field("value", "string"),
            description="Keys and values present from the start (a static lookup table); "
            "writes may replace them.",
            examples=({"press-1": "hall A", "press-2": "hall B"},),
        ),
        Field(
            "algorithm",
            "string",
            default="standard",
            options=ALGORITHMS,
            advanced=True,
            description="Accepted for Benthos compatibility: every algorithm evicts the least "
            "recently used key.",
        ),
        ParsedField(
            "two_queues_recent_ratio",
            "float",
            parser=_ratio,
            default=0.25,
            advanced=True,
            description="Accepted for Benthos compatibility (`two_queues` only).",
        ),
        ParsedField(
            "two_queues_ghost_ratio",
            "float",
            parser=_ratio,
            default=0.5,
            advanced=True,
            description="Accepted for Benthos compatibility (`two_queues` only).",
        ),
        optimistic_field(),
    ],
    summary="A fixed-size in-memory cache that evicts the least recently used key.",
    description=(
        "Keys never expire: a TTL given by a writer (the `cache` processor's `ttl`) is "
        "ignored, as in Benthos. The cache lives in the memory of the process, shared by its "
        "workers, and starts empty (but for `init_values`) on every restart."
    ),
    examples=(
        "cache_resources:\n  - label: sites\n    lru:\n      cap: 1024\n"
        "      init_values:\n        press-1: hall A",
    ),
)
def lru_cache(conf: dict[str, Any], ctx: BuildContext | None = None) -> MemoryCache:
    """A fixed-size in-memory cache that evicts the least recently used key."""
    conf = conf or {}
    cap = positive_int(conf.get("cap", 1000))
    _ratio(conf.get("two_queues_recent_ratio", 0.25))
    _ratio(conf.get("two_queues_ghost_ratio", 0.5))
    algorithm = conf.get("algorithm", "standard")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm: {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    return MemoryCache(0, cap=cap, compaction_interval=0, init_values=init_values_of(conf))
