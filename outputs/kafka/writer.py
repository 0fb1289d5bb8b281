"""The producer behind the `kafka` output: one per worker; records count as written when
librdkafka reports them delivered.

As the stream's own output, a batch returns once its records are queued and later batches
are produced while earlier ones await their reports; elsewhere a batch waits for its own.

Imported when the output is built, so registering the output does not load confluent-kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streamforge.connectors.kafka import ClientHealth, split_addresses
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString, render_value
from streamforge.message import Message
from streamforge.outputs.kafka.kafka import (
    IDEMPOTENT_MAX_IN_FLIGHT,
    PARTITIONERS,
    check_kafka_output,
    header_filter,
)
from streamforge.plugin import BuildContext, Output
from streamforge.plugin.pending import PendingWrite, PendingWrites

__all__ = ["KafkaWriter"]

log = logging.getLogger("streamforge.outputs.kafka")

#: librdkafka waits this long for more messages before sending a produce request
LINGER_MS = 1
#: extra time over `timeout` to wait for delivery reports librdkafka owes us
REPORT_GRACE = 2.0


def _header_value(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return render_value(value).encode("utf-8")


_CONNECTION_ERRORS = (
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
)


class KafkaWriter(Output):
    """One producer per worker; `write_batch` returns the records that were not delivered."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.label = ctx.label if ctx is not None else "kafka"
        stream = ctx.stream if ctx is not None else "stream"
        self.topic = InterpolatedString(str(conf["topic"]))
        key = str(conf.get("key") or "")
        self.key = InterpolatedString(key) if key else None
        part = str(conf.get("partition") or "")
        self.partition = InterpolatedString(part) if part else None
        self.partitioner = str(conf.get("partitioner") or "fnv1a_hash")
        settings = check_kafka_output(conf)
        compression = str(conf.get("compression") or "none")
        self.timeout = parse_duration(conf.get("timeout") or "5s")
        self.headers = header_filter(conf.get("metadata"))
        self.health = ClientHealth(
            "kafka output", stream, self.label, ",".join(split_addresses(conf.get("addresses")))
        )
        idempotent = bool(conf.get("idempotent_write"))
        in_flight = max(1, int(conf.get("max_in_flight") or 1))
        if idempotent and in_flight > IDEMPOTENT_MAX_IN_FLIGHT:
            in_flight = IDEMPOTENT_MAX_IN_FLIGHT
        settings.update(
            {
                "linger.ms": LINGER_MS,
                "compression.type": compression,
                "partitioner": PARTITIONERS[self.partitioner],
                "enable.idempotence": idempotent,
                "max.in.flight.requests.per.connection": in_flight,
                "acks": "all" if idempotent or conf.get("ack_replicas") else "1",
                "message.timeout.ms": max(int(self.timeout * 1000), LINGER_MS + 1),
                "message.max.bytes": max(1000, int(conf.get("max_msg_bytes") or 1_000_000)),
                "error_cb": self.health.error_cb,
                "stats_cb": self.health.stats_cb,
            }
        )
        self.producer = Producer(settings)
        self._pending = PendingWrites(self._timeout_error)
        self._round_robin = count()
        self._partition_counts: dict[str, int] = {}
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_forever, name=f"streamforge-kafka-{self.label}", daemon=True
        )
        self._poller.start()

    # -- writing -----------------------------------------------------------------------------
    def confirm_later(self, progress: Callable[[], None]) -> None:
        self._pending.progress = progress

    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        failed: list[Message] = []
        pending = self._pending
        base = pending.hand_over(len(batch))
        produce = self.producer.produce
        deadline = time.monotonic() + self.timeout + REPORT_GRACE
        for i, msg in enumerate(batch):
            try:
                topic, key, partition, headers = self._record(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails that message
                msg.error = f"kafka output {self.label}: {exc}"
                failed.append(msg)
                continue
            write = PendingWrite(base + i, msg, deadline)
            kwargs: dict[str, Any] = {"key": key, "on_delivery": self._reporter(write, topic)}
            if partition is not None:
                kwargs["partition"] = partition
            if headers:
                kwargs["headers"] = headers
            pending.track([write])
            if not self._produce(produce, topic, msg, kwargs, deadline):
                pending.settle(write, msg.error)
        self.producer.poll(0)
        if pending.progress is None or not self.health.conn.connected:
            # waiting for this batch's reports holds the stream back while the broker is away
            failed.extend(pending.flush())
        else:
            pending.report_progress()
        return failed

    def buffered(self) -> int:
        return self._pending.held()

    def take_failures(self) -> list[Message]:
        return self._pending.take_failures()

    def flush(self) -> list[Message]:
        self.producer.flush(0)
        return self._pending.flush()

    def _timeout_error(self) -> str:
        return (
            f"kafka output {self.label}: delivery not confirmed within "
            f"{self.timeout + REPORT_GRACE:.1f}s"
        )

    def _produce(
        self, produce: Any, topic: str, msg: Message, kwargs: dict[str, Any], deadline: float
    ) -> bool:
        """Queue one record; False (with the message failed) when librdkafka refused it."""
        while True:
            try:
                produce(topic, msg.payload, **kwargs)
                return True
            except BufferError:
                if time.monotonic() > deadline:
                    msg.error = f"kafka output {self.label}: the local producer queue is full"
                    return False
                self.producer.poll(0.05)
            except KafkaException as exc:
                msg.error = (
                    f"kafka output {self.label}: cannot produce to topic {topic!r}: "
                    f"{exc.args[0].str()}"
                )
                return False

    def _record(
        self, msg: Message, batch: list[Message], index: int
    ) -> tuple[str, bytes | None, int | None, list[tuple[str, bytes]] | None]:
        topic = self.topic.render(msg, batch, index)
        if not topic:
            raise ValueError("the topic interpolated to an empty string")
        key = self.key.render_bytes(msg, batch, index) if self.key is not None else None
        partition: int | None = None
        if self.partition is not None:
            text = self.partition.render(msg, batch, index).strip()
            if text:
                try:
                    partition = int(text)
                except ValueError:
                    raise ValueError(f"partition {text!r} is not an integer") from None
            elif self.partitioner == "manual":
                raise ValueError("partition interpolated to an empty string")
        elif self.partitioner == "round_robin":
            partition = self._next_round_robin(topic)
        headers = None
        if self.headers is not None and msg.metadata:
            wanted = self.headers
            headers = [(k, _header_value(v)) for k, v in msg.metadata.items() if wanted(k)]
        return topic, key, partition, headers

    def _next_round_robin(self, topic: str) -> int | None:
        partitions = self._partition_counts.get(topic)
        if partitions is None:
            try:
                meta = self.producer.list_topics(topic, timeout=self.timeout)
                tmeta = meta.topics.get(topic)
                partitions = len(tmeta.partitions) if tmeta is not None and tmeta.partitions else 0
            except KafkaException:
                partitions = 0
            if partitions:
                self._partition_counts[topic] = partitions
        if not partitions:
            return None
        return next(self._round_robin) % partitions

    def _reporter(self, write: PendingWrite, topic: str) -> Any:
        def delivered(err: KafkaError | None, _record: Any) -> None:
            if err is None:
                if not self.health.conn.connected:
                    self.health.up()
                self._pending.settle(write)
                return
            if err.code() in _CONNECTION_ERRORS:
                self.health.down(f"delivery failed: {err.str()}")
            self._pending.settle(
                write,
                f"kafka output {self.label}: delivery to topic {topic!r} failed: "
                f"{self.health.explain(err.str())}",
            )

        return delivered

    # -- lifecycle ---------------------------------------------------------------------------
    def _poll_forever(self) -> None:
        """Serve librdkafka's callbacks (delivery reports, errors, statistics)."""
        while not self._closed.is_set():
            try:
                if self.producer.poll(0.2):
                    self._pending.report_progress()
            except RuntimeError:
                return

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._poller.join(timeout=2)
        left = self.producer.flush(self.timeout)
        if left:
            log.warning("kafka output %s: %d record(s) undelivered at close", self.label, left)
        self.health.close()
