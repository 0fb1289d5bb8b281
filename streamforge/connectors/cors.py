"""CORS for HTTP listeners (`http_server.cors` in Benthos): allowed origins get the
`Access-Control-Allow-Origin` header, and preflight requests are answered.

A request from an allowed `Origin` gets the origin back (or `*` when every origin is allowed)
with `Vary: Origin`; a preflight (`OPTIONS` with `Access-Control-Request-Method`) for an allowed
origin and method is answered 204 with the allowed methods and the requested headers. Requests
from other origins are served as before, without the headers, so browsers refuse them.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from streamforge.connectors.asgi import Scope, Send
from streamforge.plugin import Field

__all__ = ["Cors", "cors_field"]

#: how long browsers may cache a preflight answer (seconds)
PREFLIGHT_MAX_AGE = b"600"


def cors_field() -> Field:
    """The `cors` field of an HTTP listener."""
    return Field(
        "cors",
        "object",
        default={"enabled": False, "allowed_origins": []},
        description="Cross-origin requests from browsers (CORS).",
        fields=(
            Field("enabled", "bool", default=False, description="Whether to allow them."),
            Field(
                "allowed_origins",
                "array",
                default=[],
                item=Field("origin", "string"),
                description="Origins allowed, e.g. https://hmi.plant.example; `*` allows any.",
                examples=(["*"], ["https://hmi.plant.example"]),
            ),
        ),
        advanced=True,
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class Cors:
    """The CORS policy of one listener."""

    def __init__(self, conf: dict[str, Any] | None, methods: Iterable[str]) -> None:
        conf = conf or {}
        self.enabled = bool(conf.get("enabled", False))
        origins = [str(o).strip().rstrip("/") for o in conf.get("allowed_origins") or []]
        if self.enabled and not origins:
            raise ValueError("cors.allowed_origins: name at least one origin (or *) when enabled")
        self.any = "*" in origins
        self.origins = frozenset(o.lower() for o in origins if o != "*")
        self.methods = sorted({m.upper() for m in methods})

    def allowed(self, scope: Scope) -> str | None:
        """What `Access-Control-Allow-Origin` says for this request; None for no CORS."""
        if not self.enabled:
            return None
        origin = _header(scope, b"origin")
        if origin is None:
            return None
        if self.any:
            return "*"
        return origin if origin.rstrip("/").lower() in self.origins else None

    def preflight(self, scope: Scope) -> list[tuple[bytes, bytes]] | None:
        """The headers of a 204 answering a preflight request; None when it is not one (or
        the origin or method is not allowed)."""
        if not self.enabled or scope.get("method") != "OPTIONS":
            return None
        method = _header(scope, b"access-control-request-method")
        origin = self.allowed(scope)
        if method is None or origin is None or method.upper() not in self.methods:
            return None
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ", ".join(self.methods).encode()),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
            (b"vary", b"Origin"),
        ]
        requested = _header(scope, b"access-control-request-headers")
        if requested:
            headers.append((b"access-control-allow-headers", requested.encode("latin-1")))
        return headers

    def wrap(self, scope: Scope, send: Send) -> Send:
        """`send` with the CORS headers added to the response of an allowed origin."""
        origin = self.allowed(scope)
        if origin is None:
            return send
        extra = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]

        async def send_with_cors(message: MutableMapping[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_cors
