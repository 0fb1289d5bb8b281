"""Writes an output handed to its peer and the peer has not confirmed yet, in order.

An output that publishes without waiting (MQTT QoS 1, Kafka) tracks each write here: the
peer's confirmations settle them, a deadline fails them, and the engine learns from
`held()` how many of the messages it handed over may still fail (everything since the
oldest unsettled one) and from `take_failures()` which did. See `Output.confirm_later`.

A write is one message (`PendingWrite`) or several confirmed one by one in any order
(`PendingBatch`), which costs one entry, not one per message.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from streamforge.message import Message

__all__ = ["ConfirmsLater", "PendingBatch", "PendingWrite", "PendingWrites"]


class PendingWrite:
    """One message handed to the peer; `seq` counts the messages handed to the output."""

    __slots__ = ("deadline", "done", "msg", "ref", "seq")

    def __init__(self, seq: int, msg: Message, deadline: float, ref: Any = None) -> None:
        self.seq = seq
        self.msg = msg
        self.deadline = deadline
        self.done = False
        #: what the output needs to match the confirmation (a packet id, a frame)
        self.ref = ref


class PendingBatch:
    """Messages handed to the peer together; `seq` is the first one's. Settled as a whole
    once each was confirmed or failed (`PendingWrites.fail_one`); given up on, every message
    not failed yet fails."""

    __slots__ = ("deadline", "done", "failed", "msgs", "seq")

    def __init__(self, seq: int, msgs: list[Message], deadline: float) -> None:
        self.seq = seq
        self.msgs = msgs
        self.deadline = deadline
        self.done = False
        #: indexes in `msgs` of the messages failed so far
        self.failed: set[int] = set()


class PendingWrites:
    """The unsettled writes of one output, oldest first.

    `lock` (reentrant) guards everything here; an output may hold it around its own
    bookkeeping too. `timeout_error()` words the failure of a write past its deadline;
    `on_expire(write)` runs (lock held) when a single-message one is given up on.
    """

    def __init__(
        self,
        timeout_error: Callable[[], str],
        on_expire: Callable[[PendingWrite], None] | None = None,
    ) -> None:
        self.lock = threading.Condition(threading.RLock())
        self.unsettled = 0
        #: messages handed to the output so far (the engine counts the same)
        self.given = 0
        self.progress: Callable[[], None] | None = None
        self._timeout_error = timeout_error
        self._on_expire = on_expire
        self._window: deque[PendingWrite | PendingBatch] = deque()
        self._failed: list[PendingWrite] = []
        self._advanced = False

    def hand_over(self, n: int) -> int:
        """Count `n` more messages handed to the output; returns the first one's `seq`."""
        base = self.given
        self.given = base + n
        return base

    def track(self, writes: list[PendingWrite] | list[PendingBatch]) -> None:
        """Writes just handed to the peer, in order."""
        with self.lock:
            self._window.extend(writes)
            self.unsettled += len(writes)

    def settle(self, write: PendingWrite | PendingBatch, error: str | None = None) -> None:
        """The peer confirmed a write (or failed it with `error`: for a batch, each of its
        messages not failed yet)."""
        with self.lock:
            if write.done:
                return
            if error is not None:
                if isinstance(write, PendingBatch):
                    for i in range(len(write.msgs)):
                        self.fail_one(write, i, error)
                else:
                    write.msg.error = error
                    self._failed.append(write)
            write.done = True
            self.unsettled -= 1
            window = self._window
            if window and window[0] is write:
                window.popleft()
                while window and window[0].done:
                    window.popleft()
                self._advanced = True
                self.lock.notify_all()

    def fail_one(self, batch: PendingBatch, index: int, error: str) -> None:
        """One message of a batch failed (once; not after the batch was settled)."""
        with self.lock:
            if batch.done or index in batch.failed:
                return
            batch.failed.add(index)
            msg = batch.msgs[index]
            msg.error = error
            self._failed.append(PendingWrite(batch.seq + index, msg, batch.deadline))

    def _expire_due(self, now: float) -> None:
        window = self._window
        while window and window[0].deadline <= now:
            write = window[0]
            if self._on_expire is not None and type(write) is PendingWrite:
                self._on_expire(write)
            self.settle(write, self._timeout_error())

    def wait_until_fewer(self, limit: int) -> None:
        """Block until fewer than `limit` writes are unsettled, failing those past due."""
        with self.lock:
            while self.unsettled >= limit:
                now = time.monotonic()
                self._expire_due(now)
                if self.unsettled < limit or not self._window:
                    return
                self.lock.wait(min(self._window[0].deadline - now, 0.5))

    def unconfirmed(self) -> list[PendingWrite]:
        """The single-message writes still waiting for the peer, oldest first."""
        with self.lock:
            return [w for w in self._window if not w.done and type(w) is PendingWrite]

    def held(self) -> int:
        """Messages handed over since the oldest write that is unsettled or whose failure
        was not taken yet: none of them may count as written."""
        with self.lock:
            seqs = [w.seq for w in self._failed]
            if self._window:
                seqs.append(self._window[0].seq)
            return self.given - min(seqs) if seqs else 0

    def take_failures(self) -> list[Message]:
        """Writes failed (or past due) since last asked."""
        with self.lock:
            self._expire_due(time.monotonic())
            failed, self._failed = self._failed, []
        return [write.msg for write in failed]

    def flush(self) -> list[Message]:
        """Wait until every write settled; the failures."""
        self.wait_until_fewer(1)
        return self.take_failures()

    def report_progress(self) -> None:
        """Tell the engine (once per call) that writes settled since the last report."""
        if self._advanced and self.progress is not None:
            self._advanced = False
            self.progress()


class ConfirmsLater:
    """The Output methods of an output whose writes wait in `self._pending` for the peer."""

    _pending: PendingWrites

    def confirm_later(self, progress: Callable[[], None]) -> None:
        self._pending.progress = progress

    def buffered(self) -> int:
        return self._pending.held()

    def take_failures(self) -> list[Message]:
        return self._pending.take_failures()

    def flush(self) -> list[Message]:
        return self._pending.flush()
