"""A StreamForge Input as a Bytewax FixedPartitionedSource.

Each Input partition is a Bytewax partition, so Bytewax spreads partitions over workers and
processes and snapshots their resume state. One Bytewax item is one batch (`list[Message]`).
While a partition is idle it emits a `Tick` now and then so outputs can flush on time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from streamforge.engine.acks import AckBatch, Acknowledgement
from streamforge.message import Message
from streamforge.observability.heartbeat import busy, idle
from streamforge.observability.metrics import ComponentMetrics
from streamforge.plugin import Input, InputReader

if TYPE_CHECKING:
    from streamforge.engine.tracing import InputTracing

__all__ = ["InputPartition", "InputSource", "Item"]


#: the longest an idle input sleeps before it looks at the stop flags again
STOP_CHECK = timedelta(milliseconds=500)

log = logging.getLogger("streamforge.input")

#: what flows between StreamForge's Bytewax steps: one batch
Item = list[Message]


class InputPartition(StatefulSourcePartition[Item, Any]):
    """One open partition: `read()` batches become items; None ends the partition.

    Setting `stop` (every stream) or `halt` (this stream only) ends it at its next read.
    """

    def __init__(
        self,
        reader: InputReader,
        metrics: ComponentMetrics,
        stop: threading.Event | None = None,
        halt: threading.Event | None = None,
        on_close: Callable[[], None] | None = None,
        tracing: InputTracing | None = None,
    ) -> None:
        self._reader = reader
        self._tracing = tracing
        self._on_close = on_close
        self._stop = stop
        self._halt = halt
        self._metrics = metrics
        self._closed = False
        self._acks = type(reader).ack is not InputReader.ack
        self._due: datetime | None = None

    def next_batch(self) -> list[Item]:
        if (self._stop is not None and self._stop.is_set()) or (
            self._halt is not None and self._halt.is_set()
        ):
            self.close()
            raise StopIteration
        if self._due is not None:
            if datetime.now(timezone.utc) < self._due:
                return []  # woken early only to look at the stop flags
            self._due = None
        busy()
        started = time.time_ns() if self._tracing is not None else 0
        try:
            batch = self._reader.read()
        except Exception as exc:
            log.error(
                "reading input failed: %s: %s",
                type(exc).__name__,
                exc,
                extra={
                    "fields": {
                        "stream": self._metrics.stream,
                        "component": self._metrics.component,
                    }
                },
            )
            raise
        finally:
            idle()
        if batch is None:
            self.close()
            raise StopIteration
        if batch:
            n = len(batch)
            self._metrics.received.inc(n)
            self._metrics.batch_size.observe(n)
            if self._tracing is not None:
                self._tracing.read(batch, started)
            if self._acks:
                return [AckBatch(batch, Acknowledgement(self._reader.ack, batch))]
            return [batch]
        return []

    def next_awake(self) -> datetime | None:
        if (self._halt is not None and self._halt.is_set()) or (
            self._stop is not None and self._stop.is_set()
        ):
            return None
        due = self._reader.next_awake()
        self._due = due
        if due is None:
            return None
        # wake at least this often to see a stop; the reader is not asked before it is due
        return min(due, datetime.now(timezone.utc) + STOP_CHECK)

    def snapshot(self) -> Any:
        return self._reader.snapshot()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._reader.close()
            finally:
                if self._on_close is not None:
                    self._on_close()


class InputSource(FixedPartitionedSource[Item, Any]):
    """Bytewax source over a StreamForge Input; partitions are the Input's partitions.

    Setting `stop` ends every partition at its next read: a graceful shutdown in which
    outputs still flush and close. `halt()` does the same for this source's stream alone,
    while the other streams of the dataflow go on. `ended` is set once every partition of
    the input has closed in this process (the stream's input is over).
    """

    def __init__(
        self,
        inp: Input,
        metrics: ComponentMetrics,
        stop: threading.Event | None = None,
    ) -> None:
        self.input = inp
        self.metrics = metrics
        self.stop = stop
        self.halted = threading.Event()
        self.ended = threading.Event()
        #: spans of each batch read (`tracer:`); None: no tracing
        self.tracing: InputTracing | None = None
        self._parts = 0
        self._done = 0
        self._lock = threading.Lock()

    def halt(self) -> None:
        """End this stream's input partitions at their next read; the stream drains,
        its output flushes and closes."""
        self.halted.set()

    def list_parts(self) -> list[str]:
        parts = list(self.input.partitions())
        with self._lock:
            self._parts = len(parts)
        return parts

    def build_part(self, step_id: str, for_part: str, resume_state: Any | None) -> InputPartition:
        reader = self.input.open(for_part, resume_state)
        return InputPartition(
            reader, self.metrics, self.stop, self.halted, self._closed, tracing=self.tracing
        )

    def _closed(self) -> None:
        with self._lock:
            self._done += 1
            if self._done >= self._parts:
                self.ended.set()
