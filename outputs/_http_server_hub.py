"""The endpoints of an `http_server` output and the batches waiting for their clients.

One `Hub` per output per process: every worker's instance hands its batches to it, and the
ASGI app (`HubApp`) gives them out, oldest first, to whichever client asks next: a GET on
`path` takes one batch, `stream_path` and `ws_path` take batches as long as they stay
connected. A batch counts as delivered once it was written to its client's connection; a
client that goes away before that gives it back, to the head of the queue.

Worker threads put batches; the server's event loop takes them. A client waiting while the
queue is empty gets the next batch handed to it directly.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from streamforge.connectors.asgi import Receive, Scope, Send, respond
from streamforge.connectors.cors import Cors
from streamforge.message import Message

__all__ = ["Delivery", "Hub", "HubApp", "Owner", "batch_body", "stream_chunk"]

#: batches a write leaves waiting without holding the stream back
HOLD = 1
#: longest one write holds the stream back while batches wait (then it returns; the batch
#: stays queued), so a stop asked for meanwhile is seen
WAIT_SLICE = 1.0
#: batches waiting beyond which a write holds the stream until a client takes one
MAX_WAITING = 1000
#: seconds without a client taking anything before the output says so (then at most this often)
NO_CLIENT_WARNING = 10.0


class Owner(Protocol):
    """A worker's output instance: learns what became of the batches it handed over."""

    closing: bool

    def settled(self, delivery: Delivery, error: str | None) -> None:
        """`delivery` was written to a client (`error` None) or given up on."""


class Delivery:
    """One batch of one worker's output, waiting for a client or in a client's hands."""

    __slots__ = ("messages", "owner", "write")

    def __init__(self, messages: list[Message], owner: Owner, write: Any) -> None:
        self.messages = messages
        self.owner = owner
        #: the owner's record of the write (a PendingBatch)
        self.write = write


_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Delivery | None]"]


