"""The binlog position kept in the checkpoint cache: read when the input starts, written by a
thread of its own as soon as the output has written everything before a newer position."""

from __future__ import annotations

import logging
import threading

from streamforge.inputs.mysql_cdc.position import BinlogPosition
from streamforge.inputs.mysql_cdc.tracker import AckTracker
from streamforge.plugin import Cache

__all__ = ["Checkpoints"]

log = logging.getLogger("streamforge.inputs.mysql_cdc")


class Checkpoints:
    """The position under `key` in `cache`, kept up to date from `tracker`."""

    def __init__(self, cache: Cache, key: str, tracker: AckTracker, name: str) -> None:
        self.cache = cache
        self.key = key
        self.tracker = tracker
        self.name = name
        self.stored: BinlogPosition | None = None
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-checkpoints", daemon=True)

    def load(self) -> BinlogPosition | None:
        """The stored position (None when there is none). Raises CacheError when the cache
        fails and ValueError when the value is not a position."""
        raw = self.cache.get(self.key)
        if raw is None:
            return None
        try:
            position = BinlogPosition.parse(raw.decode("utf-8", errors="replace"))
        except ValueError as exc:
            raise ValueError(f"checkpoint {self.key!r} in the cache: {exc}") from None
        self.stored = position
        return position

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tracker.wait_beyond(self.stored, 0.5)
            self.store()

    def store(self) -> None:
        """Write the confirmed position when it moved on; a failure is logged and retried."""
        confirmed = self.tracker.confirmed()
        if confirmed is None or (self.stored is not None and confirmed <= self.stored):
            return
        try:
            self.cache.set(self.key, str(confirmed).encode())
        except Exception as exc:  # noqa: BLE001 - the next position covers it
            if not self._failing:
                log.warning("%s: storing the binlog position %s failed: %s",
                            self.name, confirmed, exc)  # fmt: skip
            self._failing = True
            self._stop.wait(1.0)
            return
        if self._failing:
            log.info("%s: storing the binlog position works again", self.name)
        self._failing = False
        self.stored = confirmed

    def close(self) -> None:
        """Stop the thread after a last write of what is confirmed."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self.store()
