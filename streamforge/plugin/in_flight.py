"""Batches of an output written on up to `max_in_flight` threads at once (Benthos'
`max_in_flight`), for outputs whose every write is a unit of its own (a transaction, a
pipeline of commands) over a thread-safe client.

As the stream's own output (`confirm_later`), `write_batch` hands the batch to a pool thread
and returns; the engine counts its messages as written only once the batch settled (see
`PendingWrites`), so an input acknowledges nothing that is still being written. Batches may
then land out of order, as in Benthos. Inside a `switch` or `broker`, or with a limit of 1,
batches are written inline, one after another.
"""

from __future__ import annotations

import math
import threading
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor

from streamforge.message import Message
from streamforge.plugin.errors import describe_error
from streamforge.plugin.pending import ConfirmsLater, PendingBatch, PendingWrites

__all__ = ["InFlightBatches"]


class InFlightBatches(ConfirmsLater):
    """Mixin of an Output: it writes in `write_now` and calls `start_in_flight` once."""

    in_flight_limit: int = 1

    def start_in_flight(self, limit: int, name: str) -> None:
        """Allow `limit` batches under way at once; `name` prefixes a write's failure."""
        self.in_flight_limit = max(int(limit), 1)
        self._in_flight_name = name
        self._pending = PendingWrites(lambda: f"{name}: write timed out")
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @abstractmethod
    def write_now(self, batch: list[Message]) -> list[Message]:
        """Write `batch` now (possibly on several threads at once); the messages that failed."""

    def write_batch(self, batch: list[Message]) -> list[Message]:
        pending = self._pending
        if pending.progress is None or self.in_flight_limit == 1:
            return self.write_now(batch)
        base = pending.hand_over(len(batch))
        pending.wait_until_fewer(self.in_flight_limit)
        entry = PendingBatch(base, batch, math.inf)
        pending.track([entry])
        self._executor().submit(self._write_settling, entry)
        return []

    def _write_settling(self, entry: PendingBatch) -> None:
        """Write one batch on a pool thread, then settle it and tell the stream."""
        pending = self._pending
        try:
            failed = self.write_now(entry.msgs)
        except Exception as exc:  # noqa: BLE001 - a bug in writing fails the batch
            reason = f"{self._in_flight_name}: {describe_error(exc)}"
            failed = [msg.fail(reason) for msg in entry.msgs]
        if failed:
            index = {id(msg): i for i, msg in enumerate(entry.msgs)}
            for msg in failed:
                at = index.get(id(msg))
                if at is not None:
                    pending.fail_one(entry, at, msg.error or self._in_flight_name)
        pending.settle(entry)
        pending.report_progress()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.in_flight_limit, thread_name_prefix=f"streamforge-{self._in_flight_name}"
                )
            return self._pool

    def stop_in_flight(self) -> None:
        """Wait for the batches under way, then end the pool (from the output's `close`)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
