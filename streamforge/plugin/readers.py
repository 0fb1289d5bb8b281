"""A reader fed from a background thread: the network side puts messages, `read()` drains.

Inputs whose protocol work blocks or runs on its own event loop (Modbus polling, OPC UA
subscriptions) do that work on a thread of their own and `put` what they read here, so a
slow or silent device never holds a Bytewax worker. When the queue is full, `put` waits
(the producing thread slows down) rather than dropping readings.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from streamforge.message import Message
from streamforge.plugin import InputReader

__all__ = ["QueuedReader"]


class QueuedReader(InputReader):
    """Base for readers whose messages arrive from another thread."""

    #: most messages one read() returns
    read_batch: int = 1000
    #: messages held before `put` waits
    queue_limit: int = 100_000
    #: how soon read() is called again when nothing was ready
    idle_poll: timedelta = timedelta(milliseconds=5)

    def __init__(self) -> None:
        self._queue: deque[Message] = deque()
        self._room = threading.Condition()
        self._stopping = threading.Event()
        self._awake: datetime | None = None

    # -- producer side (the input's own thread) ----------------------------------------------

    def put(self, messages: Iterable[Message]) -> None:
        """Queue messages for the stream; waits while the queue is full (until stopped)."""
        queue = self._queue
        if len(queue) >= self.queue_limit:
            with self._room:
                while len(queue) >= self.queue_limit and not self._stopping.is_set():
                    self._room.wait(0.1)
        queue.extend(messages)

    @property
    def stopping(self) -> threading.Event:
        """Set when the reader closes; producer threads end when they see it."""
        return self._stopping

    # -- worker side ---------------------------------------------------------------------------

    def read(self) -> list[Message] | None:
        queue = self._queue
        n = min(len(queue), self.read_batch)
        if not n:
            if self.finished():
                return None
            self._awake = datetime.now(timezone.utc) + self.idle_poll
            return []
        self._awake = None
        batch = [queue.popleft() for _ in range(n)]
        with self._room:
            self._room.notify_all()
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake

    def finished(self) -> bool:
        """True when no more messages will come (the input ended); default: never."""
        return False

    def close(self) -> None:
        """Tell the producer to stop; subclasses join their threads after calling this."""
        self._stopping.set()
        with self._room:
            self._room.notify_all()
