"""Which positions the output has written everything up to (at least once).

Every message handed to the stream gets the next index. After a transaction's messages (or a
snapshot's), the input notes the position they end at. A position is confirmed once every
message with a lower index was acknowledged, whatever order acknowledgements arrive in; only
confirmed positions are kept (confirmed to the server, or stored in a cache).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["PositionT", "PositionTracker"]


class _Ordered(Protocol):
    def __gt__(self, other: Any, /) -> bool: ...


#: a position in the server's log, ordered as the log is
PositionT = TypeVar("PositionT", bound=_Ordered)


class PositionTracker(Generic[PositionT]):
    """Message indexes handed out and acknowledged, and the positions (of type `PositionT`, ordered
    as the server's log is) they guard.

    Thread-safe: the input's thread issues indexes and notes positions, the stream's threads
    acknowledge, a checkpoint thread may wait for what is confirmed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._issued = 0
        #: every index below this one was acknowledged
        self._watermark = 0
        self._done: set[int] = set()
        #: (messages issued before it, position), oldest first
        self._positions: deque[tuple[int, PositionT]] = deque()
        self._confirmed: PositionT | None = None

    def issue(self, n: int) -> int:
        """Hand out `n` indexes; returns the first."""
        with self._cond:
            first = self._issued
            self._issued += n
            return first

    def note_position(self, position: PositionT) -> None:
        """Everything issued so far belongs before `position` (a transaction's end)."""
        with self._cond:
            if self._issued == self._watermark and not self._positions:
                self._confirm(position)
                return
            last = self._positions[-1] if self._positions else None
            if last is not None and last[0] == self._issued:
                # no message between them: the further one stands for both
                self._positions[-1] = (self._issued, position if position > last[1] else last[1])
            else:
                self._positions.append((self._issued, position))

    def _confirm(self, position: PositionT) -> None:
        if self._confirmed is None or position > self._confirmed:
            self._confirmed = position
            self._cond.notify_all()

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
                self._confirm(positions.popleft()[1])
            self._cond.notify_all()

    def confirmed(self) -> PositionT | None:
        """The furthest position whose messages were all written (None: none yet)."""
        with self._cond:
            return self._confirmed

    def in_flight(self) -> int:
        """Messages handed out and not acknowledged yet."""
        with self._cond:
            return self._issued - self._watermark

    def wait_beyond(self, position: PositionT | None, timeout: float) -> None:
        """Sleep until a position past `position` is confirmed or `timeout` passes."""
        with self._cond:
            if self._confirmed is not None and (position is None or self._confirmed > position):
                return
            self._cond.wait(timeout)

    def wait(self, timeout: float) -> None:
        """Sleep until an acknowledgement arrives or `timeout` passes."""
        with self._cond:
            self._cond.wait(timeout)
