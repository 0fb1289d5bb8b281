"""Connections of network components: backoff with jitter, state in metrics and in /ready.

Every input or output that talks to a peer registers a `Connection`; it reports whether the
peer is connected (`streamforge_connected`), counts reconnects (`streamforge_reconnects_total`)
and failed attempts, and `/ready` answers 503 naming every connection that is down.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from streamforge.observability.metrics import REGISTRY

__all__ = ["Backoff", "Connection", "connection", "connections_down"]

_LABELS = ("stream", "component")

CONNECTED = Gauge(
    "streamforge_connected",
    "1 while a component is connected to its peer, else 0.",
    _LABELS,
    registry=REGISTRY,
)
RECONNECTS = Counter(
    "streamforge_reconnects",
    "Times a component connected again after losing its peer.",
    _LABELS,
    registry=REGISTRY,
)
CONNECT_FAILURES = Counter(
    "streamforge_connection_failures",
    "Failed attempts to connect to a peer.",
    _LABELS,
    registry=REGISTRY,
)


@dataclass
class Backoff:
    """Exponential backoff with full jitter: each delay is random in [base/2, base]."""

    initial: float = 0.2
    maximum: float = 30.0
    multiplier: float = 2.0
    _current: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; grows until `maximum`."""
        grown = min(self._current * self.multiplier, self.maximum)
        self._current = self.initial if self._current <= 0 else grown
        return self._current / 2 + random.random() * self._current / 2

    def reset(self) -> None:
        """Start again from `initial` (after a successful connection)."""
        self._current = 0.0

    def sleep(self, stop: threading.Event | None = None) -> bool:
        """Wait for the next delay; False when `stop` was set meanwhile."""
        delay = self.next_delay()
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)


class Connection:
    """The connection state of one component, shared with metrics and /ready."""

    def __init__(self, stream: str, component: str, peer: str = "") -> None:
        self.stream = stream
        self.component = component
        self.peer = peer
        self._lock = threading.Lock()
        self._connected = False
        self._ever_connected = False
        self.last_error = ""
        self._gauge = CONNECTED.labels(stream=stream, component=component)
        self._reconnects = RECONNECTS.labels(stream=stream, component=component)
        self._failures = CONNECT_FAILURES.labels(stream=stream, component=component)
        self._gauge.set(0)

    @property
    def connected(self) -> bool:
        return self._connected

    def up(self) -> None:
        """The peer is reachable (again)."""
        with self._lock:
            if self._connected:
                return
            if self._ever_connected:
                self._reconnects.inc()
            self._connected = True
            self._ever_connected = True
            self.last_error = ""
        self._gauge.set(1)

    def down(self, error: str = "") -> None:
        """The peer went away, or an attempt to reach it failed."""
        with self._lock:
            was = self._connected
            self._connected = False
            if error:
                self.last_error = error
        if not was:
            self._failures.inc()
        self._gauge.set(0)

    def describe(self) -> str:
        state = "connected" if self._connected else "not connected"
        where = f" to {self.peer}" if self.peer else ""
        why = f" ({self.last_error})" if self.last_error and not self._connected else ""
        return f"{self.stream}/{self.component}: {state}{where}{why}"

    def close(self) -> None:
        """Forget the connection (the component stopped)."""
        _unregister(self)


_registry_lock = threading.Lock()
_connections: list[Connection] = []


def connection(stream: str, component: str, peer: str = "") -> Connection:
    """Register the connection of one component instance."""
    conn = Connection(stream, component, peer)
    with _registry_lock:
        _connections.append(conn)
    return conn


def _unregister(conn: Connection) -> None:
    with _registry_lock:
        if conn in _connections:
            _connections.remove(conn)


def connections_down(describe: Callable[[Connection], str] = Connection.describe) -> list[str]:
    """One line per registered connection that is down (empty when all are up)."""
    with _registry_lock:
        conns = list(_connections)
    return [describe(c) for c in conns if not c.connected]
