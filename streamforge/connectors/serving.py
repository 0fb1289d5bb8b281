"""Serve an ASGI app on uvicorn from a background thread, with the limits a public listener needs.

uvicorn (with the httptools parser) speaks HTTP/1.1: incomplete requests never reach the app,
keep-alive connections idle out, pipelining and chunked bodies work. This module adds what a
listener facing plant networks also needs and uvicorn leaves out:

* a deadline for the request line and headers (`read_header_timeout`), so clients that connect
  and send nothing, or drip headers, are closed instead of held;
* a cap on open connections; one over the cap gets a readable 503 and is closed;
* connection problems (malformed requests, timeouts, refusals) logged as one line each through
  the caller's logger, at most one summary line per `PROBLEM_LOG_INTERVAL`, never a traceback.

The body deadline belongs to the app, which reads the body (`streamforge.connectors.asgi`).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from streamforge.connectors.http import parse_address

__all__ = ["PROBLEM_LOG_INTERVAL", "ListeningServer", "ProblemLog", "ServerLimits", "serve"]

#: at most one line per this many seconds about connection problems of one listener
PROBLEM_LOG_INTERVAL = 10.0
#: how long a stopping server lets requests in flight finish
GRACEFUL_STOP = 3.0
#: how long a connection refused over the cap may still send its request (read and dropped),
#: so the client reads the 503 instead of a reset
REFUSED_LINGER = 1.0

_SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\ntoo many connections\n"
)


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of a listener: time to send headers, idle time, connections."""

    read_header_timeout: float = 10.0
    idle_timeout: float = 60.0
    max_connections: int = 4096
    backlog: int = 2048


class ProblemLog:
    """Counts connection problems; logs the first at once, then a summary per interval."""

    def __init__(
        self,
        logger: logging.Logger,
        name: str,
        fields: dict[str, Any] | None = None,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.logger = logger
        self.name = name
        self.fields = fields or {}
        self.on_problem = on_problem
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._latest = ""
        self._logged = -PROBLEM_LOG_INTERVAL

    def note(self, kind: str, detail: str = "") -> None:
        """One problem of `kind` (such as "header timeout"); `detail` names the client or cause."""
        if self.on_problem is not None:
            self.on_problem(kind)
        with self._lock:
            self._counts[kind] += 1
            self._latest = f"{kind}{': ' + detail if detail else ''}"
            now = time.monotonic()
            if now - self._logged < PROBLEM_LOG_INTERVAL:
                return
            self._logged = now
            counts, self._counts = self._counts, collections.Counter()
            latest = self._latest
        self._emit(counts, latest)

    def flush(self) -> None:
        """Log what was counted since the last line (at stop)."""
        with self._lock:
            counts, self._counts = self._counts, collections.Counter()
            latest = self._latest
        if counts:
            self._emit(counts, latest)

    def _emit(self, counts: collections.Counter[str], latest: str) -> None:
        total = sum(counts.values())
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.most_common())
        self.logger.warning(
            "%s: %d connection problem(s) (%s); latest: %s",
            self.name, total, summary, latest,
            extra={"fields": {**self.fields, "problems": dict(counts)}},
        )  # fmt: skip


class _UvicornLogs(logging.Filter):
    """Turns uvicorn's own warnings and errors into ProblemLog notes of the listener's thread."""

    def __init__(self) -> None:
        super().__init__()
        self.logs: dict[int, ProblemLog] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        log = self.logs.get(threading.get_ident())
        if log is None:
            return record.levelno >= logging.WARNING and not record.exc_info
        if record.levelno >= logging.WARNING:
            detail = record.getMessage().strip().rstrip(".")
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                detail = f"{detail}: {type(exc).__name__}: {exc}"
            log.note("server error" if record.levelno >= logging.ERROR else "bad request", detail)
        return False


_UVICORN_LOGS = _UvicornLogs()
logging.getLogger("uvicorn.error").addFilter(_UVICORN_LOGS)


