"""`http_client` input: polls an HTTP endpoint at an interval, or reads a long response as a stream.

Polling: every `interval` one request; a successful answer's body is a message (interval 0
asks again as soon as an answer arrived: long polling). Streaming (`stream.enabled`): one
request whose body is split into messages as it arrives (lines, a delimiter, or server-sent
events), requested again when it ends. Requests run on a thread of their own, so a slow
server never holds a Bytewax worker. A failed request is retried with exponential backoff for
as long as the stream runs: a server that goes away is logged once (then once a minute while
it stays away) and read again when it is back.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from streamforge.connectors.codecs import Splitter, parse_input_codec
from streamforge.connectors.http import (
    StatusRules,
    check_http_url,
    describe_transport_error,
    http_client_fields,
    open_client,
    parse_verb,
    retry_settings,
)
from streamforge.connectors.sse import SseEvent, SseParser
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.metadata_filter import MetadataFilter, metadata_filter_field
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.connection import Backoff, Connection, connection
from streamforge.plugin.rate_limiting import RateLimited, rate_limit_field
from streamforge.plugin.readers import QueuedReader
from streamforge.plugin.spec import ParsedField

__all__ = ["HttpClientInput", "HttpClientReader", "parse_interval", "parse_stream_codec"]

log = logging.getLogger("streamforge.inputs.http_client")
# httpx logs every request at INFO; a polling input would write one line per poll
logging.getLogger("httpx").setLevel(logging.WARNING)

#: characters of a failed response's body quoted in the log
BODY_EXCERPT = 200
#: while requests keep failing, a reminder is logged at most this often (seconds)
FAILING_LOG_INTERVAL = 60.0
#: how long closing waits for the request thread
JOIN_TIMEOUT = 5.0


def parse_interval(value: Any) -> float:
    """Seconds between two polls; 0 (or "") polls again as soon as an answer arrived."""
    seconds = parse_duration(str(value if value is not None else "").strip() or "0s")
    if seconds < 0:
        raise ValueError(f"interval {value!r} must not be negative")
    return seconds


def parse_stream_codec(value: Any) -> tuple[str, bytes | None]:
    """`sse`, or a byte-stream codec (lines, all-bytes, delim:<x>) as the file input takes."""
    if str(value).strip() == "sse":
        return "sse", None
    try:
        return parse_input_codec(str(value))
    except ValueError as exc:
        raise ValueError(f"{exc}, sse") from None


def _extract_headers_field() -> Field:
    """`extract_headers` as Benthos has it, but every header passes unless narrowed."""
    base = metadata_filter_field("extract_headers", "", advanced=True)
    prefixes, patterns = base.fields
    every = replace(patterns, default=[".*"])
    return replace(
        base,
        default={"include_prefixes": [], "include_patterns": [".*"]},
        description="Response headers added to each message as metadata (lower-case names). "
        "Every header by default; to keep some, list their prefixes with "
        "`include_patterns: []`, or patterns; `include_patterns: []` alone keeps none.",
        fields=(prefixes, every),
    )


@register_input(
    "http_client",
    fields=[
        *http_client_fields(
            url=(
                "The URL to request; interpolations are evaluated before each request.",
                ("http://plc-gateway:8080/properties/temperature",),
            ),
            verb=("GET", ("GET", "POST")),
            headers="Request headers; values are evaluated before each request.",
            header_examples=({"Accept": "application/json", "X-Request-Id": "${! uuid_v4() }"},),
            timeout="How long one request may take; for long polling make it longer than "
            "the server holds a request. In stream mode only connecting and the response "
            "headers are timed: the body may go on for ever.",
            retries="Retries of a failed poll before it is skipped; either way the input "
            "goes on polling (with backoff) for as long as the stream runs.",
            retry_period="Pause after the first failed request; it doubles (with jitter) on "
            "each failure in a row. Also the pause before a stream that ended is requested "
            "again (unless the server sent an SSE `retry`).",
            backoff_on="Statuses that fail the request and are retried with backoff "
            "(a Retry-After header in seconds is honoured).",
            drop_on="Statuses whose answer is dropped without retrying; polling goes on.",
            successful_on="Statuses whose body becomes a message besides 2xx (e.g. 404 from a "
            "server that answers a missing value with it).",
        ),
        Field(
            "payload",
            "string",
            default="",
            description="A body to send with each request (empty: none).",
            advanced=True,
        ),
        rate_limit_field(
            "The label of a `rate_limit_resources` entry each request (a poll, a retry, a "
            "stream opened again) waits for; empty requests at once."
        ),
        ParsedField(
            "interval",
            "duration",
            parser=parse_interval,
            default="1s",
            description="Time from the start of one poll to the start of the next. Benthos "
            "has no interval: it polls as fast as the server answers unless `rate_limit` "
            'slows it down: "0s" does the same here (long polling; with a `rate_limit` the '
            "limit alone paces the polls). Not used in stream mode.",
            examples=("1s", "500ms", "0s"),
        ),
        _extract_headers_field(),
        Field(
            "drop_empty_bodies",
            "bool",
            default=True,
            description="Answers with an empty body (e.g. 204, or a long poll that timed out "
            "on the server) make no message.",
            advanced=True,
        ),
        Field(
            "stream",
            "object",
            default={
                "enabled": False,
                "reconnect": True,
                "codec": "lines",
                "max_buffer": 1_000_000,
            },
            description="Read one long response as a stream of messages instead of polling.",
            fields=(
                Field(
                    "enabled",
                    "bool",
                    default=False,
                    description="Read the body of one request as it arrives.",
                ),
                Field(
                    "reconnect",
                    "bool",
                    default=True,
                    description="Request the stream again when it ends; with false the input "
                    "ends with it.",
                ),
                ParsedField(
                    "codec",
                    "string",
                    default="lines",
                    parser=parse_stream_codec,
                    description="How the body is split into messages: lines, all-bytes, "
                    "delim:<x>, or sse (server-sent events: each event's data is a message "
                    "with `sse_event` and `sse_id` metadata). Benthos calls this `scanner`.",
                    examples=("lines", "sse", "delim:\\t"),
                ),
                Field(
                    "max_buffer",
                    "int",
                    default=1_000_000,
                    description="Longest record (or SSE line) in bytes; longer ones are skipped "
                    "and logged.",
                    advanced=True,
                ),
            ),
        ),
        Field(
            "auto_replay_nacks",
            "bool",
            default=True,
            description="Accepted for Benthos compatibility; HTTP answers are not replayed.",
            advanced=True,
        ),
    ],
    summary="Polls an HTTP endpoint at an interval, or reads a long response (lines, server-sent "
    "events) as a stream of messages.",
    description=(
        "Metadata: `http_status_code` and the response headers (see `extract_headers`); with "
        "`stream.codec: sse` also `sse_event` (the event type, `message` when unnamed) and "
        "`sse_id` (the last event id, sent back as `Last-Event-ID` when the stream is "
        "requested again). Connection errors, timeouts and 5xx answers mark the input not "
        "connected in `/ready` and `streamforge_connected`; it retries with exponential "
        "backoff from `retry_period` up to `max_retry_backoff` and never gives up. Nothing "
        "is acknowledged to the server."
    ),
    examples=(
        "http_client:\n  url: http://plc-gateway:8080/properties/temperature\n  verb: GET\n"
        "  headers:\n    Accept: application/json\n  interval: 5s\n",
        "http_client:\n  url: http://plc-gateway:8080/properties/temperature/observe\n"
        "  stream:\n    enabled: true\n    codec: sse\n",
    ),
)
class HttpClientInput(Input):
    """Polls an HTTP endpoint, or reads a long response as a stream of messages."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.stream_name = getattr(ctx, "stream", "") or "stream"
        self.label = getattr(ctx, "label", "") or "http_client"
        self.conf = conf
        self.url = InterpolatedString(str(conf["url"]))
        self.verb = parse_verb(conf.get("verb") or "GET")
        self.headers = {
            str(k): InterpolatedString(str(v)) for k, v in (conf.get("headers") or {}).items()
        }
        self.payload = str(conf.get("payload") or "").encode("utf-8") or None
        self.interval = parse_interval(conf.get("interval", "1s"))
        self.rate_limit = RateLimited(
            conf.get("rate_limit"), ctx, f"http_client input {self.label}"
        )
        default_extract = {"include_patterns": [".*"]}
        self.extract = MetadataFilter(conf.get("extract_headers", default_extract))
        self.timeout = parse_duration(conf.get("timeout", "5s")) or 5.0
        self.retries, self.retry_period, self.max_retry_backoff = retry_settings(conf)
        self.statuses = StatusRules.from_conf(conf)
        self.drop_empty = bool(conf.get("drop_empty_bodies", True))
        stream = conf.get("stream") or {}
        self.streaming = bool(stream.get("enabled", False))
        self.reconnect = bool(stream.get("reconnect", True))
        self.codec = str(stream.get("codec") or "lines")
        self.sse = parse_stream_codec(self.codec)[0] == "sse"
        self.max_buffer = int(stream.get("max_buffer", 1_000_000) or 0)
        open_client(conf, timeout=self.timeout, connect=False)  # certificate files, now
        if self.sse and not any(k.lower() == "accept" for k in self.headers):
            self.headers["Accept"] = InterpolatedString("text/event-stream")
        if self.url.is_static:
            parts = urlsplit(check_http_url(self.url.text))
            self.peer = f"{parts.scheme}://{parts.netloc}"
        else:
            self.peer = self.url.text

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return HttpClientReader(self)


