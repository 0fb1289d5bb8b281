"""The producer behind the `kafka` output: one per worker, each batch waits for its deliveries.

Imported when the output is built, so registering the output does not load confluent-kafka.
"""

from __future__ import annotations

import logging
import threading
import time
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

__all__ = ["KafkaWriter"]

log = logging.getLogger("streamforge.outputs.kafka")

#: librdkafka waits this long for more messages before sending a produce request
LINGER_MS = 1
#: extra time over `timeout` to wait for delivery reports librdkafka owes us
REPORT_GRACE = 2.0
#: longest wait for the batch's last delivery report before polling again
REPORT_WAIT = 0.01


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


class _Deliveries:
    """Delivery reports still owed for one batch, and the records that failed."""

    __slots__ = ("cond", "failed", "pending", "timed_out")

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.failed: list[Message] = []
        self.pending: dict[int, Message] = {}
        self.timed_out = False


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
        state = _Deliveries()
        produce = self.producer.produce
        deadline = time.monotonic() + self.timeout + REPORT_GRACE
        for i, msg in enumerate(batch):
            try:
                topic, key, partition, headers = self._record(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails that message
                msg.error = f"kafka output {self.label}: {exc}"
                state.failed.append(msg)
                continue
            kwargs: dict[str, Any] = {"key": key, "on_delivery": self._reporter(msg, topic, state)}
            if partition is not None:
                kwargs["partition"] = partition
            if headers:
                kwargs["headers"] = headers
            with state.cond:
                state.pending[id(msg)] = msg
            if not self._produce(produce, topic, msg, kwargs, deadline):
                with state.cond:
                    del state.pending[id(msg)]
                    state.failed.append(msg)
        self._await_reports(state, deadline)
        with state.cond:
            return list(state.failed)

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

    def _reporter(self, msg: Message, topic: str, state: _Deliveries) -> Any:
        def delivered(err: KafkaError | None, _record: Any) -> None:
            if err is None:
                if not self.health.conn.connected:
                    self.health.up()
            elif err.code() in _CONNECTION_ERRORS:
                self.health.down(f"delivery failed: {err.str()}")
            with state.cond:
                if state.timed_out or state.pending.pop(id(msg), None) is None:
                    return
                if err is not None:
                    msg.error = (
                        f"kafka output {self.label}: delivery to topic {topic!r} failed: "
                        f"{self.health.explain(err.str())}"
                    )
                    state.failed.append(msg)
                if not state.pending:
                    state.cond.notify_all()

        return delivered

    def _await_reports(self, state: _Deliveries, deadline: float) -> None:
        """Wait until every record of the batch has a delivery report (or time is up).

        Reports are served by this thread's polls and by the idle poller thread alike, so
        the wait is on the batch's condition (notified by the last report), not on a poll.
        """
        self.producer.flush(0)
        while True:
            self.producer.poll(0)
            with state.cond:
                if not state.pending:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                state.cond.wait(min(left, REPORT_WAIT))
        with state.cond:
            state.timed_out = True
            reason = (
                f"kafka output {self.label}: delivery not confirmed within "
                f"{self.timeout + REPORT_GRACE:.1f}s"
            )
            for msg in state.pending.values():
                msg.error = reason
                state.failed.append(msg)
            state.pending.clear()

    # -- lifecycle ---------------------------------------------------------------------------
    def _poll_forever(self) -> None:
        """Serve librdkafka's callbacks (errors, statistics) while the output is idle."""
        while not self._closed.is_set():
            try:
                self.producer.poll(0.2)
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
