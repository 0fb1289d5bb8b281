"""The HTTP endpoint of a running StreamForge process: /metrics, /ready, /health/live,
/operator/ for operator actions (`streamforge.runtime.operator_http`), and the paths components
registered (`streamforge.plugin.routes`: an `http_server` output without an address of its own).

Served by uvicorn on a daemon thread (`streamforge.connectors.serving`). When its address is
taken (e.g. several cluster processes on one host) a warning is logged and the streams run
without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST

from streamforge.connectors.asgi import Receive, Scope, Send, respond
from streamforge.connectors.http import parse_address
from streamforge.connectors.serving import ListeningServer, serve
from streamforge.observability.metrics import render_metrics
from streamforge.plugin.connection import connections_down
from streamforge.plugin.routes import reserved, route, set_shared_server
from streamforge.runtime.operator_http import PREFIX as OPERATOR_PREFIX
from streamforge.runtime.operator_http import serve_operator

__all__ = ["DEFAULT_ADDRESS", "HttpServer", "Readiness", "parse_address", "start_http_server"]

log = logging.getLogger("streamforge.http")

DEFAULT_ADDRESS = "0.0.0.0:4195"


class Readiness:
    """Whether the dataflow is running (served as /ready)."""

    def __init__(self) -> None:
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def set(self, ready: bool = True) -> None:
        if ready:
            self._ready.set()
        else:
            self._ready.clear()


#: renders /metrics; None as a result (or no renderer) means metrics are off (`metrics: none`)
MetricsRenderer = Callable[[], bytes | None]


class _EndpointApp:
    """The ASGI app behind the endpoint."""

    def __init__(self, readiness: Readiness, metrics: MetricsRenderer | None) -> None:
        self.readiness = readiness
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        path = scope["path"].rstrip("/") or "/"
        # a component's route never shadows the endpoint's own paths
        component = None if reserved(scope["path"]) else route(scope["path"])
        if component is not None:
            await component(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        if path.startswith(OPERATOR_PREFIX):
            await serve_operator(scope, receive, send, path)
        elif scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
        elif path == "/metrics":
            body = self.metrics() if self.metrics is not None else None
            if body is None:
                await respond(send, 404, b"metrics are off (metrics: none)\n")
            else:
                await respond(send, 200, body, content_type=CONTENT_TYPE_LATEST.encode())
        elif path == "/ready":
            reasons = connections_down()
            if not self.readiness.ready:
                reasons.insert(0, "the dataflow is not running")
            if reasons:
                lines = "".join(f"{line}\n" for line in reasons)
                await respond(send, 503, f"not ready:\n{lines}".encode())
            else:
                await respond(send, 200, b"OK\n")
        elif path in ("/health/live", "/ping"):
            await respond(send, 200, b"OK\n")
        else:
            await respond(send, 404, b"not found\n")


class HttpServer:
    """A started endpoint; `address` is the bound host:port (the real port when 0 was asked)."""

    def __init__(self, server: ListeningServer) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def address(self) -> str:
        return self._server.address

    def stop(self) -> None:
        set_shared_server(None)
        self._server.stop()


def start_http_server(
    address: str, readiness: Readiness, metrics: MetricsRenderer | None = render_metrics
) -> HttpServer | None:
    """Serve the endpoint on `address`; None (with a warning) when it cannot bind.

    `metrics` renders /metrics (the whole registry by default); None turns it off.
    """
    try:
        app = _EndpointApp(readiness, metrics)
        server = serve(app, address, logger=log, name="http endpoint", websockets=True)
    except ValueError as exc:
        log.warning("http endpoint disabled: %s", exc)
        return None
    except OSError as exc:
        log.warning(
            "http endpoint disabled: cannot listen on %s: %s",
            address,
            exc.strerror or exc,
            extra={"fields": {"address": address}},
        )
        return None
    http = HttpServer(server)
    set_shared_server(http.address)
    log.info(
        "http endpoint listening on %s",
        http.address,
        extra={"fields": {"address": http.address}},
    )
    return http
