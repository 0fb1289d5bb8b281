"""`kafka` output: produces each batch and waits for every delivery report before returning.

A message whose delivery failed (broker away past `timeout`, message too large, unknown
partition ...) comes back failed with the reason, so `fallback` or `switch` can route it;
nothing is dropped silently. librdkafka reconnects by itself; its error callback and
statistics drive the output's connection state (metrics and /ready).
"""

from __future__ import annotations

import logging
import threading
import time
from itertools import count
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streamforge.batching import batching_field, with_batching
from streamforge.components import BuildContext, Field, Output, register_output
from streamforge.durations import parse_duration
from streamforge.inputs._kafka_client import (
    ClientHealth,
    addresses_field,
    client_config,
    client_id_field,
    sasl_field,
    split_addresses,
    tls_field,
)
from streamforge.interpolation import InterpolatedString, render_value
from streamforge.message import Message
from streamforge.metadata_filter import MetadataFilter, metadata_filter_field

__all__ = ["PARTITIONERS", "KafkaWriter", "header_filter"]

log = logging.getLogger("streamforge.outputs.kafka")

#: Benthos partitioner names -> librdkafka's (round_robin and manual pick partitions here)
PARTITIONERS = {
    "fnv1a_hash": "fnv1a_random",
    "murmur2_hash": "murmur2_random",
    "random": "random",
    "round_robin": "random",
    "manual": "random",
}
COMPRESSIONS = ("none", "snappy", "lz4", "gzip", "zstd")
#: librdkafka waits this long for more messages before sending a produce request
LINGER_MS = 1
#: librdkafka allows at most this many in-flight requests with idempotence
IDEMPOTENT_MAX_IN_FLIGHT = 5
#: extra time over `timeout` to wait for delivery reports librdkafka owes us
REPORT_GRACE = 2.0
#: longest wait for the batch's last delivery report before polling again
REPORT_WAIT = 0.01


@register_output(
    "kafka",
    fields=[
        addresses_field(),
        Field(
            "topic",
            "string",
            interpolable=True,
            description="The topic to publish to; interpolated per message.",
            examples=("plant.telemetry", "${! @asset_id }.readings"),
        ),
        Field(
            "key",
            "string",
            default="",
            interpolable=True,
            description="The record key; empty sends no key.",
            examples=("${! @asset_id }", '${! json("id") }'),
        ),
        Field(
            "partition",
            "string",
            default="",
            interpolable=True,
            description="An explicit partition (an integer); empty lets the partitioner choose.",
            examples=('${! meta("kafka_partition") }',),
        ),
        Field(
            "partitioner",
            "string",
            default="fnv1a_hash",
            options=tuple(PARTITIONERS),
            description=(
                "How a partition is chosen when `partition` is empty: a hash of the key "
                "(records without a key go to a random partition), random, or round_robin. "
                "manual requires `partition`."
            ),
        ),
        Field(
            "compression",
            "string",
            default="none",
            options=COMPRESSIONS,
            description="Compression of produced batches.",
        ),
        Field(
            "max_in_flight",
            "int",
            default=64,
            description="Most produce requests in flight per broker connection.",
        ),
        Field(
            "idempotent_write",
            "bool",
            default=False,
            description=(
                "Exactly-once writes per partition (no duplicates on retries); limits "
                f"max_in_flight to {IDEMPOTENT_MAX_IN_FLIGHT} and waits for all replicas."
            ),
        ),
        Field(
            "ack_replicas",
            "bool",
            default=False,
            description="Wait until every in-sync replica has the record, not just the leader.",
        ),
        Field(
            "timeout",
            "duration",
            default="5s",
            description=(
                "How long a record may take to be delivered (retries included) before it "
                "fails; failed records are returned as errors."
            ),
        ),
        Field(
            "max_msg_bytes",
            "int",
            default=1_000_000,
            description="The largest record in bytes; larger ones fail without being sent.",
            advanced=True,
        ),
        metadata_filter_field(
            "metadata",
            "Which metadata is sent as record headers: keys matching an include prefix or "
            "pattern, minus keys with an excluded prefix. Nothing by default.",
            exclude=True,
        ),
        client_id_field(),
        tls_field(),
        sasl_field(),
        batching_field(),
    ],
    summary="Produces messages to Kafka and waits for delivery; failed records are errors.",
    examples=(
        "kafka:\n  addresses: [ localhost:9092 ]\n  topic: plant.telemetry\n"
        "  key: ${! @asset_id }\n  metadata:\n    include_patterns: [ '^asset_' ]",
    ),
)
def KafkaOutput(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:  # noqa: N802
    """Produces messages to Kafka and waits for delivery; failed records are errors."""
    return with_batching(KafkaWriter(conf, ctx), conf.get("batching"), ctx)


def header_filter(conf: dict[str, Any] | None) -> MetadataFilter | None:
    """The filter choosing which metadata keys become headers (None when none can)."""
    wanted = MetadataFilter(conf)
    return wanted if wanted.active else None


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
        if self.partitioner not in PARTITIONERS:
            raise ValueError(
                f"partitioner {self.partitioner!r}: expected one of {', '.join(PARTITIONERS)}"
            )
        if self.partitioner == "manual" and self.partition is None:
            raise ValueError("partitioner manual needs a partition")
        compression = str(conf.get("compression") or "none")
        if compression not in COMPRESSIONS:
            raise ValueError(
                f"compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}"
            )
        self.timeout = parse_duration(conf.get("timeout") or "5s")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        self.headers = header_filter(conf.get("metadata"))
        self.health = ClientHealth(
            "kafka output", stream, self.label, ",".join(split_addresses(conf.get("addresses")))
        )
        settings = client_config(conf)
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
