"""Push a process' metrics to a Prometheus Pushgateway (`metrics.prometheus.push_url`, as in
Benthos).

What /metrics serves (after `metrics.mapping`) is PUT to `<push_url>/metrics/job/<job>`
every `push_interval` when one is set, and always once more at shutdown, so even a short run
leaves its final counts at the gateway. A PUT replaces the whole group: the gateway holds the
latest values, it never adds pushes up.

A push that fails (gateway down, credentials refused) is logged, at most once a minute while
it goes on; the next push sends the values of that moment. The stream never waits for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit

from prometheus_client import push_to_gateway
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.registry import Collector

from streamforge.durations import parse_duration
from streamforge.runtime.periodic_push import PeriodicPush

__all__ = ["GatewayPush", "gateway_push", "shown_url"]

log = logging.getLogger("streamforge.metrics")

#: seconds one push may take before it counts as failed
_TIMEOUT = 10.0


class _View(Collector):
    """The families a callable yields, as the collector `push_to_gateway` renders."""

    def __init__(self, collect: Callable[[], Iterable[Any]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Any]:
        return self._collect()


def shown_url(url: str) -> str:
    """`url` without a user or password in it, for the logs."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _reason(exc: BaseException) -> str:
    """What went wrong, with the gateway's own words when it answered with an error."""
    if isinstance(exc, HTTPError):
        try:
            body = exc.read().decode("utf-8", "replace").strip()
        except Exception:  # noqa: BLE001 - the status alone is still worth logging
            body = ""
        text = f"HTTP {exc.code} {exc.reason}"
        return f"{text}: {body[:300]}" if body else text
    return f"{type(exc).__name__}: {exc}"


class GatewayPush(PeriodicPush):
    """PUTs what `collect()` yields to a Pushgateway every `interval` seconds (never when it is
    0) on a thread of its own, and once more at `stop()`."""

    target = "the Pushgateway"

    def __init__(
        self,
        url: str,
        job: str,
        interval: float,
        collect: Callable[[], Iterable[Any]],
        *,
        grouping_key: dict[str, str] | None = None,
        username: str = "",
        password: str = "",
        timeout: float = _TIMEOUT,
    ) -> None:
        super().__init__(interval, join_timeout=timeout + 5)
        self.url = url
        self.job = job
        self.grouping_key = dict(grouping_key or {})
        self.timeout = timeout
        self._view = _View(collect)
        self._auth = (username, password) if username and password else None

    def _handler(
        self,
        url: str,
        method: str,
        timeout: float | None,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> Callable[[], None]:
        if self._auth is None:
            return default_handler(url, method, timeout, headers, data)
        username, password = self._auth
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    def push_once(self) -> None:
        """PUT the current metrics."""
        push_to_gateway(
            self.url,
            job=self.job,
            registry=self._view,
            grouping_key=self.grouping_key or None,
            timeout=self.timeout,
            handler=self._handler,
        )
        self.pushes += 1

    def describe(self, exc: BaseException) -> str:
        return _reason(exc)

    def log_fields(self) -> dict[str, Any]:
        return {"push_url": shown_url(self.url), "job": self.job}


def gateway_push(
    sections: Iterable[dict[str, Any]],
    collect: Callable[[], Iterable[Any]],
    *,
    process: int | None = None,
) -> GatewayPush | None:
    """The Pushgateway push of a process running streams (the first stream's `metrics:`
    decides, as for /metrics); None unless it is `prometheus` with a `push_url`. Not started
    yet. `process` (a process' index in a cluster of several) joins the grouping key, so the
    processes of one cluster do not replace each other's metrics."""
    for section in sections:
        if (section.get("type") or "prometheus") != "prometheus":
            return None
        conf = section.get("conf") or {}
        url = str(conf.get("push_url") or "").strip()
        if not url:
            return None
        auth = conf.get("push_basic_auth") or {}
        return GatewayPush(
            url,
            str(conf.get("push_job_name") or "benthos_push"),
            parse_duration(conf.get("push_interval") or ""),
            collect,
            grouping_key={"process": str(process)} if process is not None else None,
            username=str(auth.get("username") or ""),
            password=str(auth.get("password") or ""),
        )
    return None
