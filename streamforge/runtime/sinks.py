"""A StreamForge Output as a Bytewax DynamicSink: one Output instance per worker.

Bytewax hands the sink a list of batches; they are flattened into one write. Messages the
output could not write are counted and logged (rate-limited, with a sample).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from streamforge.acks import AckBatch
from streamforge.components import Output
from streamforge.message import Message
from streamforge.runtime.logging import RateLimitedErrorLogger
from streamforge.runtime.metrics import ComponentMetrics
from streamforge.runtime.sources import Item

__all__ = ["OutputPartition", "OutputSink"]

log = logging.getLogger("streamforge.output")


class OutputPartition(StatelessSinkPartition[Item]):
    """The output of one worker."""

    def __init__(
        self,
        output: Output,
        metrics: ComponentMetrics,
    ) -> None:
        self.output = output
        self.metrics = metrics
        self._errors = RateLimitedErrorLogger(
            log, metrics.stream, metrics.component, what="write failed"
        )
        self._closed = False
        self._unacked: list[AckBatch] = []
        self._failed_pending: dict[int, Message] = {}

    def write_batch(self, items: list[Item]) -> None:
        batch = items[0] if len(items) == 1 else [m for item in items for m in item]
        if not batch:
            return
        for item in items:
            if type(item) is AckBatch:
                self._unacked.append(item)
        m = self.metrics
        n = len(batch)
        m.received.inc(n)
        m.batch_size.observe(n)
        start = time.perf_counter()
        try:
            failed = self.output.write_batch(batch)
        except Exception as exc:  # noqa: BLE001 - a buggy output fails its batch, not the flow
            reason = f"{type(self.output).__name__}: {exc}"
            for msg in batch:
                msg.error = reason
            failed = batch
        m.seconds.observe(time.perf_counter() - start)
        self._account(n, failed)

    def _acknowledge(self, failed: list[Message], *, final: bool = False) -> None:
        """Acknowledge input batches whose messages the output has written (or failed)."""
        if not self._unacked:
            return
        failed_by_id = {id(m): m for m in failed}
        if failed_by_id:
            self._failed_pending.update(failed_by_id)
        if self.output.buffered() and not final:
            return  # some messages are still held by a batching policy
        unacked, self._unacked = self._unacked, []
        pending, self._failed_pending = self._failed_pending, {}
        for item in unacked:
            error = None
            if pending:
                for msg in item:
                    bad = pending.get(id(msg))
                    if bad is not None:
                        error = bad.error or "write failed"
                        break
            item.ack(error)

    def _account(self, written: int, failed: list[Message]) -> None:
        if failed:
            self.metrics.errors.inc(len(failed))
            self._errors.report(len(failed), failed[0])
        sent = written - len(failed)
        if sent > 0:
            self.metrics.sent.inc(sent)
        self._acknowledge(failed)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
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

    def build(self, step_id: str, worker_index: int, worker_count: int) -> OutputPartition:
        with self._lock:
            output, self._first = self._first, None
        if output is None:
            output = self._build_output()
        if self.on_build is not None:
            self.on_build(worker_index, worker_count)
        return OutputPartition(output, self.metrics)

    def discard_unused(self) -> None:
        """Close the compile-time Output if no worker took it (e.g. the run never started)."""
        with self._lock:
            output, self._first = self._first, None
        if output is not None:
            output.close()
