"""`kafka` input: each topic-partition is a partition of the stream, spread over Bytewax workers.

Every partition is read by its own consumer with `assign()` (no group rebalancing: Bytewax
decides which worker reads which partition). The next offset to read is the partition's
recovery state, so a stream run with `--recovery-dir` resumes where it stopped. Without a
recovery snapshot a partition starts from the consumer group's committed offset when
`consumer_group` is set, else from the oldest or newest message (`start_from_oldest`).

With `consumer_group`, offsets are committed to the group only after the outputs wrote every
message of a batch. A batch that failed to be written is never committed past: the group's
offset stays at the start of the first failed batch for the rest of the run, so a restart
without a recovery snapshot reads that batch again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from streamforge.components import BuildContext, Field, Input, InputReader, register_input
from streamforge.inputs._kafka_client import (
    ClientHealth,
    addresses_field,
    client_config,
    client_id_field,
    sasl_field,
    split_addresses,
    tls_field,
)
from streamforge.message import Message
from streamforge.runtime.connection import Backoff

__all__ = ["KafkaInput", "KafkaReader", "TopicSpec", "parse_topics"]

log = logging.getLogger("streamforge.inputs.kafka")

#: how long listing a topic's partitions may take when the stream is built
METADATA_TIMEOUT = 3.0
#: how long one look for a missing topic may take (a stopping stream waits for it)
DISCOVERY_TIMEOUT = 1.0
#: most messages returned by one read
MAX_BATCH = 5000
#: how soon to read again when nothing was ready
IDLE_DELAY = timedelta(milliseconds=5)
#: a partition key for a topic whose partitions were not known when the stream was built
WHOLE_TOPIC = "*"

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(frozen=True)
class TopicSpec:
    """One topic to read: all of its partitions (None) or the listed ones."""

    topic: str
    partitions: tuple[int, ...] | None = None


def parse_topics(items: Any) -> list[TopicSpec]:
    """Parse `topics`: `name`, `name:3`, `name:0-3`; an item may list several, comma separated."""
    specs: dict[str, set[int] | None] = {}
    for item in [items] if isinstance(items, str) else list(items or []):
        for raw in str(item).split(","):
            text = raw.strip()
            if not text:
                continue
            topic, sep, parts = text.rpartition(":") if ":" in text else (text, "", "")
            topic = topic.strip()
            if not topic:
                raise ValueError(f"topics: {text!r} has no topic name")
            if not sep:
                specs[topic] = None
                continue
            m = _RANGE.match(parts.strip())
            if m is None:
                raise ValueError(f"topics: {text!r}: expected topic:partition or topic:first-last")
            first, last = int(m.group(1)), int(m.group(2) or m.group(1))
            if last < first:
                raise ValueError(f"topics: {text!r}: the range ends before it starts")
            if topic in specs and specs[topic] is None:
                continue
            specs.setdefault(topic, set()).update(range(first, last + 1))  # type: ignore[union-attr]
    if not specs:
        raise ValueError("topics: at least one topic is needed")
    return [TopicSpec(t, None if p is None else tuple(sorted(p))) for t, p in specs.items()]


@register_input(
    "kafka",
    fields=[
        addresses_field(),
        Field(
            "topics",
            "array",
            item=Field("topic", "string"),
            description=(
                "Topics to consume. `foo:0` reads only partition 0 of `foo`, `foo:0-3` "
                "partitions 0 to 3; an item may list several topics, comma separated."
            ),
            examples=(["plant.telemetry"], ["foo:0", "bar:0-3"]),
        ),
        Field(
            "consumer_group",
            "string",
            default="",
            description=(
                "A consumer group to commit offsets to once the outputs wrote them; without a "
                "recovery snapshot, partitions start from the group's committed offsets. "
                "Bytewax, not the group, decides which worker reads which partition."
            ),
        ),
        client_id_field(),
        Field(
            "start_from_oldest",
            "bool",
            default=True,
            description=(
                "With no recovery snapshot and no committed offset, start from the oldest "
                "message (true) or only read new ones (false)."
            ),
        ),
        tls_field(),
        sasl_field(),
    ],
    summary="Consumes Kafka topics; partitions spread over workers, offsets in recovery state.",
    description=(
        "Metadata: `kafka_key`, `kafka_topic`, `kafka_partition`, `kafka_offset`, "
        "`kafka_timestamp_unix`, `kafka_timestamp_ms`, `kafka_tombstone_message` and every "
        "message header. Kafka inputs never end: reaching the end of a partition waits for more."
    ),
    examples=(
        "kafka:\n  addresses: [ localhost:9092 ]\n  topics: [ plant.telemetry ]\n"
        "  consumer_group: streamforge",
    ),
)
class KafkaInput(Input):
    """Consumes Kafka topics; partitions spread over workers, offsets in recovery state."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = client_config(conf)
        self.topics = parse_topics(conf.get("topics"))
        self.group = str(conf.get("consumer_group") or "")
        self.start_from_oldest = bool(conf.get("start_from_oldest", True))
        self.stream = ctx.stream if ctx is not None else "stream"
        self.label = ctx.label if ctx is not None else "kafka"
        self.peer = ",".join(split_addresses(conf.get("addresses")))
        self._lock = threading.Lock()
        self._list_lock = threading.Lock()
        self._parts: dict[str, tuple[str, int | None]] | None = None
        self._health: ClientHealth | None = None

    @property
    def health(self) -> ClientHealth:
        """The connection state shared by this input's readers in this process."""
        with self._lock:
            if self._health is None:
                self._health = ClientHealth("kafka input", self.stream, self.label, self.peer)
            return self._health

    # -- partitions --------------------------------------------------------------------------
    def partitions(self) -> list[str]:
        with self._list_lock:
            if self._parts is None:
                self._parts = self._list_partitions()
            return list(self._parts)

    def _list_partitions(self) -> dict[str, tuple[str, int | None]]:
        parts: dict[str, tuple[str, int | None]] = {}
        admin: AdminClient | None = None
        for spec in self.topics:
            if spec.partitions is not None:
                for p in spec.partitions:
                    parts[f"{spec.topic}-{p}"] = (spec.topic, p)
                continue
            health = self.health
            if admin is None:
                admin = AdminClient(self._admin_config(health))
            found = self._topic_partitions(admin, spec.topic, health)
            if found is None:
                parts[f"{spec.topic}-{WHOLE_TOPIC}"] = (spec.topic, None)
            else:
                for p in found:
                    parts[f"{spec.topic}-{p}"] = (spec.topic, p)
        return parts

    def _admin_config(self, health: ClientHealth) -> dict[str, Any]:
        conf = {k: v for k, v in self.settings.items() if k != "statistics.interval.ms"}
        conf["allow.auto.create.topics"] = False
        conf["error_cb"] = health.error_cb
        return conf

    def _topic_partitions(
        self, admin: AdminClient, topic: str, health: ClientHealth
    ) -> list[int] | None:
        """The topic's partitions, or None when they cannot be listed now (logged)."""
        try:
            meta = admin.list_topics(topic, timeout=METADATA_TIMEOUT)
        except KafkaException as exc:
            admin.poll(0)  # serves error_cb, which records the specific cause
            health.down(
                f"cannot list the partitions of topic {topic!r}: {exc.args[0].str()}; "
                "the whole topic is read by one worker once the broker answers"
            )
            return None
        health.up()
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            why = tmeta.error.str() if tmeta is not None and tmeta.error else "no partitions"
            health.warn(f"topic {topic!r} is not available ({why}); waiting for it to be created")
            return None
        return sorted(tmeta.partitions)

    # -- readers -----------------------------------------------------------------------------
    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        with self._list_lock:
            known = (self._parts or {}).get(partition)
        if known is None:
            topic, _, part = partition.rpartition("-")
            known = (topic, None if part == WHOLE_TOPIC else int(part))
        topic, part_index = known
        resume: dict[int, int] = {}
        if isinstance(resume_state, dict):
            resume = {int(k): int(v) for k, v in resume_state.items()}
        elif isinstance(resume_state, int) and part_index is not None:
            resume = {part_index: resume_state}
        cls = KafkaGroupReader if self.group else KafkaReader
        return cls(self, topic, part_index, resume)

    def consumer_config(self, reader: KafkaReader) -> dict[str, Any]:
        """Consumer settings for one reader: manual assignment, no automatic commits."""
        conf = dict(self.settings)
        conf.update(
            {
                "group.id": self.group or f"streamforge.{self.stream}.{self.label}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": False,
                "allow.auto.create.topics": False,
                "auto.offset.reset": "earliest" if self.start_from_oldest else "latest",
                "error_cb": self.health.error_cb,
                "stats_cb": self.health.stats_cb,
                "on_commit": reader.on_commit,
            }
        )
        return conf

    def start_offset(self) -> int:
        """Where a partition without recovery state starts."""
        if self.group:
            return int(OFFSET_STORED)
        return int(OFFSET_BEGINNING if self.start_from_oldest else OFFSET_END)


