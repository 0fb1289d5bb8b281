"""`broker` input: merges several inputs into one stream.

Every partition of every child input (times `copies`) is a partition of the broker, so
Bytewax spreads them over workers and keeps each one's resume state. A child's own
`processors:` run on what it reads, and each batch is acknowledged to the child it came from
once the stream's outputs wrote it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Input, InputReader, Processor, register_input
from streamforge.plugin.batching import BatchPolicy, batching_field
from streamforge.plugin.brokering import children_field, copies, copies_field

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig

__all__ = ["BrokerInput", "BrokerReader"]


def _split_partition(key: str) -> tuple[int, int, str]:
    copy, index, child = key.split(":", 2)
    return int(copy), int(index), child


@register_input(
    "broker",
    fields=[
        copies_field("input"),
        children_field("input", "The inputs whose messages are merged."),
        batching_field(),
    ],
    summary="Merges the messages of several inputs into one stream.",
    description=(
        "Each child input keeps its partitions, its resume state and its acknowledgements: a "
        "batch is acknowledged to the input that read it once the stream wrote it. A child's "
        "`processors:` run on its messages only. `batching` groups the messages of each "
        "child partition (Benthos groups across all inputs); a batch is made when a trigger "
        "fires or the child ends."
    ),
    examples=(
        "broker:\n  inputs:\n    - file:\n        paths: [ ./readings.jsonl ]\n"
        "    - mqtt:\n        urls: [ tcp://localhost:1883 ]\n        topics: [ plant/# ]\n"
        "  batching:\n    count: 50\n    period: 1s\n",
    ),
)
class BrokerInput(Input):
    """Merges the messages of several inputs into one stream."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.copies = copies(conf)
        confs: list[ComponentConfig] = list(conf.get("inputs") or [])
        if not confs:
            raise ValueError("inputs must list at least one input")
        self.ctx = ctx
        self.child_confs = confs
        self.children = [[ctx.build_input(c) for c in confs] for _ in range(self.copies)]
        self.processor_confs = [list(getattr(c, "processors", None) or []) for c in confs]
        for procs in self.processor_confs:
            if procs:
                for proc in ctx.build_processors(procs):  # built now so lint reports them
                    proc.close()
        batching = conf.get("batching") or {}
        self.policy = BatchPolicy.from_conf(batching)
        if batching.get("processors"):
            raise ValueError("batching.processors are not supported on the broker input")

    def partitions(self) -> list[str]:
        return [
            f"{copy}:{index}:{part}"
            for copy, inputs in enumerate(self.children)
            for index, child in enumerate(inputs)
            for part in child.partitions()
        ]

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        copy, index, part = _split_partition(partition)
        reader = self.children[copy][index].open(part, resume_state)
        procs = self.processor_confs[index]
        chain = self.ctx.build_chain(procs) if procs else None
        return BrokerReader(reader, chain, self.policy)

    def close(self) -> None:
        for inputs in self.children:
            for child in inputs:
                close = getattr(child, "close", None)
                if callable(close):
                    close()


class _Source:
    """A batch the child read, acknowledged to it once every batch holding its messages was."""

    __slots__ = ("batch", "open_parts", "error", "handed_over")

    def __init__(self, batch: list[Message]) -> None:
        self.batch = batch
        self.open_parts = 0  # batches handed over with its messages, not acknowledged yet
        self.error: str | None = None
        self.handed_over = False  # all its messages are in batches handed over


class BrokerReader(InputReader):
    """One child partition: its batches, processed by the child's processors and cut into
    batches by the batching policy as Benthos does (message by message); acknowledgements go
    back to the child."""

    def __init__(self, child: InputReader, chain: Processor | None, policy: BatchPolicy) -> None:
        self.child = child
        self.chain = chain
        self.policy = policy
        self.acks = type(child).ack is not InputReader.ack
        self._lock = threading.Lock()
        #: id of a batch handed to the stream -> (the batch, the child batches it holds)
        self._handed: dict[int, tuple[list[Message], list[_Source]]] = {}
        self._buffer: list[tuple[Message, _Source]] = []
        self._started = 0.0
        self._ended = False
        self._state: Any = child.snapshot()

    def read(self) -> list[Message] | None:
        if not self._ended:
            batch = self.child.read()
            if batch is None:
                self._ended = True
            elif batch:
                self._take(batch)
        if self._buffer:
            cut = self._cut()
            if cut is None and (self._ended or self._period_over()):
                cut = min(len(self._buffer), self.policy.count or len(self._buffer))
            if cut is not None:
                return self._hand_over(cut)
        elif self._ended:
            return None
        else:
            self._state = self.child.snapshot()
        return []

    def _take(self, batch: list[Message]) -> None:
        source = _Source(batch)
        processed = self.chain.process_batch(list(batch)) if self.chain else batch
        if not processed:
            source.handed_over = True
            self._settle([source], None)  # every message dropped: done with it
            return
        if not self._buffer:
            self._started = time.monotonic()
        self._buffer.extend((m, source) for m in processed)

    def _cut(self) -> int | None:
        """How many buffered messages make the next batch; None while no trigger fired."""
        policy = self.policy
        if not policy.active:
            return len(self._buffer)
        size = 0
        messages = [m for m, _ in self._buffer]
        for i, msg in enumerate(messages):
            if policy.count and i + 1 >= policy.count:
                return i + 1
            if policy.byte_size:
                size += len(msg.payload)
                if size >= policy.byte_size:
                    return i + 1
            if policy.check is not None:
                try:
                    if policy.check.query_message(msg, messages[: i + 1], i) is True:
                        return i + 1
                except Exception:  # noqa: BLE001 - a failing check does not close the batch
                    pass
        return None

    def _period_over(self) -> bool:
        period = self.policy.period
        return bool(period) and time.monotonic() - self._started >= period

    def _hand_over(self, count: int) -> list[Message]:
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        if self._buffer:
            self._started = time.monotonic()
        batch = [m for m, _ in taken]
        sources = list({id(src): src for _, src in taken}.values())
        still_held = {id(src) for _, src in self._buffer}
        with self._lock:
            for src in sources:
                src.open_parts += 1
                src.handed_over = id(src) not in still_held
            self._handed[id(batch)] = (batch, sources)
        if not self._buffer:
            self._state = self.child.snapshot()
        return batch

    def next_awake(self) -> datetime | None:
        due = self.child.next_awake()
        if self._buffer and self.policy.period:
            left = self.policy.period - (time.monotonic() - self._started)
            batch_due = datetime.now(timezone.utc) + timedelta(seconds=max(left, 0.0))
            due = batch_due if due is None else min(due, batch_due)
        return due

    def snapshot(self) -> Any:
        # what the child had read when nothing was held back, so a restart reads held
        # messages again
        return self._state

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            entry = self._handed.pop(id(batch), None)
            if entry is None:
                return
            done = []
            for src in entry[1]:
                src.open_parts -= 1
                src.error = src.error or error
                if src.open_parts == 0 and src.handed_over:
                    done.append(src)
        self._settle(done, None)

    def _settle(self, sources: list[_Source], error: str | None) -> None:
        if self.acks:
            for src in sources:
                self.child.ack(src.batch, src.error or error)

    def close(self) -> None:
        try:
            self.child.close()
        finally:
            if self.chain is not None:
                self.chain.close()
