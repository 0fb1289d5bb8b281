"""`redis` cache config: URLs, TTLs, retries and TLS checked without a server."""

from __future__ import annotations

import pytest

from streamforge.caches.redis import RedisCache, redis_cache
from streamforge.plugin import registry


def test_defaults_and_tcp_urls() -> None:
    cache = redis_cache({"url": "tcp://127.0.0.1:6399"})
    try:
        assert isinstance(cache, RedisCache)
        assert (cache.prefix, cache.default_ttl) == ("", 0.0)
        assert (cache.retry_initial, cache.retry_max, cache.max_elapsed) == (0.5, 1.0, 5.0)
        assert cache._px(None) is None and cache._px(1.5) == 1500 and cache._px(0) is None
        kwargs = cache.client.connection_pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 6399)
    finally:
        cache.close()


def test_prefix_default_ttl_and_retries() -> None:
    cache = redis_cache(
        {
            "url": "redis://localhost:6379/2",
            "prefix": "line7:",
            "default_ttl": "10m",
            "retries": {
                "initial_interval": "100ms",
                "max_interval": "2s",
                "max_elapsed_time": "0s",
            },
        }
    )
    try:
        assert (cache.prefix, cache.default_ttl, cache._px(None)) == ("line7:", 600.0, 600_000)
        assert (cache.retry_initial, cache.retry_max, cache.max_elapsed) == (0.1, 2.0, 0.0)
        assert cache.client.connection_pool.connection_kwargs["db"] == 2
    finally:
        cache.close()


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"url": ""}, "expected a URL"),
        ({"url": "http://localhost:6379"}, "scheme"),
        ({"url": "redis://"}, "names no host"),
        ({"url": "redis://h:6379", "default_ttl": "-1s"}, "negative"),
        ({"url": "redis://h:6379", "kind": "failover"}, "master"),
        (
            {"url": "redis://h:6379", "tls": {"enabled": True, "root_cas_file": "/nope/ca.pem"}},
            "root_cas_file",
        ),
    ],
)
def test_bad_configs_are_refused(conf: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        redis_cache(conf)


def test_registered_with_its_licence_feature() -> None:
    from streamforge.license.catalog import feature_of

    spec = registry.get("cache", "redis")
    assert spec is not None and spec.kind == "cache"
    assert ("bindings", "redis") in feature_of("cache", "redis", {"url": "redis://h"})
