"""The state of one component's link to its peer: metrics, /ready, logs, and retried writes.

`PeerLink` wraps a `Connection` (shown in `streamforge_connected` and /ready) and words what
happens in the log: `connected to`, `reconnected to`, and failures naming the peer and the
cause (the same cause at most every `RELOG_SECONDS`). `retry_until` runs an operation again
with backoff while the peer is away, up to a deadline, for outputs that wait for their peer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from streamforge.plugin import BuildContext
from streamforge.plugin.connection import Backoff, connection

__all__ = ["RELOG_SECONDS", "PeerDown", "PeerLink"]

#: the same failure is logged again at most this often (seconds)
RELOG_SECONDS = 30.0

T = TypeVar("T")


class PeerDown(Exception):
    """The peer could not be reached before the deadline; the message says why."""


class PeerLink:
    """One component's connection to its peer, as metrics, /ready and the log see it."""

    def __init__(
        self,
        protocol: str,
        kind: str,
        ctx: BuildContext | None,
        peer: str,
        logger: logging.Logger,
    ) -> None:
        self.protocol = protocol
        self.kind = kind
        self.stream = ctx.stream if ctx is not None else "test"
        self.label = ctx.label if ctx is not None else f"{protocol}_{kind}"
        self.peer = peer
        self.log = logger
        self.connection = connection(self.stream, self.label, peer)
        self._connected_once = False
        self._last_logged: tuple[str, float] = ("", 0.0)
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def last_error(self) -> str:
        return self.connection.last_error

    def fields(self) -> dict[str, Any]:
        return {"fields": {"stream": self.stream, "component": self.label}}

    def up(self, detail: str = "") -> None:
        """The peer answers (again): log `connected to` once, `reconnected to` after a loss."""
        with self._lock:
            if self.connection.connected:
                return
            self.connection.up()
            verb = "reconnected" if self._connected_once else "connected"
            self._connected_once = True
            self._last_logged = ("", 0.0)
        self.log.info(
            "%s %s %s: %s to %s%s",
            self.protocol,
            self.kind,
            self.label,
            verb,
            self.peer,
            f" ({detail})" if detail else "",
            extra=self.fields(),
        )

    def down(self, cause: str) -> None:
        """The peer went away or refused us: metrics, /ready and a (rate-limited) error."""
        with self._lock:
            was = self.connection.connected
            self.connection.down(cause)
            now = time.monotonic()
            last_cause, last_time = self._last_logged
            if cause == last_cause and now - last_time < RELOG_SECONDS:
                return
            self._last_logged = (cause, now)
        what = "lost the connection to" if was else "cannot connect to"
        self.log.error(
            "%s %s %s: %s %s: %s; retrying with backoff",
            self.protocol,
            self.kind,
            self.label,
            what,
            self.peer,
            cause,
            extra=self.fields(),
        )

    def retry_until(
        self,
        op: Callable[[], T],
        *,
        transient: tuple[type[BaseException], ...],
        describe: Callable[[BaseException], str],
        deadline: float,
        stop: threading.Event | None = None,
    ) -> T:
        """Run `op`; while it fails with a `transient` error, mark the peer down and run it
        again with backoff. Raises `PeerDown` once the next attempt would pass `deadline`
        (a `time.monotonic()` value) or `stop` is set."""
        backoff = Backoff(initial=0.1, maximum=2.0)
        while True:
            try:
                result = op()
            except transient as exc:
                cause = describe(exc)
                self.down(cause)
                delay = backoff.next_delay()
                if time.monotonic() + delay > deadline:
                    raise PeerDown(f"not connected to {self.peer} ({cause})") from exc
                if stop is not None:
                    if stop.wait(delay):
                        raise PeerDown(f"closing; not connected to {self.peer} ({cause})") from exc
                else:
                    time.sleep(delay)
                continue
            self.up()
            return result

    def close(self) -> None:
        self.connection.close()
