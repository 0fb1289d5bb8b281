"""A StreamForge Output as a Bytewax DynamicSink: one Output instance per worker.

Bytewax hands the sink a list of batches; they are flattened into one write. Messages the
output could not write are counted and logged (rate-limited, with a sample).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)

from streamforge.engine.acks import AckBatch, mark_origins
from streamforge.engine.sources import Item
from streamforge.message import Message
from streamforge.observability.heartbeat import busy, idle
from streamforge.observability.logging import RateLimitedErrorLogger
from streamforge.observability.metrics import ComponentMetrics
from streamforge.plugin import Output
from streamforge.plugin.delivery import dead_letter_count, is_dead_letter

if TYPE_CHECKING:
    from streamforge.engine.tracing import OutputTracing

__all__ = ["OutputPartition", "OutputSink", "ResumableOutputSink"]

log = logging.getLogger("streamforge.output")


class OutputPartition(StatelessSinkPartition[Item]):
    """The output of one worker.

    Input batches are acknowledged once the output wrote every message they led to. Outputs
    write in order, so a batch is written when the messages handed over after it outnumber
    what the output still holds (`Output.buffered`); a small timer re-checks while batches
    wait, so writes a batching period makes on its own are acknowledged too.
    """

    #: how often waiting acknowledgements are re-checked (seconds)
    RECHECK_INTERVAL = 0.01

    def __init__(
        self,
        output: Output,
        metrics: ComponentMetrics,
        tracing: OutputTracing | None = None,
    ) -> None:
        self.output = output
        self.metrics = metrics
        self._tracing = tracing
        self._errors = RateLimitedErrorLogger(
            log, metrics.stream, metrics.component, what="write failed"
        )
        self._closed = False
        self._lock = threading.Lock()
        self._ack_lock = threading.Lock()
        self._given = 0  # messages handed to the output so far
        self._unacked: deque[tuple[int, AckBatch]] = deque()  # (position after it, batch)
        self._failed: dict[int, Message] = {}  # failed messages of batches not yet acknowledged
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        output.confirm_later(self._progress)

    def _progress(self) -> None:
        """The output's peer confirmed writes: acknowledge the input batches now written."""
        if self._closed:
            return
        try:
            self._acknowledge([])
        except Exception as exc:  # noqa: BLE001 - runs on the output's thread; never raise there
            log.warning("acknowledging input failed: %s", exc)

    def write_batch(self, items: list[Item]) -> None:
        batch = items[0] if len(items) == 1 else [m for item in items for m in item]
        if not batch:
            return
        m = self.metrics
        n = len(batch)
        m.received.inc(n)
        m.batch_size.observe(n)
        tracing = self._tracing
        traces = tracing.take(items) if tracing is not None else None
        started = time.time_ns() if tracing is not None else 0
        start = time.perf_counter()
        busy()
        mark_origins(items)
        try:
            failed = self.output.write_batch(batch)
        except Exception as exc:  # noqa: BLE001 - a buggy output fails its batch, not the flow
            reason = f"{type(self.output).__name__}: {exc}"
            for msg in batch:
                msg.error = reason
            failed = batch
        finally:
            idle()
        m.seconds.observe(time.perf_counter() - start)
        if traces:
            tracing.wrote(traces, n, len(failed), started)  # type: ignore[union-attr]
        with self._lock:
            pos = self._given
            for item in items:
                pos += len(item)
                if type(item) is AckBatch:
                    self._unacked.append((pos, item))
            self._given = pos
        self._account(n, failed)
        self._count_dead_lettered(batch, failed)
        self._acknowledge(failed)

    def _acknowledge(self, failed: list[Message], *, final: bool = False) -> None:
        """Acknowledge input batches whose messages the output has written (or failed).

        One thread at a time (the worker, the recheck timer, the output's own confirmations),
        so inputs hear of their batches in the order they read them.
        """
        with self._ack_lock:
            self._acknowledge_in_order(failed, final)

    def _acknowledge_in_order(self, failed: list[Message], final: bool) -> None:
        # Read in this order: what was handed over, then what is still held, then the failures
        # of writes made meanwhile; `given - held` then never counts a held message as written.
        with self._lock:
            given = self._given
        held = 0 if final else self.output.buffered()
        late = self.output.take_failures()
        if late:
            self._account(0, late)
        ready: list[AckBatch] = []
        with self._lock:
            for msg in (*failed, *late):
                self._failed[id(msg)] = msg
            if not self._unacked:
                self._failed.clear()
                return
            written_upto = given - held
            while self._unacked and self._unacked[0][0] <= written_upto:
                ready.append(self._unacked.popleft()[1])
            bad = self._failed
            errors = [self._error_of(item, bad) for item in ready]
            if not self._unacked:
                self._failed = {}
            waiting = bool(self._unacked)
        for item, error in zip(ready, errors):
            item.ack(error)
        if waiting and not final:
            self._start_recheck()

    @staticmethod
    def _error_of(item: AckBatch, failed: dict[int, Message]) -> str | None:
        if failed:
            for msg in item:
                bad = failed.pop(id(msg), None)
                if bad is not None:
                    return bad.error or "write failed"
        return None

    def _start_recheck(self) -> None:
        with self._lock:
            if self._timer is not None or self._stop.is_set():
                return
            self._timer = threading.Thread(
                target=self._recheck, name="streamforge-acks", daemon=True
            )
            self._timer.start()

    def _recheck(self) -> None:
        while not self._stop.wait(self.RECHECK_INTERVAL):
            with self._lock:
                if not self._unacked:
                    self._timer = None
                    return
            try:
                self._acknowledge([])
            except Exception as exc:  # noqa: BLE001 - a failing ack must not kill the thread
                log.warning("acknowledging input failed: %s", exc)

    def _count_dead_lettered(self, batch: list[Message], failed: list[Message]) -> None:
        """Messages written despite a failure: flagged, or handed on by a `fallback`."""
        if failed:
            not_written = {id(m) for m in failed}
            dead = sum(1 for m in batch if is_dead_letter(m) and id(m) not in not_written)
        else:
            dead = dead_letter_count(batch)
        if dead:
            self.metrics.dead_lettered.inc(dead)

    def _account(self, written: int, failed: list[Message]) -> None:
        if failed:
            self.metrics.errors.inc(len(failed))
            self._errors.report(len(failed), failed[0])
        sent = written - len(failed)
        if sent > 0:
            self.metrics.sent.inc(sent)

    def snapshot(self) -> Any:
        """Write what the output holds, then where its data ends (a resumable output's state)."""
        failed = self.output.flush()
        self._account(0, failed)
        self._acknowledge(failed)
        return self.output.snapshot()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        try:
            failed = self.output.flush()
            self._account(0, failed)
            self._acknowledge(failed, final=True)
        finally:
            self.output.close()
            self._errors.flush()