class KafkaReader(InputReader):
    """Reads one topic-partition (or every partition of a topic whose partitions were unknown).

    The snapshot maps each partition to the next offset to read.
    """

    def __init__(
        self, inp: KafkaInput, topic: str, partition: int | None, resume: dict[int, int]
    ) -> None:
        self.input = inp
        self.topic = topic
        self.health = inp.health
        self._next: dict[int, int] = dict(resume)
        self._awake: datetime | None = None
        self._stop = threading.Event()
        self._discovered: list[int] | None = None
        self._assigned = False
        self._closed = False
        self.consumer = Consumer(inp.consumer_config(self))
        if partition is not None:
            self._assign([partition])
        else:
            threading.Thread(
                target=self._discover, name=f"streamforge-kafka-{topic}", daemon=True
            ).start()

    # -- assignment --------------------------------------------------------------------------
    def _assign(self, partitions: list[int]) -> None:
        start = self.input.start_offset()
        self.consumer.assign(
            [TopicPartition(self.topic, p, self._next.get(p, start)) for p in partitions]
        )
        self._assigned = True

    def _discover(self) -> None:
        """Wait for the topic's partitions to be known (the broker is away or the topic absent)."""
        backoff = Backoff(initial=0.5, maximum=10.0)
        while not self._stop.is_set():
            try:
                meta = self.consumer.list_topics(self.topic, timeout=DISCOVERY_TIMEOUT)
                tmeta = meta.topics.get(self.topic)
                if tmeta is not None and tmeta.error is None and tmeta.partitions:
                    self._discovered = sorted(tmeta.partitions)
                    log.info(
                        "kafka input %s: topic %r is available with %d partition(s)",
                        self.input.label,
                        self.topic,
                        len(tmeta.partitions),
                    )
                    return
                why = tmeta.error.str() if tmeta is not None and tmeta.error else "no partitions"
                self.health.warn(f"topic {self.topic!r} is not available ({why}); retrying")
            except KafkaException as exc:
                self.consumer.poll(0)  # unassigned: only serves error_cb (the specific cause)
                self.health.down(f"cannot list topic {self.topic!r}: {exc.args[0].str()}")
            except RuntimeError:
                return  # the consumer was closed
            backoff.sleep(self._stop)

    # -- reading -----------------------------------------------------------------------------
    def read(self) -> list[Message] | None:
        if not self._assigned:
            found = self._discovered
            if found is None:
                self._awake = datetime.now(timezone.utc) + IDLE_DELAY * 20
                return []
            self._assign(found)
        msgs = self.consumer.consume(MAX_BATCH, timeout=0)
        if not msgs:
            self._awake = datetime.now(timezone.utc) + IDLE_DELAY
            return []
        batch: list[Message] = []
        offsets: dict[int, int] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                self._on_error(err)
                continue
            batch.append(_to_message(m))
            offsets[int(m.partition() or 0)] = int(m.offset() or 0) + 1
        if not batch:
            self._awake = datetime.now(timezone.utc) + IDLE_DELAY
            return []
        self._awake = None
        self._next.update(offsets)
        if not self.health.conn.connected:
            self.health.up()
        self._track(batch, offsets)
        return batch

    def _track(self, batch: list[Message], offsets: dict[int, int]) -> None:
        """Remember a batch until it is acknowledged (readers committing to a group)."""

    def _on_error(self, err: KafkaError) -> None:
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code in (
            KafkaError.UNKNOWN_TOPIC_OR_PART,
            KafkaError._UNKNOWN_TOPIC,
            KafkaError._UNKNOWN_PARTITION,
        ):
            self.health.warn(f"topic {self.topic!r}: {err.str()}; waiting for it")
        else:
            self.health.down(f"reading topic {self.topic!r}: {err.str()}")

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> dict[int, int]:
        return dict(self._next)

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's report of an asynchronous offset commit."""
        if err is not None:
            self.health.warn(f"committing offsets of topic {self.topic!r} failed: {err.str()}")

    def close(self) -> None:
        self._stop.set()
        self._close_consumer()

    def _close_consumer(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.debug("closing kafka consumer: %s", exc)


@dataclass
class _Pending:
    offsets: dict[int, int]
    done: bool = False
    error: str | None = None
    batch_id: int = field(default=0)


class KafkaGroupReader(KafkaReader):
    """A reader that commits offsets to the consumer group once the outputs wrote a batch."""

    def __init__(
        self, inp: KafkaInput, topic: str, partition: int | None, resume: dict[int, int]
    ) -> None:
        self._ack_lock = threading.Lock()
        self._pending: deque[_Pending] = deque()
        self._by_id: dict[int, _Pending] = {}
        self._stuck = False
        self._closing = False
        super().__init__(inp, topic, partition, resume)

    def _track(self, batch: list[Message], offsets: dict[int, int]) -> None:
        with self._ack_lock:
            if self._stuck:
                return
            entry = _Pending(offsets, batch_id=id(batch))
            self._pending.append(entry)
            self._by_id[entry.batch_id] = entry

    def ack(self, batch: list[Message], error: str | None) -> None:
        commit: dict[int, int] = {}
        with self._ack_lock:
            entry = self._by_id.get(id(batch))
            if entry is None:
                return
            entry.done, entry.error = True, error
            while self._pending and self._pending[0].done:
                head = self._pending[0]
                if head.error is not None:
                    self._hold(head)
                    break
                self._pending.popleft()
                del self._by_id[head.batch_id]
                commit.update(head.offsets)
            closing_now = self._closing and not self._pending
        if commit:
            self._commit(commit, final=closing_now)
        if closing_now:
            self._close_consumer()

    def _hold(self, failed: _Pending) -> None:
        """Stop committing: the group keeps the offset before the failed batch."""
        self._stuck = True
        log.warning(
            "kafka input %s: a batch of topic %r (up to offsets %s) was not written (%s); "
            "no further offsets are committed to group %r in this run",
            self.input.label,
            self.topic,
            failed.offsets,
            failed.error,
            self.input.group,
        )
        self._pending.clear()
        self._by_id.clear()

    def _commit(self, offsets: dict[int, int], *, final: bool = False) -> None:
        tps = [TopicPartition(self.topic, p, o) for p, o in offsets.items()]
        try:
            if final:
                self.consumer.commit(offsets=tps, asynchronous=False)
            else:
                self.consumer.commit(offsets=tps, asynchronous=True)
        except (KafkaException, RuntimeError) as exc:
            self.health.warn(f"committing offsets of topic {self.topic!r} failed: {exc}")

    def close(self) -> None:
        self._stop.set()
        with self._ack_lock:
            self._closing = True
            waiting = bool(self._pending)
        if not waiting:
            self._close_consumer()


def _to_message(m: Any) -> Message:
    """A Message with Benthos' kafka metadata and the record's headers."""
    meta: dict[str, Any] = {}
    headers = m.headers()
    if headers:
        for k, v in headers:
            meta[k] = v.decode("utf-8", errors="replace") if v is not None else ""
    key = m.key()
    value = m.value()
    _, ts = m.timestamp()
    meta["kafka_key"] = key.decode("utf-8", errors="replace") if key is not None else ""
    meta["kafka_topic"] = m.topic()
    meta["kafka_partition"] = m.partition()
    meta["kafka_offset"] = m.offset()
    meta["kafka_timestamp_unix"] = ts // 1000 if ts > 0 else 0
    meta["kafka_timestamp_ms"] = ts if ts > 0 else 0
    meta["kafka_tombstone_message"] = value is None
    return Message(value if value is not None else b"", meta)
