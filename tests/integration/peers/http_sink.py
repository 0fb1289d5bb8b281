"""A real HTTP server for tests: records requests; can fail, be slow, stop and start again.

`http_sink` (a pytest fixture) starts one on a free loopback port per test:

    sink.url("/ingest")            the URL to send to
    sink.fail_next([503, 503])     the next requests get these statuses
    sink.status = 500              every request gets 500 (None: back to 200)
    sink.delay = 0.5               answer after half a second
    X-Sink-Status: 404             (a request header) answer that request with 404
    sink.stop(); sink.start()      gone (connections refused), then back on the same port
    sink.requests                  what it received (and answered 2xx), in order
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest

from peers.loopback_http import LoopbackHttpServer, TrackedHandler

__all__ = ["HttpSink", "Received", "http_sink"]


@dataclass(frozen=True)
class Received:
    """One request the sink answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class _Handler(TrackedHandler):
    disable_nagle_algorithm = True

    def _any(self) -> None:
        sink = cast(HttpSink, self.server.owner)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The connection was cut mid-body (the sink is stopping): nothing was received.
            self.close_connection = True
            return
        status = sink._next_status(self.headers.get("X-Sink-Status"))
        if sink.delay:
            time.sleep(sink.delay)
        received = Received(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            status,
        )
        sink._record(received)
        reply = b"ok" if status < 300 else f"failing on purpose with {status}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = do_PUT = do_PATCH = do_GET = do_DELETE = _any  # noqa: N815


class HttpSink(LoopbackHttpServer):
    """A recording HTTP server on 127.0.0.1:`port`."""

    handler = _Handler

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.status: int | None = None
        self.delay = 0.0
        self._planned: collections.deque[int] = collections.deque()
        self._received: list[Received] = []

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- behaviour --------------------------------------------------------------------------
    def fail_next(self, statuses: list[int]) -> None:
        """Answer the next requests with these statuses, in order."""
        with self._lock:
            self._planned.extend(statuses)

    def _next_status(self, asked: str | None = None) -> int:
        if asked:
            return int(asked)
        with self._lock:
            if self._planned:
                return self._planned.popleft()
        return self.status or 200

    # -- records ----------------------------------------------------------------------------
    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    @property
    def all_requests(self) -> list[Received]:
        """Every request answered, whatever the status."""
        with self._lock:
            return list(self._received)

    @property
    def requests(self) -> list[Received]:
        """Requests answered with a 2xx status."""
        return [r for r in self.all_requests if 200 <= r.status < 300]

    def bodies(self) -> list[bytes]:
        return [r.body for r in self.requests]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Block until `count` requests were answered 2xx; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.requests
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    # -- lifecycle --------------------------------------------------------------------------


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    """A started HttpSink, stopped after the test."""
    sink = HttpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
