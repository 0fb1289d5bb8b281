"""The Redis inputs and outputs (`redis_streams`, `redis_list`, `redis_pubsub`, `redis_hash`)
against real Redis servers, through `streamforge run`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from peers.stream_checks import run_generate, to_file
from peers.stream_run import Run, out_lines, run_to_end, wait_until, write

SHARED = "redis://127.0.0.1:6379"


@pytest.fixture
def r() -> Iterator[redis.Redis]:
    """A client of the shared server; the keys a test names with `key()` are deleted after."""
    client = redis.Redis.from_url(SHARED)
    created: list[str] = []
    client.created = created  # type: ignore[attr-defined]
    yield client
    if created:
        client.delete(*created)
    client.close()


def key(r: redis.Redis, what: str) -> str:
    name = f"sf-test-{what}-{uuid.uuid4().hex[:8]}"
    r.created.append(name)  # type: ignore[attr-defined]
    return name


# -- redis_streams ---------------------------------------------------------------------------


def test_streams_round_trip_with_metadata_and_acks(r: redis.Redis, tmp_path: Path) -> None:
    stream = key(r, "stream")
    n = 3000
    run_generate(
        tmp_path / "gen.yaml",
        n,
        f"""
        redis_streams:
          url: {SHARED}
          stream: {stream}
          body_key: body
          metadata:
            exclude_prefixes: [ li ]
        """,
        mapping='root = {"n": counter()}',
        processors="""
        - mapping: |
            meta site = "hamburg"
            meta line = counter() % 3
            root = this
        """,
    )
    assert r.xlen(stream) == n
    first = r.xrange(stream, count=1)[0][1]
    assert set(first) == {b"body", b"site"}
    out = tmp_path / "out.txt"
    read = write(
        tmp_path / "read.yaml",
        f"""
        input:
          redis_streams:
            url: {SHARED}
            streams: [ {stream} ]
            consumer_group: sf-group
            client_id: reader-1
            limit: 500
        pipeline:
          processors:
            - mapping: 'root = {{"n": this.n, "site": @site, "id": @redis_stream}}'
        output:
          {to_file(out)}
        http: {{ enabled: false }}
        """,
    )
    run = Run(read)
    try:
        wait_until(lambda: len(out_lines(out)) >= n, 30, "every entry in the output file")
        wait_until(
            lambda: r.xpending(stream, "sf-group")["pending"] == 0, 10, "entries acknowledged"
        )
    finally:
        assert run.stop() == 0, run.logs()
    docs = [json.loads(line) for line in out_lines(out)]
    assert sorted(d["n"] for d in docs) == list(range(1, n + 1))
    assert {d["site"] for d in docs} == {"hamburg"}
    assert docs[0]["id"] == r.xrange(stream, count=1)[0][0].decode()
    assert "connected to redis://127.0.0.1:6379/0" in run.logs()


def test_streams_failed_writes_stay_pending_for_the_next_run(
    r: redis.Redis, tmp_path: Path
) -> None:
    stream = key(r, "nack")
    for i in range(40):
        r.xadd(stream, {"body": f"m-{i}"})
    out = tmp_path / "out.txt"

    def config(name: str, pipeline: str, replay: bool) -> Path:
        return write(
            tmp_path / f"{name}.yaml",
            f"""
            input:
              redis_streams:
                url: {SHARED}
                streams: [ {stream} ]
                consumer_group: sf-nack
                client_id: stays
                auto_replay_nacks: {str(replay).lower()}
            {pipeline}
            output:
              reject_errored:
                {to_file(out)}
            http: {{ enabled: false }}
            """,
        )

    refuse = """
            pipeline:
              processors:
                - mapping: 'root = throw("downstream refuses " + content().string())'
    """
    run = Run(config("failing", refuse, True))
    run.wait_log("downstream refuses m-0")
    assert run.stop() == 0
    assert out_lines(out) == []
    assert r.xpending(stream, "sf-nack")["pending"] == 40  # delivered, never acknowledged
    again = Run(config("healthy", "", True))
    try:
        wait_until(lambda: len(out_lines(out)) >= 40, 20, "pending entries delivered again")
        wait_until(lambda: r.xpending(stream, "sf-nack")["pending"] == 0, 10, "acknowledged")
    finally:
        assert again.stop() == 0
    assert sorted(set(out_lines(out))) == sorted(f"m-{i}" for i in range(40))
    # without replays, what the output fails is acknowledged and dropped
    r.xadd(stream, {"body": "dropped"})
    drop = Run(config("dropping", refuse, False))
    try:
        drop.wait_log("dropping them")
        wait_until(lambda: r.xpending(stream, "sf-nack")["pending"] == 0, 10, "acknowledged")
    finally:
        assert drop.stop() == 0
    assert "dropped" not in out_lines(out)


def test_streams_replay_failed_writes_until_written(r: redis.Redis, tmp_path: Path) -> None:
    stream = key(r, "replay")
    for i in range(20):
        r.xadd(stream, {"body": f"m-{i}"})
    out = tmp_path / "out.txt"
    until = int(time.time()) + 6  # the pipeline fails every message until then
    cfg = write(
        tmp_path / "replay.yaml",
        f"""
        input:
          redis_streams:
            url: {SHARED}
            streams: [ {stream} ]
            consumer_group: sf-replay
            client_id: one
        pipeline:
          processors:
            - mapping: |
                root = if timestamp_unix() < {until} {{ throw("not yet") }} else {{ content() }}
        output:
          reject_errored:
            {to_file(out)}
        http: {{ enabled: false }}
        """,
    )
    run = Run(cfg)
    try:
        run.wait_log("replaying in")
        assert out_lines(out) == []
        wait_until(lambda: len(out_lines(out)) >= 20, 30, "replayed messages written")
        wait_until(lambda: r.xpending(stream, "sf-replay")["pending"] == 0, 10, "acknowledged")
    finally:
        assert run.stop() == 0
    assert sorted(out_lines(out)) == sorted(f"m-{i}" for i in range(20))


# -- redis_list ------------------------------------------------------------------------------


def test_list_round_trip(r: redis.Redis, tmp_path: Path) -> None:
    lst = key(r, "list")
    n = 2000
    run_generate(
        tmp_path / "gen.yaml",
        n,
        f"""
        redis_list:
          url: {SHARED}
          key: {lst}
          batching: {{ count: 100 }}
          max_in_flight: 1    # batches one after another: the list keeps the order
        """,
        mapping='root = "item-" + counter().string()',
    )
    assert r.llen(lst) == n
    assert r.lindex(lst, 0) == b"item-1"
    out = tmp_path / "out.txt"
    run = Run(
        write(
            tmp_path / "read.yaml",
            f"""
            input:
              redis_list:
                url: {SHARED}
                key: {lst}
                max_in_flight: 300
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )
    try:
        wait_until(lambda: len(out_lines(out)) >= n, 30, "every element")
    finally:
        assert run.stop() == 0, run.logs()
    assert out_lines(out) == [f"item-{i}" for i in range(1, n + 1)]
    assert r.llen(lst) == 0


