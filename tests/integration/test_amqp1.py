"""The `amqp_1` input and output against a private RabbitMQ node with its AMQP 1.0 plugin,
through `streamforge run`: a round trip, a stream killed before it wrote, failed writes, and
the broker killed under running streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aio_pika
from peers.rabbitmq import RabbitMq, rabbitmq_amqp1  # noqa: F401 - fixture
from peers.stream_checks import generate_to, run_generate, to_file
from peers.stream_run import Run, out_lines, wait_until, write


async def _with_channel(url: str, fn: Any) -> Any:
    connection = await aio_pika.connect(url, timeout=5)
    try:
        return await fn(await connection.channel(publisher_confirms=True))
    finally:
        await connection.close()


def broker(node: RabbitMq, fn: Any) -> Any:
    """Run `fn(channel)` over AMQP 0.9.1 on a connection of the test's own."""
    return asyncio.run(_with_channel(node.url, fn))


def declare(node: RabbitMq, queue: str) -> None:
    broker(node, lambda channel: channel.declare_queue(queue, durable=True))


def ready(node: RabbitMq, queue: str) -> int:
    """Messages of `queue` waiting for a consumer (not the delivered, unsettled ones); -1
    while the broker is away."""

    async def count(channel: Any) -> int:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count)

    try:
        return int(broker(node, count))
    except Exception:  # noqa: BLE001 - the broker is away
        return -1


