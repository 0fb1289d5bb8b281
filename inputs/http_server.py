"""`http_server` input: each HTTP request to `path` becomes a message (a batch for multipart).

The request waits until the stream's outputs are done with its message, then gets the
`sync_response` status (200 by default) when it was written, with what a `sync_response`
output wrote as its body (empty without one), 502 with the error when writing
failed, 408 after `timeout`, and 503 while the server is closing. Bad requests are answered
without reaching the stream: 404 (path), 405 (verb), 413 (body too large), 429 (rate limit).

The listener is uvicorn (`streamforge.connectors.serving`): a request becomes a message only
once its headers and its whole body arrived; slow, idle and surplus connections are closed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.parser
import email.policy
import logging
import re
import threading
import time
import uuid
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import Counter

from streamforge.connectors.asgi import (
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    read_body,
    respond,
)
from streamforge.connectors.cors import Cors, cors_field
from streamforge.connectors.http import parse_address
from streamforge.connectors.serving import ServerLimits, serve
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.metadata_filter import MetadataFilter, metadata_filter_field
from streamforge.plugin import (
    METRICS_REGISTRY,
    BuildContext,
    Field,
    Input,
    InputReader,
    register_input,
)
from streamforge.plugin.spec import ParsedField

__all__ = ["HttpServerInput", "HttpServerReader", "RateLimit", "parse_rate_limit"]

log = logging.getLogger("streamforge.inputs.http_server")

#: where an http_server listens when `address` is empty (4195 is the metrics endpoint)
DEFAULT_ADDRESS = "0.0.0.0:4196"
#: requests accepted but not yet read by the stream; beyond this new ones get 503
MAX_QUEUED = 10_000
#: at most one log line per this many seconds about rejected requests
REJECT_LOG_INTERVAL = 10.0
#: a refused request's body is read and dropped up to this size, so the client sees the answer
DRAIN_LIMIT = 1 << 20

REJECTED = Counter(
    "streamforge_http_server_rejected",
    "Requests an http_server input answered with an error status of its own (not an "
    "output's result): 404, 405, 408, 413, 429, 503.",
    ("stream", "component", "status"),
    registry=METRICS_REGISTRY,
)

PROBLEMS = Counter(
    "streamforge_http_server_connection_problems",
    "Connections an http_server input closed or refused before a request was complete: "
    "header timeout, bad request, refused (over max_connections), client gone.",
    ("stream", "component", "problem"),
    registry=METRICS_REGISTRY,
)

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")


def parse_rate_limit(text: str | None) -> tuple[int, float] | None:
    """`"100/1s"` -> (100, 1.0): at most 100 requests per second; "" -> None (no limit)."""
    s = str(text or "").strip()
    if not s:
        return None
    m = _RATE.match(s)
    if not m:
        raise ValueError(
            f"rate_limit {text!r}: expected <count>/<duration> such as 100/1s "
            "(rate_limit resources are not supported)"
        )
    count, period = int(m.group(1)), parse_duration(m.group(2))
    if count <= 0 or period <= 0:
        raise ValueError(f"rate_limit {text!r}: count and duration must be positive")
    return count, period


class RateLimit:
    """A token bucket: `count` requests per `period`, bursts up to `count`."""

    def __init__(self, count: int, period: float, clock: Any = time.monotonic) -> None:
        self.capacity = float(count)
        self.rate = count / period
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a request may pass now, else seconds until it could."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def _path_matcher(path: str) -> re.Pattern[str]:
    """`/post` matches exactly; `/{name}` segments capture metadata; a trailing / is a prefix."""
    pattern = ""
    for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", path):
        if part.startswith("{") and part.endswith("}"):
            pattern += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            pattern += re.escape(part)
    if path.endswith("/") and len(path) > 1:
        pattern += ".*"
    return re.compile(f"^{pattern}$")


def _canonical(name: str) -> str:
    """Header names as Go writes them (content-type -> Content-Type), as Benthos reports them."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


_SYNC_DEFAULT = {
    "status": "200",
    "headers": {"Content-Type": "application/octet-stream"},
    "metadata_headers": {"include_prefixes": [], "include_patterns": []},
}