@dataclass
class _Outcome:
    """What one request came to."""

    ok: bool
    #: why it failed (empty when it did not)
    error: str = ""
    #: the failure says the server is unreachable or broken (transport error, timeout, 5xx)
    peer_down: bool = False
    #: the server asked to wait this long before the next request (Retry-After, SSE retry)
    wait: float | None = None
    #: a dropped answer (`drop_on`): no retry, polling goes on at the interval
    dropped: bool = False


class HttpClientReader(QueuedReader):
    """Requests on a thread of its own and queues the messages for the worker's `read()`."""

    def __init__(self, source: HttpClientInput) -> None:
        super().__init__()
        self.source = source
        self._fields = {"stream": source.stream_name, "component": source.label}
        client = open_client(source.conf, timeout=source.timeout, connections=2)
        assert client is not None
        self.client = client
        self.conn: Connection = connection(source.stream_name, source.label, source.peer)
        self._sse = SseParser(source.max_buffer) if source.sse else None
        self._ended = False
        self._failing_since: float | None = None
        self._failures = 0
        self._last_failure_log = 0.0
        self._socket: socket.socket | None = None
        self._socket_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name=f"streamforge-http-client-{source.label}", daemon=True
        )
        self._thread.start()

    # -- the request thread ----------------------------------------------------------------

    def _run(self) -> None:
        src = self.source
        backoff = Backoff(initial=src.retry_period, maximum=src.max_retry_backoff)
        attempt = 0
        stop = self.stopping
        while not stop.is_set():
            if not src.rate_limit.wait(stop):
                break
            started = time.monotonic()
            try:
                outcome = self._stream() if src.streaming else self._poll()
            except Exception as exc:  # noqa: BLE001 - the input must outlive any one request
                outcome = _Outcome(False, f"{type(exc).__name__}: {exc}")
            if stop.is_set():
                break
            if outcome.ok:
                self._recovered()
                backoff.reset()
                attempt = 0
                if src.streaming:
                    if not src.reconnect:
                        self._ended = True
                        return
                    wait = src.retry_period if outcome.wait is None else outcome.wait
                else:
                    wait = src.interval - (time.monotonic() - started)
            elif outcome.dropped:
                self._failed(outcome)
                wait = src.interval - (time.monotonic() - started)
            else:
                self._failed(outcome)
                wait = backoff.next_delay()
                if outcome.wait is not None:
                    wait = min(max(wait, outcome.wait), src.max_retry_backoff)
                if not src.streaming:
                    if attempt < src.retries:
                        attempt += 1
                    else:  # this poll is given up; the next one comes no sooner than usual
                        attempt = 0
                        wait = max(wait, src.interval - (time.monotonic() - started))
            if wait > 0:
                stop.wait(wait)

    def _target(self) -> tuple[str, dict[str, str]]:
        src = self.source
        empty = Message(b"")
        url = src.url.render(empty)
        headers = {k: v.render(empty) for k, v in src.headers.items()}
        return url, headers

    def _metadata(self, resp: httpx.Response) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        extract = self.source.extract
        if extract.active:
            for name, value in resp.headers.multi_items():
                key = name.lower()
                if key not in meta and extract(key):
                    meta[key] = value
        meta["http_status_code"] = resp.status_code
        return meta

    def _poll(self) -> _Outcome:
        src = self.source
        try:
            url, headers = self._target()
        except Exception as exc:  # noqa: BLE001 - a failing interpolation is retried
            return _Outcome(False, f"failed to interpolate url or headers: {exc}")
        try:
            resp = self.client.request(src.verb, url, headers=headers, content=src.payload)
        except httpx.TimeoutException as exc:
            error = f"timed out after {src.timeout:g}s ({describe_transport_error(exc)})"
            return _Outcome(False, f"{src.verb} {url}: {error}", peer_down=True)
        except httpx.HTTPError as exc:
            error = describe_transport_error(exc)
            return _Outcome(False, f"{src.verb} {url}: {error}", peer_down=True)
        failed = self._check_status(resp, url, resp.text)
        if failed is not None:
            return failed
        if resp.content or not src.drop_empty:
            self.put([Message(resp.content, self._metadata(resp))])
        return _Outcome(True)

    def _check_status(self, resp: httpx.Response, url: str, body: str) -> _Outcome | None:
        """None when the answer is successful, else the failed outcome; marks the connection."""
        status = resp.status_code
        if status >= 500:
            self.conn.down(f"HTTP {status} {resp.reason_phrase}")
        else:
            self.conn.up()
        if self.source.statuses.successful(status):
            return None
        excerpt = " ".join(body[:BODY_EXCERPT].split())
        error = f"{self.source.verb} {url}: HTTP {status} {resp.reason_phrase}"
        if excerpt:
            error += f": {excerpt}"
        wait = None
        retry_after = resp.headers.get("Retry-After", "")
        if status in self.source.statuses.backoff_on and retry_after.isdigit():
            wait = float(retry_after)
        dropped = status in self.source.statuses.drop_on
        return _Outcome(False, error, peer_down=status >= 500, wait=wait, dropped=dropped)

    def _stream(self) -> _Outcome:
        src = self.source
        try:
            url, headers = self._target()
        except Exception as exc:  # noqa: BLE001 - a failing interpolation is retried
            return _Outcome(False, f"failed to interpolate url or headers: {exc}")
        if self._sse is not None and self._sse.last_id:
            headers["Last-Event-ID"] = self._sse.last_id
        timeout = httpx.Timeout(src.timeout, read=None)
        try:
            with self.client.stream(
                src.verb, url, headers=headers, content=src.payload, timeout=timeout
            ) as resp:
                if not src.statuses.successful(resp.status_code):
                    body = resp.read()[:BODY_EXCERPT].decode("utf-8", errors="replace")
                    failed = self._check_status(resp, url, body)
                    assert failed is not None
                    return failed
                self._check_status(resp, url, "")
                self._recovered()
                self._read_body(resp)
        except httpx.TimeoutException as exc:
            error = f"timed out after {src.timeout:g}s ({describe_transport_error(exc)})"
            return _Outcome(False, f"{src.verb} {url}: {error}", peer_down=True)
        except httpx.HTTPError as exc:
            if self.stopping.is_set():
                return _Outcome(True)
            error = describe_transport_error(exc)
            return _Outcome(False, f"{src.verb} {url}: stream broken: {error}", peer_down=True)
        finally:
            with self._socket_lock:
                self._socket = None
        retry = self._sse.retry if self._sse is not None else None
        return _Outcome(True, wait=retry)

    def _read_body(self, resp: httpx.Response) -> None:
        """Queue the body's records as they arrive, until it ends or the reader closes."""
        stream = resp.extensions.get("network_stream")
        with self._socket_lock:
            self._socket = stream.get_extra_info("socket") if stream is not None else None
        if self.stopping.is_set():
            return
        meta = self._metadata(resp)
        sse = self._sse
        emit: Callable[[bytes], list[Message]]
        finish: Callable[[], list[Message]]
        overflows: list[str]
        if sse is not None:
            sse.reset()

            def to_messages(events: list[SseEvent]) -> list[Message]:
                return [
                    Message(e.data, {**meta, "sse_event": e.event, "sse_id": e.id}) for e in events
                ]

            def emit(chunk: bytes) -> list[Message]:
                return to_messages(sse.feed(chunk))

            def finish() -> list[Message]:
                return to_messages(sse.finish())

            overflows = sse.overflows
        else:
            splitter = Splitter(self.source.codec, self.source.max_buffer)

            def emit(chunk: bytes) -> list[Message]:
                return [Message(r, dict(meta)) for r in splitter.feed(chunk)]

            def finish() -> list[Message]:
                return [Message(r, dict(meta)) for r in splitter.finish()]

            overflows = splitter.overflows
        for chunk in resp.iter_bytes():
            messages = emit(chunk)
            if messages:
                self.put(messages)
            if overflows:
                self._warn_overflows(overflows)
            if self.stopping.is_set():
                return
        messages = finish()
        if messages:
            self.put(messages)

    def _warn_overflows(self, overflows: list[str]) -> None:
        log.warning(
            "http_client input %s: %s (%d time(s))",
            self.source.label, overflows[0], len(overflows), extra={"fields": self._fields},
        )  # fmt: skip
        overflows.clear()

    # -- reporting -------------------------------------------------------------------------

    def _failed(self, outcome: _Outcome) -> None:
        if outcome.peer_down:
            self.conn.down(outcome.error)
        now = time.monotonic()
        self._failures += 1
        extra = {"fields": {**self._fields, "error": outcome.error}}
        if self._failing_since is None:
            self._failing_since = now
            self._last_failure_log = now
            log.warning(
                "http_client input %s: %s; retrying with backoff",
                self.source.label, outcome.error, extra=extra,
            )  # fmt: skip
        elif now - self._last_failure_log >= FAILING_LOG_INTERVAL:
            self._last_failure_log = now
            log.warning(
                "http_client input %s: still failing after %d attempts in %.0fs: %s",
                self.source.label, self._failures, now - self._failing_since, outcome.error,
                extra=extra,
            )  # fmt: skip

    def _recovered(self) -> None:
        self.conn.up()
        if self._failing_since is None:
            return
        log.info(
            "http_client input %s: %s answers again after %d failed attempts in %.1fs",
            self.source.label, self.source.peer, self._failures,
            time.monotonic() - self._failing_since, extra={"fields": self._fields},
        )  # fmt: skip
        self._failing_since = None
        self._failures = 0

    # -- worker side -----------------------------------------------------------------------

    def finished(self) -> bool:
        return self._ended and not self._queue

    def close(self) -> None:
        super().close()
        with self._socket_lock:
            sock = self._socket
        if sock is not None:  # wake a thread blocked reading a stream
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(JOIN_TIMEOUT)
        self.client.close()
        self.conn.close()
