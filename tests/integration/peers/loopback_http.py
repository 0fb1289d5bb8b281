"""The shared part of the test suite's HTTP peers: a threaded server on a loopback port that
can be stopped, cutting open connections so clients see the peer gone, and started again."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from peers.ports import free_port, wait_listening

__all__ = ["LoopbackHttpServer", "TrackedHandler"]

_S = TypeVar("_S", bound="LoopbackHttpServer")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: LoopbackHttpServer


class TrackedHandler(BaseHTTPRequestHandler):
    """A request handler whose connection the server knows of, so `stop` can cut it."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.owner.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackHttpServer:
    """Serves `handler` (a TrackedHandler; `self.server.owner` is this object) on
    127.0.0.1:`port`, on its own thread."""

    handler: type[TrackedHandler]

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None

    def start(self: _S) -> _S:
        """Listen (again, on the same port); returns self."""
        server = _Server(("127.0.0.1", self.port), self.handler)
        server.owner = self
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        wait_listening(self.port)
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections: clients see the peer gone."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def track(self, conn: socket.socket, add: bool) -> None:
        """Remember (or forget) a connection a handler serves."""
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @property
    def running(self) -> bool:
        return self._server is not None