class OutputSink(DynamicSink[Item]):
    """Builds one Output per worker; the instance built at compile time serves the first."""

    def __init__(
        self,
        build_output: Callable[[], Output],
        metrics: ComponentMetrics,
        *,
        first: Output | None = None,
        on_build: Callable[[int, int], None] | None = None,
    ) -> None:
        self._build_output = build_output
        self._first = first
        self._lock = threading.Lock()
        self.metrics = metrics
        self.on_build = on_build
        #: spans of each write (`tracer:`); None: no tracing
        self.tracing: OutputTracing | None = None

    def build(self, step_id: str, worker_index: int, worker_count: int) -> OutputPartition:
        with self._lock:
            output, self._first = self._first, None
        if output is None:
            output = self._build_output()
        if self.on_build is not None:
            self.on_build(worker_index, worker_count)
        return OutputPartition(output, self.metrics, self.tracing)

    def discard_unused(self) -> None:
        """Close the compile-time Output if no worker took it (e.g. the run never started)."""
        with self._lock:
            output, self._first = self._first, None
        if output is not None:
            output.close()


class _ResumablePartition(StatefulSinkPartition[Item, Any]):
    """Bytewax's view of an OutputPartition whose state goes into the recovery snapshot."""

    def __init__(self, partition: OutputPartition) -> None:
        self.partition = partition

    def write_batch(self, values: list[Item]) -> None:
        self.partition.write_batch(values)

    def snapshot(self) -> Any:
        return self.partition.snapshot()

    def close(self) -> None:
        self.partition.close()


class ResumableOutputSink(FixedPartitionedSink[Item, Any]):
    """One Output for the whole stream, its end positions kept in the recovery snapshot.

    Items arrive keyed by `PART`, so one worker writes them all. Before its first write the
    output drops what it wrote after the snapshot it resumes from (everything an earlier run
    wrote, when there is none yet); the input, resumed from the same snapshot, writes it
    again: exactly once across a kill. `workdir` (beside the recovery snapshots) holds the
    output's own bookkeeping.
    """

    PART = "output"

    def __init__(
        self,
        build_output: Callable[[], Output],
        metrics: ComponentMetrics,
        *,
        first: Output | None = None,
        on_build: Callable[[int, int], None] | None = None,
        workdir: str = "",
    ) -> None:
        self._build_output = build_output
        self._first = first
        self._lock = threading.Lock()
        self.metrics = metrics
        self.on_build = on_build
        self.workdir = workdir
        #: spans of each write (`tracer:`); None: no tracing
        self.tracing: OutputTracing | None = None

    def list_parts(self) -> list[str]:
        return [self.PART]

    def build_part(
        self, step_id: str, for_part: str, resume_state: Any | None
    ) -> _ResumablePartition:
        with self._lock:
            output, self._first = self._first, None
        if output is None:
            output = self._build_output()
        output.resume(resume_state, self.workdir)
        if self.on_build is not None:
            self.on_build(0, 1)
        return _ResumablePartition(OutputPartition(output, self.metrics, self.tracing))

    def discard_unused(self) -> None:
        """Close the compile-time Output if no worker took it (e.g. the run never started)."""
        with self._lock:
            output, self._first = self._first, None
        if output is not None:
            output.close()
