"""The partition reader of a change data capture input: hands the session's messages to the
stream in batches (as `batching` asks), runs `batching.processors` on them, and tells the
tracker which were written."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from streamforge.connectors.acked_reader import AckedReader
from streamforge.connectors.cdc.tracker import PositionTracker
from streamforge.message import Message, serialise_value
from streamforge.plugin import Processor
from streamforge.plugin.batching import BatchPolicy

__all__ = ["Change", "ChangeReader", "CdcRecord"]


class Change(Protocol):
    """One message as a session made it: the row (or None) and its metadata."""

    @property
    def value(self) -> Any: ...

    @property
    def metadata(self) -> dict[str, Any]: ...


class CdcRecord:
    """One message as the worker made it, kept pristine for replays."""

    __slots__ = ("index", "metadata", "payload")

    def __init__(self, index: int, payload: bytes, metadata: dict[str, Any]) -> None:
        self.index = index
        self.payload = payload
        self.metadata = metadata

    def message(self) -> Message:
        return Message(self.payload, dict(self.metadata))


class ChangeReader(AckedReader):
    """Batches changes queued by a session thread; subclasses start the session and release it
    in `shutdown`. At most `checkpoint_limit` messages wait for the output, so the queue holds
    at least as many."""

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        *,
        tracker: PositionTracker[Any],
        replay_nacks: bool,
        checkpoint_limit: int,
        policy: BatchPolicy | None,
        processors: Processor | None,
    ) -> None:
        super().__init__(name, logger, replay_nacks=replay_nacks)
        self.queue_limit = max(self.queue_limit, checkpoint_limit)
        self.policy = policy
        self.processors = processors
        self.tracker = tracker
        self._held: list[CdcRecord] = []
        self._held_bytes = 0
        self._held_since = 0.0

    def put_changes(self, changes: Sequence[Change], first: int) -> None:
        """Queue changes whose indexes start at `first` (waits while the queue is full)."""
        self.put(
            CdcRecord(first + i, serialise_value(c.value), c.metadata)
            for i, c in enumerate(changes)
        )

    # -- reading --------------------------------------------------------------------------------

    def read(self) -> list[Message] | None:
        if self.policy is None:
            batch = super().read()
            return self._processed(batch) if batch else batch
        if self._replays and self._replays[0][0] <= time.monotonic():
            return super().read()
        return self._read_batched(self.policy)

    def _read_batched(self, policy: BatchPolicy) -> list[Message]:
        """Hold messages until the policy's count, size, check or period ends a batch."""
        now = time.monotonic()
        cut = 0
        with self._room:
            queue = self._queue
            taken = 0
            while queue and not cut:
                record = queue.popleft()
                taken += 1
                if not self._held:
                    self._held_since = now
                self._held.append(record)
                self._held_bytes += len(record.payload)
                if self._ends_batch(policy, record):
                    cut = len(self._held)
            if taken:
                self._room.notify_all()
        if not cut and self._held and policy.period and now - self._held_since >= policy.period:
            cut = len(self._held)
        if not cut:
            wait = self.idle_poll.total_seconds()
            if self._held and policy.period:
                wait = max(min(wait, policy.period - (now - self._held_since)), 0.001)
            self._awake = datetime.now(timezone.utc) + timedelta(seconds=wait)
            return []
        records, self._held = self._held[:cut], self._held[cut:]
        self._held_bytes = sum(len(r.payload) for r in self._held)
        self._held_since = now
        self._awake = None
        return self._processed(self._emit(records))

    def _ends_batch(self, policy: BatchPolicy, record: CdcRecord) -> bool:
        if policy.count and len(self._held) >= policy.count:
            return True
        if policy.byte_size and self._held_bytes >= policy.byte_size:
            return True
        if policy.check is not None:
            try:
                return policy.check.query_message(record.message()) is True
            except Exception:  # noqa: BLE001 - a failing check does not end a batch
                self.log.debug("%s: batching check failed", self.name)
        return False

    def _processed(self, batch: list[Message]) -> list[Message]:
        """Run `batching.processors` on a batch; its acknowledgement follows the result."""
        if self.processors is None:
            return batch
        out = self.processors.process_batch(list(batch))
        with self._lock:
            records = self._pending.pop(id(batch), [])
            if out:
                self._pending[id(out)] = records
        if not out:
            self._done(records)
            self.settle(records, None)
        return out

    # -- acknowledging --------------------------------------------------------------------------

    def settle(self, records: list[Any], error: str | None) -> None:
        self.tracker.done([r.index for r in records])
