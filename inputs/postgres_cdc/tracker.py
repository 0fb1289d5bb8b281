"""Which slot positions the output has written everything up to (at-least-once).

Every message the input hands to the stream gets the next index. After the messages of a
transaction, the input notes the transaction's end LSN as a position. A position is confirmed
once every message with a lower index was acknowledged, whatever order acknowledgements
arrive in; only confirmed positions are reported to the replication slot.
"""

from __future__ import annotations

import threading
from collections import deque

__all__ = ["AckTracker"]


class AckTracker:
    """Message indexes handed out and acknowledged, and the positions they guard.

    Thread-safe: the input's thread issues indexes and notes positions, the stream's threads
    acknowledge.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._issued = 0
        #: every index below this one was acknowledged
        self._watermark = 0
        self._done: set[int] = set()
        #: (messages issued before it, LSN), oldest first
        self._positions: deque[tuple[int, int]] = deque()
        self._confirmed: int | None = None

    def issue(self, n: int) -> int:
        """Hand out `n` indexes; returns the first."""
        with self._cond:
            first = self._issued
            self._issued += n
            return first

    def note_position(self, lsn: int) -> None:
        """Everything issued so far belongs before `lsn` (a transaction's end)."""
        with self._cond:
            if self._issued == self._watermark and not self._positions:
                self._confirmed = lsn if self._confirmed is None else max(self._confirmed, lsn)
                self._cond.notify_all()
                return
            self._positions.append((self._issued, lsn))

    def done(self, indexes: list[int]) -> None:
        """The messages with these indexes were written (or given up on)."""
        with self._cond:
            self._done.update(indexes)
            mark = self._watermark
            while mark in self._done:
                self._done.discard(mark)
                mark += 1
            if mark == self._watermark:
                return
            self._watermark = mark
            positions = self._positions
            while positions and positions[0][0] <= mark:
                _, lsn = positions.popleft()
                self._confirmed = lsn if self._confirmed is None else max(self._confirmed, lsn)
            self._cond.notify_all()

    def confirmed(self) -> int | None:
        """The furthest position whose messages were all written (None: none yet)."""
        with self._cond:
            return self._confirmed

    def in_flight(self) -> int:
        """Messages handed out and not acknowledged yet."""
        with self._cond:
            return self._issued - self._watermark

    def wait(self, timeout: float) -> None:
        """Sleep until an acknowledgement arrives or `timeout` passes."""
        with self._cond:
            self._cond.wait(timeout)
