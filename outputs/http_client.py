"""`http_client` output: one HTTP request per message, with retries, backoff and a circuit breaker.

A response is successful when its status is 2xx or listed in `successful_on` (and not listed in
`backoff_on` or `drop_on`). Anything else is retried up to `retries` times; then the message
fails with the status and the start of the response body, so `fallback` can route it.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from streamforge.connectors.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, State
from streamforge.connectors.http import (
    StatusRules,
    http_client_fields,
    open_client,
    retry_settings,
)
from streamforge.connectors.http_send import (
    HEADERS_DESCRIPTION,
    RETRY_PERIOD_DESCRIPTION,
    RetryingSender,
    request_headers,
)
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.metadata_filter import MetadataFilter, metadata_filter_field
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import BatchPolicy, batching_field, with_batching
from streamforge.plugin.connection import Connection, connection
from streamforge.plugin.delivery import respond_to_inputs
from streamforge.plugin.pending import ConfirmsLater, PendingWrite, PendingWrites
from streamforge.plugin.rate_limiting import RateLimited, rate_limit_field
from streamforge.plugin.spec import offline_check

__all__ = ["HttpClientWriter", "check_http_client_output"]

log = logging.getLogger("streamforge.outputs.http_client")
# httpx logs every request at INFO; a stream's log should not carry one line per message
logging.getLogger("httpx").setLevel(logging.WARNING)

#: seconds a start-up reachability probe of the URL's host may take
PROBE_TIMEOUT = 2.0


def _metadata_filter_field() -> Field:
    return metadata_filter_field(
        "metadata", "Metadata keys sent as request headers (none by default).", advanced=True
    )


def check_http_client_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    """Every check building the output makes (TLS files, batching), without connecting."""
    HttpClientWriter(conf, connect=False)
    if ctx is not None:
        batching = conf.get("batching") or {}
        BatchPolicy.from_conf(batching)
        for proc in ctx.build_processors(list(batching.get("processors") or [])):
            proc.close()


@register_output(
    "http_client",
    fields=[
        *http_client_fields(
            url=(
                "The URL to send each message to.",
                ("http://localhost:8080/ingest", "http://api/${! @asset_id }/values"),
            ),
            verb=("POST", ("POST", "PUT", "PATCH")),
            headers=HEADERS_DESCRIPTION,
            retries="Attempts after the first one before a message fails; 0 never retries.",
            retry_period=RETRY_PERIOD_DESCRIPTION,
            backoff_on="Statuses that fail the attempt and are retried with exponential "
            "backoff (a Retry-After header is honoured).",
            drop_on="Statuses that fail the message at once, without retries.",
            successful_on="Statuses counted as success besides 2xx (e.g. 409 for already written).",
        ),
        _metadata_filter_field(),
        Field(
            "follow_redirects",
            "bool",
            default=True,
            advanced=True,
            description="Follow 3xx redirects.",
        ),
        Field(
            "circuit_breaker",
            "object",
            default={"failures": 5, "reset_after": "30s"},
            description="After `failures` consecutive failed attempts (connection errors, "
            "timeouts, 5xx) requests fail at once; after `reset_after` one trial request "
            "decides whether to resume. `failures: 0` turns it off.",
            fields=(
                Field(
                    "failures",
                    "int",
                    default=5,
                    description="Consecutive failures that open the circuit.",
                ),
                Field(
                    "reset_after",
                    "duration",
                    default="30s",
                    description="How long the circuit stays open before a trial request.",
                ),
            ),
        ),
        rate_limit_field(
            "The label of a `rate_limit_resources` entry each request (and each retry) waits "
            "for; empty sends at once."
        ),
        Field(
            "max_in_flight",
            "int",
            default=64,
            description="Requests of one batch sent in parallel.",
        ),
        Field(
            "propagate_response",
            "bool",
            default=False,
            description=(
                "Hand each successful response back to the input the message came from, as "
                "`sync_response` does: an `http_server` input answers its request with the "
                "response body. The response's headers and `http_status_code` are its "
                "metadata, over the message's."
            ),
        ),
        batching_field(),
    ],
    summary="Sends each message as an HTTP request; failed responses become message errors.",
    description=(
        "A failed request (connection error, timeout, or a status that is not successful) is "
        "retried up to `retries` times with exponential backoff and jitter starting at "
        "`retry_period`; then the message fails with the status and the start of the response "
        "body, for `fallback` or `switch` to route. `drop_on` statuses fail at once. "
        "Connection errors, timeouts and 5xx count towards the circuit breaker and mark the "
        "component not connected in `/ready` and `streamforge_connected`; any other answer "
        "marks it connected."
    ),
    examples=(
        "http_client:\n  url: http://localhost:8080/values/${! @asset_id }\n  verb: POST\n"
        "  headers:\n    Content-Type: application/json\n  retries: 3\n",
    ),
)
@offline_check(check_http_client_output)
def build_http_client_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Sends each message as an HTTP request; failed responses become message errors."""
    stream = getattr(ctx, "stream", "") or "stream"
    label = getattr(ctx, "label", "") or "http_client"
    writer = HttpClientWriter(conf, stream=stream, label=label, ctx=ctx)
    return with_batching(writer, conf.get("batching"), ctx)


