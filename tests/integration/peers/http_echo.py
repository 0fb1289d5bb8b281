"""An HTTP service for tests of HTTP clients that read answers (the `http` processor).

    POST /token               OAuth 2 client credentials: {"access_token": "token-<n>", ...}
                              when the basic auth is client:secret (401 otherwise)
    any verb /upper           the body upper-cased, with an `X-Echo-Length` header
    any verb /parts           a multipart/mixed answer: each request part upper-cased
    any verb /status/<code>   that status, with a short body

Every request is recorded with its headers and body (`echo.requests`).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest

from peers.loopback_http import LoopbackHttpServer, TrackedHandler

__all__ = ["EchoRequest", "HttpEcho", "http_echo"]


@dataclass(frozen=True)
class EchoRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived


def _parts(content_type: str, body: bytes) -> list[bytes]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    doc = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    return [p.get_payload(decode=True) for p in doc.iter_parts()]  # type: ignore[attr-defined]


class _Handler(TrackedHandler):
    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "text/plain"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _any(self) -> None:
        echo = cast(HttpEcho, self.server.owner)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        echo.record(EchoRequest(self.command, self.path, headers, body, time.monotonic()))
        if self.path == "/token":
            expected = "Basic " + base64.b64encode(b"client:secret").decode()
            if headers.get("authorization") != expected:
                self._answer(401, b"bad client")
                return
            echo.tokens += 1
            token = {"access_token": f"token-{echo.tokens}", "token_type": "bearer",
                     "expires_in": 3600}  # fmt: skip
            self._answer(200, json.dumps(token).encode(), {"Content-Type": "application/json"})
        elif self.path.startswith("/upper"):
            self._answer(200, body.upper(), {"X-Echo-Length": str(len(body))})
        elif self.path.startswith("/parts"):
            parts = _parts(headers.get("content-type", ""), body)
            out = b"".join(b"--b1\r\n\r\n" + p.upper() + b"\r\n" for p in parts) + b"--b1--\r\n"
            self._answer(200, out, {"Content-Type": "multipart/mixed; boundary=b1"})
        elif self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self._answer(code, f"answered {code}".encode())
        else:
            self._answer(404, b"no such path")

    do_POST = do_PUT = do_PATCH = do_GET = do_DELETE = _any  # noqa: N815


class HttpEcho(LoopbackHttpServer):
    """The service on 127.0.0.1:`port`."""

    handler = _Handler

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.tokens = 0
        self._requests: list[EchoRequest] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def record(self, request: EchoRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[EchoRequest]:
        with self._lock:
            return list(self._requests)


@pytest.fixture
def http_echo() -> Iterator[HttpEcho]:
    """A started HttpEcho, stopped after the test."""
    echo = HttpEcho().start()
    try:
        yield echo
    finally:
        echo.stop()
