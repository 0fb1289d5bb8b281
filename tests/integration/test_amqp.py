"""The `amqp_0_9` input and output against a real RabbitMQ broker, through `streamforge run`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from peers.ports import free_port
from peers.stream_checks import run_generate, to_file
from peers.stream_run import Run, out_lines, wait_until, write

SHARED = "amqp://guest:guest@127.0.0.1:5672/"


async def _with_channel(fn: Any) -> Any:
    connection = await aio_pika.connect(SHARED)
    try:
        channel = await connection.channel()
        return await fn(channel)
    finally:
        await connection.close()


def broker(fn: Any) -> Any:
    """Run `fn(channel)` on a connection of the test's own."""
    return asyncio.run(_with_channel(fn))


def queue_depth(name: str) -> int:
    async def depth(channel: Any) -> int:
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count)

    return int(broker(depth))


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    """Exchange and queue names of the test's own, deleted afterwards."""
    tag = uuid.uuid4().hex[:8]
    made = {"exchange": f"sf-test-x-{tag}", "queue": f"sf-test-q-{tag}", "dlq": f"sf-test-d-{tag}"}
    yield made

    async def cleanup(channel: Any) -> None:
        for q in (made["queue"], made["dlq"]):
            await channel.queue_delete(q)
        await channel.exchange_delete(made["exchange"])

    broker(cleanup)


def test_round_trip_through_a_topic_exchange(names: dict[str, str], tmp_path: Path) -> None:
    x, q = names["exchange"], names["queue"]
    # declared as the output declares it, so the input can bind before anything is published
    broker(lambda channel: channel.declare_exchange(x, "topic", durable=False))
    out = tmp_path / "out.txt"
    sub = Run(
        write(
            tmp_path / "in.yaml",
            f"""
            input:
              amqp_0_9:
                urls: [ {SHARED} ]
                queue: {q}
                queue_declare:
                  enabled: true
                  durable: false
                bindings_declare:
                  - exchange: {x}
                    key: line1.#
                prefetch_count: 200
            pipeline:
              processors:
                - mapping: |
                    root = this
                    root.key = @amqp_routing_key
                    root.site = @site
                    root.mode = @amqp_delivery_mode
                    root.type = @amqp_type
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )
    n = 2000
    try:
        sub.wait_log("connected to")
        run_generate(
            tmp_path / "out.yaml",
            n,
            f"""
            amqp_0_9:
              urls: [ {SHARED} ]
              exchange: {x}
              exchange_declare:
                enabled: true
                type: topic
                durable: false
              key: ${{! @line }}.pump
              type: reading
              persistent: true
              metadata:
                exclude_prefixes: [ kafka_ ]
            """,
            mapping="""
            root = {"n": counter()}
            meta site = "hamburg"
            meta kafka_junk = "x"
            meta line = if counter() % 4 == 0 { "line2" } else { "line1" }
            """,
        )
        wanted = n - n // 4
        wait_until(lambda: len(out_lines(out)) >= wanted, 30, "every routed message")
        wait_until(lambda: queue_depth(q) == 0, 10, "the queue drained")
    finally:
        assert sub.stop() == 0, sub.logs()
    docs = [json.loads(line) for line in out_lines(out)]
    assert sorted(d["n"] for d in docs) == [i for i in range(1, n + 1) if i % 4]
    assert {d["key"] for d in docs} == {"line1.pump"}
    assert {d["site"] for d in docs} == {"hamburg"}
    assert {d["mode"] for d in docs} == {2}
    assert {d["type"] for d in docs} == {"reading"}
    assert "kafka_junk" not in out.read_text()


def test_failed_writes_are_requeued_or_rejected_by_pattern(
    names: dict[str, str], tmp_path: Path
) -> None:
    q, dlq = names["queue"], names["dlq"]

    async def setup(channel: Any) -> None:
        await channel.declare_queue(dlq)
        await channel.declare_queue(
            q,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq},
        )
        for i in range(30):
            await channel.default_exchange.publish(aio_pika.Message(f"m-{i}".encode()), q)

    broker(setup)
    out = tmp_path / "out.txt"

    def config(name: str, pipeline: str) -> Path:
        return write(
            tmp_path / f"{name}.yaml",
            f"""
            input:
              amqp_0_9:
                urls: [ {SHARED} ]
                queue: {q}
                nack_reject_patterns: [ "poison m-" ]
            {pipeline}
            output:
              reject_errored:
                {to_file(out)}
            http: {{ enabled: false }}
            """,
        )

    def refusing(text: str) -> str:
        return f"""
            pipeline:
              processors:
                - mapping: 'root = throw("{text} " + content().string())'
            """

    requeue = Run(config("requeue", refusing("downstream refuses")))
    try:
        requeue.wait_log("downstream refuses m-0")
    finally:
        assert requeue.stop() == 0
    assert out_lines(out) == []
    wait_until(lambda: queue_depth(q) == 30, 10, "every message back in the queue")
    assert queue_depth(dlq) == 0
    poison = Run(config("poison", refusing("poison")))
    try:
        wait_until(lambda: queue_depth(dlq) == 30, 15, "messages rejected to the dead letters")
    finally:
        assert poison.stop() == 0
    assert queue_depth(q) == 0
    assert out_lines(out) == []

    async def again(channel: Any) -> None:
        for i in range(5):
            await channel.default_exchange.publish(aio_pika.Message(f"n-{i}".encode()), q)

    broker(again)
    healthy = Run(config("healthy", ""))
    try:
        wait_until(lambda: len(out_lines(out)) >= 5, 20, "new messages written")
        wait_until(lambda: queue_depth(q) == 0, 10, "the queue drained")
    finally:
        assert healthy.stop() == 0
    assert out_lines(out) == [f"n-{i}" for i in range(5)]


def test_mandatory_unroutable_and_unreachable_broker_fail_to_the_fallback(
    names: dict[str, str], tmp_path: Path
) -> None:
    x = names["exchange"]
    dead = tmp_path / "dead.txt"

    def run(url: str) -> str:
        done = run_generate(
            tmp_path / "fail.yaml",
            2,
            f"""
            fallback:
              - amqp_0_9:
                  urls: [ {url} ]
                  exchange: {x}
                  exchange_declare: {{ enabled: true, durable: false }}
                  key: nobody
                  mandatory: true
                  write_timeout: 2s
              - {to_file(dead)}
            """,
        )
        return done.stdout + done.stderr

    run(SHARED)
    assert out_lines(dead) == ["1", "2"]
    logs = run(f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    assert out_lines(dead) == ["1", "2", "1", "2"]
    assert "connection refused" in logs.lower() or "connect call failed" in logs.lower()