class HttpClientWriter(ConfirmsLater, Output):
    """Sends requests over one pooled httpx client, up to max_in_flight at a time.

    As the stream's own output (`confirm_later`) a batch returns once its requests are under
    way and later batches are sent while earlier ones await their answers; elsewhere a batch
    waits for its own.
    """

    def __init__(
        self,
        conf: dict[str, Any],
        *,
        stream: str = "stream",
        label: str = "",
        connect: bool = True,
        ctx: BuildContext | None = None,
    ) -> None:
        """`connect=False` makes every check without a client, a connection state or a probe;
        `ctx` resolves the `rate_limit` resource (none without it)."""
        self.stream = stream
        self.label = label or "http_client"
        self.rate_limit = RateLimited(conf.get("rate_limit"), ctx, f"http_client {self.label}")
        self.url = InterpolatedString(str(conf["url"]))
        self.verb = str(conf.get("verb") or "POST").upper()
        self.headers = request_headers(conf)
        meta = conf.get("metadata") or {}
        self.meta_filter = MetadataFilter(meta)
        self.timeout = parse_duration(conf.get("timeout", "5s")) or 5.0
        retry = retry_settings(conf, min_period=0.0)
        statuses = StatusRules.from_conf(conf)
        self.max_in_flight = max(int(conf.get("max_in_flight", 64) or 1), 1)
        self.propagate = bool(conf.get("propagate_response", False))
        breaker = conf.get("circuit_breaker") or {}
        self.breaker = CircuitBreaker(
            int(breaker.get("failures", 5)),
            parse_duration(breaker.get("reset_after", "30s")),
            on_change=self._circuit_changed,
        )
        self.peer = self._peer_name()
        self._fields = {"stream": self.stream, "component": self.label}
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        #: requests under way; retries and timeouts end each one, so there is no deadline
        self._pending = PendingWrites(lambda: "")
        client = open_client(
            conf,
            timeout=self.timeout,
            connections=self.max_in_flight,
            follow_redirects=bool(conf.get("follow_redirects", True)),
            connect=connect,
        )
        if client is None:
            return
        self.client = client
        self.conn: Connection = connection(self.stream, self.label, self.peer)
        self._sender = RetryingSender(
            client, self.verb, self.timeout, retry, statuses, self.rate_limit, self._stop,
            name=f"http_client {self.label}", stopping="output closing",
            health=_BreakerHealth(self.breaker, self.conn),
        )  # fmt: skip
        self._probe()

    # -- connection state ------------------------------------------------------------------------
    def _peer_name(self) -> str:
        if not self.url.is_static:
            return self.url.text
        parts = urlsplit(self.url.text)
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else self.url.text

    def _probe(self) -> None:
        """Learn at start whether the (static) URL's host accepts connections."""
        if not self.url.is_static:
            self.conn.up()  # unknown until a request is made; do not hold /ready back
            return
        parts = urlsplit(self.url.text)
        host = parts.hostname
        if not host:
            self.conn.down(f"invalid url {self.url.text!r}")
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)

        def probe() -> None:
            try:
                with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
                    pass
            except OSError as exc:
                if not self.conn.connected:
                    self.conn.down(f"cannot connect to {host}:{port}: {exc}")
                    log.warning(
                        "http_client %s: cannot connect to %s:%s: %s",
                        self.label, host, port, exc, extra={"fields": self._fields},
                    )  # fmt: skip
                return
            self.conn.up()

        threading.Thread(target=probe, name="streamforge-http-probe", daemon=True).start()

    def _circuit_changed(self, state: State, error: str, trial_failed: bool = False) -> None:
        extra = {"fields": self._fields}
        if state == OPEN and trial_failed:
            log.warning(
                "http_client %s: trial request failed (%s); circuit breaker open again for %gs",
                self.label, error, self.breaker.reset_after, extra=extra,
            )  # fmt: skip
        elif state == OPEN:
            log.warning(
                "http_client %s: circuit breaker open after %d consecutive failures (%s); "
                "requests to %s fail at once for %gs",
                self.label, self.breaker.threshold, error, self.peer, self.breaker.reset_after,
                extra=extra,
            )  # fmt: skip
        elif state == HALF_OPEN:
            log.info(
                "http_client %s: circuit breaker half-open; sending a trial request to %s",
                self.label, self.peer, extra=extra,
            )  # fmt: skip
        elif state == CLOSED:
            log.info(
                "http_client %s: circuit breaker closed; %s answers again",
                self.label, self.peer, extra=extra,
            )  # fmt: skip

    # -- writing ---------------------------------------------------------------------------------
    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        failed: list[Message] = []
        requests = self._requests(batch, failed)
        if self._pending.progress is not None:
            return self._send_pipelined(requests, batch, failed)
        if len(requests) <= 1 or self.max_in_flight == 1:
            errors = [self._send(*req[1:]) for req in requests]
        else:
            errors = list(self._executor().map(lambda req: self._send(*req[1:]), requests))
        for (_, msg, _, _), error in zip(requests, errors):
            if error is not None:
                msg.error = error
                failed.append(msg)
        return failed

    def _requests(
        self, batch: list[Message], failed: list[Message]
    ) -> list[tuple[int, Message, str, dict[str, str]]]:
        """(index, message, url, headers) of each message; bad interpolations go to `failed`."""
        requests: list[tuple[int, Message, str, dict[str, str]]] = []
        for i, msg in enumerate(batch):
            try:
                url = self.url.render(msg, batch, i)
                headers = {k: v.render(msg, batch, i) for k, v in self.headers.items()}
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails that message
                msg.error = f"http_client {self.label}: failed to interpolate url or headers: {exc}"
                failed.append(msg)
                continue
            if self.meta_filter.active:
                headers.update(self.meta_filter.select(msg.metadata))
            requests.append((i, msg, url, headers))
        return requests

    def _send_pipelined(
        self,
        requests: list[tuple[int, Message, str, dict[str, str]]],
        batch: list[Message],
        failed: list[Message],
    ) -> list[Message]:
        """Start each request (at most max_in_flight under way) and return."""
        pending = self._pending
        base = pending.hand_over(len(batch))
        executor = self._executor()
        for i, msg, url, headers in requests:
            pending.wait_until_fewer(self.max_in_flight)
            write = PendingWrite(base + i, msg, math.inf)
            pending.track([write])
            future = executor.submit(self._send, msg, url, headers)
            future.add_done_callback(partial(self._answered, write))
        return failed

    def _answered(self, write: PendingWrite, done: Future[str | None]) -> None:
        """A request ended (on a pool thread): settle its write, tell the stream."""
        try:
            error = done.result()
        except Exception as exc:  # noqa: BLE001 - a bug in sending fails the message
            error = f"http_client {self.label}: {exc}"
        self._pending.settle(write, error)
        self._pending.report_progress()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.max_in_flight, thread_name_prefix="streamforge-http-client"
                )
            return self._pool

    def _send(self, msg: Message, url: str, headers: dict[str, str]) -> str | None:
        """Send one message with retries; None on success, else the reason it failed."""
        resp, error = self._sender.send(msg.payload, url, headers)
        if error is None and resp is not None and self.propagate:
            _propagate(msg, resp)
        return error

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.client.close()
        self.conn.close()


class _BreakerHealth:
    """The peer's health as the circuit breaker and the connection state (`/ready`) see it."""

    def __init__(self, breaker: CircuitBreaker, conn: Connection) -> None:
        self.breaker = breaker
        self.conn = conn

    def admit(self) -> str | None:
        if self.breaker.allow():
            return None
        return (
            f"circuit breaker open after {self.breaker.threshold} consecutive failures "
            f"(last: {self.breaker.last_error}); next trial in {self.breaker.retry_in():.1f}s"
        )

    def release(self) -> None:
        self.breaker.release()

    def succeeded(self) -> None:
        self.breaker.success()
        self.conn.up()

    def failed(self, error: str) -> None:
        self.breaker.failure(error)
        self.conn.down(error)


def _propagate(msg: Message, resp: httpx.Response) -> None:
    """`propagate_response`: the response, as a message, answers the message's input."""
    origin = getattr(msg, "origin", None)
    if origin is None:
        return
    meta = dict(msg.metadata)
    for name, value in resp.headers.items():
        meta["-".join(p.capitalize() for p in name.split("-"))] = value
    meta["http_status_code"] = resp.status_code
    answer = Message(resp.content, meta)
    answer.origin = origin
    respond_to_inputs([answer])
