"""Restarts of Redis under running streams: a killed server (AOF, fsync always) loses nothing
the inputs and outputs were told was done."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import redis
from peers.redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from peers.stream_run import Run, out_lines, wait_until, write


def to_file(out: Path) -> str:
    return f'file: {{ path: "{out}", codec: lines }}'


def test_streams_input_loses_nothing_across_a_redis_kill(
    redis_server: RedisServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    client = redis.Redis(port=redis_server.port, socket_timeout=2)
    stream = "restart-stream"
    out = tmp_path / "out.txt"
    cfg = write(
        tmp_path / "in.yaml",
        f"""
        input:
          redis_streams:
            url: {redis_server.url}
            streams: [ {stream} ]
            consumer_group: g
            client_id: steady
            commit_period: 200ms
        output:
          {to_file(out)}
        http: {{ enabled: false }}
        """,
    )
    run = Run(cfg)
    acked: list[str] = []
    stop = threading.Event()

    def producer() -> None:
        i = 0
        while not stop.is_set():
            body = f"e-{i}"
            try:
                client.xadd(stream, {"body": body})
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
                continue
            acked.append(body)  # only what the server confirmed
            i += 1
            time.sleep(0.001)

    try:
        run.wait_log("connected to")
        t = threading.Thread(target=producer)
        t.start()
        wait_until(lambda: len(out_lines(out)) > 300, 20, "the first entries")
        redis_server.restart(down_for=1.0)
        before = len(acked)
        wait_until(lambda: len(acked) > before + 300, 20, "producing again")
        stop.set()
        t.join()
        wait_until(lambda: set(acked) <= set(out_lines(out)), 30, "every confirmed entry")
        wait_until(lambda: client.xpending(stream, "g")["pending"] == 0, 10, "acknowledged")
    finally:
        stop.set()
        assert run.stop() == 0, run.logs()
        client.close()
    lines = out_lines(out)
    assert not set(acked) - set(lines)
    assert len(acked) > 500
    duplicates = sum(c - 1 for c in Counter(lines).values())
    print(f"redis kill: {len(acked)} confirmed, {duplicates} duplicates")
    assert "reconnected to" in run.logs()


def test_streams_output_rides_out_a_redis_kill(
    redis_server: RedisServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    client = redis.Redis(port=redis_server.port, socket_timeout=2)
    n = 3000
    cfg = write(
        tmp_path / "out.yaml",
        f"""
        input:
          generate:
            count: {n}
            interval: 1ms
            mapping: 'root = counter()'
        output:
          redis_streams:
            url: {redis_server.url}
            stream: written
        http: {{ enabled: false }}
        """,
    )
    run = Run(cfg)

    def length() -> int:
        try:
            return int(client.xlen("written"))
        except redis.ConnectionError:
            return 0

    try:
        wait_until(lambda: length() > 300, 20, "the first entries")
        redis_server.restart(down_for=1.0)
        assert run.proc.wait(60) == 0, run.logs()
    finally:
        run.stop()
    bodies = {int(fields[b"body"]) for _, fields in client.xrange("written")}
    client.close()
    assert bodies == set(range(1, n + 1))
    assert "reconnected to" in run.logs()
