"""Restarts of Redis under running streams: a killed server (AOF, fsync always) loses nothing
the inputs and outputs were told was done."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from peers.redis_server import RedisServer, redis_server  # noqa: F401 - fixture
from peers.stream_checks import Producer, input_loses_nothing, output_rides_out, to_file
from peers.stream_run import Run, write


class EntryProducer(Producer):
    """Appends numbered entries to a stream; keeps those the server confirmed."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream
        super().__init__()

    def produce(self) -> None:
        i = 0
        while not self.stop.is_set():
            body = f"e-{i}"
            try:
                self.client.xadd(self.stream, {"body": body})
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
                continue
            self.acked.append(body)  # only what the server confirmed
            i += 1
            time.sleep(0.001)


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
    try:
        input_loses_nothing(
            Run(cfg),
            out,
            redis_server,
            lambda: EntryProducer(client, stream),
            what="redis",
            down_for=1.0,
            settled=lambda: client.xpending(stream, "g")["pending"] == 0,
        )
    finally:
        client.close()


def test_streams_output_rides_out_a_redis_kill(
    redis_server: RedisServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    client = redis.Redis(port=redis_server.port, socket_timeout=2)
    n = 3000

    def length() -> int:
        try:
            return int(client.xlen("written"))
        except redis.ConnectionError:
            return 0

    output_rides_out(
        tmp_path / "out.yaml",
        n,
        f"""
        redis_streams:
          url: {redis_server.url}
          stream: written
        """,
        redis_server,
        length,
        down_for=1.0,
    )
    bodies = {int(fields[b"body"]) for _, fields in client.xrange("written")}
    client.close()
    assert bodies == set(range(1, n + 1))
