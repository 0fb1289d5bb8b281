"""Restarts of RabbitMQ under running streams: a killed broker loses nothing the inputs and
outputs were told was done (durable queues, persistent messages, publisher confirms)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import aio_pika
from peers.rabbitmq import RabbitMq, rabbitmq  # noqa: F401 - fixture
from peers.stream_run import Run, out_lines, wait_until, write


def to_file(out: Path) -> str:
    return f'file: {{ path: "{out}", codec: lines }}'


async def _with_channel(url: str, fn: Any) -> Any:
    connection = await aio_pika.connect(url)
    try:
        return await fn(await connection.channel())
    finally:
        await connection.close()


def broker(node: RabbitMq, fn: Any) -> Any:
    return asyncio.run(_with_channel(node.url, fn))


def declare(node: RabbitMq, queue: str) -> None:
    broker(node, lambda channel: channel.declare_queue(queue, durable=True))


class Producer:
    """Publishes persistent numbered messages from a thread; keeps those the broker confirmed."""

    def __init__(self, url: str, queue: str) -> None:
        self.url = url
        self.queue = queue
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))
        self.thread.start()

    async def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            try:
                connection = await aio_pika.connect(self.url, timeout=2)
            except Exception:  # noqa: BLE001 - the broker is away: try again
                await asyncio.sleep(0.2)
                continue
            try:
                channel = await connection.channel(publisher_confirms=True)
                while not self.stop.is_set():
                    body = f"p-{i}"
                    i += 1
                    message = aio_pika.Message(
                        body.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    )
                    await channel.default_exchange.publish(message, self.queue, timeout=2)
                    self.acked.append(body)
                    await asyncio.sleep(0.001)
            except Exception:  # noqa: BLE001 - not confirmed: not counted
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 2)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(20)


def test_input_loses_nothing_across_a_broker_kill(
    rabbitmq: RabbitMq,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    declare(rabbitmq, "plant")
    out = tmp_path / "out.txt"
    run = Run(
        write(
            tmp_path / "in.yaml",
            f"""
            input:
              amqp_0_9:
                urls: [ {rabbitmq.url} ]
                queue: plant
                prefetch_count: 100
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )
    producer: Producer | None = None
    try:
        run.wait_log("connected to")
        producer = Producer(rabbitmq.url, "plant")
        wait_until(lambda: len(out_lines(out)) > 300, 20, "the first messages")
        rabbitmq.restart(down_for=0.5)
        before = len(producer.acked)
        wait_until(lambda: len(producer.acked) > before + 300, 40, "producing again")
        producer.finish()
        acked = producer.acked
        wait_until(lambda: set(acked) <= set(out_lines(out)), 30, "every confirmed message")
    finally:
        if producer is not None:
            producer.finish()
        assert run.stop() == 0, run.logs()
    lines = out_lines(out)
    assert not set(acked) - set(lines)
    assert len(acked) > 500
    duplicates = sum(c - 1 for c in Counter(lines).values())
    print(f"rabbitmq kill: {len(acked)} confirmed, {duplicates} duplicates")
    assert "reconnected to" in run.logs()


def test_output_rides_out_a_broker_kill(
    rabbitmq: RabbitMq,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    declare(rabbitmq, "written")
    n = 3000
    run = Run(
        write(
            tmp_path / "out.yaml",
            f"""
            input:
              generate:
                count: {n}
                interval: 1ms
                mapping: 'root = counter()'
            output:
              amqp_0_9:
                urls: [ {rabbitmq.url} ]
                exchange: ""
                key: written
                persistent: true
                write_timeout: 30s
            http: {{ enabled: false }}
            """,
        )
    )

    def depth() -> int:
        async def count(channel: Any) -> int:
            queue = await channel.declare_queue("written", passive=True)
            return int(queue.declaration_result.message_count)

        try:
            return int(broker(rabbitmq, count))
        except Exception:  # noqa: BLE001 - the broker is away
            return 0

    try:
        wait_until(lambda: depth() > 300, 20, "the first messages")
        rabbitmq.restart(down_for=0.5)
        assert run.proc.wait(60) == 0, run.logs()
    finally:
        run.stop()

    async def read_all(channel: Any) -> set[int]:
        queue = await channel.declare_queue("written", passive=True)
        seen: set[int] = set()
        while True:
            message = await queue.get(fail=False, no_ack=True)
            if message is None:
                return seen
            seen.add(int(message.body))

    assert broker(rabbitmq, read_all) == set(range(1, n + 1))
    assert "reconnected to" in run.logs()
