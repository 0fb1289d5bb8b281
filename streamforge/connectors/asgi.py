"""Per-request helpers for StreamForge's ASGI apps: a bounded body read and plain replies.

`read_body` returns a body only when all of it arrived within its deadline; a body over the
limit is read to its end and thrown away first, so the client has sent everything and can read
the 413 (as nginx and Go's net/http do) instead of seeing its upload cut off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "BodyTimeout",
    "BodyTooLarge",
    "ClientGone",
    "Receive",
    "Scope",
    "Send",
    "header",
    "read_body",
    "respond",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    """The body is larger than allowed; `drained` when all of it was read (and dropped)."""

    def __init__(self, message: str, drained: bool) -> None:
        super().__init__(message)
        self.drained = drained


class BodyTimeout(Exception):
    """The body did not arrive within the read deadline."""


class ClientGone(Exception):
    """The client closed the connection before its body was complete."""


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lower case), decoded as Latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class _Deadline:
    """Cancels the current task after `seconds` while armed; `expired` tells why it was."""

    def __init__(self, seconds: float) -> None:
        self.armed = True
        self.expired = False
        task = asyncio.current_task()
        self._handle = asyncio.get_running_loop().call_later(seconds, self._expire, task)

    def _expire(self, task: asyncio.Task[Any] | None) -> None:
        # runs on the loop's thread, so never between `disarm()` and the code after it
        if self.armed and task is not None:
            self.expired = True
            task.cancel()

    def disarm(self) -> None:
        self.armed = False
        self._handle.cancel()


async def read_body(scope: Scope, receive: Receive, limit: int, timeout: float) -> bytes:
    """The complete request body, at most `limit` bytes (0: no limit) within `timeout` seconds.

    Raises BodyTooLarge, BodyTimeout or ClientGone; never returns part of a body.
    """
    declared = header(scope, b"content-length")
    too_large = ""
    if limit and declared is not None and declared.isdigit() and int(declared) > limit:
        too_large = f"body of {declared} bytes exceeds max_body_size {limit}"
        expect = header(scope, b"expect")
        if expect is not None and expect.lower() == "100-continue":
            raise BodyTooLarge(too_large, drained=True)  # the client waits; nothing to drain
    chunks: list[bytes] = []
    size = 0
    deadline = _Deadline(timeout)
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                deadline.disarm()
                raise ClientGone("the client closed the connection before the body was complete")
            chunk = message.get("body", b"")
            size += len(chunk)
            if not too_large:
                if limit and size > limit:
                    too_large = f"body exceeds max_body_size {limit}"
                    chunks.clear()
                else:
                    chunks.append(chunk)
            if not message.get("more_body", False):
                break
        deadline.disarm()
    except asyncio.CancelledError:
        if not deadline.expired:
            raise
        if too_large:
            raise BodyTooLarge(too_large, drained=False) from None
        raise BodyTimeout(f"the body did not arrive within {timeout:g}s") from None
    if too_large:
        raise BodyTooLarge(too_large, drained=True)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    close: bool = False,
    content_type: bytes | None = b"text/plain; charset=utf-8",
) -> None:
    """Send a whole response; `close` ends the connection after it."""
    head = list(headers or [])
    if content_type is not None:
        head.append((b"content-type", content_type))
    head.append((b"content-length", str(len(body)).encode()))
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
