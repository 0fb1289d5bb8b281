"""Keyed stages: a keyed processor's state per key, in sharded Bytewax stateful steps.

The compiler groups keys into `SHARDS` stable shards, splits each batch by shard, hands the
parts to `bytewax.operators.stateful_batch` (so Bytewax routes a shard to one worker and
snapshots its keys' states with recovery), and joins the results back into batches. What a
processor does per key is `streamforge.plugin.keyed.KeyedProcessor`.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from bytewax.operators import StatefulBatchLogic

from streamforge.engine.acks import AckBatch
from streamforge.message import Message
from streamforge.observability.heartbeat import busy, idle
from streamforge.plugin.keyed import KeyedProcessor

__all__ = [
    "KEEP_STATE_AT_STOP",
    "PartAck",
    "SHARDS",
    "SHARD_NAMES",
    "ShardLogic",
    "ShardPart",
    "SharedAck",
    "can_chain",
    "join_parts",
    "shard_of",
    "split_by_shard",
]

#: set while a run with recovery stops on a signal: the inputs end, but keyed steps keep what
#: they hold (open windows, pending alarms) for the resume instead of emitting it as they do
#: when the input itself ends
KEEP_STATE_AT_STOP = threading.Event()


class SharedAck:
    """The acknowledgement of one input batch, shared by the parts it was split into."""

    __slots__ = ("_ack", "_error", "_left", "_lock")

    def __init__(self, ack: Callable[[str | None], None], parts: int) -> None:
        self._ack = ack
        self._left = parts
        self._error: str | None = None
        self._lock = threading.Lock()

    def part_done(self, error: str | None) -> None:
        with self._lock:
            self._left -= 1
            if error is not None and self._error is None:
                self._error = error
            done = self._left == 0
        if done:
            self._ack(self._error)


class PartAck:
    """Acknowledges one part of a split batch, once."""

    __slots__ = ("_done", "_shared")

    def __init__(self, shared: SharedAck) -> None:
        self._shared = shared
        self._done = False

    def __call__(self, error: str | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._shared.part_done(error)


class _Acks:
    """Acknowledges every part a joined batch was made of."""

    __slots__ = ("_acks",)

    def __init__(self, acks: list[Callable[[str | None], None]]) -> None:
        self._acks = acks

    def __call__(self, error: str | None = None) -> None:
        for ack in self._acks:
            ack(error)


# -- shards: many keys per Bytewax key ----------------------------------------------------------

#: stateful steps group keys into these shards, each one Bytewax key holding the states of its
#: keys, so a batch over thousands of series costs a few Bytewax calls, not thousands. Few shards
#: keep the parts of a batch large; these names are ones Bytewax routes evenly over 2 to 8
#: workers (and 16), so the load spreads as evenly as the keys do. Fixed, so recovery snapshots
#: stay valid across restarts and worker counts.
SHARD_NAMES: tuple[str, ...] = (
    "s4", "s8", "s22", "s23", "s27", "s29", "s190", "s191",
    "s194", "s220", "s277", "s309", "s318", "s321", "s325", "s332",
)  # fmt: skip
SHARDS = len(SHARD_NAMES)

#: a shard's share of one input batch: (keys, their messages, messages passing by, ack or None)
ShardPart = tuple[list[str], list[Message], list[Message], Any]


def shard_of(key: str) -> str:
    """The shard of a key: stable across processes (unlike `hash`), so a cluster agrees."""
    return SHARD_NAMES[zlib.crc32(key.encode("utf-8", "surrogatepass")) % SHARDS]


def split_by_shard(
    proc: KeyedProcessor, *, hand_over: bool = False
) -> Callable[[list[list[Message]]], list[tuple[str, ShardPart]]]:
    """The keying step: each batch becomes one part per shard it touches.

    Errored messages that skip the processor, and messages whose key fails (flagged), ride with
    the first part. A split batch is acknowledged once every part is done; with `hand_over` (a
    cluster of processes, where a part may move to another process and lose its
    acknowledgement), once it is split.
    """
    skip_errored = not proc.handles_errors
    key_of = proc.key
    shards: dict[str, str] = {}

    def split(items: list[list[Message]]) -> list[tuple[str, ShardPart]]:
        out: list[tuple[str, ShardPart]] = []
        for batch in items:
            by_shard: dict[str, tuple[list[str], list[Message]]] = {}
            passing: list[Message] = []
            for msg in batch:
                if skip_errored and msg.error is not None:
                    passing.append(msg)
                    continue
                try:
                    key = key_of(msg)
                except Exception as exc:  # noqa: BLE001 - a message whose key fails is flagged
                    msg.error = f"key: {type(exc).__name__}: {exc}"
                    passing.append(msg)
                    continue
                shard = shards.get(key)
                if shard is None:
                    if len(shards) >= 1 << 16:
                        shards.clear()
                    shard = shards[key] = shard_of(key)
                part = by_shard.get(shard)
                if part is None:
                    by_shard[shard] = ([key], [msg])
                else:
                    part[0].append(key)
                    part[1].append(msg)
            if not by_shard and not passing:
                continue
            parts = [(s, keys, msgs) for s, (keys, msgs) in by_shard.items()]
            if not parts:
                parts = [(SHARD_NAMES[0], [], [])]
            ack = batch.ack if type(batch) is AckBatch else None
            if ack is not None and hand_over:
                ack(None)
                ack = None
            shared = SharedAck(ack, len(parts)) if ack is not None else None
            for i, (shard, keys, msgs) in enumerate(parts):
                part_ack = PartAck(shared) if shared is not None else None
                out.append((shard, (keys, msgs, passing if i == 0 else [], part_ack)))
        return out

    return split


def join_parts(items: list[tuple[str, list[Message]]]) -> list[list[Message]]:
    """The results of a stateful step, as one batch per Bytewax activation."""
    if len(items) == 1:
        return [items[0][1]]
    joined: list[Message] = []
    acks: list[Callable[[str | None], None]] = []
    for _shard, part in items:
        joined.extend(part)
        ack = part.ack if type(part) is AckBatch else None
        if ack is not None:
            acks.append(ack)
    if not joined:
        for ack in acks:
            ack(None)
        return []
    if acks:
        return [AckBatch(joined, _Acks(acks))]
    return [joined]


#: what a stateful step observes per processor: (messages taken, messages emitted, seconds)
Observer = Callable[[int, list[Message], float], None]


def can_chain(first: KeyedProcessor, then: KeyedProcessor) -> bool:
    """Whether `then` can run in `first`'s stateful step (no split and shuffle between them).

    Both key alike, and what `first` hands on keeps its keys: it emits only messages it
    received, in order, has no timers and emits nothing at the end of the input.
    """
    identity = first.key_identity()
    return (
        identity is not None
        and identity == then.key_identity()
        and first.preserves_keys
        and not first.timed
        and type(first).on_eof is KeyedProcessor.on_eof
        and not first.handles_errors
        and not then.handles_errors
    )


class ShardLogic(StatefulBatchLogic[ShardPart, list[Message], Any]):
    """The states of one shard's keys in a Bytewax `stateful_batch` step, for one keyed
    processor or a chain of them (see `can_chain`: only the last may have timers)."""

    def __init__(
        self,
        procs: Sequence[KeyedProcessor],
        resume: Any | None,
        observers: Sequence[Observer | None] = (),
    ) -> None:
        self.procs = list(procs)
        chained = len(self.procs) > 1
        # a single processor's snapshot is its states; a chain's, one dict per processor
        resumed = (resume if chained else [resume]) if resume else [{} for _ in self.procs]
        self.chain: list[dict[str, Any]] = [dict(states or {}) for states in resumed]
        for proc, states in zip(self.procs, self.chain):
            if states:
                proc.resumed(states)
        self.observers = list(observers) or [None] * len(self.procs)
        self.last = self.procs[-1]
        self.states = self.chain[-1]
        self.timed = self.last.timed
        #: the earliest wake-up any key asked for (may be early: a wake-up then finds nothing)
        self.due: datetime | None = (
            self.last.shard_due(self.states, self.states) if self.timed else None
        )

    def on_batch(self, values: list[ShardPart]) -> tuple[Iterable[list[Message]], bool]:
        busy()
        try:
            return self._on_batch(values)
        finally:
            idle()

    def _on_batch(self, values: list[ShardPart]) -> tuple[Iterable[list[Message]], bool]:
        out: list[list[Message]] = []
        for keys, batch, passing, ack in values:
            emitted = self._through_chain(keys, batch) if batch else []
            if passing:
                emitted = emitted + passing
            if emitted:
                out.append(AckBatch(emitted, ack) if ack is not None else emitted)
            elif ack is not None:
                ack(None)  # absorbed into the states (or dropped): the stream is done with it
        return out, self._empty()

    def _through_chain(self, keys: list[str], batch: list[Message]) -> list[Message]:
        """A shard part through every processor of the chain; flagged ones skip the rest."""
        skipped: list[Message] = []
        last = len(self.procs) - 1
        for i, proc in enumerate(self.procs):
            started = time.perf_counter()
            try:
                emitted = proc.process_shard(keys, batch, self.chain[i])
            except Exception as exc:  # noqa: BLE001 - a buggy processor flags, never kills
                for m in batch:
                    m.error = f"{type(proc).__name__}: {exc}"
                emitted = list(batch)
            observe = self.observers[i]
            if observe is not None:
                observe(len(batch), emitted, time.perf_counter() - started)
            if i == last:
                if self.timed:
                    self._sooner(proc.shard_due(set(keys), self.states))
                return emitted + skipped if skipped else emitted
            keys, batch = _carried(proc, keys, batch, emitted, skipped)
            if not batch:
                return skipped
        return skipped  # no processors: not reached

    def _empty(self) -> bool:
        return not any(self.chain)

    def _sooner(self, due: datetime | None) -> None:
        if due is not None and (self.due is None or due < self.due):
            self.due = due

    def notify_at(self) -> datetime | None:
        return self.due

    def on_notify(self) -> tuple[Iterable[list[Message]], bool]:
        now = datetime.now(timezone.utc)
        proc, states = self.last, self.states
        emitted: list[Message] = []
        for key, state in list(states.items()):
            due = proc.notify_at(key, state)
            if due is not None and due <= now:
                result, state = proc.on_notify(key, state)
                if state is None:
                    states.pop(key, None)
                else:
                    states[key] = state
                emitted.extend(result)
        self.due = proc.shard_due(states, states)
        return ([emitted] if emitted else []), self._empty()

    def on_eof(self) -> tuple[Iterable[list[Message]], bool]:
        if KEEP_STATE_AT_STOP.is_set():
            return [], self._empty()  # snapshotted as they are; the next run goes on
        emitted: list[Message] = []
        for proc, states in zip(self.procs, self.chain):
            for key, state in list(states.items()):
                result, state = proc.on_eof(key, state)
                if state is None:
                    states.pop(key, None)
                else:
                    states[key] = state
                emitted.extend(result)  # only the last processor of a chain emits here
        self.due = self.last.shard_due(self.states, self.states) if self.timed else None
        return ([emitted] if emitted else []), self._empty()

    def snapshot(self) -> Any:
        if len(self.chain) == 1:
            return dict(self.chain[0])
        return [dict(states) for states in self.chain]


def _carried(
    proc: KeyedProcessor,
    keys: list[str],
    batch: list[Message],
    emitted: list[Message],
    skipped: list[Message],
) -> tuple[list[str], list[Message]]:
    """What a chained processor hands to the next one, with the keys they came with.

    The emitted messages are ones the processor received (`preserves_keys`), usually in the
    same order; flagged ones go to `skipped`. A message it did not receive breaks that promise
    and is flagged instead of reaching the next processor under an unknown key.
    """
    next_keys: list[str] = []
    handed: list[Message] = []
    by_id: dict[int, str] | None = None
    j, n = 0, len(batch)
    for m in emitted:
        while j < n and batch[j] is not m:
            j += 1
        key: str | None
        if j < n:
            key = keys[j]
            j += 1
        else:  # out of order (grouped by key, say): look it up
            if by_id is None:
                by_id = {id(b): k for b, k in zip(batch, keys)}
            key = by_id.get(id(m))
            j = 0
        if key is None:
            m.error = (
                f"{type(proc).__name__}: emitted a message it did not receive, so it cannot "
                "share a stateful step with the next processor (preserves_keys)"
            )
            skipped.append(m)
        elif m.error is not None:
            skipped.append(m)
        else:
            next_keys.append(key)
            handed.append(m)
    return next_keys, handed
