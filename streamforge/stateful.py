"""Stateful processors: messages are keyed, and each key's state lives in a Bytewax stateful step.

A `KeyedProcessor` says how to key a message (default: the envelope's asset and parameter) and
how one key's batch changes that key's state. The compiler splits each batch by key, hands the
parts to `bytewax.operators.stateful_batch` (so Bytewax routes a key to one worker and snapshots
its state with recovery), and joins the results back into batches:

    @register_processor("count_per_series", fields=[...])
    class CountPerSeries(KeyedProcessor):
        def process_key(self, key, batch, state):
            n = (state or 0) + len(batch)
            return [Message(value={"series": key, "seen": n})], n

A processor instance is shared by every worker of a process: per-key state belongs in `state`
(returned from each call; None discards it), never on `self`. State must pickle (recovery).
Processors whose steps are better expressed with other Bytewax operators (windowing) override
`dataflow_step`.
"""

from __future__ import annotations

import threading
import time
import zlib
from abc import abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from bytewax.dataflow import Stream
from bytewax.operators import KeyedStream, StatefulBatchLogic

from streamforge.acks import AckBatch
from streamforge.components import Processor
from streamforge.message import Message, PayloadError

__all__ = [
    "ERRORED_KEY",
    "KeyedLogic",
    "KeyedProcessor",
    "SHARDS",
    "PartAck",
    "ShardLogic",
    "SharedAck",
    "default_key",
    "shard_of",
    "split_by_key",
    "split_by_shard",
]

#: key of the parts holding messages that skip a processor (errored, and it does not handle them)
ERRORED_KEY = "\x00errored"

#: what a keyed step emits per key: the messages it produced (possibly carrying an ack)
KeyedOut = tuple[list[Message], Any]


def default_key(msg: Message) -> str:
    """`<asset_id>/<parameter>` from the envelope, or the same metadata; "" when neither."""
    try:
        value = msg.value
    except PayloadError:
        value = None  # not JSON: the metadata may still name the series
    if isinstance(value, dict):
        asset, parameter = value.get("asset_id"), value.get("parameter")
        if asset is not None or parameter is not None:
            return f"{asset if asset is not None else ''}/{parameter or ''}"
    meta = msg.metadata
    asset, parameter = meta.get("asset_id"), meta.get("parameter")
    if asset is None and parameter is None:
        return ""
    return f"{asset if asset is not None else ''}/{parameter or ''}"


class KeyedProcessor(Processor):
    """A processor whose state is kept per key in a Bytewax stateful step."""

    stateful = True

    def key(self, msg: Message) -> str:
        """The key of a message (its series); override or configure as the processor needs."""
        return default_key(msg)

    @abstractmethod
    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        """Messages of one key, in arrival order: (messages to emit, new state or None)."""

    def notify_at(self, key: str, state: Any) -> datetime | None:
        """When `on_notify` should next run for this key (UTC); None for never."""
        return None

    def on_notify(self, key: str, state: Any) -> KeyedOut:
        """The time `notify_at` asked for has come (timeouts, gaps, windows closing)."""
        return [], state

    def on_eof(self, key: str, state: Any) -> KeyedOut:
        """The input ended: emit what is still held (the state is kept for a resume)."""
        return [], state

    def dataflow_step(
        self,
        step_id: str,
        keyed: KeyedStream[tuple[str, list[Message]]],
        logic: Callable[[Any | None], KeyedLogic],
    ) -> Stream[tuple[str, list[Message]]]:
        """The Bytewax step(s) from keyed parts to keyed results; default `stateful_batch`."""
        import bytewax.operators as op

        return op.stateful_batch(step_id, keyed, logic)

    # -- outside a compiled dataflow (unit tests, `streamforge test`, nested use) -----------

    def process_batch(self, batch: list[Message]) -> list[Message]:
        """Run the keyed logic over one batch with states kept on this instance."""
        states: dict[str, Any] = self.__dict__.setdefault("_local_states", {})
        out: list[Message] = []
        for key, part in _group(batch, self.key).items():
            emitted, state = self.process_key(key, part, states.get(key))
            out.extend(emitted)
            if state is None:
                states.pop(key, None)
            else:
                states[key] = state
        return out

    def end_of_input(self) -> list[Message]:
        """Outside a dataflow: what `on_eof` emits for every key held on this instance."""
        states: dict[str, Any] = self.__dict__.setdefault("_local_states", {})
        out: list[Message] = []
        for key in list(states):
            emitted, state = self.on_eof(key, states[key])
            out.extend(emitted)
            if state is None:
                states.pop(key)
            else:
                states[key] = state
        return out


