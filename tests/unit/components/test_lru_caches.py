"""`lru` and `ttlru` caches: capacity, LRU eviction, init values, expiry, writer TTLs ignored."""

from __future__ import annotations

import pytest

from streamforge.caches.lru import lru_cache
from streamforge.caches.ttlru import TTLRUCache, ttlru_cache
from streamforge.plugin import Cache, registry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lru_defaults_hold_a_thousand_keys_and_evict_the_least_recently_used() -> None:
    cache = lru_cache({})
    assert isinstance(cache, Cache)
    for i in range(1000):
        cache.set(f"k{i}", b"v")
    assert cache.get("k0") == b"v"  # k0 is now the most recently used
    cache.set("k1000", b"v")
    assert cache.get("k1") is None
    assert cache.get("k0") == b"v" and cache.get("k1000") == b"v"
    assert len(cache) == 1000


def test_lru_keeps_keys_forever_and_ignores_writer_ttls() -> None:
    cache = lru_cache({"cap": 2, "init_values": {"press-1": "hall A"}})
    cache.set("short", b"s", ttl=0.000001)
    assert cache.get("press-1") == b"hall A"
    assert cache.get("short") == b"s"
    assert cache.add("short", b"x", ttl=0.000001) is False
    cache.delete("short")
    assert cache.add("short", b"y") is True
    assert cache.get("short") == b"y"


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"cap": 0}, "must be bigger than 0"),
        ({"cap": -5}, "must be bigger than 0"),
        ({"algorithm": "fifo"}, "algorithm"),
        ({"two_queues_recent_ratio": 1.5}, "ratio"),
    ],
)
def test_lru_refuses_bad_configs(conf: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        lru_cache(conf)


def test_ttlru_keys_expire_a_fixed_time_after_writing_whatever_the_writer_asks() -> None:
    clock = Clock()
    cache = TTLRUCache(10, cap=3, compaction_interval=10, clock=clock)
    cache.set("a", b"1", ttl=3600)
    assert cache.add("b", b"2", ttl=0) is True
    clock.now += 9.9
    assert cache.get("a") == b"1" and cache.get("b") == b"2"
    clock.now += 0.1
    assert cache.get("a") is None and cache.get("b") is None
    assert cache.add_many([("a", b"3"), ("a", b"4")], ttl=1) == [True, False]
    clock.now += 5
    cache.set("c", b"5")  # written later: lives 10 s from now
    clock.now += 5
    assert cache.get("a") is None and cache.get("c") == b"5"


def test_ttlru_evicts_the_least_recently_used_when_full() -> None:
    cache = ttlru_cache({"cap": 2})
    cache.set("a", b"1")
    cache.set("b", b"2")
    assert cache.get("a") == b"1"
    cache.set("c", b"3")
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (b"1", b"3")


def test_ttlru_spec_defaults_and_the_deprecated_ttl_field() -> None:
    cache = ttlru_cache({"init_values": {"k": "v"}})
    assert (cache.cap, cache.default_ttl) == (1024, 300.0)
    assert cache.get("k") == b"v"
    assert ttlru_cache({"default_ttl": "1m", "ttl": "2h"}).default_ttl == 7200.0
    with pytest.raises(ValueError, match="bigger than 0s"):
        ttlru_cache({"default_ttl": "0s"})
    with pytest.raises(ValueError, match="bigger than 0"):
        ttlru_cache({"cap": 0})


def test_both_register_as_caches() -> None:
    for name in ("lru", "ttlru"):
        spec = registry.get("cache", name)
        assert spec is not None and spec.kind == "cache"
        assert spec.plugin == f"streamforge.caches.{name}"