def test_list_output_interpolated_key_and_lpush(r: redis.Redis, tmp_path: Path) -> None:
    base = key(r, "lk")
    a, b = f"{base}-a", f"{base}-b"
    r.created += [a, b]  # type: ignore[attr-defined]
    cfg = write(
        tmp_path / "gen.yaml",
        f"""
        input:
          generate:
            count: 6
            interval: ""
            mapping: |
              root = counter()
              meta which = if counter() % 2 == 0 {{ "a" }} else {{ "b" }}
        output:
          redis_list:
            url: {SHARED}
            key: {base}-${{! @which }}
            command: lpush
            max_in_flight: 1    # one batch at a time keeps the order lpush shows
        http: {{ enabled: false }}
        """,
    )
    assert run_to_end(cfg).returncode == 0
    assert r.lrange(a, 0, -1) == [b"6", b"4", b"2"]
    assert r.lrange(b, 0, -1) == [b"5", b"3", b"1"]


# -- redis_pubsub ----------------------------------------------------------------------------


def test_pubsub_round_trip_with_patterns(r: redis.Redis, tmp_path: Path) -> None:
    prefix = f"sf-test-ps-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out.txt"
    sub = Run(
        write(
            tmp_path / "sub.yaml",
            f"""
            input:
              redis_pubsub:
                url: {SHARED}
                channels: [ "{prefix}.*" ]
                use_patterns: true
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )
    try:
        sub.wait_log("connected to")
        wait_until(lambda: r.pubsub_numpat() > 0, 10, "the pattern subscription")
        n = 500
        run_generate(
            tmp_path / "pub.yaml",
            n,
            f"""
            redis_pubsub:
              url: {SHARED}
              channel: {prefix}.${{! if this % 2 == 0 {{ "even" }} else {{ "odd" }} }}
            """,
        )
        r.publish(f"{prefix}.other", b"by hand")
        r.publish(f"unrelated-{prefix}", b"not for us")
        wait_until(lambda: len(out_lines(out)) >= n + 1, 20, "every published message")
    finally:
        assert sub.stop() == 0
    got = out_lines(out)
    assert sorted(got[:-1], key=int) == [str(i) for i in range(1, n + 1)]
    assert got[-1] == "by hand"


# -- redis_hash ------------------------------------------------------------------------------


def test_hash_output_walks_json_and_sets_fields(r: redis.Redis, tmp_path: Path) -> None:
    base = key(r, "hash")
    keys = [f"{base}-{i}" for i in range(1, 4)]
    r.created += keys  # type: ignore[attr-defined]
    cfg = write(
        tmp_path / "hash.yaml",
        f"""
        input:
          generate:
            count: 4
            interval: ""
            mapping: |
              root = if counter() == 4 {{ "not json" }} else {{ {{"id": counter(), "temp": 20.5}} }}
              meta site = "hh"
        output:
          fallback:
            - redis_hash:
                url: {SHARED}
                key: {base}-${{! counter() }}
                walk_metadata: true
                walk_json_object: true
                fields:
                  unit: celsius
                  label: "${{! @site }}-x"
            - file: {{ path: "{tmp_path / "dead.txt"}", codec: lines }}
        http: {{ enabled: false }}
        """,
    )
    done = run_to_end(cfg)
    assert done.returncode == 0, done.stderr
    assert r.hgetall(keys[0]) == {
        b"id": b"1",
        b"temp": b"20.5",
        b"site": b"hh",
        b"unit": b"celsius",
        b"label": b"hh-x",
    }
    assert r.exists(*keys) == 3
    assert out_lines(tmp_path / "dead.txt") == ["not json"]


# -- failures --------------------------------------------------------------------------------


def test_unreachable_server_fails_writes_to_the_fallback(tmp_path: Path) -> None:
    from peers.ports import free_port

    dead = tmp_path / "dead.txt"
    done = run_generate(
        tmp_path / "down.yaml",
        3,
        f"""
        fallback:
          - redis_streams:
              url: redis://127.0.0.1:{free_port()}
              stream: nowhere
              write_timeout: 1s
          - {to_file(dead)}
        """,
    )
    assert sorted(out_lines(dead)) == ["1", "2", "3"]  # written at once, in any order
    assert "cannot connect to redis://127.0.0.1:" in done.stderr + done.stdout