def _group(batch: Iterable[Message], key_of: Callable[[Message], str]) -> dict[str, list[Message]]:
    parts: dict[str, list[Message]] = {}
    for msg in batch:
        try:
            key = key_of(msg)
        except Exception as exc:  # noqa: BLE001 - a message whose key fails is flagged
            msg.error = f"key: {type(exc).__name__}: {exc}"
            key = ERRORED_KEY
        part = parts.get(key)
        if part is None:
            parts[key] = [msg]
        else:
            part.append(msg)
    return parts


def _parts(
    batch: list[Message], key_of: Callable[[Message], str], skip_errored: bool
) -> dict[str, list[Message]]:
    """A batch grouped by key; errored messages that skip the processor under ERRORED_KEY."""
    if not skip_errored:
        return _group(batch, key_of)
    healthy = [m for m in batch if m.error is None]
    parts = _group(healthy, key_of)
    if len(healthy) != len(batch):
        parts.setdefault(ERRORED_KEY, []).extend(m for m in batch if m.error is not None)
    return parts


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


#: a part as the keying step emits it: (key, (key, messages)); the logic learns its key from it
KeyedPart = tuple[str, tuple[str, list[Message]]]


def split_by_key(
    proc: KeyedProcessor, *, hand_over: bool = False
) -> Callable[[list[list[Message]]], list[KeyedPart]]:
    """The keying step: each batch becomes (key, part) pairs; acknowledgements follow the parts.

    With `hand_over` (a cluster of processes, where a part may move to another process and
    lose its acknowledgement), the input batch is acknowledged once it is split.
    """
    skip_errored = not proc.handles_errors
    key_of = proc.key

    def split(items: list[list[Message]]) -> list[KeyedPart]:
        out: list[KeyedPart] = []
        for batch in items:
            parts = _parts(batch, key_of, skip_errored)
            ack = batch.ack if type(batch) is AckBatch else None
            if ack is None or hand_over:
                out.extend((k, (k, part)) for k, part in parts.items())
                if ack is not None:
                    ack(None)
                continue
            shared = SharedAck(ack, len(parts))
            for k, part in parts.items():
                out.append((k, (k, AckBatch(part, PartAck(shared)))))  # type: ignore[arg-type]
        return out

    return split


class KeyedLogic(StatefulBatchLogic[tuple[str, list[Message]], list[Message], Any]):
    """One key's state in a Bytewax `stateful_batch` step, driving a KeyedProcessor.

    Bytewax does not tell a logic its key, so parts arrive as (key, messages) and the
    snapshot is (key, state).
    """

    def __init__(
        self,
        proc: KeyedProcessor,
        resume: tuple[str, Any] | None,
        observe: Callable[[list[Message], list[Message], float], None] | None = None,
    ) -> None:
        self.proc = proc
        self.key: str = resume[0] if resume is not None else ""
        self.state: Any = resume[1] if resume is not None else None
        self.observe = observe

    def on_batch(
        self, values: list[tuple[str, list[Message]]]
    ) -> tuple[Iterable[list[Message]], bool]:
        out: list[list[Message]] = []
        for key, part in values:
            self.key = key
            if key == ERRORED_KEY:
                out.append(part)
                continue
            started = time.perf_counter()
            try:
                emitted, self.state = self.proc.process_key(key, list(part), self.state)
            except Exception as exc:  # noqa: BLE001 - a buggy processor flags, never kills the flow
                for m in part:
                    m.error = f"{type(self.proc).__name__}: {exc}"
                emitted = list(part)
            if self.observe is not None:
                self.observe(part, emitted, time.perf_counter() - started)
            ack = part.ack if type(part) is AckBatch else None
            if emitted:
                out.append(AckBatch(emitted, ack) if ack is not None else emitted)
            elif ack is not None:
                ack(None)  # absorbed into the state (or dropped): the stream is done with it
        return out, self.state is None

    def on_notify(self) -> tuple[Iterable[list[Message]], bool]:
        emitted, self.state = self.proc.on_notify(self.key, self.state)
        return ([emitted] if emitted else []), self.state is None

    def on_eof(self) -> tuple[Iterable[list[Message]], bool]:
        emitted, self.state = self.proc.on_eof(self.key, self.state)
        return ([emitted] if emitted else []), self.state is None

    def notify_at(self) -> datetime | None:
        if self.state is None:
            return None
        return self.proc.notify_at(self.key, self.state)

    def snapshot(self) -> Any:
        return (self.key, self.state)


# -- shards: many keys per Bytewax key ----------------------------------------------------------