def publish(node: RabbitMq, queue: str, bodies: list[str]) -> None:
    """Persistent messages, each confirmed by the broker."""

    async def send(channel: Any) -> None:
        for body in bodies:
            message = aio_pika.Message(
                body.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await channel.default_exchange.publish(message, queue)

    broker(node, send)


def input_config(
    path: Path, node: RabbitMq, queue: str, out: Path, *, processors: str = "", credit: int = 64
) -> Path:
    pipeline = f"pipeline:\n  processors:\n{processors}" if processors else ""
    return write(
        path,
        f"""
input:
  amqp_1:
    urls: [ {node.url} ]
    source_address: /amq/queue/{queue}
    credit: {credit}
    read_header: true
{pipeline}
output:
  {to_file(out)}
http: {{ enabled: false }}
""",
    )


def test_round_trip_with_properties_and_content_type(
    rabbitmq_amqp1: RabbitMq,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    node = rabbitmq_amqp1
    n = 500
    run_generate(
        tmp_path / "out.yaml",
        n,
        f"""
        amqp_1:
          urls: [ {node.url} ]
          target_address: /queue/readings
          content_type: string
          message_properties_content_type: application/json
          message_properties_subject: ${{! @line }}
          message_properties_message_id: ${{! counter() }}
          application_properties_map: |
            root.site = @site
            root.n = this.n
          metadata:
            exclude_prefixes: [ kafka_ ]
        """,
        mapping="""
        root = {"n": counter(), "unit": "°C"}
        meta site = "hamburg"
        meta line = "line-" + (counter() % 2).string()
        meta kafka_junk = "x"
        """,
    )
    out = tmp_path / "in.txt"
    run = Run(
        write(
            tmp_path / "in.yaml",
            f"""
            input:
              amqp_1:
                url: {node.url}
                source_address: /queue/readings
            pipeline:
              processors:
                - mapping: |
                    root = this
                    root.site = @site
                    root.app_n = @n
                    root.line = @line
                    root.junk = @kafka_junk
                    root.content_type = @amqp_content_type
                    root.subject = @amqp_subject
                    root.id = @amqp_message_id
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )
    try:
        wait_until(lambda: len(out_lines(out)) >= n, 30, "every message")
    finally:
        assert run.stop() == 0, run.logs()
    docs = [json.loads(line) for line in out_lines(out)]
    assert sorted(d["n"] for d in docs) == list(range(1, n + 1))
    for d in docs:
        line = f"line-{d['n'] % 2}"
        assert d == {
            "n": d["n"],
            "unit": "°C",
            "site": "hamburg",  # an application property, and metadata sent as an annotation
            "app_n": d["n"],
            "line": line,
            "junk": None,  # an excluded metadata prefix is not sent
            "content_type": "application/json",
            "subject": line,
            "id": d["n"],  # a numeric message-id travels as a number
        }


def test_a_killed_stream_loses_nothing_it_had_not_written(
    rabbitmq_amqp1: RabbitMq,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    node = rabbitmq_amqp1
    n, credit = 200, 50
    declare(node, "held")
    publish(node, "held", [f"m-{i}" for i in range(n)])
    out = tmp_path / "out.txt"
    stuck = Run(
        input_config(
            tmp_path / "stuck.yaml",
            node,
            "held",
            out,
            processors="    - sleep: { duration: 1h }\n",
            credit=credit,
        )
    )
    try:
        # the broker sent `credit` deliveries, which the stream holds unsettled
        wait_until(lambda: ready(node, "held") == n - credit, 20, "deliveries in flight")
    finally:
        stuck.proc.kill()
        stuck.proc.wait(10)
        stuck.stop()
    assert out_lines(out) == []
    wait_until(lambda: ready(node, "held") == n, 15, "the unsettled deliveries back")
    run = Run(
        input_config(
            tmp_path / "drain.yaml",
            node,
            "held",
            out,
            processors="""\
    - mapping: |
        root = content().string() + " " + @amqp_first_acquirer.string()
""",
        )
    )
    try:
        wait_until(lambda: len(out_lines(out)) >= n, 20, "every message written")
        wait_until(lambda: ready(node, "held") == 0, 10, "the queue drained")
    finally:
        assert run.stop() == 0, run.logs()
    lines = out_lines(out)
    assert sorted(line.split()[0] for line in lines) == sorted(f"m-{i}" for i in range(n))
    # the broker says which it had delivered before: exactly those the killed stream held
    assert sum(line.endswith(" false") for line in lines) == credit
    print(f"stream kill: {credit} unsettled deliveries came back, {n} messages written once")


def test_failed_writes_go_back_to_the_queue(
    rabbitmq_amqp1: RabbitMq,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    node = rabbitmq_amqp1
    declare(node, "refused")
    publish(node, "refused", [f"r-{i}" for i in range(20)])
    out = tmp_path / "out.txt"
    config = write(
        tmp_path / "refusing.yaml",
        f"""
        input:
          amqp_1:
            urls: [ {node.url} ]
            source_address: /amq/queue/refused
        pipeline:
          processors:
            - mapping: 'root = throw("downstream refuses " + content().string())'
        output:
          reject_errored:
            {to_file(out)}
        http: {{ enabled: false }}
        """,
    )
    run = Run(config)
    try:
        run.wait_log("downstream refuses r-0")
    finally:
        assert run.stop() == 0, run.logs()
    assert out_lines(out) == []
    assert "lost the connection" not in run.logs()
    wait_until(lambda: ready(node, "refused") == 20, 10, "every message back in the queue")


def test_streams_ride_out_a_broker_kill(
    rabbitmq_amqp1: RabbitMq,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    node = rabbitmq_amqp1
    n = 3000
    declare(node, "relay")
    out = tmp_path / "relay.txt"
    consumer = Run(input_config(tmp_path / "consume.yaml", node, "relay", out))
    producer: Run | None = None
    try:
        consumer.wait_log("connected to")
        producer = Run(
            generate_to(
                tmp_path / "produce.yaml",
                n,
                f"""
                amqp_1:
                  urls: [ {node.url} ]
                  target_address: /amq/queue/relay
                  persistent: true
                  write_timeout: 30s
                """,
                interval="2ms",
            )
        )
        wait_until(lambda: len(out_lines(out)) > 300, 30, "the first messages")
        killed_at = len(out_lines(out))
        node.restart(down_for=0.5)
        assert producer.proc.wait(90) == 0, producer.logs()
        wait_until(lambda: len(set(out_lines(out))) >= n, 40, "every message")
        time.sleep(0.5)
    finally:
        if producer is not None:
            producer.stop()
        assert consumer.stop() == 0, consumer.logs()
    lines = out_lines(out)
    assert set(lines) == {str(i) for i in range(1, n + 1)}
    assert killed_at < n
    duplicates = sum(c - 1 for c in Counter(lines).values())
    print(f"broker kill after {killed_at} of {n}: all written, {duplicates} duplicates")
    assert "reconnected to" in consumer.logs()
    assert producer is not None and "reconnected to" in producer.logs()
