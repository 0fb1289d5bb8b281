"""The readers of the `kafka` input: one consumer per topic-partition, offsets acknowledged.

`KafkaReader` reads with `assign()` and keeps the next offset of each partition as its recovery
state; `KafkaGroupReader` also commits offsets to the consumer group once the outputs wrote a
batch (never past a batch that failed). Imported when a partition is opened, so registering the
input does not load confluent-kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streamforge.message import Message
from streamforge.plugin import InputReader
from streamforge.plugin.connection import Backoff

if TYPE_CHECKING:
    from streamforge.inputs.kafka.kafka import KafkaInput

__all__ = ["KafkaGroupReader", "KafkaReader"]

log = logging.getLogger("streamforge.inputs.kafka")

#: how long one look for a missing topic may take (a stopping stream waits for it)
DISCOVERY_TIMEOUT = 1.0
#: most messages returned by one read
MAX_BATCH = 5000
#: how soon to read again when nothing was ready
ASSIGNMENT_WAIT = timedelta(milliseconds=100)


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
        #: `batching`: records read but not yet handed on, with (partition, next offset)
        self._held: list[tuple[Message, int, int]] = []
        self._held_since = 0.0
        self._held_bytes = 0
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
                self._awake = datetime.now(timezone.utc) + ASSIGNMENT_WAIT
                return []
            self._assign(found)
        policy = self.input.batching
        if policy is not None:
            return self._read_batched(policy)
        msgs = self.consumer.consume(MAX_BATCH, timeout=0)
        if not msgs:
            # asked again after Bytewax's own cooldown (about 1 ms): a record waits no longer
            self._awake = None
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
            self._awake = None
            return []
        self._awake = None
        return self._hand_on(batch, offsets)

    def _read_batched(self, policy: Any) -> list[Message]:
        """`batching`: hold records until the policy's count, size, check or period says a
        batch is complete. Held records are not in the snapshot or committed: after a crash
        they are read again."""
        room = policy.count - len(self._held) if policy.count else MAX_BATCH
        msgs = self.consumer.consume(room, timeout=0) if room > 0 else []
        now = time.monotonic()
        cut = 0  # the held records up to here end with a `check` match
        for m in msgs:
            err = m.error()
            if err is not None:
                self._on_error(err)
                continue
            msg = _to_message(m)
            if not self._held:
                self._held_since = now
            self._held.append((msg, int(m.partition() or 0), int(m.offset() or 0) + 1))
            self._held_bytes += len(msg.payload)
            if policy.check is not None and not cut:
                try:
                    if policy.check.query_message(msg) is True:
                        cut = len(self._held)
                except Exception:  # noqa: BLE001 - a failing check does not end a batch
                    log.debug("kafka input %s: batching check failed", self.input.label)
        if not self._held:
            self._awake = None
            return []
        if not cut and (
            (policy.count and len(self._held) >= policy.count)
            or (policy.byte_size and self._held_bytes >= policy.byte_size)
            or (policy.period and now - self._held_since >= policy.period)
        ):
            cut = len(self._held)
        if not cut:
            wait = policy.period - (now - self._held_since) if policy.period else 0.01
            self._awake = datetime.now(timezone.utc) + timedelta(seconds=max(wait, 0.001))
            return []
        held, self._held = self._held[:cut], self._held[cut:]
        self._held_bytes = sum(len(msg.payload) for msg, _p, _o in self._held)
        self._held_since = now
        self._awake = None
        offsets: dict[int, int] = {}
        for _msg, part, offset in held:
            offsets[part] = offset
        batch = [msg for msg, _part, _offset in held]
        processors = self.input.batch_processors
        if processors is not None:
            batch = processors.process_batch(batch)
            if not batch:  # all dropped: a later batch's commit covers their offsets
                self._next.update(offsets)
                return []
        return self._hand_on(batch, offsets)

    def _hand_on(self, batch: list[Message], offsets: dict[int, int]) -> list[Message]:
        """The batch goes to the pipeline: its offsets enter the snapshot (and the group's
        commits once written)."""
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