def _guarded_protocol(limits: ServerLimits, problems: ProblemLog) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a header deadline and a connection cap."""

    class GuardedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                problems.note("refused", f"more than {limits.max_connections} connections")
                self._refused = True
                transport.write(_SERVICE_UNAVAILABLE)
                if transport.can_write_eof():
                    transport.write_eof()
                # what the client still sends is read and dropped for a moment: closing with
                # unread data would reset the connection before it read the answer
                self._header_timer = self.loop.call_later(REFUSED_LINGER, transport.close)
                return
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def eof_received(self) -> None:
            if self._refused:
                self.transport.close()
                return
            super().eof_received()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._cancel_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self._cancel_header_timer()
            super().send_400_response(msg)

        def _arm_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(
                limits.read_header_timeout, self._headers_too_slow
            )

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
                problems.note(
                    "header timeout",
                    f"{client} sent no complete request head within "
                    f"{limits.read_header_timeout:g}s",
                )
                self.transport.close()

    return GuardedProtocol


class ListeningServer:
    """A uvicorn server on a bound socket, run by its own thread and event loop."""

    def __init__(
        self, server: uvicorn.Server, sock: socket.socket, problems: ProblemLog, name: str
    ) -> None:
        self._server = server
        self._sock = sock
        self.problems = problems
        self.host, self.port = sock.getsockname()[:2]
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """host:port as bound (the real port when 0 was asked); IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def _run(self) -> None:
        loop = _new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        _UVICORN_LOGS.logs[threading.get_ident()] = self.problems
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        except Exception as exc:  # noqa: BLE001 - a broken server is logged, never raised
            self.problems.note("server error", f"{type(exc).__name__}: {exc}")
        finally:
            _UVICORN_LOGS.logs.pop(threading.get_ident(), None)
            loop.close()

    def stop(self, timeout: float = GRACEFUL_STOP + 2.0, *, wait: bool = True) -> None:
        """Stop accepting, let requests in flight finish (briefly), close every connection.

        With `wait=False` it returns at once: requests in flight keep being answered (for
        up to GRACEFUL_STOP) by the server's thread, which the process waits for at exit.
        """
        self._server.should_exit = True
        if not wait:
            _STOPPING.add(self)
            return
        _STOPPING.discard(self)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            self._sock.close()
        self.problems.flush()


#: servers stopped without waiting; the process waits for them before it exits
_STOPPING: set[ListeningServer] = set()


@atexit.register
def _finish_stopping() -> None:
    for server in list(_STOPPING):
        server.stop()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    app: Any,
    address: str,
    *,
    limits: ServerLimits | None = None,
    logger: logging.Logger,
    name: str,
    fields: dict[str, Any] | None = None,
    on_problem: Callable[[str], None] | None = None,
    websockets: bool = False,
    certfile: str = "",
    keyfile: str = "",
) -> ListeningServer:
    """Bind `address` (raises OSError/ValueError when it cannot) and serve `app` on a thread.

    Connections made before the thread's loop runs wait in the listen backlog, so the
    server can be used as soon as this returns. With `websockets`, upgrade requests reach
    the app as websocket connections when a websocket library (`websockets`, `wsproto`) is
    installed; `certfile` and `keyfile` (PEM) serve HTTPS.
    """
    limits = limits or ServerLimits()
    host, port = parse_address(address)
    problems = ProblemLog(logger, name, fields, on_problem)
    config = uvicorn.Config(
        app,
        http=_guarded_protocol(limits, problems),
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=limits.idle_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=GRACEFUL_STOP,  # type: ignore[arg-type]
        backlog=limits.backlog,
        ws="auto" if websockets else "none",
        ssl_certfile=certfile or None,
        ssl_keyfile=keyfile or None,
    )
    if certfile or keyfile:
        config.load()  # a certificate or key that cannot be read fails here, not on the thread
    sock = _bind(host, port, limits.backlog)
    return ListeningServer(uvicorn.Server(config), sock, problems, name)
