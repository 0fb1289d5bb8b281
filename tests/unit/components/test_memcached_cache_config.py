"""`memcached` cache config: addresses, key placement, expiry and lint problems, without a
server."""

from __future__ import annotations

import textwrap
import time
import zlib
from pathlib import Path

import pytest

from streamforge.config import lint_paths
from streamforge.plugin import CacheError, registry

pytest.importorskip("pymemcache")

from streamforge.caches.memcached import (
    MemcachedCache,
    memcached_cache,
    server_addresses,
)


def test_defaults_follow_benthos() -> None:
    cache = memcached_cache({"addresses": ["localhost:11211"]})
    try:
        assert isinstance(cache, MemcachedCache)
        assert (cache.addresses, cache.prefix, cache.default_ttl) == (["localhost:11211"], "", 300)
        assert (cache.retry_initial, cache.retry_max, cache.max_elapsed) == (1.0, 5.0, 30.0)
    finally:
        cache.close()


def test_items_may_hold_several_addresses() -> None:
    assert server_addresses(["a:1, b:2", "c", "", "[::1]:11311", "/run/memcached.sock"]) == [
        "a:1", "b:2", "c", "[::1]:11311", "/run/memcached.sock",
    ]  # fmt: skip
    for bad, problem in [
        ([], "at least one address"),
        ([" , "], "at least one address"),
        (["cache:0"], "port"),
        (["cache:"], "port"),
        (["::1"], "brackets"),
        ([":11211"], "names no host"),
    ]:
        with pytest.raises(ValueError, match=problem):
            server_addresses(bad)


def test_keys_are_placed_as_benthos_places_them() -> None:
    cache = memcached_cache({"addresses": ["a:1,b:2", "c:3"], "prefix": "p/"})
    try:
        for key in ("reading-1", "reading-2", "press-7/temperature", "ü"):
            index = zlib.crc32(("p/" + key).encode()) % 3
            assert cache.server_of(key) == ["a:1", "b:2", "c:3"][index]
        spread = {cache.server_of(f"k-{i}") for i in range(100)}
        assert spread == {"a:1", "b:2", "c:3"}
    finally:
        cache.close()


def test_ttls_become_whole_seconds_and_long_ones_unix_times() -> None:
    cache = memcached_cache({"addresses": ["h"], "default_ttl": "90s"})
    try:
        assert cache.expire(None) == 90
        assert (cache.expire(0), cache.expire(0.2), cache.expire(1.5)) == (0, 1, 2)
        thirty_days = 30 * 24 * 3600
        assert cache.expire(thirty_days) == thirty_days
        assert abs(cache.expire(40 * 24 * 3600) - (time.time() + 40 * 24 * 3600)) < 5
    finally:
        cache.close()
    forever = memcached_cache({"addresses": ["h"], "default_ttl": "0s"})
    assert forever.expire(None) == 0
    forever.close()


def test_keys_memcached_refuses_fail_before_reaching_a_server() -> None:
    cache = memcached_cache(
        {"addresses": ["127.0.0.1:9"], "prefix": "p:", "retries": {"max_elapsed_time": "0s"}}
    )
    try:
        with pytest.raises(CacheError, match="space or a control character"):
            cache.get("two words")
        with pytest.raises(CacheError, match="251 bytes with its prefix"):
            cache.set("k" * 249, b"v")
    finally:
        cache.close()


def test_registered_with_its_licence_feature() -> None:
    from streamforge.license.catalog import feature_of

    spec = registry.get("cache", "memcached")
    assert spec is not None and spec.kind == "cache"
    assert [f.name for f in spec.fields] == ["addresses", "prefix", "default_ttl", "retries"]
    assert ("bindings", "memcached") in feature_of("cache", "memcached", {"addresses": ["h"]})


def test_lint_reports_bad_fields_at_their_place(tmp_path: Path) -> None:
    path = tmp_path / "stream.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            input:
              generate: { count: 1, interval: "", mapping: 'root = "x"' }
            pipeline:
              processors:
                - cache: { resource: c, operator: set, key: k, value: v }
            output:
              drop: {}
            cache_resources:
              - label: c
                memcached:
                  addresses: [ "localhost:11211, cache-2:99999" ]
                  prefx: "a:"
                  default_ttl: -5s
                  retries:
                    initial_interval: soon
              - label: d
                memcached:
                  addresses: []
              - label: e
                memcached:
                  prefix: x
            """
        )
    )
    problems = [str(p).replace(f"{tmp_path}/", "") for p in lint_paths([str(path)])]
    assert problems == [
        "stream.yaml:11:20: field addresses.0: 'cache-2:99999': the port must be a number "
        "from 1 to 65535",
        'stream.yaml:12:7: unknown field "prefx" in cache memcached, did you mean "prefix"?',
        "stream.yaml:13:20: field default_ttl: '-5s' must not be negative",
        "stream.yaml:15:27: field retries.initial_interval: invalid duration 'soon': expected "
        "a number with a unit such as 500ms, 1s, 1m30s",
        "stream.yaml:18:18: field addresses: expected at least one address, such as "
        "localhost:11211",
        'stream.yaml:20:5: cache memcached: missing required field "addresses"',
    ]