class Hub:
    """The batches of one output waiting for clients, and the clients waiting for batches."""

    def __init__(
        self,
        name: str,
        log: logging.Logger,
        fields: dict[str, Any],
        on_waiting: Callable[[int], None] | None = None,
        on_clients: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.fields = fields
        self.where = ""  # what clients ask, for log lines (set once the endpoints are up)
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._queue: collections.deque[Delivery] = collections.deque()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._in_hand: collections.Counter[int] = collections.Counter()  # id(owner) -> count
        self._waiting_messages = 0
        self._clients = 0
        self._on_waiting = on_waiting
        self._on_clients = on_clients
        self._last_taken = time.monotonic()
        self._warned = 0.0
        self.closed = False

    # -- worker side ---------------------------------------------------------------------------
    def put(self, delivery: Delivery) -> None:
        """Queue a batch for the next client (or hand it to one waiting)."""
        with self._lock:
            if self._give_to_waiter(delivery):
                return
            self._queue.append(delivery)
            self._count_waiting(len(delivery.messages))

    def wait_for_room(self) -> None:
        """Hold the stream back while batches wait for a client: up to WAIT_SLICE, or until a
        client takes one when MAX_WAITING batches wait."""
        start = time.monotonic()
        with self._room:
            while len(self._queue) > HOLD and not self.closed:
                now = time.monotonic()
                if len(self._queue) < MAX_WAITING and now - start >= WAIT_SLICE:
                    break
                self._warn_no_client(now)
                self._room.wait(0.25)

    def withdraw(self, owner: Owner, grace: float, reason: str) -> list[Delivery]:
        """`owner` closes: let clients take its batches for up to `grace` seconds, then take
        back those still waiting (returned, to be failed) and wait briefly for those in a
        client's hands. Batches a client gives back from now on fail (`owner.closing`)."""
        deadline = time.monotonic() + grace
        with self._room:
            while self._has(owner) and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._room.wait(min(left, 0.1))
            owner.closing = True
            mine = [d for d in self._queue if d.owner is owner]
            if mine:
                self._queue = collections.deque(d for d in self._queue if d.owner is not owner)
                self._count_waiting(-sum(len(d.messages) for d in mine))
                self._room.notify_all()
            settle_by = time.monotonic() + 2.0
            while self._in_hand[id(owner)] > 0 and time.monotonic() < settle_by:
                self._room.wait(0.05)
        for delivery in mine:
            owner.settled(delivery, reason)
        return mine

    def close(self) -> None:
        """No more batches: clients waiting get none, connected streams end."""
        with self._room:
            self.closed = True
            waiters, self._waiters = list(self._waiters), collections.deque()
            self._room.notify_all()
        for loop, fut in waiters:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                loop.call_soon_threadsafe(_resolve, fut, None)

    # -- event loop side -----------------------------------------------------------------------
    async def take(self, gone: asyncio.Event, timeout: float | None) -> Delivery | None:
        """The next batch for a client; None after `timeout`, when the client went away
        (`gone`) or when the output closed."""
        loop = asyncio.get_running_loop()
        with self._room:
            if self._queue:
                delivery = self._queue.popleft()
                self._count_waiting(-len(delivery.messages))
                self._in_hand[id(delivery.owner)] += 1
                self._last_taken = time.monotonic()
                self._room.notify_all()
                return delivery
            if self.closed:
                return None
            fut: asyncio.Future[Delivery | None] = loop.create_future()
            waiter = (loop, fut)
            self._waiters.append(waiter)
        gone_wait = asyncio.ensure_future(gone.wait())
        waits: set[asyncio.Future[Any]] = {fut, gone_wait}
        try:
            await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            gone_wait.cancel()
            if not fut.done():
                fut.cancel()
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
        if fut.cancelled():
            return None
        return fut.result()

    def delivered(self, delivery: Delivery) -> None:
        """The batch was written to its client."""
        self._out_of_hand(delivery)
        delivery.owner.settled(delivery, None)

    def give_back(self, delivery: Delivery) -> None:
        """The client went away before its batch was written: the next client gets it."""
        with self._room:
            self._in_hand[id(delivery.owner)] -= 1
            if not delivery.owner.closing and not self.closed:
                if self._give_to_waiter(delivery):
                    self._room.notify_all()
                    return
                self._queue.appendleft(delivery)
                self._count_waiting(len(delivery.messages))
                self._room.notify_all()
                return
            self._room.notify_all()
        delivery.owner.settled(delivery, f"{self.name}: the client went away while stopping")

    def client_joined(self, delta: int) -> None:
        """A client connected (1) or left (-1)."""
        with self._lock:
            self._clients += delta
            clients = self._clients
        if self._on_clients is not None:
            self._on_clients(clients)

    # -- internals (lock held) -----------------------------------------------------------------
    def _give_to_waiter(self, delivery: Delivery) -> bool:
        while self._waiters:
            loop, fut = self._waiters.popleft()
            if fut.done():
                continue
            self._in_hand[id(delivery.owner)] += 1
            self._last_taken = time.monotonic()
            try:
                loop.call_soon_threadsafe(self._hand, fut, delivery)
            except RuntimeError:  # that client's loop is gone
                self._in_hand[id(delivery.owner)] -= 1
                continue
            return True
        return False

    def _hand(self, fut: asyncio.Future[Delivery | None], delivery: Delivery) -> None:
        """On the loop: give `delivery` to the client waiting on `fut`, or back when it
        stopped waiting meanwhile."""
        if fut.done():
            self.give_back(delivery)
        else:
            fut.set_result(delivery)

    def _out_of_hand(self, delivery: Delivery) -> None:
        with self._room:
            self._in_hand[id(delivery.owner)] -= 1
            self._room.notify_all()

    def _has(self, owner: Owner) -> bool:
        return self._in_hand[id(owner)] > 0 or any(d.owner is owner for d in self._queue)

    def _count_waiting(self, delta: int) -> None:
        self._waiting_messages += delta
        if self._on_waiting is not None:
            self._on_waiting(self._waiting_messages)

    def _warn_no_client(self, now: float) -> None:
        if now - self._last_taken < NO_CLIENT_WARNING or now - self._warned < NO_CLIENT_WARNING:
            return
        self._warned = now
        self.log.warning(
            "%s: no client took a message for %.0fs; %d message(s) wait for one%s",
            self.name, now - self._last_taken, self._waiting_messages, self.where,
            extra={"fields": self.fields},
        )  # fmt: skip


def _resolve(fut: asyncio.Future[Delivery | None], value: Delivery | None) -> None:
    if not fut.done():
        fut.set_result(value)


def batch_body(messages: list[Message]) -> tuple[bytes, bytes]:
    """A GET's body and Content-Type: one message as it is, several as multipart parts."""
    if len(messages) == 1:
        return messages[0].payload, b"application/octet-stream"
    boundary = uuid.uuid4().hex
    out = bytearray()
    for msg in messages:
        out += f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        out += msg.payload + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}".encode()


def stream_chunk(messages: list[Message]) -> bytes:
    """What `stream_path` writes for a batch: each message and a newline; a batch of several
    ends with an empty line."""
    body = b"".join(m.payload + b"\n" for m in messages)
    return body if len(messages) == 1 else body + b"\n"


