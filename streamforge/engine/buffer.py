"""The stream's `buffer` (Benthos v4): `system_window` and a batching `memory` buffer.

A buffer sits between the input (and its processors) and the pipeline. Both kinds are keyed
processors with a single key, so they run in a Bytewax stateful step: what they hold is
snapshotted with recovery and their timers are the step's wake-ups. Each batch a buffer flushes
(a window, a batch of the policy) reaches the pipeline as one batch of its own: the buffer marks
its messages and the step after it (`split_marked`) cuts the step's output at the marks.

As in Benthos, a message is done for the input once the buffer holds it: the input
acknowledges it then (with `--recovery-dir`, what the buffer holds is in the snapshot).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from streamforge.bloblang import DELETED, NOTHING, parse
from streamforge.config.model import ComponentConfig, StreamConfig
from streamforge.durations import parse_duration
from streamforge.engine.acks import AckBatch
from streamforge.engine.keyed import PartAck, SharedAck
from streamforge.message import Message
from streamforge.observability.logging import RateLimitedErrorLogger
from streamforge.observability.metrics import own_metric
from streamforge.plugin import BuildContext, Processor
from streamforge.plugin.errors import describe_error
from streamforge.plugin.keyed import KeyedOut, KeyedProcessor
from streamforge.plugin.windows import format_micros, micros_datetime, system_window_spec
from streamforge.timefmt.timestamps import time_nanos

__all__ = [
    "BATCH_MARK",
    "BatchBuffer",
    "WindowBuffer",
    "build_buffer",
    "split_marked",
]

log = logging.getLogger("streamforge.buffer")

#: metadata key marking which flushed batch a message belongs to (removed before the pipeline)
BATCH_MARK = "\x00buffer_batch"
_KEY = "buffer"


def _micros_text(us: int) -> str:

    return format_micros(us)


class _Buffer(KeyedProcessor):
    """A buffer: one key, its flushed batches marked for `split_marked`."""

    #: the stateful stage cuts this processor's output into the batches it marked
    emits_batches = True

    def __init__(self, ctx: BuildContext) -> None:
        self.stream = ctx.stream
        self.errors = RateLimitedErrorLogger(log, ctx.stream, ctx.label)
        self.now_ns: Callable[[], int] = time.time_ns

    def key(self, msg: Message) -> str:
        return _KEY

    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        raise NotImplementedError  # process_shard is overridden

    @staticmethod
    def _mark(batch: list[Message], seq: int) -> list[Message]:
        for msg in batch:
            msg.metadata[BATCH_MARK] = seq
        return batch

    def close(self) -> None:
        self.errors.flush()


class WindowBuffer(_Buffer):
    """`buffer: system_window`: messages grouped into windows of the system clock.

    A message's window comes from `timestamp_mapping` (the system time by default); a window
    is flushed once the system clock passes its end plus `allowed_lateness`, as one batch, each
    message with metadata `window_end_timestamp`. A message whose windows have all been flushed
    is late: dropped and counted (`streamforge_buffer_late_total`).
    """

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.spec = system_window_spec(conf)
        self.mapping = parse(str(conf.get("timestamp_mapping") or "root = now()"))
        self.late = own_metric(
            Counter,
            "buffer_late",
            "Messages a system_window buffer dropped because their windows had been flushed.",
        ).labels(ctx.stream, ctx.label)

    def _time_ns(self, msg: Message, batch: list[Message], i: int) -> int:

        value = self.mapping.query_message(msg, batch, i)
        if value is NOTHING or value is DELETED or value is None:
            raise ValueError("timestamp_mapping gave no timestamp")
        return time_nanos(value)

    def process_shard(
        self, keys: list[str], batch: list[Message], states: dict[str, Any]
    ) -> list[Message]:
        now_us = self.now_ns() // 1000
        state = states.get(_KEY)
        if state is None:
            state = states[_KEY] = {"open": {}, "seq": 0}
        opened: dict[int, list[Message]] = state["open"]
        spec = self.spec
        failed: list[Message] = []
        late = 0
        for i, msg in enumerate(batch):
            try:
                ts_us = self._time_ns(msg, batch, i) // 1000
            except Exception as exc:  # noqa: BLE001 - a bad timestamp fails its message only
                msg.error = f"buffer: timestamp_mapping: {describe_error(exc)}"
                failed.append(msg)
                continue
            since = ts_us - spec.align_us
            taken = False
            first = (since - spec.size_us) // spec.slide_us + 1
            for wid in range(first, since // spec.slide_us + 1):
                if spec.bounds(wid)[1] + spec.lateness_us <= now_us:
                    continue  # flushed already
                window = opened.get(wid)
                if window is None:
                    window = opened[wid] = []
                window.append(msg.copy() if taken else msg)
                taken = True
            if not taken:
                late += 1
        if late:
            self.late.inc(late)
        if failed:
            self.errors.report(len(failed), failed[0])
        return failed

    def _due_us(self, state: Any) -> int | None:
        if not state or not state["open"]:
            return None
        return self.spec.bounds(min(state["open"]))[1] + self.spec.lateness_us

    def notify_at(self, key: str, state: Any) -> datetime | None:

        due = self._due_us(state)
        return None if due is None else micros_datetime(max(due, 0))

    def _flush(self, state: Any, until_us: int | None) -> list[Message]:
        out: list[Message] = []
        opened: dict[int, list[Message]] = state["open"]
        for wid in sorted(opened):
            end = self.spec.bounds(wid)[1]
            if until_us is not None and end + self.spec.lateness_us > until_us:
                break
            window = opened.pop(wid)
            stamp = _micros_text(end)
            for msg in window:
                msg.metadata["window_end_timestamp"] = stamp
            state["seq"] += 1
            out.extend(self._mark(window, state["seq"]))
        return out

    def on_notify(self, key: str, state: Any) -> KeyedOut:
        if state is None:
            return [], None
        return self._flush(state, self.now_ns() // 1000), state

    def on_eof(self, key: str, state: Any) -> KeyedOut:
        if state is None:
            return [], None
        return self._flush(state, None), None


class BatchBuffer(_Buffer):
    """`buffer: memory` with a `batch_policy`: messages gathered into batches of the policy.

    A batch is flushed when it has `count` messages, `byte_size` bytes (or the buffer's
    `limit`), a message for which `check` is true, or `period` after its first message; the
    policy's `processors` run on it as it leaves.
    """

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext, processors: Processor | None
    ) -> None:
        super().__init__(ctx)
        policy = conf.get("batch_policy") or {}
        self.count = int(policy.get("count") or 0)
        self.byte_size = int(policy.get("byte_size") or 0)
        self.limit = int(conf.get("limit") or 0)
        period = str(policy.get("period") or "").strip()
        self.period_us = round(parse_duration(period) * 1_000_000) if period else 0
        check = str(policy.get("check") or "").strip()
        self.check: Any = None
        if check:
            from streamforge.bloblang import parse_query

            self.check = parse_query(check)
        self.processors = processors

    @property
    def timed(self) -> bool:
        return self.period_us > 0

    def process_shard(
        self, keys: list[str], batch: list[Message], states: dict[str, Any]
    ) -> list[Message]:
        state = states.get(_KEY)
        if state is None:
            state = states[_KEY] = {"pending": [], "bytes": 0, "since": 0, "seq": 0}
        out: list[Message] = []
        for i, msg in enumerate(batch):
            if not state["pending"]:
                state["since"] = self.now_ns() // 1000
            state["pending"].append(msg)
            state["bytes"] += len(msg.payload)
            ends = False
            if self.check is not None:
                try:
                    ends = self.check.query_message(msg, batch, i) is True
                except Exception as exc:  # noqa: BLE001 - a failing check does not end it
                    log.debug("buffer: batch_policy.check failed: %s", describe_error(exc))
            if (
                ends
                or (self.count and len(state["pending"]) >= self.count)
                or (self.byte_size and state["bytes"] >= self.byte_size)
                or (self.limit and state["bytes"] >= self.limit)
            ):
                out.extend(self._flush(state))
        return out

    def _flush(self, state: Any) -> list[Message]:
        batch, state["pending"], state["bytes"] = state["pending"], [], 0
        if not batch:
            return []
        if self.processors is not None:
            batch = self.processors.process_batch(batch)
        state["seq"] += 1
        return self._mark(batch, state["seq"])

    def notify_at(self, key: str, state: Any) -> datetime | None:

        if not self.period_us or not state or not state["pending"]:
            return None
        return micros_datetime(state["since"] + self.period_us)

    def on_notify(self, key: str, state: Any) -> KeyedOut:
        if state is None:
            return [], None
        due = state["since"] + self.period_us
        if state["pending"] and self.now_ns() // 1000 >= due:
            return self._flush(state), state
        return [], state

    def on_eof(self, key: str, state: Any) -> KeyedOut:
        if state is None:
            return [], None
        return self._flush(state), None

    def close(self) -> None:
        super().close()
        if self.processors is not None:
            self.processors.close()


def split_marked(items: list[list[Message]]) -> list[list[Message]]:
    """Cut each batch where the buffer's marks change, and remove the marks.

    Messages without a mark (ones that failed in the buffer) form batches of their own. A
    batch carrying an acknowledgement shares it among its pieces.
    """
    out: list[list[Message]] = []
    for batch in items:
        pieces: list[list[Message]] = []
        current: list[Message] = []
        mark: Any = None
        for msg in batch:
            this = msg.metadata.pop(BATCH_MARK, None)
            if current and this != mark:
                pieces.append(current)
                current = []
            mark = this
            current.append(msg)
        if current:
            pieces.append(current)
        ack = batch.ack if type(batch) is AckBatch else None
        if ack is None:
            out.extend(pieces)
        elif len(pieces) == 1:
            out.append(AckBatch(pieces[0], ack))
        else:
            shared = SharedAck(ack, len(pieces))
            out.extend(AckBatch(piece, PartAck(shared)) for piece in pieces)
    return out


def build_buffer(
    stream: StreamConfig, context: Callable[[ComponentConfig], BuildContext]
) -> tuple[ComponentConfig, KeyedProcessor] | None:
    """The stream's buffer as a keyed processor, or None when it has none (or a pass-through
    `memory` buffer without a batch policy)."""
    section = stream.buffer or {}
    kind = section.get("type", "none")
    conf = section.get("conf") or {}
    if kind == "none":
        return None
    if kind == "memory" and not (conf.get("batch_policy") or {}).get("enabled"):
        return None
    label = section.get("label") or None
    cc = ComponentConfig(
        kind="processor",
        type=f"buffer {kind}",
        conf=conf,
        path="buffer",
        location=stream.input.location,
        label=label,
    )
    ctx = context(cc)
    if kind == "system_window":
        return cc, WindowBuffer(conf, ctx)
    procs = (conf.get("batch_policy") or {}).get("processors") or []
    chain = ctx.build_chain(list(procs)) if procs else None
    return cc, BatchBuffer(conf, ctx, chain)
