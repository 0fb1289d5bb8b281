"""Restarts of RabbitMQ under running streams: a killed broker loses nothing the inputs and
outputs were told was done (durable queues, persistent messages, publisher confirms)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aio_pika
from peers.rabbitmq import RabbitMq, rabbitmq  # noqa: F401 - fixture
from peers.stream_checks import AsyncProducer, input_loses_nothing, output_rides_out, to_file
from peers.stream_run import Run, write


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


class Producer(AsyncProducer):
    """Publishes persistent numbered messages from a thread; keeps those the broker confirmed."""

    async def run(self) -> None:
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
                    await channel.default_exchange.publish(message, self.target, timeout=2)
                    self.acked.append(body)
                    await asyncio.sleep(0.001)
            except Exception:  # noqa: BLE001 - not confirmed: not counted
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 2)


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
    input_loses_nothing(
        run,
        out,
        rabbitmq,
        lambda: Producer(rabbitmq.url, "plant"),
        what="rabbitmq",
        down_for=0.5,
    )


def test_output_rides_out_a_broker_kill(
    rabbitmq: RabbitMq,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    declare(rabbitmq, "written")
    n = 3000

    def depth() -> int:
        async def count(channel: Any) -> int:
            queue = await channel.declare_queue("written", passive=True)
            return int(queue.declaration_result.message_count)

        try:
            return int(broker(rabbitmq, count))
        except Exception:  # noqa: BLE001 - the broker is away
            return 0

    output_rides_out(
        tmp_path / "out.yaml",
        n,
        f"""
        amqp_0_9:
          urls: [ {rabbitmq.url} ]
          exchange: ""
          key: written
          persistent: true
          write_timeout: 30s
        """,
        rabbitmq,
        depth,
        down_for=0.5,
    )

    async def read_all(channel: Any) -> set[int]:
        queue = await channel.declare_queue("written", passive=True)
        seen: set[int] = set()
        while True:
            message = await queue.get(fail=False, no_ack=True)
            if message is None:
                return seen
            seen.add(int(message.body))

    assert broker(rabbitmq, read_all) == set(range(1, n + 1))
