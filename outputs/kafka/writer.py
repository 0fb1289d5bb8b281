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
from collections import deque
from itertools import count
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streamforge.connectors.kafka import ClientHealth, split_addresses
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString, render_value
from streamforge.message import Message, payloads_of
from streamforge.outputs.kafka.kafka import (
    IDEMPOTENT_MAX_IN_FLIGHT,
    PARTITIONERS,
    check_kafka_output,
    header_filter,
)
from streamforge.plugin import BuildContext, Output
from streamforge.plugin.pending import ConfirmsLater, PendingBatch, PendingWrites

__all__ = ["KafkaWriter"]

log = logging.getLogger("streamforge.outputs.kafka")

#: librdkafka waits this long for more messages before sending a produce request
LINGER_MS = 1
#: extra time over `timeout` to wait for delivery reports librdkafka owes us
REPORT_GRACE = 2.0
#: how long to wait before producing again into a full local queue
QUEUE_FULL_WAIT = 0.005


def _header_value(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return render_value(value).encode("utf-8")


#: where a message goes: topic, key, partition (None: the partitioner's choice), headers
_Record = tuple[str, bytes | None, int | None, list[tuple[str, str | bytes | None]] | None]

_CONNECTION_ERRORS = (
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
)


class KafkaWriter(ConfirmsLater, Output):
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
        self.static_headers: list[tuple[str, str | bytes | None]] = [
            (str(k), str(v)) for k, v in (conf.get("static_headers") or {}).items()
        ]
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
        #: the topic of every record when nothing is rendered per message
        self._fixed_topic: str | None = None
        if (
            self.topic.is_static
            and str(self.topic)
            and self.key is None
            and self.partition is None
            and self.partitioner != "round_robin"
            and self.headers is None
            and not self.static_headers
        ):
            self._fixed_topic = self.topic.render(Message())
        self._pending = PendingWrites(self._timeout_error)
        self._round_robin = count()
        self._partition_counts: dict[str, int] = {}
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_forever, name=f"streamforge-kafka-{self.label}", daemon=True
        )
        self._poller.start()

    # -- writing -----------------------------------------------------------------------------
    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        pending = self._pending
        deadline = time.monotonic() + self.timeout + REPORT_GRACE
        write = PendingBatch(pending.hand_over(len(batch)), batch, deadline)
        delivery = _Delivery(self, write, payloads_of(batch))
        pending.track([write])
        if self._fixed_topic is not None:
            produced = self._produce_fixed(delivery, self._fixed_topic)
        else:
            produced = self._produce_each(delivery)
        delivery.expect(produced)
        failed: list[Message] = []
        if pending.progress is None or not self.health.conn.connected:
            # waiting for this batch's reports holds the stream back while the broker is away
            failed.extend(pending.flush())
        else:
            pending.report_progress()
        return failed

    def _produce_fixed(self, delivery: _Delivery, topic: str) -> int:
        """Produce every payload to one topic without key, partition or headers; how many
        were queued."""
        produce, report, payloads = self.producer.produce, delivery.report, delivery.payloads
        i, n, refused = 0, len(payloads), 0
        while i < n:
            try:
                for payload in payloads[i:] if i else payloads:
                    produce(topic, payload, None, -1, report)
                    i += 1
            except (BufferError, KafkaException):
                if not self._produce_one(delivery, i, (topic, None, None, None)):
                    refused += 1
                i += 1
        return n - refused

    def _produce_each(self, delivery: _Delivery) -> int:
        """Produce each message with its own topic, key, partition and headers; how many were
        queued."""
        batch = delivery.write.msgs
        records: list[_Record | None] = []
        for i, msg in enumerate(batch):
            try:
                records.append(self._record(msg, batch, i))
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails that message
                records.append(None)
                self._pending.fail_one(delivery.write, i, f"kafka output {self.label}: {exc}")
        delivery.keys = [r[1] if r is not None else None for r in records]
        produced = 0
        for i, record in enumerate(records):
            if record is not None and self._produce_one(delivery, i, record):
                produced += 1
        return produced

    def _produce_one(self, delivery: _Delivery, i: int, record: _Record) -> bool:
        """Queue one record; False (with the message failed) when librdkafka refused it."""
        topic, key, partition, headers = record
        args = (topic, delivery.payloads[i], key, -1 if partition is None else partition)
        report = delivery.report
        while True:
            try:
                if headers:
                    self.producer.produce(*args, report, headers=headers)
                else:
                    self.producer.produce(*args, report)
                return True
            except BufferError:
                if time.monotonic() > delivery.write.deadline:
                    error = f"kafka output {self.label}: the local producer queue is full"
                    break
                # the poller serves the delivery reports that make room
                time.sleep(QUEUE_FULL_WAIT)
            except KafkaException as exc:
                error = (
                    f"kafka output {self.label}: cannot produce to topic {topic!r}: "
                    f"{exc.args[0].str()}"
                )
                break
        self._pending.fail_one(delivery.write, i, error)
        return False

    def _timeout_error(self) -> str:
        return (
            f"kafka output {self.label}: delivery not confirmed within "
            f"{self.timeout + REPORT_GRACE:.1f}s"
        )

    def _record(self, msg: Message, batch: list[Message], index: int) -> _Record:
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
        headers: list[tuple[str, str | bytes | None]] | None = None
        if self.headers is not None and msg.metadata:
            wanted = self.headers
            headers = [(k, _header_value(v)) for k, v in msg.metadata.items() if wanted(k)]
        if self.static_headers:
            headers = [*self.static_headers, *(headers or [])]
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

    # -- lifecycle ---------------------------------------------------------------------------
    def _poll_forever(self) -> None:
        """Serve librdkafka's callbacks (delivery reports, errors, statistics): this thread
        alone while the output is open, so `_Delivery` counts reports without a lock."""
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


