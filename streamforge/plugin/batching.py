"""Output batching policies (`batching: {count, byte_size, period, check}`) as in Benthos.

`BatchingOutput` buffers messages in front of an output and writes them when a trigger
fires: `count` messages, `byte_size` bytes, a message matching `check`, or `period`
elapsed since the last write (a timer thread flushes incomplete batches). A zero count,
zero byte_size, empty period and empty check disable their trigger; with none set,
batching is off and messages pass straight through. `processors` run on each batch before
it is written (e.g. `parquet_encode`, so that a batch becomes one file).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streamforge.durations import parse_duration
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, Processor

__all__ = ["BATCHING_FIELD", "BatchPolicy", "BatchingOutput", "batching_field", "with_batching"]

log = logging.getLogger("streamforge.batching")


def batching_field(name: str = "batching") -> Field:
    """The `batching` field that writing outputs declare (shared so docs stay identical)."""
    return Field(
        name,
        "object",
        default={"count": 0, "byte_size": 0, "period": "", "check": "", "processors": []},
        description="Groups messages into batches before writing; the first trigger to fire wins.",
        examples=({"count": 100, "period": "1s"}, {"byte_size": 5000, "period": "500ms"}),
        fields=(
            Field(
                "count",
                "int",
                default=0,
                description="Messages per batch; 0 disables count-based batching.",
            ),
            Field(
                "byte_size",
                "int",
                default=0,
                description="Bytes at which a batch is written; 0 disables size-based batching.",
            ),
            Field(
                "period",
                "duration",
                default="",
                description="Write an incomplete batch after this long; empty disables it.",
                examples=("1s", "500ms", "1m"),
            ),
            Field(
                "check",
                "query",
                default="",
                description="A Bloblang query; a message for which it is true ends the batch.",
                examples=('this.type == "end_of_transaction"',),
            ),
            Field(
                "processors",
                "array",
                default=[],
                item=Field("processor", "processor"),
                description=(
                    "Processors run on each batch before it is written, e.g. `parquet_encode` "
                    "so a batch becomes one file. Messages they leave flagged with an error "
                    "are not written: they fail, so a `fallback` can take them."
                ),
            ),
        ),
    )


BATCHING_FIELD = batching_field()


@dataclass(frozen=True)
class BatchPolicy:
    """When a buffered batch is written."""

    count: int = 0
    byte_size: int = 0
    period: float = 0.0
    check: Any = None  # a compiled Bloblang query, or None

    @classmethod
    def from_conf(cls, conf: dict[str, Any] | None) -> BatchPolicy:
        """Build from a `batching:` mapping (missing keys disable their trigger)."""
        conf = conf or {}
        count = int(conf.get("count") or 0)
        byte_size = int(conf.get("byte_size") or 0)
        if count < 0 or byte_size < 0:
            raise ValueError("batching count and byte_size must not be negative")
        period = parse_duration(conf.get("period") or "")
        check_text = str(conf.get("check") or "").strip()
        check = None
        if check_text:
            from streamforge.bloblang import parse_query

            check = parse_query(check_text)
        return cls(count=count, byte_size=byte_size, period=max(period, 0.0), check=check)

    @property
    def active(self) -> bool:
        """True when any trigger is configured."""
        return bool(self.count or self.byte_size or self.period or self.check is not None)


def with_batching(
    output: Output, conf: dict[str, Any] | None, ctx: BuildContext | None = None
) -> Output:
    """Wrap `output` in a BatchingOutput when `conf` configures a trigger or processors.

    `ctx` builds the batch `processors`; without it, a config that has some is refused.
    """
    policy = BatchPolicy.from_conf(conf)
    confs = list((conf or {}).get("processors") or [])
    if confs and ctx is None:
        raise ValueError("batching.processors: cannot build processors here")
    processors = ctx.build_processors(confs) if confs and ctx is not None else []
    if not policy.active and not processors:
        return output
    return BatchingOutput(output, policy, processors)


class BatchingOutput(Output):
    """Buffers messages in front of an output; writes when the policy triggers.

    Failures of writes made by the period timer are returned by the next `write_batch`
    or `flush` call. Batch processors run on each batch just before it is written; when
    the write of their result fails, every message of the batch fails with it.
    """

    def __init__(
        self, output: Output, policy: BatchPolicy, processors: Sequence[Processor] = ()
    ) -> None:
        from streamforge.plugin.chain import ProcessorChain

        self.output = output
        self.policy = policy
        self.chain = ProcessorChain(processors) if processors else None
        # re-entrant: an output that confirms a write while writing (kafka's delivery reports)
        # asks, through the sink, how much is buffered on the thread that holds the lock
        self._lock = threading.RLock()
        self._buffer: list[Message] = []
        self._bytes = 0
        self._failed: list[Message] = []
        self._last_write = time.monotonic()
        self._closed = threading.Event()
        self._timer: threading.Thread | None = None

    # -- buffering ------------------------------------------------------------------------
    def write_batch(self, batch: list[Message]) -> list[Message]:
        policy = self.policy
        if self.policy.period and self._timer is None:
            self._start_timer()
        with self._lock:
            failed: list[Message] = []
            for i, msg in enumerate(batch):
                self._buffer.append(msg)
                if policy.byte_size:
                    self._bytes += len(msg.payload)
                if self._triggered(msg, batch, i):
                    failed.extend(self._write_locked())
            if not policy.active:
                failed.extend(self._write_locked())
            if self._failed:
                failed = self._failed + failed
                self._failed = []
            return failed

    def _triggered(self, msg: Message, batch: list[Message], index: int) -> bool:
        policy = self.policy
        if policy.count and len(self._buffer) >= policy.count:
            return True
        if policy.byte_size and self._bytes >= policy.byte_size:
            return True
        if policy.check is not None:
            try:
                return policy.check.query_message(msg, batch, index) is True
            except Exception as exc:  # noqa: BLE001 - a bad check must not stop the output
                log.warning("batching check failed: %s", exc)
        return False

    def _write_locked(self) -> list[Message]:
        batch, self._buffer, self._bytes = self._buffer, [], 0
        self._last_write = time.monotonic()
        if not batch:
            return []
        if self.chain is not None:
            return self._process_and_write(batch)
        try:
            return self.output.write_batch(batch)
        except Exception as exc:  # noqa: BLE001 - an output failure fails the batch
            reason = f"{type(self.output).__name__}: {exc}"
            for m in batch:
                m.error = reason
            return batch

    def _process_and_write(self, batch: list[Message]) -> list[Message]:
        """Run the batch processors, write what they made; failures are the batch's messages.

        Their results (one Parquet file for the whole batch, say) are not the messages the
        stream handed over, so a failed write fails every message that went into it.
        """
        assert self.chain is not None
        processed = self.chain.process_batch(list(batch))
        rejected = [m for m in processed if m.error is not None]
        healthy = [m for m in processed if m.error is None] if rejected else processed
        if not healthy:
            return rejected
        try:
            failed = self.output.write_batch(healthy)
        except Exception as exc:  # noqa: BLE001 - an output failure fails the batch
            failed = [m.fail(f"{type(self.output).__name__}: {exc}") for m in healthy]
        if not failed:
            return rejected
        reason = failed[0].error or "write failed"
        done = {id(m) for m in rejected}
        return rejected + [m.fail(reason) for m in batch if id(m) not in done]

    # -- period timer -----------------------------------------------------------------------
    def _start_timer(self) -> None:
        with self._lock:
            if self._timer is not None or self._closed.is_set():
                return
            self._timer = threading.Thread(
                target=self._run_timer, name="streamforge-batching", daemon=True
            )
            self._timer.start()

    def _run_timer(self) -> None:
        period = self.policy.period
        while True:
            with self._lock:
                due = self._last_write + period
            wait = due - time.monotonic()
            if self._closed.wait(max(wait, 0.001)):
                return
            with self._lock:
                if self._buffer and time.monotonic() >= self._last_write + period:
                    self._failed.extend(self._write_locked())
                elif not self._buffer and time.monotonic() >= self._last_write + period:
                    self._last_write = time.monotonic()

    def take_failures(self) -> list[Message]:
        with self._lock:
            failed, self._failed = self._failed, []
        return failed + self.output.take_failures()

    def confirm_later(self, progress: Callable[[], None]) -> None:
        # the output writes what was handed over, so it can count it; after batch
        # processors it writes other messages (one file for a batch) and waits for each
        if self.chain is None:
            self.output.confirm_later(progress)

    def buffered(self) -> int:
        """Messages waiting for a trigger (and any its output still holds).

        Waits for a write in progress, so a message being written still counts as held.
        """
        with self._lock:
            return len(self._buffer) + self.output.buffered()

    # -- resuming ---------------------------------------------------------------------------
    @property
    def resumable(self) -> bool:
        return self.output.resumable

    def snapshot(self) -> Any:
        return self.output.snapshot()

    def resume(self, state: Any | None, workdir: str) -> None:
        self.output.resume(state, workdir)

    # -- lifecycle --------------------------------------------------------------------------
    def flush(self) -> list[Message]:
        with self._lock:
            failed = self._failed + self._write_locked()
            self._failed = []
        return failed + self.output.flush()

    def close(self) -> None:
        self._closed.set()
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join(timeout=5)
        failed = self.flush()
        if failed:
            log.warning("%d message(s) could not be written when the output closed", len(failed))
        self.output.close()