@register_input(
    "http_server",
    fields=[
        Field(
            "address",
            "string",
            default="",
            description=f"host:port of this input's own listener; empty means "
            f"{DEFAULT_ADDRESS}. Port 0 picks a free port (logged at start).",
            examples=("0.0.0.0:8080", "127.0.0.1:0"),
        ),
        Field(
            "path",
            "string",
            default="/post",
            description="The endpoint; `{name}` segments become metadata, a trailing / "
            "matches every path below it.",
            examples=("/post", "/devices/{device}/values"),
        ),
        Field(
            "allowed_verbs",
            "array",
            default=["POST"],
            item=Field("verb", "string"),
            description="HTTP methods accepted; others get 405.",
        ),
        Field(
            "timeout",
            "duration",
            default="5s",
            description="How long a request waits for the stream to write its message "
            "before it gets 408.",
        ),
        ParsedField(
            "rate_limit",
            "string",
            default="",
            parser=parse_rate_limit,
            description="At most <count> requests per <duration> (e.g. 100/1s); "
            "others get 429 with Retry-After. Empty: no limit.",
        ),
        Field(
            "max_body_size",
            "int",
            default=10 * 1024 * 1024,
            description="Largest request body in bytes; larger ones get 413. 0: no limit.",
            advanced=True,
        ),
        Field(
            "read_header_timeout",
            "duration",
            default="10s",
            description="How long a client has to send the request line and headers after "
            "connecting (or after its previous request); slower connections are closed.",
            advanced=True,
        ),
        Field(
            "read_timeout",
            "duration",
            default="30s",
            description="How long a client has to send the whole body once its headers "
            "arrived; a slower request gets 408 and is not a message.",
            advanced=True,
        ),
        Field(
            "idle_timeout",
            "duration",
            default="60s",
            description="How long a keep-alive connection may stay idle between requests.",
            advanced=True,
        ),
        Field(
            "max_connections",
            "int",
            default=4096,
            description="Open connections served at once; one more gets 503 and is closed.",
            advanced=True,
        ),
        Field(
            "sync_response",
            "object",
            default=_SYNC_DEFAULT,
            description="The response sent once the stream has written the message.",
            fields=(
                Field(
                    "status",
                    "string",
                    default="200",
                    interpolable=True,
                    description="Status code; interpolated against the request's message.",
                    examples=("200", '${! meta("status").or("200") }'),
                ),
                Field(
                    "headers",
                    "map",
                    default=_SYNC_DEFAULT["headers"],
                    item=Field("value", "string", interpolable=True),
                    description="Response headers, interpolated against the message.",
                ),
                metadata_filter_field(
                    "metadata_headers", "Message metadata returned as response headers."
                ),
            ),
        ),
        cors_field(),
    ],
    summary="Receives messages sent over HTTP; each request is answered once it was written.",
    description=(
        "Metadata: `http_server_user_agent`, `http_server_request_path`, `http_server_verb`, "
        "`http_server_remote_ip`, every request header (first value, canonical name such as "
        "`Content-Type`), query parameter, cookie and `{name}` path parameter. A multipart "
        "request becomes one batch with a message per part (part headers as metadata). Bodies "
        "are passed as raw bytes.\n\n"
        "Each request is answered after the stream's outputs are done with its message(s): the "
        "`sync_response` status and headers when written, 502 with the error when writing "
        "failed, 408 after `timeout`, 503 while stopping. Rejected requests (404, 405, 413, "
        "429) never reach the stream and are counted in "
        "`streamforge_http_server_rejected_total`.\n\n"
        "A request is a message only once its headers and its whole body arrived: a client "
        "that is cut off, or slower than `read_header_timeout`/`read_timeout`, produces "
        "nothing. A body over `max_body_size` is read to its end and dropped, then answered "
        "413, so every client can read the answer. Connection problems are counted in "
        "`streamforge_http_server_connection_problems_total` and logged at most once per 10 s. "
        "Unlike Benthos, the input has its own "
        "listener (`address`) and `rate_limit` is written inline as `<count>/<duration>`."
    ),
    examples=(
        "http_server:\n  address: 0.0.0.0:8080\n  path: /ingest\n  allowed_verbs: [ POST, PUT ]\n"
        "  timeout: 5s\n  rate_limit: 500/1s\n",
    ),
)
class HttpServerInput(Input):
    """Receives messages sent over HTTP; each request is answered once it was written."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.stream = getattr(ctx, "stream", "") or "stream"
        self.label = getattr(ctx, "label", "") or "http_server"
        self.address = str(conf.get("address") or "") or DEFAULT_ADDRESS
        self.host, self.port = parse_address(self.address)
        self.path = str(conf.get("path") or "/post")
        if not self.path.startswith("/"):
            self.path = "/" + self.path
        self.matcher = _path_matcher(self.path)
        self.verbs = frozenset(str(v).upper() for v in conf.get("allowed_verbs") or ["POST"])
        self.timeout = parse_duration(conf.get("timeout", "5s")) or 5.0
        limit = parse_rate_limit(conf.get("rate_limit"))
        self.rate_limit = limit
        self.rate_text = str(conf.get("rate_limit") or "").strip()
        self.max_body = max(int(conf.get("max_body_size", 10 * 1024 * 1024) or 0), 0)
        self.read_timeout = parse_duration(conf.get("read_timeout", "30s")) or 30.0
        self.limits = ServerLimits(
            read_header_timeout=parse_duration(conf.get("read_header_timeout", "10s")) or 10.0,
            idle_timeout=parse_duration(conf.get("idle_timeout", "60s")) or 60.0,
            max_connections=max(int(conf.get("max_connections", 4096) or 4096), 1),
        )
        sync = conf.get("sync_response") or {}
        self.status = InterpolatedString(str(sync.get("status", "200") or "200"))
        headers = sync.get("headers", _SYNC_DEFAULT["headers"]) or {}
        self.headers = {str(k): InterpolatedString(str(v)) for k, v in headers.items()}
        mh = sync.get("metadata_headers") or {}
        self.meta_filter = MetadataFilter(mh)
        self.cors = Cors(conf.get("cors"), self.verbs)

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return HttpServerReader(self)


class _Pending:
    """One request waiting for the stream: its messages and, later, the outcome."""

    __slots__ = ("messages", "loop", "outcome", "state", "responses")

    def __init__(self, messages: list[Message], loop: asyncio.AbstractEventLoop) -> None:
        self.messages = messages
        #: what a `sync_response` output handed back for this request, in order
        self.responses: list[Message] = []
        self.loop = loop
        self.outcome: asyncio.Future[str | None] = loop.create_future()
        self.state = "queued"  # queued -> taken (by read) | abandoned (timed out) | closed

    def resolve(self, error: str | None) -> None:
        """Called from any thread: hand the outcome to the request waiting on the loop."""
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            self.loop.call_soon_threadsafe(self._set, error)

    def _set(self, error: str | None) -> None:
        if not self.outcome.done():
            self.outcome.set_result(error)


class HttpServerReader(InputReader):
    """Owns the listener; `read` hands one waiting request (as a batch) to the stream."""

    def __init__(self, source: HttpServerInput) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._inflight: dict[int, _Pending] = {}
        self.closed = False
        self.rate = RateLimit(*source.rate_limit) if source.rate_limit else None
        self._fields = {"stream": source.stream, "component": source.label}
        self._reject_counts: collections.Counter[int] = collections.Counter()
        self._reject_logged = -REJECT_LOG_INTERVAL
        try:
            self.server = serve(
                _IngestApp(self),
                source.address,
                limits=source.limits,
                logger=log,
                name=f"http_server {source.label}",
                fields=self._fields,
                on_problem=self._count_problem,
            )
        except (OSError, ValueError) as exc:
            raise OSError(
                f"http_server {source.label}: cannot listen on {source.address}: {exc}"
            ) from exc
        self.port = self.server.port
        self.url = f"http://{self.server.address}{source.path}"
        log.info(
            "http_server %s listening on %s", source.label, self.url, extra={"fields": self._fields}
        )

    def _count_problem(self, kind: str) -> None:
        src = self.source
        PROBLEMS.labels(stream=src.stream, component=src.label, problem=kind).inc()

    # -- called by the server's event loop ------------------------------------------------------
    def submit(self, messages: list[Message]) -> _Pending | None:
        """Queue a request's messages for the stream; None when closing or too many wait."""
        pending = _Pending(messages, asyncio.get_running_loop())
        with self._lock:
            if self.closed or len(self._queue) >= MAX_QUEUED:
                return None
            self._queue.append(pending)
        return pending

    def abandon(self, pending: _Pending) -> bool:
        """The request timed out; True when the stream had not taken it yet (it never will)."""
        with self._lock:
            if pending.state == "queued":
                pending.state = "abandoned"
                return True
            return False

    def rejected(self, status: int, reason: str) -> None:
        """Count and (rate-limited) log a request answered without reaching the stream."""
        src = self.source
        REJECTED.labels(stream=src.stream, component=src.label, status=str(status)).inc()
        with self._lock:
            self._reject_counts[status] += 1
            now = time.monotonic()
            if now - self._reject_logged < REJECT_LOG_INTERVAL:
                return
            counts, self._reject_counts = self._reject_counts, collections.Counter()
            self._reject_logged = now
        total = sum(counts.values())
        log.warning(
            "http_server %s rejected %d request(s); latest: HTTP %d %s",
            src.label, total, status, reason,
            extra={"fields": {**self._fields, "statuses": dict(counts)}},
        )  # fmt: skip

    # -- called by the worker -----------------------------------------------------------------
    def read(self) -> list[Message] | None:
        with self._lock:
            while self._queue:
                pending = self._queue.popleft()
                if pending.state != "queued":
                    continue
                pending.state = "taken"
                batch = pending.messages
                self._inflight[id(batch)] = pending
                return batch
        return []

    def next_awake(self) -> datetime | None:
        # asked again after Bytewax's own cooldown (about 1 ms): a request waits no longer
        return None

    def respond(self, batch: list[Message], messages: list[Message]) -> None:
        """A `sync_response` processor or output handed back `messages` of the request read as
        `batch`: they become the answer's body (one message) or parts (several), in order."""
        for msg in messages:
            msg.payload  # noqa: B018 - serialise on the worker, not on the server's loop
        with self._lock:
            pending = self._inflight.get(id(batch))
            if pending is not None:
                pending.responses.extend(messages)

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            pending = self._inflight.pop(id(batch), None)
        if pending is not None:
            pending.resolve(error)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            waiting = list(self._queue)
            self._queue.clear()
        for pending in waiting:
            pending.state = "closed"
            pending.resolve("server closing")
        # requests the stream took are answered once written, after this returns
        self.server.stop(wait=False)
        log.info(
            "http_server %s stopped listening", self.source.label, extra={"fields": self._fields}
        )

    # -- responses ----------------------------------------------------------------------------
    def response_for(self, msg: Message) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The sync_response status and headers for a written message."""
        src = self.source
        status = 200
        try:
            status = int(src.status.render(msg).strip())
        except Exception as exc:  # noqa: BLE001 - a bad status expression keeps 200
            log.warning(
                "http_server %s: sync_response status: %s", src.label, exc,
                extra={"fields": self._fields},
            )  # fmt: skip
        headers: dict[str, str] = {}
        for name, value in src.headers.items():
            try:
                headers[name] = value.render(msg)
            except Exception as exc:  # noqa: BLE001 - skip a header that cannot be rendered
                log.warning(
                    "http_server %s: sync_response header %s: %s", src.label, name, exc,
                    extra={"fields": self._fields},
                )  # fmt: skip
        headers.update(src.meta_filter.select(msg.metadata))
        return status, [(_latin1(k), _latin1(v)) for k, v in headers.items()]


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", "replace")


class _IngestApp:
    """The ASGI app of one http_server: checks a request, queues it, answers with the outcome."""

    def __init__(self, reader: HttpServerReader) -> None:
        self.reader = reader
        self.source = reader.source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        reader, src = self.reader, self.source
        path = scope["path"]
        method = scope["method"]
        match = src.matcher.match(path)
        if match is None:
            reader.rejected(404, f"no endpoint at {path} (it is {src.path})")
            await self._refuse(scope, receive, send, 404, f"not found: {path}\n")
            return
        if src.cors.enabled:
            preflight = src.cors.preflight(scope)
            if preflight is not None:
                await self._refuse(scope, receive, send, 204, "", preflight)
                return
            send = src.cors.wrap(scope, send)
        if method not in src.verbs:
            reader.rejected(405, f"method {method} not allowed")
            allow = [(b"allow", ", ".join(sorted(src.verbs)).encode())]
            await self._refuse(scope, receive, send, 405, f"method {method} not allowed\n", allow)
            return
        if reader.rate is not None:
            wait = reader.rate.take()
            if wait > 0:
                reader.rejected(429, f"rate limit {src.rate_text} exceeded")
                retry = [(b"retry-after", str(max(int(wait + 0.999), 1)).encode())]
                await self._refuse(scope, receive, send, 429, "rate limit exceeded\n", retry)
                return
        try:
            body = await read_body(scope, receive, src.max_body, src.read_timeout)
        except BodyTooLarge as exc:
            reader.rejected(413, str(exc))
            await respond(send, 413, f"{exc}\n".encode(), close=True)
            return
        except BodyTimeout as exc:
            reader.rejected(408, str(exc))
            await respond(send, 408, f"{exc}\n".encode(), close=True)
            return
        except ClientGone:
            reader.server.problems.note("client gone", "closed before its body was complete")
            return
        messages = _messages(scope, body, path, match.groupdict())
        pending = reader.submit(messages)
        if pending is None:
            reason = "server closing" if reader.closed else "too many requests waiting"
            reader.rejected(503, reason)
            await respond(send, 503, f"{reason}\n".encode())
            return
        try:
            error = await asyncio.wait_for(asyncio.shield(pending.outcome), src.timeout)
        except asyncio.TimeoutError:
            dropped = reader.abandon(pending)
            reason = f"not written within timeout {src.timeout:g}s" + (
                "; dropped before the stream read it" if dropped else "; the stream goes on with it"
            )
            reader.rejected(408, reason)
            await respond(send, 408, f"request timed out: {reason}\n".encode())
            return
        if pending.state == "closed":
            await respond(send, 503, b"server closing\n")
        elif error is not None:
            await respond(send, 502, f"{error}\n".encode())
        elif pending.responses:
            status, headers = reader.response_for(pending.responses[0])
            body, multipart_type = _response_body(pending.responses)
            if multipart_type:
                headers = [h for h in headers if h[0].lower() != b"content-type"]
                headers.append((b"content-type", multipart_type.encode()))
            await respond(send, status, body, headers, content_type=None)
        else:
            status, headers = reader.response_for(messages[0])
            await respond(send, status, b"", headers, content_type=None)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        text: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Answer without reaching the stream, after reading (and dropping) a small body."""
        try:
            await read_body(scope, receive, DRAIN_LIMIT, self.source.read_timeout)
        except (BodyTooLarge, BodyTimeout, ClientGone):
            await respond(send, status, text.encode(), headers, close=True)
            return
        await respond(send, status, text.encode(), headers)


