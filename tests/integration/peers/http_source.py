"""A real HTTP server that answers reads, for the `http_client` input and the `http` processor.

`http_source` (a pytest fixture) starts one on a free loopback port per test:

    GET  /value          the next reading as JSON {"n": 1} (counting up), header X-Reading
    GET  /longpoll       held until `publish(body)`, then that body; 204 after `hold` seconds
    GET  /events         server-sent events from `events` after the Last-Event-ID asked for;
                         the stream ends unless `sse_hold` is set
    GET  /lines          `lines` as one chunked body, written line by line
    POST /echo           {"echo": <body>, "asset": <X-Asset header>}
    any  /status/<code>  answers <code>
    source.status = 503  every answer is 503 (None: back to normal)
    source.stop(); source.start()   gone (connections refused), then back on the same port
    source.requests      what it received, in order
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest

from peers.loopback_http import LoopbackHttpServer, TrackedHandler

__all__ = ["HttpSource", "Request", "http_source"]


@dataclass(frozen=True)
class Request:
    """One request the source received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(TrackedHandler):
    disable_nagle_algorithm = True

    def _any(self) -> None:
        source = cast(HttpSource, self.server.owner)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        source._record(Request(self.command, self.path, headers, body))
        path = self.path.split("?", 1)[0]
        if source.status is not None:
            self._reply(source.status, b"unavailable on purpose")
        elif path == "/value":
            n = source._next_reading()
            self._reply(200, json.dumps({"n": n}).encode(), {"X-Reading": str(n)})
        elif path == "/longpoll":
            value = source._wait_published()
            if value is None:
                self._reply(204, b"")
            else:
                self._reply(200, value)
        elif path == "/events":
            self._events(source, headers.get("last-event-id", ""))
        elif path == "/lines":
            self._chunked(source, [f"{line}\n".encode() for line in source.lines])
        elif path == "/echo":
            doc = {"echo": body.decode(), "asset": headers.get("x-asset", "")}
            self._reply(200, json.dumps(doc).encode(), {"X-Echoed": "yes"})
        elif path.startswith("/status/"):
            self._reply(int(path.rsplit("/", 1)[1]), b"status on purpose")
        else:
            self._reply(404, b"no such path")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any  # noqa: N815

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json" if body[:1] == b"{" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _chunked(self, source: HttpSource, parts: list[bytes]) -> None:
        self._start_chunked("text/plain")
        for part in parts:
            self._chunk(part)
            time.sleep(source.chunk_pause)
        self._chunk(b"")

    def _events(self, source: HttpSource, last_id: str) -> None:
        self._start_chunked("text/event-stream")
        ids = [event_id for event_id, _, _ in source.events]
        start = ids.index(last_id) + 1 if last_id in ids else 0
        self._chunk(b": a comment the client skips\nretry: 100\n\n")
        for event_id, name, data in source.events[start:]:
            text = f"id: {event_id}\n" + (f"event: {name}\n" if name else "")
            text += "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"
            raw = text.encode()
            half = len(raw) // 2  # an event split over two chunks
            self._chunk(raw[:half])
            time.sleep(source.chunk_pause)
            self._chunk(raw[half:])
        if source.sse_hold:
            source._stopping.wait(30)
        self._chunk(b"")


class HttpSource(LoopbackHttpServer):
    """An HTTP server with readings, long polls, event streams and an echo, on 127.0.0.1."""

    handler = _Handler

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.status: int | None = None
        self.hold = 2.0
        self.chunk_pause = 0.01
        self.sse_hold = False
        self.events: list[tuple[str, str, str]] = []
        self.lines: list[str] = []
        self._reading = 0
        self._published: collections.deque[bytes] = collections.deque()
        self._publish_ready = threading.Condition(self._lock)
        self._received: list[Request] = []
        self._stopping = threading.Event()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def publish(self, body: bytes) -> None:
        """Answer a waiting (or the next) long poll with `body`."""
        with self._publish_ready:
            self._published.append(body)
            self._publish_ready.notify_all()

    def _wait_published(self) -> bytes | None:
        deadline = time.monotonic() + self.hold
        with self._publish_ready:
            while not self._published:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return None
                self._publish_ready.wait(min(left, 0.05))
            return self._published.popleft()

    def _next_reading(self) -> int:
        with self._lock:
            self._reading += 1
            return self._reading

    def _record(self, request: Request) -> None:
        with self._lock:
            self._received.append(request)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._received)

    def wait_for(self, path: str, count: int, timeout: float = 15.0) -> list[Request]:
        """Block until `count` requests to `path` arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.requests if r.path.split("?")[0] == path]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def stop(self) -> None:
        self._stopping.set()
        super().stop()
        self._stopping = threading.Event()


@pytest.fixture
def http_source() -> Iterator[HttpSource]:
    """A started HttpSource, stopped after the test."""
    source = HttpSource().start()
    try:
        yield source
    finally:
        source.stop()
