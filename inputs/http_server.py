"""`http_server` input: each HTTP request to `path` becomes a message (a batch for multipart).

The request waits until the stream's outputs are done with its message, then gets the
`sync_response` status (200 by default) when it was written, 502 with the error when writing
failed, 408 after `timeout`, and 503 while the server is closing. Bad requests are answered
without reaching the stream: 404 (path), 405 (verb), 413 (body too large), 429 (rate limit).
"""

from __future__ import annotations

import collections
import email.parser
import email.policy
import logging
import re
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from prometheus_client import Counter

from streamforge.connectors.http import parse_address
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
#: how long read() lets the worker sleep when no request is waiting
IDLE_POLL = timedelta(milliseconds=2)

REJECTED = Counter(
    "streamforge_http_server_rejected",
    "Requests an http_server input answered with an error status of its own (not an "
    "output's result): 404, 405, 408, 413, 429, 503.",
    ("stream", "component", "status"),
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
        "`streamforge_http_server_rejected_total`. Unlike Benthos, the input has its own "
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
        sync = conf.get("sync_response") or {}
        self.status = InterpolatedString(str(sync.get("status", "200") or "200"))
        headers = sync.get("headers", _SYNC_DEFAULT["headers"]) or {}
        self.headers = {str(k): InterpolatedString(str(v)) for k, v in headers.items()}
        mh = sync.get("metadata_headers") or {}
        self.meta_filter = MetadataFilter(mh)

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return HttpServerReader(self)


class _Pending:
    """One request waiting for the stream: its messages and, later, the outcome."""

    __slots__ = ("messages", "done", "error", "state")

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.done = threading.Event()
        self.error: str | None = None
        self.state = "queued"  # queued -> taken (by read) | abandoned (timed out) | closed

    def resolve(self, error: str | None) -> None:
        self.error = error
        self.done.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    reader: HttpServerReader


class _Server6(_Server):
    address_family = socket.AF_INET6


class HttpServerReader(InputReader):
    """Owns the listener; `read` hands one waiting request (as a batch) to the stream."""

    def __init__(self, source: HttpServerInput) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._inflight: dict[int, _Pending] = {}
        self._closed = False
        self.rate = RateLimit(*source.rate_limit) if source.rate_limit else None
        self._fields = {"stream": source.stream, "component": source.label}
        self._reject_counts: collections.Counter[int] = collections.Counter()
        self._reject_logged = -REJECT_LOG_INTERVAL
        server_cls = _Server6 if ":" in source.host else _Server
        try:
            self.server = server_cls((source.host, source.port), _Handler)
        except OSError as exc:
            raise OSError(
                f"http_server {source.label}: cannot listen on {source.address}: {exc}"
            ) from exc
        self.server.reader = self
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        self.port = int(port)
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}{source.path}"
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            name=f"streamforge-http-server-{source.label}",
            daemon=True,
        )
        self._thread.start()
        log.info(
            "http_server %s listening on %s", source.label, self.url, extra={"fields": self._fields}
        )

    # -- called by request handler threads ----------------------------------------------------
    def submit(self, messages: list[Message]) -> _Pending | None:
        """Queue a request's messages for the stream; None when closing or too many wait."""
        pending = _Pending(messages)
        with self._lock:
            if self._closed or len(self._queue) >= MAX_QUEUED:
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
        if self._queue:
            return None
        return datetime.now(timezone.utc) + IDLE_POLL

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            pending = self._inflight.pop(id(batch), None)
        if pending is not None:
            pending.resolve(error)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiting = list(self._queue)
            self._queue.clear()
        for pending in waiting:
            pending.state = "closed"
            pending.resolve("server closing")
        self.server.shutdown()
        self.server.server_close()
        log.info(
            "http_server %s stopped listening", self.source.label, extra={"fields": self._fields}
        )

    # -- responses ----------------------------------------------------------------------------
    def response_for(self, msg: Message) -> tuple[int, dict[str, str]]:
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
        return status, headers


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_POST  # noqa: N815

    def _handle(self) -> None:
        reader = self.server.reader
        src = reader.source
        parts = urlsplit(self.path)
        match = src.matcher.match(parts.path)
        if match is None:
            self._discard_body()
            reader.rejected(404, f"no endpoint at {parts.path} (it is {src.path})")
            self._reply(404, f"not found: {parts.path}\n")
            return
        if self.command not in src.verbs:
            self._discard_body()
            reader.rejected(405, f"method {self.command} not allowed")
            self._reply(405, f"method {self.command} not allowed\n",
                        {"Allow": ", ".join(sorted(src.verbs))})  # fmt: skip
            return
        if reader.rate is not None:
            wait = reader.rate.take()
            if wait > 0:
                self._discard_body()
                reader.rejected(429, f"rate limit {src.rate_text} exceeded")
                self._reply(
                    429, "rate limit exceeded\n", {"Retry-After": str(max(int(wait + 0.999), 1))}
                )
                return
        try:
            body = self._read_body(src.max_body)
        except _BodyTooLarge as exc:
            reader.rejected(413, str(exc))
            self.close_connection = True
            self._reply(413, f"{exc}\n", {"Connection": "close"})
            return
        except (OSError, ValueError) as exc:
            self.close_connection = True
            reader.rejected(400, f"bad request body: {exc}")
            self._reply(400, f"bad request body: {exc}\n", {"Connection": "close"})
            return
        messages = self._messages(body, parts.path, parts.query, match.groupdict())
        pending = reader.submit(messages)
        if pending is None:
            reason = "server closing" if reader._closed else "too many requests waiting"
            reader.rejected(503, reason)
            self._reply(503, f"{reason}\n")
            return
        if not pending.done.wait(src.timeout):
            dropped = reader.abandon(pending)
            reason = f"not written within timeout {src.timeout:g}s" + (
                "; dropped before the stream read it" if dropped else "; the stream goes on with it"
            )
            reader.rejected(408, reason)
            self._reply(408, f"request timed out: {reason}\n")
            return
        if pending.state == "closed":
            self._reply(503, "server closing\n")
        elif pending.error is not None:
            self._reply(502, f"{pending.error}\n")
        else:
            status, headers = reader.response_for(messages[0])
            self._reply(status, b"", headers)

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if limit and length > limit:
            raise _BodyTooLarge(f"body of {length} bytes exceeds max_body_size {limit}")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if limit and total > limit:
                raise _BodyTooLarge(f"chunked body exceeds max_body_size {limit}")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _discard_body(self) -> None:
        """Skip a rejected request's body so the connection can serve the next request."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or length < 0:
            self.close_connection = True
        elif 0 < length <= 1 << 20:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _messages(
        self, body: bytes, path: str, query: str, path_params: dict[str, str]
    ) -> list[Message]:
        meta: dict[str, Any] = {}
        for name, value in self.headers.items():
            meta.setdefault(_canonical(name), value)
        for key, value in parse_qsl(query, keep_blank_values=True):
            meta.setdefault(key, value)
        cookie_header = self.headers.get("Cookie")
        if cookie_header:
            try:
                for name, morsel in SimpleCookie(cookie_header).items():
                    meta.setdefault(name, morsel.value)
            except CookieError:
                pass
        meta.update(path_params)
        meta["http_server_user_agent"] = self.headers.get("User-Agent", "")
        meta["http_server_request_path"] = path
        meta["http_server_verb"] = self.command
        meta["http_server_remote_ip"] = str(self.client_address[0])
        ctype = self.headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/"):
            parts = _multipart(ctype, body)
            if parts is not None:
                return [Message(payload, {**meta, **headers}) for payload, headers in parts]
        return [Message(body, meta)]

    def _reply(self, status: int, body: str | bytes, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        try:
            self.send_response(status)
            if isinstance(body, str):
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client went away

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http_server %s", format % args)


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