def _messages(scope: Scope, body: bytes, path: str, path_params: dict[str, str]) -> list[Message]:
    """A request as message(s): one per body, or one per part of a multipart body."""
    meta: dict[str, Any] = {}
    raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
    for raw_name, raw_value in raw_headers:
        meta.setdefault(_canonical(raw_name.decode("latin-1")), raw_value.decode("latin-1"))
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        meta.setdefault(key, value)
    cookie_header = meta.get("Cookie")
    if cookie_header:
        try:
            for name, morsel in SimpleCookie(cookie_header).items():
                meta.setdefault(name, morsel.value)
        except CookieError:
            pass
    meta.update(path_params)
    meta["http_server_user_agent"] = meta.get("User-Agent", "")
    meta["http_server_request_path"] = path
    meta["http_server_verb"] = scope["method"]
    client = scope.get("client")
    meta["http_server_remote_ip"] = str(client[0]) if client else ""
    ctype = meta.get("Content-Type", "")
    if ctype.lower().startswith("multipart/"):
        parts = _multipart(ctype, body)
        if parts is not None:
            return [Message(payload, {**meta, **headers}) for payload, headers in parts]
    return [Message(body, meta)]


def _response_body(responses: list[Message]) -> tuple[bytes, str]:
    """The body of a synchronous response: one message's payload, or a multipart/mixed body
    of several (with its Content-Type)."""
    if len(responses) == 1:
        return responses[0].payload, ""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for msg in responses:
        out += f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        out += msg.payload + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/mixed; boundary={boundary}"


def _multipart(content_type: str, body: bytes) -> list[tuple[bytes, dict[str, str]]] | None:
    """The parts of a multipart body with their headers; None when it cannot be parsed."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    try:
        doc = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    except Exception:  # noqa: BLE001 - malformed multipart passes as one raw message
        return None
    if not doc.is_multipart():
        return None
    parts: list[tuple[bytes, dict[str, str]]] = []
    for part in doc.iter_parts():  # type: ignore[attr-defined]
        payload = part.get_payload(decode=True)
        headers = {_canonical(k): str(v) for k, v in part.items()}
        parts.append((payload if isinstance(payload, bytes) else b"", headers))
    return parts or None
