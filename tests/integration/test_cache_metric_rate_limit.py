"""The cache processor with the redis cache, the metric processor and the rate_limit processor in
real `streamforge run`s: against Redis on 127.0.0.1:6379, a Redis of our own that is killed and
started again mid-stream, the stream's /metrics endpoint, and a rate limit measured by counting."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from peers.ports import free_port
from peers.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from peers.stream_run import Run, out_lines, run_stream, stream_config, wait_until, write

SHARED_REDIS = "redis://127.0.0.1:6379"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    name = f"sf-cache-test-{uuid.uuid4().hex[:10]}:"
    yield name
    client = redis.Redis.from_url(SHARED_REDIS)
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_set_then_get_round_trips_through_redis(tmp_path: Path, prefix: str) -> None:
    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "roundtrip.yaml",
        f"""
        input:
          generate:
            count: 20
            interval: ""
            mapping: 'root = {{"id": counter(), "force": counter() * 10}}'
        pipeline:
          processors:
            - cache:
                resource: store
                operator: set
                key: '${{! json("id") }}'
                value: '${{! content() }}'
            - mapping: 'root = {{"id": this.id}}'
            - cache:
                resource: store
                operator: get
                key: '${{! json("id") }}'
        cache_resources:
          - label: store
            redis:
              url: tcp://127.0.0.1:6379
              prefix: "{prefix}"
              default_ttl: 5m
        """,
        out,
    )
    docs = [json.loads(line) for line in out_lines(out)]
    assert docs == [{"id": i, "force": i * 10} for i in range(1, 21)]
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        assert json.loads(client.get(f"{prefix}7") or b"") == {"id": 7, "force": 70}
        assert len(list(client.scan_iter(match=f"{prefix}*"))) == 20
        assert 0 < client.pttl(f"{prefix}7") <= 300_000
    finally:
        client.close()


def test_add_deduplicates_as_in_the_benthos_example(tmp_path: Path, prefix: str) -> None:
    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "dedupe.yaml",
        f"""
        input:
          generate:
            count: 30
            interval: ""
            mapping: 'root = {{"message": {{"id": counter() % 5}}}}'
        pipeline:
          processors:
            - cache:
                resource: foocache
                operator: add
                key: '${{! json("message.id") }}'
                value: storeme
            - mapping: root = if errored() {{ deleted() }}
        cache_resources:
          - label: foocache
            redis:
              url: tcp://127.0.0.1:6379
              prefix: "{prefix}"
        """,
        out,
    )
    assert sorted(json.loads(line)["message"]["id"] for line in out_lines(out)) == [0, 1, 2, 3, 4]


def test_a_redis_killed_mid_stream_loses_nothing_written(
    tmp_path: Path,
    redis_server: RedisServer,  # noqa: F811 - the fixture
    runs: list[Run],
) -> None:
    out = tmp_path / "out.jsonl"
    count = 150
    config = stream_config(
        tmp_path / "restart.yaml",
        f"""
        input:
          generate:
            count: {count}
            interval: 20ms
            mapping: 'root = {{"id": counter()}}'
        pipeline:
          processors:
            - cache:
                resource: store
                operator: set
                key: '${{! json("id") }}'
                value: '${{! content() }}'
        cache_resources:
          - label: store
            redis:
              url: {redis_server.url}
              prefix: "r:"
              retries:
                initial_interval: 50ms
                max_interval: 300ms
                max_elapsed_time: 20s
        """,
        out,
    )
    run = Run(config)
    runs.append(run)
    wait_until(lambda: len(out_lines(out)) >= 30, 20, "30 messages written")
    redis_server.stop()
    time.sleep(1.0)
    redis_server.start()
    assert run.proc.wait(timeout=40) == 0, run.logs()
    assert f"{count} read, {count} written, 0 dead-lettered, 0 failed" in run.logs()
    written = [json.loads(line)["id"] for line in out_lines(out)]
    assert sorted(written) == list(range(1, count + 1))
    client = redis.Redis(port=redis_server.port)
    try:
        stored = {int(k.decode().split(":")[1]) for k in client.scan_iter(match="r:*")}
    finally:
        client.close()
    assert stored == set(written)  # every message written had its key stored


def test_a_metric_counter_shows_on_the_streams_metrics_endpoint(
    tmp_path: Path, runs: list[Run]
) -> None:
    port = free_port()
    name = f"readings_{uuid.uuid4().hex[:8]}"
    config = write(
        tmp_path / "metric.yaml",
        f"""
        http:
          address: 127.0.0.1:{port}
        input:
          generate:
            interval: 20ms
            mapping: 'root = {{"asset": "press-%d".format(counter() % 2), "force": 12.5}}'
        pipeline:
          processors:
            - metric:
                type: counter
                name: {name}
                labels:
                  asset: '${{! json("asset") }}'
            - metric:
                type: gauge
                name: {name}_force
                value: '${{! json("force") }}'
        output:
          drop: {{}}
        """,
    )
    run = Run(config, http_port=port)
    runs.append(run)

    def counted() -> dict[str, float]:
        status, text = run.get("/metrics")
        if status != 200:
            return {}
        values = {}
        for line in text.splitlines():
            if line.startswith(f'{name}{{asset="'):
                labels, value = line.rsplit(" ", 1)
                values[labels] = float(value)
        return values

    wait_until(
        lambda: len(counted()) == 2 and min(counted().values()) >= 3, 20, f"{name} on /metrics"
    )
    first = counted()
    wait_until(lambda: sum(counted().values()) > sum(first.values()), 10, "the counter to grow")
    _, text = run.get("/metrics")
    assert f"{name}_force 12.5" in text
    assert run.stop() == 0


def test_a_local_rate_limit_spaces_messages(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    per, interval = 3, 0.3
    run_stream(
        tmp_path / "rate.yaml",
        f"""
        input:
          generate:
            count: 12
            interval: ""
            mapping: 'root = {{"id": counter()}}'
        pipeline:
          processors:
            # one message at a time: each is stamped before the next one asks the limit
            - for_each:
                - rate_limit:
                    resource: three_per_window
                - mapping: 'root = this.merge({{"at": timestamp_unix_nano()}})'
        rate_limit_resources:
          - label: three_per_window
            local:
              count: {per}
              interval: {int(interval * 1000)}ms
        """,
        out,
    )
    docs = [json.loads(line) for line in out_lines(out)]
    assert [d["id"] for d in docs] == list(range(1, 13))
    stamps = sorted(d["at"] / 1e9 for d in docs)
    # the limit grants `count` accesses per window of `interval`, so a span shorter than the
    # interval overlaps at most two windows: never more than 2 x count stamps in it, however
    # late a loaded machine stamps them (without the limit all 12 would be in one)
    window = interval * 0.95
    most = max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)
    assert most <= 2 * per
    # and the 12 messages needed 3 refills: the 2nd to the 12th access span 3 intervals
    assert stamps[-1] - stamps[0] >= 3 * interval * 0.95
