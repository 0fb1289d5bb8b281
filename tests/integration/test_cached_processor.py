"""The `cached` processor in whole `streamforge run`s: an `http` request per key against a real
loopback service that counts the requests, with the memory cache and with the redis cache on
127.0.0.1:6379, and `skip_on` keeping failed answers out of the cache."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from peers.http_echo import HttpEcho
from peers.stream_run import out_lines, run_stream

SHARED_REDIS = "redis://127.0.0.1:6379"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    name = f"sf-cached-test-{uuid.uuid4().hex[:10]}:"
    yield name
    client = redis.Redis.from_url(SHARED_REDIS)
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


def enrichment(url: str, cache: str) -> str:
    """Readings of three assets, enriched with what the service answers for their asset."""
    return f"""
        input:
          generate:
            count: 12
            interval: ""
            mapping: 'root = {{"n": counter(), "asset_id": "press-" + (counter() % 3).string()}}'
        pipeline:
          processors:
            - branch:
                request_map: 'root = this.asset_id'
                processors:
                  - cached:
                      cache: assets
                      key: '${{! content() }}'
                      ttl: 5m
                      processors:
                        - http:
                            url: {url}
                            verb: POST
                result_map: 'root.asset = content().string()'
        cache_resources:
          - label: assets
        {cache}
        """


def test_each_key_is_requested_once_with_the_memory_cache(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    out = tmp_path / "out.jsonl"
    cache = "    memory:\n              default_ttl: 1h"
    run_stream(tmp_path / "memory.yaml", enrichment(http_echo.url("/upper"), cache), out)
    docs = [json.loads(line) for line in out_lines(out)]
    assert [d["n"] for d in docs] == list(range(1, 13))
    assert all(d["asset"] == d["asset_id"].upper() for d in docs)
    # three assets, three requests: the other nine readings were served from the cache
    assert sorted(r.body for r in http_echo.requests) == [b"press-0", b"press-1", b"press-2"]


def test_each_key_is_requested_once_with_the_redis_cache_which_keeps_the_results(
    tmp_path: Path, http_echo: HttpEcho, prefix: str
) -> None:
    out = tmp_path / "out.jsonl"
    cache = f'    redis:\n              url: {SHARED_REDIS}\n              prefix: "{prefix}"'
    config = enrichment(http_echo.url("/upper"), cache)
    run_stream(tmp_path / "redis.yaml", config, out)
    docs = [json.loads(line) for line in out_lines(out)]
    assert all(d["asset"] == d["asset_id"].upper() for d in docs) and len(docs) == 12
    assert len(http_echo.requests) == 3
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        assert sorted(client.scan_iter(match=f"{prefix}*")) == [
            f"{prefix}press-{i}".encode() for i in range(3)
        ]
        assert 0 < client.pttl(f"{prefix}press-1") <= 300_000  # the processor's ttl: 5m
    finally:
        client.close()

    # a second run finds the results in Redis: the service is not asked again
    out.unlink()
    run_stream(tmp_path / "redis-again.yaml", config, out)
    assert len(out_lines(out)) == 12
    assert len(http_echo.requests) == 3


def failing(url: str, skip_on: str) -> str:
    return f"""
        input:
          generate:
            count: 4
            interval: ""
            mapping: 'root = "reading-" + counter().string()'
        pipeline:
          processors:
            - cached:
                cache: answers
                key: the-only-key
                {skip_on}
                processors:
                  - http:
                      url: {url}
                      verb: POST
                      retries: 0
            - mapping: |
                root = content().string()
                root = if errored() {{ "failed: " + root }}
        cache_resources:
          - label: answers
            memory: {{}}
        """


def test_skip_on_errored_keeps_failed_answers_out_of_the_cache(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    out = tmp_path / "out.jsonl"
    url = http_echo.url("/status/503")
    run_stream(tmp_path / "skip.yaml", failing(url, "skip_on: errored()"), out)
    # nothing was stored: every message asked the service and failed on its own
    assert len(http_echo.requests) == 4
    assert out_lines(out) == [f"failed: reading-{i}" for i in range(1, 5)]


def test_without_skip_on_a_failed_answer_is_stored_like_any_other(
    tmp_path: Path, http_echo: HttpEcho
) -> None:
    out = tmp_path / "out.jsonl"
    url = http_echo.url("/status/503")
    run_stream(tmp_path / "noskip.yaml", failing(url, ""), out)
    # the first message failed; the others got its stored payload, without the error
    assert len(http_echo.requests) == 1
    assert out_lines(out) == ["failed: reading-1"] + ["reading-1"] * 3
