"""One HTTP request with retries, as the `http_client` output and the `http` processor send it.

A request carries the component's `headers`, interpolated per message. An answer succeeds by
the component's `StatusRules`; a connection error, a timeout or any other answer is retried up
to `retries` times, with exponential backoff and jitter from `retry_period` (a `backoff_on`
answer's Retry-After, in seconds, stretches the pause); then the request fails with the status
and the start of the response body.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from streamforge.connectors.http import RetrySettings, StatusRules, describe_transport_error
from streamforge.interpolation import InterpolatedString
from streamforge.plugin.connection import Backoff
from streamforge.plugin.rate_limiting import RateLimited

__all__ = [
    "BODY_EXCERPT",
    "HEADERS_DESCRIPTION",
    "RETRY_PERIOD_DESCRIPTION",
    "PeerHealth",
    "RetryingSender",
    "Unwatched",
    "request_headers",
]

#: characters of a failed response's body quoted in the error
BODY_EXCERPT = 200
#: what `headers` means for a component building them with `request_headers`
HEADERS_DESCRIPTION = (
    "Request headers; values are interpolated per message. Content-Type defaults to "
    "application/octet-stream."
)
#: what `retry_period` means for a component sending with `RetryingSender`
RETRY_PERIOD_DESCRIPTION = "Pause before the first retry; it doubles (with jitter) on each retry."


def request_headers(conf: dict[str, Any]) -> dict[str, InterpolatedString]:
    """The `headers` of `conf`, each interpolated per message; Content-Type defaults to
    application/octet-stream."""
    headers = {str(k): InterpolatedString(str(v)) for k, v in (conf.get("headers") or {}).items()}
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = InterpolatedString("application/octet-stream")
    return headers


class PeerHealth(Protocol):
    """What a sender tells of the peer's health, e.g. to a circuit breaker."""

    def admit(self) -> str | None:
        """None to send the attempt; else why it fails at once."""

    def release(self) -> None:
        """An admitted attempt ended without reaching the peer."""

    def succeeded(self) -> None:
        """The peer answered (not a 5xx, or a 5xx counted as success)."""

    def failed(self, error: str) -> None:
        """A connection error, a timeout or a 5xx answer."""


class Unwatched:
    """The health of a peer nobody watches: every attempt is sent, nothing is told."""

    def admit(self) -> str | None:
        return None

    def release(self) -> None:
        pass

    def succeeded(self) -> None:
        pass

    def failed(self, error: str) -> None:
        pass


@dataclass
class RetryingSender:
    """Sends requests over `client` with retries; `name` starts every error it returns
    (`http_client <label>`), and `stopping` says why a request ended when `stop` is set."""

    client: httpx.Client
    verb: str
    timeout: float
    retry: RetrySettings
    statuses: StatusRules
    rate_limit: RateLimited
    stop: threading.Event
    name: str
    stopping: str
    health: PeerHealth = Unwatched()

    def send(
        self, body: bytes, url: str, headers: dict[str, str]
    ) -> tuple[httpx.Response | None, str | None]:
        """One request with retries: (the last answer, None or why the request failed)."""
        health, retries = self.health, self.retry.retries
        backoff = Backoff(initial=max(self.retry.period, 0.001), maximum=self.retry.max_backoff)
        request = f"{self.verb} {url}"
        where = f"{self.name}: {request}"
        attempt = 0
        while True:
            resp: httpx.Response | None = None
            delay: float | None = None
            if (refused := health.admit()) is not None:
                return None, f"{where}: {refused}"
            if not self.rate_limit.wait(self.stop):
                health.release()
                return None, f"{where}: {self.stopping}"
            try:
                resp = self.client.request(self.verb, url, content=body, headers=headers)
            except httpx.TimeoutException as exc:
                cause = f"timed out after {self.timeout:g}s ({describe_transport_error(exc)})"
                health.failed(f"{request}: {cause}")
            except httpx.HTTPError as exc:
                cause = describe_transport_error(exc)
                health.failed(f"{request}: {cause}")
            except Exception as exc:  # noqa: BLE001 - e.g. an invalid URL fails only this request
                health.release()
                return None, f"{where}: {type(exc).__name__}: {exc}"
            else:
                status = resp.status_code
                if self.statuses.successful(status):
                    health.succeeded()
                    return resp, None
                excerpt = " ".join(resp.text[:BODY_EXCERPT].split())
                cause = f"HTTP {status} {resp.reason_phrase}" + (f": {excerpt}" if excerpt else "")
                if status >= 500:
                    health.failed(f"{request}: HTTP {status} {resp.reason_phrase}")
                else:
                    health.succeeded()
                if status in self.statuses.drop_on:
                    return resp, f"{where}: {cause}"
                if status in self.statuses.backoff_on:
                    delay = backoff.next_delay()
                    retry_after = resp.headers.get("Retry-After", "")
                    if retry_after.isdigit():
                        delay = min(max(delay, float(retry_after)), self.retry.max_backoff)
            if attempt >= retries:
                retried = f" (after {retries} retries)" if retries else ""
                return resp, f"{where}: {cause}{retried}"
            attempt += 1
            if self.stop.wait(backoff.next_delay() if delay is None else delay):
                return resp, f"{where}: {cause} ({self.stopping})"
