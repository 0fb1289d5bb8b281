"""Routes components serve on the process's own HTTP server (`http.address`, as Benthos' service
endpoint): an `http_server` output with no `address` of its own registers its paths here.

The process's endpoint (`streamforge.runtime.http`) answers its own paths first (`RESERVED`,
`/operator/...`); any other path registered here goes to the component's ASGI app, HTTP
requests and websocket connections alike.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "RESERVED",
    "RESERVED_PREFIX",
    "RouteApp",
    "register_route",
    "reserved",
    "route",
    "set_shared_server",
    "shared_server",
    "unregister_route",
]

#: an ASGI app: (scope, receive, send)
RouteApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]

#: paths the endpoint serves itself; components may not take them
RESERVED = ("/metrics", "/ready", "/health/live", "/ping")
RESERVED_PREFIX = "/operator/"

_LOCK = threading.Lock()
_ROUTES: dict[str, tuple[str, RouteApp]] = {}
_SERVER: list[str] = []


def reserved(path: str) -> bool:
    """Whether the endpoint serves `path` itself."""
    bare = path.rstrip("/") or "/"
    return bare in RESERVED or (bare + "/").startswith(RESERVED_PREFIX)


def register_route(path: str, app: RouteApp, owner: str) -> None:
    """Serve `path` with `app` on the process's endpoint; `owner` names the component (in
    errors). ValueError when the endpoint serves the path itself or another owner has it."""
    if reserved(path):
        raise ValueError(f"{path} is served by the stream's HTTP server itself")
    with _LOCK:
        taken = _ROUTES.get(path)
        if taken is not None and taken[1] is not app:
            raise ValueError(f"{path} is already served by {taken[0]}")
        _ROUTES[path] = (owner, app)


def unregister_route(path: str, app: RouteApp) -> None:
    """Stop serving `path` (when `app` still serves it)."""
    with _LOCK:
        taken = _ROUTES.get(path)
        if taken is not None and taken[1] is app:
            del _ROUTES[path]


def route(path: str) -> RouteApp | None:
    """The app registered for exactly `path`, if any."""
    with _LOCK:
        taken = _ROUTES.get(path)
    return taken[1] if taken is not None else None


def set_shared_server(address: str | None) -> None:
    """The endpoint started listening on `address` (None: it stopped)."""
    with _LOCK:
        _SERVER.clear()
        if address is not None:
            _SERVER.append(address)


def shared_server() -> str | None:
    """Where the process's endpoint listens; None while it does not (off, or not bound)."""
    with _LOCK:
        return _SERVER[0] if _SERVER else None