#: stateful steps group keys into this many shards, each one Bytewax key holding the states of
#: its keys, so a batch over thousands of series costs a few dozen Bytewax calls, not thousands.
#: Fixed, so recovery snapshots stay valid across restarts and worker counts.
SHARDS = 64

#: a shard's share of one input batch: ((key, messages) per key, the acknowledgement or None)
ShardPart = tuple[list[tuple[str, list[Message]]], Any]


def shard_of(key: str) -> str:
    """The shard of a key: stable across processes (unlike `hash`), so a cluster agrees."""
    return str(zlib.crc32(key.encode("utf-8", "surrogatepass")) % SHARDS)


def split_by_shard(
    proc: KeyedProcessor, *, hand_over: bool = False
) -> Callable[[list[list[Message]]], list[tuple[str, ShardPart]]]:
    """The keying step of sharded processors: each batch becomes one part per shard it touches.

    Acknowledgements follow the parts as in `split_by_key`.
    """
    skip_errored = not proc.handles_errors
    key_of = proc.key
    shards: dict[str, str] = {}

    def split(items: list[list[Message]]) -> list[tuple[str, ShardPart]]:
        out: list[tuple[str, ShardPart]] = []
        for batch in items:
            parts = _parts(batch, key_of, skip_errored)
            by_shard: dict[str, list[tuple[str, list[Message]]]] = {}
            for key, part in parts.items():
                shard = shards.get(key)
                if shard is None:
                    shard = shards[key] = shard_of(key)
                by_shard.setdefault(shard, []).append((key, part))
            ack = batch.ack if type(batch) is AckBatch else None
            if ack is None or hand_over:
                out.extend((s, (keyed, None)) for s, keyed in by_shard.items())
                if ack is not None:
                    ack(None)
                continue
            shared = SharedAck(ack, len(by_shard))
            out.extend((s, (keyed, PartAck(shared))) for s, keyed in by_shard.items())
        return out

    return split


class ShardLogic(StatefulBatchLogic[ShardPart, list[Message], dict[str, Any]]):
    """The states of one shard's keys in a Bytewax `stateful_batch` step."""

    def __init__(
        self,
        proc: KeyedProcessor,
        resume: dict[str, Any] | None,
        observe: Callable[[int, list[Message], float], None] | None = None,
    ) -> None:
        self.proc = proc
        self.states: dict[str, Any] = dict(resume or {})
        self.observe = observe
        self.timed = type(proc).notify_at is not KeyedProcessor.notify_at

    def _keep(self, key: str, state: Any) -> None:
        if state is None:
            self.states.pop(key, None)
        else:
            self.states[key] = state

    def on_batch(self, values: list[ShardPart]) -> tuple[Iterable[list[Message]], bool]:
        proc, states = self.proc, self.states
        out: list[list[Message]] = []
        for keyed, ack in values:
            started = time.perf_counter()
            emitted: list[Message] = []
            taken = 0
            for key, part in keyed:
                if key == ERRORED_KEY:
                    emitted.extend(part)
                    continue
                taken += len(part)
                try:
                    result, state = proc.process_key(key, part, states.get(key))
                except Exception as exc:  # noqa: BLE001 - a buggy processor flags, never kills
                    for m in part:
                        m.error = f"{type(proc).__name__}: {exc}"
                    emitted.extend(part)
                    continue
                self._keep(key, state)
                emitted.extend(result)
            if self.observe is not None:
                self.observe(taken, emitted, time.perf_counter() - started)
            if emitted:
                out.append(AckBatch(emitted, ack) if ack is not None else emitted)
            elif ack is not None:
                ack(None)  # absorbed into the states (or dropped): the stream is done with it
        return out, not states

    def notify_at(self) -> datetime | None:
        if not self.timed:
            return None
        due = [self.proc.notify_at(key, state) for key, state in self.states.items()]
        return min((d for d in due if d is not None), default=None)

    def on_notify(self) -> tuple[Iterable[list[Message]], bool]:
        now = datetime.now(timezone.utc)
        emitted: list[Message] = []
        for key, state in list(self.states.items()):
            due = self.proc.notify_at(key, state)
            if due is not None and due <= now:
                result, state = self.proc.on_notify(key, state)
                self._keep(key, state)
                emitted.extend(result)
        return ([emitted] if emitted else []), not self.states

    def on_eof(self) -> tuple[Iterable[list[Message]], bool]:
        emitted: list[Message] = []
        for key, state in list(self.states.items()):
            result, state = self.proc.on_eof(key, state)
            self._keep(key, state)
            emitted.extend(result)
        return ([emitted] if emitted else []), not self.states

    def snapshot(self) -> dict[str, Any]:
        return dict(self.states)
