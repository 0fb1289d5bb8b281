"""The thread a change data capture input runs its server session on: started with the reader,
joined when the stream is done with every batch, reporting why a session ended (the reason on
the connection at once, in the log when it is new and every 20th time it comes again)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic

from streamforge.connectors.cdc.tracker import PositionT, PositionTracker
from streamforge.plugin.connection import Backoff, Connection

__all__ = ["SessionWorker"]


class SessionWorker(ABC, Generic[PositionT]):
    """Runs `run` on a thread named `thread_name`; `put(changes, first)` queues messages."""

    def __init__(
        self,
        *,
        name: str,
        thread_name: str,
        logger: logging.Logger,
        tracker: PositionTracker[PositionT],
        put: Callable[[list[Any], int], None],
        connection: Connection,
        stopping: threading.Event,
    ) -> None:
        self.name = name
        self.log = logger
        self.tracker = tracker
        self.put = put
        self.connection = connection
        self.stopping = stopping
        #: set once the stream is done with every batch: finish the session and close
        self.finish = threading.Event()
        #: the last failure logged and how often it came again since
        self._last_reason = ""
        self._repeats = 0
        self._thread = threading.Thread(target=self.run, name=thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self.finish.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @abstractmethod
    def run(self) -> None:
        """The thread: sessions, started over with backoff, until the input stops."""

    def _put_when_room(
        self, changes: list[Any], limit: int, poll: float, stop: Callable[[], bool]
    ) -> None:
        """Hand changes on once fewer than `limit` messages wait for the output (or `stop`)."""
        while self.tracker.in_flight() >= limit and not stop():
            self.tracker.wait(poll)
        self.put(changes, self.tracker.issue(len(changes)))

    def _up(self, backoff: Backoff) -> None:
        """The session is set up: show the connection up and start failures afresh."""
        self.connection.up()
        backoff.reset()
        self._last_reason = ""

    def _report(self, reason: str, *, unreachable: bool) -> bool:
        """Show the connection down for `reason` and log it unless it is a repeat (a warning
        when the server is out of reach, else an error); whether it was logged."""
        self.connection.down(reason)
        self._repeats = self._repeats + 1 if reason == self._last_reason else 0
        self._last_reason = reason
        if self._repeats % 20:
            return False
        again = " (again)" if self._repeats else ""
        level = logging.WARNING if unreachable else logging.ERROR
        self.log.log(level, "%s: %s; trying again%s", self.name, reason, again)
        return True
