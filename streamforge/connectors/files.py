"""Reading files for the `file` and `csv` inputs: globs, Benthos' file metadata, and a reader
that splits one file into messages and settles them after the write.

A file is read in chunks through a scanner (a codec's splitter or CSV rows). A batch the
output failed to write is sent again with backoff (`auto_replay_nacks`) or dropped with a
warning. Once the file is read the reader waits for its batches to be written, and ends when
they are, or when none was settled for a while (an output batching for longer, or a broker
holding the last batch until its inputs end): what is settled after that is still counted,
but a failure then is not sent again. `delete_on_finish` deletes the file once it was read
to its end and every batch of it was written.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

from streamforge.connectors.codecs import Splitter
from streamforge.connectors.csv_rows import CsvRows
from streamforge.connectors.scanners import Scanner, scanner_messages
from streamforge.message import Message
from streamforge.plugin.connection import Backoff
from streamforge.plugin.interfaces import InputReader

__all__ = ["FileReader", "expand_paths", "file_metadata"]

_log = logging.getLogger("streamforge.inputs.file")

_CHUNK = 1 << 16
#: how soon `read` is asked again while batches of a file that was read are still unwritten
_WAIT = timedelta(milliseconds=20)
#: seconds a reader that read its file waits for news of its batches before it ends
_LINGER = 5.0

Records = list[Any]  # payload bytes, or CSV records
MessagesOf = Callable[[Records, dict[str, Any]], list[Message]]


def expand_paths(patterns: list[str]) -> list[str]:
    """Sorted, de-duplicated files matching the patterns (`**` matches any depth)."""
    found: set[str] = set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            found.update(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        elif os.path.isfile(pattern):
            found.add(pattern)
        else:
            raise FileNotFoundError(f"file {pattern!r} does not exist")
    return sorted(found)


def file_metadata(path: str) -> dict[str, Any]:
    """Benthos' file metadata: path, mod_time_unix and mod_time (RFC 3339)."""
    mtime = os.stat(path).st_mtime
    stamp = datetime.fromtimestamp(int(mtime), tz=timezone.utc)
    return {
        "path": path,
        "mod_time_unix": int(mtime),
        "mod_time": stamp.isoformat().replace("+00:00", "Z"),
    }


