"""The `memory` cache: add-if-absent, TTL expiry, compaction, LRU cap, init values, threads."""

from __future__ import annotations

import threading

import pytest

from streamforge.caches.memory import MemoryCache, memory_cache
from streamforge.plugin import Cache, registry


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_get_set_add_delete() -> None:
    cache = MemoryCache(60)
    assert isinstance(cache, Cache)
    assert cache.get("a") is None
    assert cache.add("a", b"1") is True
    assert cache.add("a", b"2") is False
    assert cache.get("a") == b"1"
    cache.set("a", b"3")
    assert cache.get("a") == b"3"
    cache.delete("a")
    cache.delete("never-there")
    assert cache.get("a") is None
    assert cache.add("a", b"4") is True


def test_add_many_stores_a_repeated_key_once_and_reads_the_clock_once() -> None:
    clock = Clock()
    cache = MemoryCache(60, clock=clock)
    reads = clock.reads
    added = cache.add_many([("x", b"t"), ("y", b"t"), ("x", b"t"), ("z", b"t"), ("y", b"t")])
    assert added == [True, True, False, True, False]
    assert clock.reads == reads + 1
    assert cache.add_many([("z", b"t"), ("w", b"t")]) == [False, True]


def test_entry_expires_after_its_ttl_and_can_be_added_again() -> None:
    clock = Clock()
    cache = MemoryCache(10, clock=clock)
    assert cache.add("k", b"1")
    clock.now += 9.999
    assert cache.get("k") == b"1"
    assert not cache.add("k", b"2")
    clock.now += 0.001
    assert cache.get("k") is None
    assert cache.add("k", b"3")
    assert cache.get("k") == b"3"


def test_a_failed_add_does_not_extend_the_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(10, clock=clock)
    cache.add("k", b"1")
    clock.now += 8
    assert not cache.add("k", b"1")
    clock.now += 2
    assert cache.add("k", b"1")


def test_per_call_ttl_overrides_the_default_and_zero_never_expires() -> None:
    clock = Clock()
    cache = MemoryCache(10, clock=clock)
    cache.set("short", b"s", ttl=1)
    cache.set("forever", b"f", ttl=0)
    cache.set("default", b"d")
    clock.now += 1
    assert cache.get("short") is None
    assert cache.get("default") == b"d"
    clock.now += 10_000
    assert cache.get("default") is None
    assert cache.get("forever") == b"f"


def test_writes_compact_expired_entries_once_per_interval() -> None:
    clock = Clock()
    cache = MemoryCache(5, compaction_interval=60, clock=clock)
    cache.add_many([(f"k{i}", b"t") for i in range(100)])
    clock.now += 30
    cache.add("fresh", b"t")
    assert len(cache) == 101  # expired but not compacted yet (and never returned)
    assert cache.get("k1") is None and len(cache) == 100  # removed on access
    clock.now += 30
    cache.add("other", b"t")
    assert len(cache) == 1  # the compaction swept the 99 left and "fresh"
    assert cache.get("other") == b"t"


def test_empty_compaction_interval_turns_expiry_off() -> None:
    clock = Clock()
    cache = MemoryCache(1, compaction_interval=0, clock=clock)
    cache.set("k", b"v")
    clock.now += 86_400
    assert cache.get("k") == b"v"
    assert not cache.add("k", b"w")
    assert cache.compact() == 0


def test_cap_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryCache(60, cap=3)
    for key in ("a", "b", "c"):
        cache.set(key, key.encode())
    assert cache.get("a") == b"a"  # a is now the most recently used
    cache.set("d", b"d")
    assert len(cache) == 3
    assert cache.get("b") is None
    assert [cache.get(k) for k in ("a", "c", "d")] == [b"a", b"c", b"d"]
    assert not cache.add("c", b"x")  # a duplicate seen again counts as used
    cache.add_many([("e", b"e"), ("f", b"f")])
    assert cache.get("a") is None and cache.get("d") is None
    assert [cache.get(k) for k in ("c", "e", "f")] == [b"c", b"e", b"f"]


def test_init_values_never_expire_until_overwritten() -> None:
    clock = Clock()
    cache = MemoryCache(10, init_values={"foo": b"bar"}, clock=clock)
    clock.now += 1e6
    assert cache.get("foo") == b"bar"
    assert not cache.add("foo", b"x")
    cache.set("foo", b"baz")
    clock.now += 10
    assert cache.get("foo") is None


def test_concurrent_adds_store_each_key_exactly_once() -> None:
    cache = MemoryCache(60, cap=10_000)
    keys = [(f"k{i}", b"t") for i in range(2_000)]
    results: list[list[bool]] = []
    lock = threading.Lock()

    def worker() -> None:
        added = cache.add_many(keys)
        with lock:
            results.append(added)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_key = [sum(r[i] for r in results) for i in range(len(keys))]
    assert per_key == [1] * len(keys)


def test_memory_spec_builds_from_config() -> None:
    spec = registry.get("cache", "memory")
    assert spec is not None and spec.kind == "cache"
    assert spec.plugin == "streamforge.caches.memory"
    cache = memory_cache(
        {
            "default_ttl": "2m",
            "compaction_interval": "",
            "cap": 5,
            "init_values": {"a": "1"},
            "shards": 1,
        },
    )
    assert isinstance(cache, MemoryCache)
    assert (cache.default_ttl, cache.cap, cache.expires) == (120.0, 5, False)
    assert cache.get("a") == b"1"


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"cap": -1}, "cap: expected a whole number of at least 0, got -1"),
        ({"default_ttl": "-5m"}, "default_ttl: '-5m' must not be negative"),
        ({"compaction_interval": -1}, "compaction_interval: -1 must not be negative"),
        ({"compaction_interval": "soon"}, "invalid duration 'soon'"),
    ],
)
def test_memory_spec_refuses_bad_values(conf: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        memory_cache(conf)
