"""A reader fed by a network thread or event loop, acknowledging to the peer after the write.

The network side hands over *records* (anything with a `message()` method building a fresh
`Message`); `read()` turns them into batches and remembers which records each batch holds.
When the stream is done with a batch, `ack` settles its records with the peer (`settle`):
an acknowledgement once the output wrote them, or the failure. A peer that redelivers what
is not acknowledged (AMQP, JetStream) hears of the failure (`peer_redelivers`); otherwise the
records are replayed from memory with backoff (`auto_replay_nacks`), or dropped with a warning.
Closing waits briefly for batches still in the stream before `shutdown`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from streamforge.message import Message
from streamforge.plugin import Field, InputReader
from streamforge.plugin.connection import Backoff

__all__ = ["AckedReader", "Payload", "Record", "replay_nacks_field"]


class Record(Protocol):
    """What the peer delivered, kept pristine for acknowledgements and replays."""

    def message(self) -> Message: ...


class Payload:
    """A record that is only a payload (no metadata, nothing to acknowledge to the peer)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def message(self) -> Message:
        return Message(self.payload)


def replay_nacks_field(what: str = "messages", dropped: str = "dropped") -> Field:
    """`auto_replay_nacks`, as the inputs that replay from memory declare it."""
    return Field(
        "auto_replay_nacks",
        "bool",
        default=True,
        description=(
            f"Replay {what} the output failed to write (with backoff) until they are "
            f"written. With false they are {dropped}, with a warning."
        ),
    )


class AckedReader(InputReader):
    """Base of readers whose records arrive from another thread and are settled after the
    write. Subclasses implement `settle` (and `shutdown` to release the connection)."""

    #: most messages one read() returns
    read_batch: int = 500
    #: records held before `put` waits
    queue_limit: int = 10_000
    #: how soon read() is called again when nothing was ready
    idle_poll: timedelta = timedelta(milliseconds=5)
    #: how long a closing reader waits for batches still in the stream
    close_grace: float = 5.0
    #: the peer delivers again what was not acknowledged (failures are reported to it)
    peer_redelivers: bool = False

    def __init__(self, name: str, logger: logging.Logger, *, replay_nacks: bool = True) -> None:
        self.name = name
        self.log = logger
        self.replay_nacks = replay_nacks
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._queue: deque[Any] = deque()
        self._pending: dict[int, list[Any]] = {}
        self._in_flight = 0
        self._replays: deque[tuple[float, list[Any]]] = deque()
        self._replay_backoff = Backoff(initial=0.5, maximum=10.0)
        self._nack_logged = 0.0
        self._awake: datetime | None = None
        self.stopping = threading.Event()
        self._closing = False
        self._drained = threading.Event()

    # -- the network side ------------------------------------------------------------------

    def put(self, records: Iterable[Any]) -> None:
        """Queue records; waits while the queue is full (until the reader closes)."""
        with self._room:
            while len(self._queue) >= self.queue_limit and not self.stopping.is_set():
                self._room.wait(0.1)
            self._queue.extend(records)

    def offer(self, records: Iterable[Any]) -> None:
        """Queue records without waiting (callbacks on an event loop, whose peer's window
        bounds what arrives)."""
        with self._lock:
            self._queue.extend(records)

    async def offer_when_room(self, records: Iterable[Any]) -> None:
        """On an event loop: wait (without blocking the loop) while the queue is full, then
        queue records (until the reader closes)."""
        while self.full() and not self.stopping.is_set():
            await asyncio.sleep(0.01)
        self.offer(records)

    def full(self) -> bool:
        return len(self._queue) >= self.queue_limit

    def outstanding(self) -> int:
        """Records queued or in the stream, not acknowledged yet."""
        with self._lock:
            return len(self._queue) + self._in_flight

    def drop_queued(self, keep: Callable[[Any], bool]) -> int:
        """Forget queued records `keep` refuses (stale after a reconnect); how many went."""
        with self._room:
            before = len(self._queue)
            self._queue = deque(r for r in self._queue if keep(r))
            self._room.notify_all()
            return before - len(self._queue)

    # -- the worker side -------------------------------------------------------------------

    def read(self) -> list[Message] | None:
        if self._replays and self._replays[0][0] <= time.monotonic():
            _, records = self._replays.popleft()
            return self._emit(records, again=True)
        with self._room:
            queue = self._queue
            n = min(len(queue), self.read_batch)
            records = [queue.popleft() for _ in range(n)]
            if n:
                self._room.notify_all()
        if not records:
            if self.finished():
                return None
            self._awake = datetime.now(timezone.utc) + self.idle_poll
            return []
        self._awake = None
        return self._emit(records)

    def _emit(self, records: list[Any], *, again: bool = False) -> list[Message]:
        batch = [r.message() for r in records]
        with self._lock:
            self._pending[id(batch)] = records
            if not again:
                self._in_flight += len(records)
        return batch

    def next_awake(self) -> datetime | None:
        awake = self._awake
        if self._replays:
            due = self._replays[0][0] - time.monotonic()
            replay_at = datetime.now(timezone.utc) + timedelta(seconds=max(due, 0.0))
            if awake is None or replay_at < awake:
                return replay_at
        return awake

    def finished(self) -> bool:
        """True when no more records will come; default: never."""
        return False

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            records = self._pending.pop(id(batch), None)
        if records is None:
            return
        if error is not None and not self.peer_redelivers:
            if self._closing:
                self._done(records)
                self.abandon(records, error)
                return
            if self.replay_nacks:
                delay = self._replay_backoff.next_delay()
                self._replays.append((time.monotonic() + delay, records))
                self._warn_nack(len(records), error, f"replaying in {delay:.1f}s")
                return
            self._warn_nack(len(records), error, "dropping them")
            error = None
        elif error is None:
            self._replay_backoff.reset()
        self._done(records)
        try:
            self.settle(records, error)
        except Exception as exc:  # noqa: BLE001 - never raise into the engine's ack path
            self.log.warning("%s: acknowledging to the peer failed: %s", self.name, exc)

    def _done(self, records: list[Any]) -> None:
        with self._lock:
            self._in_flight -= len(records)
            drained = not self._pending
        if drained and self._closing:
            self._drained.set()

    def settle(self, records: list[Any], error: str | None) -> None:
        """Tell the peer: written (`error` None), or failed (only when `peer_redelivers`)."""

    def abandon(self, records: list[Any], error: str) -> None:
        """Records that failed while the reader closes and cannot be replayed any more."""
        self.log.warning(
            "%s: %d message(s) failed while closing (%s); they are not acknowledged",
            self.name,
            len(records),
            error,
        )

    def _warn_nack(self, n: int, error: str, action: str) -> None:
        now = time.monotonic()
        if now - self._nack_logged < 5.0:
            return
        self._nack_logged = now
        self.log.warning(
            "%s: %d message(s) not acknowledged, the output failed (%s); %s",
            self.name,
            n,
            error,
            action,
        )

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading; release the connection once batches still in the stream are done."""
        if self._closing:
            return
        self._closing = True
        self.stopping.set()
        self._replays.clear()
        with self._room:
            self._room.notify_all()
            busy = bool(self._pending)
        if not busy:
            self.shutdown()
            return
        threading.Thread(
            target=self._shutdown_when_drained, name=f"close-{self.name}", daemon=True
        ).start()

    def _shutdown_when_drained(self) -> None:
        self._drained.wait(self.close_grace)
        self.shutdown()

    def shutdown(self) -> None:
        """Release the connection and threads (after the stream is done with its batches)."""