async def _watch(receive: Receive, gone: asyncio.Event, disconnect: str) -> None:
    """Set `gone` when the client disconnects (what else it sends is ignored)."""
    while True:
        message = await receive()
        if message["type"] == disconnect:
            gone.set()
            return


class HubApp:
    """The ASGI app serving a hub's `path`, `stream_path` and `ws_path`."""

    def __init__(
        self,
        hub: Hub,
        *,
        path: str,
        stream_path: str,
        ws_path: str,
        verbs: frozenset[str],
        timeout: float,
        cors: Cors,
        websockets: bool,
    ) -> None:
        self.hub = hub
        self.path = path
        self.stream_path = stream_path
        self.ws_path = ws_path
        self.verbs = verbs
        self.timeout = timeout
        self.cors = cors
        self.websockets = websockets
        self._allow = ", ".join(sorted(verbs)).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind, path = scope["type"], scope["path"]
        if kind == "websocket":
            if self.ws_path and path == self.ws_path:
                await self._websocket(receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if kind != "http":
            return
        endpoint = path if path in (self.path, self.stream_path, self.ws_path) and path else ""
        if not endpoint:
            await respond(send, 404, f"not found: {path}\n".encode())
            return
        if self.cors.enabled:
            preflight = self.cors.preflight(scope)
            if preflight is not None:
                await respond(send, 204, b"", preflight)
                return
            send = self.cors.wrap(scope, send)
        if endpoint == self.ws_path:
            await self._not_upgraded(send)
        elif scope["method"] not in self.verbs:
            allow = [(b"allow", self._allow)]
            await respond(send, 405, f"method {scope['method']} not allowed\n".encode(), allow)
        elif endpoint == self.path:
            await self._get(receive, send)
        else:
            await self._stream(receive, send)

    async def _not_upgraded(self, send: Send) -> None:
        if self.websockets:
            text = b"this endpoint is a websocket: connect with a websocket client\n"
            await respond(send, 426, text, [(b"upgrade", b"websocket")])
        else:
            text = (b"websockets are not available: the Python package 'websockets' is not "
                    b"installed (pip install 'streamforge[websocket]')\n")  # fmt: skip
            await respond(send, 501, text)

    async def _get(self, receive: Receive, send: Send) -> None:
        hub = self.hub
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_watch(receive, gone, "http.disconnect"))
        hub.client_joined(1)
        try:
            delivery = await hub.take(gone, self.timeout)
            if delivery is None:
                if gone.is_set():
                    return
                if hub.closed:
                    await respond(send, 503, b"server closing\n")
                else:
                    await respond(send, 408, b"timed out waiting for a message\n")
                return
            if gone.is_set():
                hub.give_back(delivery)
                return
            body, content_type = batch_body(delivery.messages)
            try:
                await respond(send, 200, body, content_type=content_type)
            except BaseException:
                hub.give_back(delivery)
                raise
            hub.delivered(delivery)
        finally:
            hub.client_joined(-1)
            watcher.cancel()

    async def _stream(self, receive: Receive, send: Send) -> None:
        hub = self.hub
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_watch(receive, gone, "http.disconnect"))
        head = [(b"content-type", b"application/octet-stream"), (b"cache-control", b"no-cache")]
        hub.client_joined(1)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": head})
            while not gone.is_set():
                delivery = await hub.take(gone, None)
                if delivery is None:
                    break
                if gone.is_set():
                    hub.give_back(delivery)
                    break
                chunk = stream_chunk(delivery.messages)
                try:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except BaseException:
                    hub.give_back(delivery)
                    raise
                hub.delivered(delivery)
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            hub.client_joined(-1)
            watcher.cancel()

    async def _websocket(self, receive: Receive, send: Send) -> None:
        hub = self.hub
        if (await receive())["type"] != "websocket.connect":
            return
        if hub.closed:
            await send({"type": "websocket.close", "code": 1001})
            return
        await send({"type": "websocket.accept"})
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_watch(receive, gone, "websocket.disconnect"))
        hub.client_joined(1)
        try:
            while not gone.is_set():
                delivery = await hub.take(gone, None)
                if delivery is None:
                    break
                if gone.is_set():
                    hub.give_back(delivery)
                    break
                try:
                    for msg in delivery.messages:
                        await send({"type": "websocket.send", "bytes": msg.payload})
                except Exception:  # noqa: BLE001 - the client went away mid-batch
                    hub.give_back(delivery)
                    break
                except BaseException:
                    hub.give_back(delivery)
                    raise
                hub.delivered(delivery)
            if not gone.is_set():
                with contextlib.suppress(Exception):
                    await send({"type": "websocket.close", "code": 1001})
        finally:
            hub.client_joined(-1)
            watcher.cancel()
