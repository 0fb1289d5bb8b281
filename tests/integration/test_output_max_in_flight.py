"""`max_in_flight` on the SQL and Redis outputs: batches written at once, each in a
transaction (a pipeline) of its own; an input acknowledges only what was written, so a killed
stream loses nothing; `max_in_flight: 1` keeps the order."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aio_pika
import pytest
import redis
from peers.sql import Db, postgres_db
from peers.stream_run import Run, run_stream, wait_until, write

COUNT = 24
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
def db() -> Db:
    with postgres_db() as made:
        made.execute(
            "CREATE TABLE writes (id integer, backend integer, started timestamptz, "
            "ended timestamptz)"
        )
        yield made  # type: ignore[misc]


def _slow_insert(db: Db, max_in_flight: int, sleep: float = 0.2) -> str:
    """An sql_raw output (at two spaces in) taking `sleep` s per message, recording its
    connection and the span of its transaction."""
    return (
        "  sql_raw:\n"
        "    driver: postgres\n"
        f"    dsn: {db.dsn}\n"
        "    query: >-\n"
        "      INSERT INTO writes (id, backend, started, ended)\n"
        f"      SELECT $1, pg_backend_pid(), now(), clock_timestamp() FROM pg_sleep({sleep})\n"
        "    args_mapping: root = [ this.id ]\n"
        f"    max_in_flight: {max_in_flight}\n"
    )


def _most_at_once(db: Db) -> int:
    """The most transactions that were running at the same moment."""
    rows = db.rows(
        "SELECT max(n) FROM (SELECT (SELECT count(*) FROM writes b "
        "WHERE b.started <= a.started AND b.ended > a.started) AS n FROM writes a) counts"
    )
    return int(rows[0][0])


def _generated(path: Path, output: str) -> None:
    """Run a stream of COUNT generated `{"id": n}` messages into `output` to its end."""
    head = (
        "input:\n"
        "  generate:\n"
        f"    count: {COUNT}\n"
        '    interval: ""\n'
        "    mapping: 'root = {\"id\": counter()}'\n"
        "output:\n"
    )
    run_stream(path, head + output)


def test_sql_output_writes_batches_at_once_each_exactly_once(db: Db, tmp_path: Path) -> None:
    _generated(tmp_path / "many.yaml", _slow_insert(db, 8))
    assert db.rows("SELECT count(*), count(DISTINCT id) FROM writes") == [(COUNT, COUNT)]
    assert _most_at_once(db) > 1
    assert db.rows("SELECT count(DISTINCT backend) > 1 FROM writes") == [(True,)]


def test_sql_output_with_max_in_flight_1_writes_one_batch_at_a_time_in_order(
    db: Db, tmp_path: Path
) -> None:
    _generated(tmp_path / "one.yaml", _slow_insert(db, 1, sleep=0.02))
    assert _most_at_once(db) == 1
    ids = [row[0] for row in db.rows("SELECT id FROM writes ORDER BY started")]
    assert ids == list(range(1, COUNT + 1))


async def _publish(queue: str, count: int) -> None:
    connection = await aio_pika.connect(RABBITMQ)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)
        for i in range(1, count + 1):
            body = f'{{"id": {i}}}'.encode()
            await channel.default_exchange.publish(aio_pika.Message(body), queue)
    finally:
        await connection.close()


async def _delete(queue: str) -> None:
    connection = await aio_pika.connect(RABBITMQ)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue)
    finally:
        await connection.close()


def test_a_stream_killed_with_batches_in_flight_loses_none(db: Db, tmp_path: Path) -> None:
    """Messages are acknowledged to RabbitMQ only once their transaction committed: kill -9
    while eight are being written, run again, and every message is in the table."""
    queue = f"sf_in_flight_{uuid.uuid4().hex[:8]}"
    total = 60
    asyncio.run(_publish(queue, total))
    config = write(
        tmp_path / "queue.yaml",
        "input:\n"
        "  amqp_0_9:\n"
        f"    urls: [ {RABBITMQ} ]\n"
        f"    queue: {queue}\n"
        "    prefetch_count: 20\n"
        "output:\n" + _slow_insert(db, 8) + "http:\n  enabled: false\n",
    )
    try:
        first = Run(config)
        try:
            wait_until(lambda: db.rows("SELECT count(*) FROM writes")[0][0] >= 10, 30, "rows")
        finally:
            first.proc.kill()
            first.proc.wait()
            first.stop()
        written_before = db.rows("SELECT count(DISTINCT id) FROM writes")[0][0]
        assert written_before < total, "the stream ended before it was killed"
        second = Run(config)
        try:
            wait_until(
                lambda: db.rows("SELECT count(DISTINCT id) FROM writes")[0][0] == total,
                60,
                "every message after the restart",
            )
        finally:
            assert second.stop() == 0, second.logs()
    finally:
        asyncio.run(_delete(queue))
    assert db.rows("SELECT min(id), max(id) FROM writes") == [(1, total)]


def test_redis_output_with_max_in_flight_1_keeps_the_order(tmp_path: Path) -> None:
    client = redis.Redis(host="127.0.0.1", port=6379)
    key = f"sf_in_flight_{uuid.uuid4().hex[:8]}"
    try:
        for name, limit in (("one", 1), ("many", 64)):
            _generated(
                tmp_path / f"{name}.yaml",
                "  redis_list:\n"
                "    url: redis://127.0.0.1:6379\n"
                f"    key: {key}-{name}\n"
                f"    max_in_flight: {limit}\n",
            )
        ordered = [json.loads(v)["id"] for v in client.lrange(f"{key}-one", 0, -1)]
        assert ordered == list(range(1, COUNT + 1))
        anyhow = sorted(json.loads(v)["id"] for v in client.lrange(f"{key}-many", 0, -1))
        assert anyhow == list(range(1, COUNT + 1))
    finally:
        client.delete(f"{key}-one", f"{key}-many")