class FileReader(InputReader):
    """Reads one file from a resume point; the snapshot is where the last record read ends
    (a byte offset; for CSV also the row count and the header)."""

    def __init__(
        self,
        path: str,
        scanner: Scanner,
        *,
        resume_state: Any = None,
        delete_on_finish: bool = False,
        replay_nacks: bool = True,
        batch_count: int = 0,
        messages: MessagesOf = scanner_messages,
        name: str = "file input",
        log: logging.Logger | None = None,
    ) -> None:
        self.path = path
        self.name = name
        self.log = log or _log
        self.delete_on_finish = delete_on_finish
        self.replay_nacks = replay_nacks
        #: messages per batch (0: whatever a chunk of the file holds)
        self.batch_count = batch_count if batch_count > 1 else 0
        self._messages = messages
        self.splitter = scanner.open(path)
        offset = self._resume(resume_state)
        #: the resume state after the last record emitted (CSV rows may be read ahead)
        self._state: Any = self.splitter.state() if isinstance(self.splitter, CsvRows) else None
        self.start = offset
        self._fh: BinaryIO | None = None
        self._reading = True
        #: False once part of the file was not read or a batch of it was dropped
        self._complete = True
        self._ended = False
        self._deleted = False
        self._news = time.monotonic()  # when reading ended or a batch was last settled
        self._lock = threading.Lock()
        self._pending: dict[int, Records] = {}
        self._replays: deque[tuple[float, Records]] = deque()
        self._held: deque[Any] = deque()
        self._backoff = Backoff(initial=0.5, maximum=10.0)
        self._warned = 0.0
        self._awake: datetime | None = None
        try:
            self._fh = open(path, "rb")  # noqa: SIM115 - kept open across reads
            self._fh.seek(offset)
            self.meta = file_metadata(path)
        except OSError as exc:
            self.log.warning("%s: cannot read %s: %s", name, path, exc)
            self._reading = self._complete = False
            self.meta = {"path": path}

    def _resume(self, state: Any) -> int:
        if isinstance(self.splitter, CsvRows):
            return self.splitter.resume(state) if isinstance(state, dict) else 0
        return int(state or 0)

    # -- reading ----------------------------------------------------------------------------
    def read(self) -> list[Message] | None:
        if self._ended:
            return None
        self._awake = None
        if self._replays and self._replays[0][0] <= time.monotonic():
            with self._lock:
                _, records = self._replays.popleft()
                self._news = time.monotonic()
            return self._emit(records, again=True)
        if self.batch_count:
            return self._read_counted()
        if self._reading:
            records, extra = self._read_chunk()
            if records or extra:
                return self._emit(records, extra)
            if self._reading:
                return []
        return self._wait_or_end()

    def _read_counted(self) -> list[Message] | None:
        """Batches of exactly `batch_count` records (the last of the file may be smaller)."""
        held, count = self._held, self.batch_count
        while self._reading and len(held) < count:
            records, extra = self._read_chunk()
            held.extend(records)
            if extra:
                return self._emit([], extra)
        if held:
            n = min(count, len(held))
            return self._emit([held.popleft() for _ in range(n)])
        return self._wait_or_end()

    def _read_chunk(self) -> tuple[Records, list[Message]]:
        """The records of the next chunk of the file, and errored messages of records a
        splitter dropped; stops reading at the end or when the scanner failed."""
        assert self._fh is not None
        split = self.splitter
        if isinstance(split, Splitter) and split.delim is None:
            split.feed(self._fh.read())
            records: Records = split.finish()
            end = True
        else:
            data = self._fh.read(_CHUNK)
            end = not data
            records = split.feed(data) if data else split.finish()
        failed = getattr(split, "failed", None)
        if failed is not None:
            kept = " and the file is kept" if self.delete_on_finish else ""
            self.log.error("%s: %s; the rest of the file is not read%s", self.name, failed, kept)
            self._complete = False
            end = True
        extra = [Message(b"", dict(self.meta), error=e) for e in split.overflows]
        split.overflows.clear()
        if end:
            self._stop_reading()
        return records, extra

    def _emit(
        self, records: Records, extra: list[Message] | None = None, *, again: bool = False
    ) -> list[Message]:
        batch = self._messages(records, self.meta) if records else []
        if extra:
            batch.extend(extra)
        if records:
            with self._lock:
                self._pending[id(batch)] = records
            split = self.splitter
            if not again and isinstance(split, CsvRows):
                self._state = split.state(records[-1])
        return batch

    def _wait_or_end(self) -> list[Message] | None:
        """After the file was read: wait for its batches to be written (or for news of them
        within `_LINGER` seconds), then end."""
        with self._lock:
            due = self._replays[0][0] if self._replays else None
            waiting = due is not None or (
                bool(self._pending) and time.monotonic() - self._news < _LINGER
            )
            if not waiting:
                self._ended = True
        if waiting:
            now = datetime.now(timezone.utc)
            if due is not None:
                self._awake = now + timedelta(seconds=max(0.0, due - time.monotonic()))
            else:
                self._awake = now + _WAIT
            return []
        self._maybe_delete()
        return None

    def _maybe_delete(self) -> None:
        """Delete the file (delete_on_finish) once it was read whole and all of it written."""
        with self._lock:
            ready = self._ended and not self._pending and self._complete and not self._deleted
            if ready:
                self._deleted = True
        if ready and self.delete_on_finish:
            try:
                os.remove(self.path)
            except OSError as exc:
                self.log.warning("%s: cannot delete %s: %s", self.name, self.path, exc)

    def _stop_reading(self) -> None:
        self._reading = False
        self._news = time.monotonic()
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def next_awake(self) -> datetime | None:
        return self._awake

    # -- acknowledgements -------------------------------------------------------------------
    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            records = self._pending.pop(id(batch), None)
            if records is None:
                return
            self._news = time.monotonic()
            ended = self._ended
            if error is None:
                self._backoff.reset()
            elif self.replay_nacks and not ended:
                delay = self._backoff.next_delay()
                self._replays.append((time.monotonic() + delay, records))
            else:
                self._complete = False
        if error is None:
            if ended:  # the reader ended before this batch was written
                self._maybe_delete()
        elif self.replay_nacks and not ended:
            self._warn(len(records), error, f"sending them again in {delay:.1f}s")
        else:
            kept = ", the file is kept" if self.delete_on_finish else ""
            self._warn(len(records), error, f"dropping them{kept}")

    def _warn(self, n: int, error: str, action: str) -> None:
        now = time.monotonic()
        if now - self._warned < 5.0:
            return
        self._warned = now
        self.log.warning(
            "%s: %d message(s) of %s not written (%s); %s", self.name, n, self.path, error, action
        )

    # -- state ------------------------------------------------------------------------------
    def snapshot(self) -> Any:
        split = self.splitter
        if isinstance(split, CsvRows):
            return self._state
        return self.start + split.consumed

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
