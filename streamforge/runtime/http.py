"""The HTTP endpoint of a running StreamForge process: /metrics, /ready, /health/live.

Runs on a daemon thread. When its address is taken (e.g. several cluster processes on one
host) a warning is logged and the streams run without it.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from streamforge.connectors.http import parse_address
from streamforge.observability.metrics import render_metrics
from streamforge.plugin.connection import connections_down

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


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/metrics":
            self._send(200, render_metrics(), CONTENT_TYPE_LATEST)
        elif path == "/ready":
            reasons = connections_down()
            if not self.server.readiness.ready:
                reasons.insert(0, "the dataflow is not running")
            if reasons:
                lines = "".join(f"{line}\n" for line in reasons)
                self._send(503, f"not ready:\n{lines}".encode())
            else:
                self._send(200, b"OK\n")
        elif path in ("/health/live", "/ping"):
            self._send(200, b"OK\n")
        else:
            self._send(404, b"not found\n")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    readiness: Readiness


class _Server6(_Server):
    address_family = socket.AF_INET6


class HttpServer:
    """A started endpoint; `address` is the bound host:port (the real port when 0 was asked)."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="streamforge-http", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        host = self._server.server_address[0]
        if isinstance(host, bytes):
            host = host.decode()
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_http_server(address: str, readiness: Readiness) -> HttpServer | None:
    """Serve the endpoint on `address`; None (with a warning) when it cannot bind."""
    try:
        host, port = parse_address(address)
    except ValueError as exc:
        log.warning("http endpoint disabled: %s", exc)
        return None
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), _Handler)
    except OSError as exc:
        log.warning(
            "http endpoint disabled: cannot listen on %s: %s",
            address,
            exc.strerror or exc,
            extra={"fields": {"address": address}},
        )
        return None
    server.readiness = readiness
    http = HttpServer(server)
    log.info(
        "http endpoint listening on %s",
        http.address,
        extra={"fields": {"address": http.address}},
    )
    return http
