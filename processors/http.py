"""`http` processor: sends each message as a request; the answer's body replaces the message.

Fields as Benthos' `http` processor has them (shared with the `http_client` input and output):
authentication (basic, OAuth 1, OAuth 2, JWT), TLS, retries and statuses, a `rate_limit`
resource, `parallel` requests and `batch_as_multipart`.

A message whose request fails (connection error, timeout, a status that is not successful
after `retries`) keeps its content and is flagged with the error, for `catch` or `fallback`
to handle; the batch goes on. One pooled client serves every request of the processor.
"""

from __future__ import annotations

import email.parser
import email.policy
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from streamforge.connectors.http import (
    StatusRules,
    check_http_url,
    http_client_fields,
    open_client,
    parse_verb,
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
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import describe_error
from streamforge.plugin.rate_limiting import RateLimited, rate_limit_field

__all__ = ["HttpProcessor"]

#: requests of one batch in flight at once with `parallel: true`
PARALLEL_REQUESTS = 16


@register_processor(
    "http",
    fields=[
        *http_client_fields(
            url=(
                "The URL to send each message to; interpolated per message.",
                ("http://enricher:8080/lookup", "http://api/assets/${! @asset_id }"),
            ),
            verb=("POST", ("POST", "GET", "PUT")),
            headers=HEADERS_DESCRIPTION,
            retries="Attempts after the first one before the message is flagged; 0 never retries.",
            retry_period=RETRY_PERIOD_DESCRIPTION,
            backoff_on="Statuses that are retried with backoff (a Retry-After header in "
            "seconds is honoured).",
            drop_on="Statuses that flag the message at once, without retries.",
            successful_on="Statuses whose body replaces the message besides 2xx.",
        ),
        metadata_filter_field(
            "metadata", "Metadata keys sent as request headers (none by default).", advanced=True
        ),
        metadata_filter_field(
            "extract_headers",
            "Response headers added to the message as metadata (lower-case names); none by "
            "default.",
            advanced=True,
        ),
        rate_limit_field(
            "The label of a `rate_limit_resources` entry each request (and each retry) waits "
            "for; empty sends at once.",
            advanced=True,
        ),
        Field(
            "parallel",
            "bool",
            default=False,
            description=f"Send the requests of a batch at the same time (up to "
            f"{PARALLEL_REQUESTS}) instead of one after the other.",
        ),
        Field(
            "batch_as_multipart",
            "bool",
            default=False,
            description="Send a whole batch as one multipart request; a multipart answer "
            "becomes one message per part, any other answer one message.",
            advanced=True,
        ),
    ],
    summary="Sends each message as an HTTP request and replaces it with the response body.",
    description=(
        "The answer's status is in the `http_status_code` metadata. A request that fails "
        "(connection error, timeout, a status that is not 2xx or in `successful_on`) is "
        "retried up to `retries` times with exponential backoff; then the message keeps its "
        "content, gets `http_status_code` when there was an answer, and is flagged with the "
        "error (handle it with `catch`, `try` or a `fallback` output). Nothing raises "
        "through the stream."
    ),
    examples=(
        "http:\n  url: http://enricher:8080/assets/${! @asset_id }\n  verb: GET\n"
        "  headers:\n    Accept: application/json\n  timeout: 2s\n",
    ),
)
class HttpProcessor(Processor):
    """Sends each message as an HTTP request and replaces it with the response body."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.label = getattr(ctx, "label", "") or "http"
        self.url = InterpolatedString(check_http_url(conf["url"]))
        self.verb = parse_verb(conf.get("verb") or "POST")
        self.headers = request_headers(conf)
        self.static_headers = (
            {k: v.render(Message(b"")) for k, v in self.headers.items()}
            if all(v.is_static for v in self.headers.values())
            else None
        )
        self.send_meta = MetadataFilter(conf.get("metadata"))
        self.extract = MetadataFilter(conf.get("extract_headers"))
        timeout = parse_duration(conf.get("timeout", "5s")) or 5.0
        retry = retry_settings(conf)
        statuses = StatusRules.from_conf(conf)
        rate_limit = RateLimited(conf.get("rate_limit"), ctx, f"http {self.label}")
        self.multipart = bool(conf.get("batch_as_multipart", False))
        self.parallel = bool(conf.get("parallel", False))
        connections = PARALLEL_REQUESTS if self.parallel else 1
        client = open_client(conf, timeout=timeout, connections=connections)
        assert client is not None
        self.client = client
        self._stop = threading.Event()
        self._sender = RetryingSender(
            client, self.verb, timeout, retry, statuses, rate_limit, self._stop,
            name=f"http {self.label}", stopping="stream stopping",
        )  # fmt: skip
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if self.multipart:
            return self._process_multipart(batch)
        if self.parallel and len(batch) > 1:
            pool = self._executor()
            list(pool.map(lambda i: self._process(batch, i), range(len(batch))))
        else:
            for i in range(len(batch)):
                self._process(batch, i)
        return batch

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    PARALLEL_REQUESTS, thread_name_prefix=f"streamforge-http-{self.label}"
                )
            return self._pool

    def _request_of(self, batch: list[Message], i: int) -> tuple[str, dict[str, str]]:
        """The URL and headers of the request for message `i` (interpolation may raise)."""
        msg = batch[i]
        url = self.url.render(msg, batch, i)
        headers = self.static_headers
        if headers is None:
            headers = {k: v.render(msg, batch, i) for k, v in self.headers.items()}
        if self.send_meta.active:
            headers = {**headers, **self.send_meta.select(msg.metadata)}
        return url, headers

    def _process(self, batch: list[Message], i: int) -> None:
        msg = batch[i]
        if msg.error is not None:
            return
        try:
            url, headers = self._request_of(batch, i)
        except Exception as exc:  # noqa: BLE001 - a bad interpolation flags that message
            msg.error = f"http {self.label}: failed to interpolate url or headers: " + (
                describe_error(exc)
            )
            return
        resp, error = self._sender.send(msg.payload, url, headers)
        if resp is not None:
            self._add_response_metadata(msg.metadata, resp)
        if error is not None:
            msg.error = error
        elif resp is not None:
            msg.set_payload(resp.content)

    def _add_response_metadata(self, meta: dict[str, Any], resp: httpx.Response) -> None:
        if self.extract.active:
            for name, value in resp.headers.multi_items():
                key = name.lower()
                if self.extract(key):
                    meta[key] = value
        meta["http_status_code"] = resp.status_code

    def _process_multipart(self, batch: list[Message]) -> list[Message]:
        """The healthy messages of the batch as one multipart request; the answer replaces them."""
        healthy = [m for m in batch if m.error is None]
        if not healthy:
            return batch
        errored = [m for m in batch if m.error is not None]
        try:
            url, _ = self._request_of(healthy, 0)
            parts = [self._request_of(healthy, i)[1] for i in range(len(healthy))]
        except Exception as exc:  # noqa: BLE001 - a bad interpolation flags the batch
            for msg in healthy:
                msg.error = f"http {self.label}: failed to interpolate url or headers: " + (
                    describe_error(exc)
                )
            return batch
        body, content_type = encode_multipart([m.payload for m in healthy], parts)
        headers = dict(parts[0])
        for name in [k for k in headers if k.lower() == "content-type"]:
            del headers[name]
        headers["Content-Type"] = content_type
        resp, error = self._sender.send(body, url, headers)
        if error is not None or resp is None:
            for msg in healthy:
                if resp is not None:
                    self._add_response_metadata(msg.metadata, resp)
                msg.error = error or f"http {self.label}: no answer"
            return batch
        answers = decode_multipart(resp.headers.get("content-type", ""), resp.content)
        out: list[Message] = []
        for k, payload in enumerate(answers):
            source = healthy[k] if len(answers) == len(healthy) else healthy[0]
            msg = Message(payload, dict(source.metadata))
            self._add_response_metadata(msg.metadata, resp)
            out.append(msg)
        return out + errored

    def close(self) -> None:
        self._stop.set()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.client.close()


def encode_multipart(payloads: list[bytes], headers: list[dict[str, str]]) -> tuple[bytes, str]:
    """A multipart/mixed body (RFC 1341) of the payloads, each part with its headers; and the
    Content-Type naming its boundary."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for payload, part_headers in zip(payloads, headers):
        out += f"--{boundary}\r\n".encode()
        for name, value in part_headers.items():
            out += f"{name}: {value}\r\n".encode("latin-1", "replace")
        out += b"\r\n" + payload + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/mixed; boundary={boundary}"


def decode_multipart(content_type: str, body: bytes) -> list[bytes]:
    """The parts of a multipart answer; the whole body as one part for any other answer."""
    if not content_type.lower().startswith("multipart/"):
        return [body]
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    doc = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not doc.is_multipart():
        return [body]
    parts = []
    for part in doc.iter_parts():  # type: ignore[attr-defined]
        payload = part.get_payload(decode=True)
        parts.append(payload if isinstance(payload, bytes) else b"")
    return parts or [body]