class _Delivery:
    """The delivery reports of one batch: `report` is every record's `on_delivery`.

    A report names no record, so a failed one is found by its key and value (records alike
    in both are interchangeable); a delivered one is only counted. Only the producer's
    poller reports, so the count needs no lock.
    """

    __slots__ = ("_index", "expected", "keys", "payloads", "pending", "reported", "writer", "write")

    def __init__(self, writer: KafkaWriter, write: PendingBatch, payloads: list[bytes]) -> None:
        self.writer = writer
        self.pending = writer._pending
        self.write = write
        self.payloads = payloads
        #: each message's key, when messages have keys
        self.keys: list[bytes | None] | None = None
        self.reported = 0
        #: records queued, once all were (None while producing)
        self.expected: int | None = None
        self._index: dict[tuple[bytes, bytes], deque[int]] | None = None

    def expect(self, produced: int) -> None:
        """Every record was queued (`produced` of them): settle now if all were reported."""
        self.expected = produced
        if self.reported >= produced:
            self.pending.settle(self.write)

    def report(self, err: KafkaError | None, record: Any) -> None:
        """librdkafka's delivery report of one record of the batch."""
        writer = self.writer
        if err is None:
            if not writer.health.conn.connected:
                writer.health.up()
        else:
            self._failed(err, record)
        self.reported = reported = self.reported + 1
        if reported == self.expected:
            self.pending.settle(self.write)

    def _failed(self, err: KafkaError, record: Any) -> None:
        writer = self.writer
        if err.code() in _CONNECTION_ERRORS:
            writer.health.down(f"delivery failed: {err.str()}")
        error = (
            f"kafka output {writer.label}: delivery to topic {record.topic()!r} failed: "
            f"{writer.health.explain(err.str())}"
        )
        if self._index is None:
            keys = self.keys or [None] * len(self.payloads)
            index: dict[tuple[bytes, bytes], deque[int]] = {}
            for i, (key, payload) in enumerate(zip(keys, self.payloads)):
                index.setdefault((key or b"", payload), deque()).append(i)
            self._index = index
        found = self._index.get((record.key() or b"", record.value() or b""))
        failed = self.write.failed
        while found:
            i = found.popleft()
            if i not in failed:  # those librdkafka refused have no report
                self.pending.fail_one(self.write, i, error)
                return
        # not found (no report should be): fail one not failed yet rather than lose it
        for i in range(len(self.payloads)):
            if i not in failed:
                self.pending.fail_one(self.write, i, error)
                return
