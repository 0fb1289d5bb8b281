"""`/operator/<topic>` on a running process's HTTP endpoint: what operators see and do.

`GET /operator/<topic>` lists the items of every component offering the topic (the `alarm`
processor offers `alarms`); `POST /operator/<topic>/<item>/<action>` with a JSON object
delivers an action (`streamforge.plugin.operator`). Both need `Authorization: Bearer <token>`
with the process's control token (`STREAMFORGE_CONTROL_TOKEN`, which the manager gives each
stream it runs); without one configured, operator actions are off.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

from streamforge.connectors.asgi import (
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    respond,
)
from streamforge.plugin.operator import endpoints

__all__ = ["CONTROL_TOKEN_ENV", "PREFIX", "serve_operator"]

CONTROL_TOKEN_ENV = "STREAMFORGE_CONTROL_TOKEN"
PREFIX = "/operator/"
_BODY_LIMIT = 64 * 1024
_JSON = b"application/json"


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    await respond(send, status, json.dumps(body).encode(), content_type=_JSON)


def _authorised(scope: Scope, token: str) -> bool:
    given = header(scope, b"authorization") or ""
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


async def serve_operator(scope: Scope, receive: Receive, send: Send, path: str) -> None:
    """Answer a request under `/operator/`."""
    token = os.environ.get(CONTROL_TOKEN_ENV, "")
    if not token:
        await _answer(send, 403, {"detail": f"operator actions are off (no {CONTROL_TOKEN_ENV})"})
        return
    if not _authorised(scope, token):
        await _answer(send, 401, {"detail": "the control token is needed (Bearer)"})
        return
    parts = path[len(PREFIX) :].split("/")
    method = scope["method"]
    if len(parts) == 1 and method in ("GET", "HEAD"):
        await _view(send, parts[0])
    elif len(parts) == 3 and method == "POST":
        await _act(scope, receive, send, *parts)
    elif len(parts) in (1, 3):
        allow = b"GET, HEAD" if len(parts) == 1 else b"POST"
        await respond(send, 405, b"method not allowed\n", [(b"allow", allow)])
    else:
        await _answer(send, 404, {"detail": "not found"})


async def _view(send: Send, topic: str) -> None:
    offered = endpoints(topic)
    if not offered:
        await _answer(send, 404, {"detail": f"no component of this process offers {topic!r}"})
        return
    items: list[dict[str, Any]] = []
    for stream, label, endpoint in offered:
        items.extend(
            {**item, "component": label, "stream": stream} for item in endpoint.operator_view()
        )
    components = [{"stream": s, "label": label} for s, label, _ in offered]
    await _answer(send, 200, {"components": components, "items": items})


async def _act(
    scope: Scope, receive: Receive, send: Send, topic: str, item: str, action: str
) -> None:
    offered = endpoints(topic)
    if not offered:
        await _answer(send, 404, {"detail": f"no component of this process offers {topic!r}"})
        return
    try:
        raw = await read_body(scope, receive, _BODY_LIMIT, 10.0)
    except BodyTooLarge:
        await _answer(send, 413, {"detail": f"the body is larger than {_BODY_LIMIT} bytes"})
        return
    except (BodyTimeout, ClientGone):
        await _answer(send, 408, {"detail": "the body did not arrive in time"})
        return
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError) as exc:
        await _answer(send, 400, {"detail": f"body: not JSON: {exc}"})
        return
    if not isinstance(body, dict):
        await _answer(send, 400, {"detail": "body: expected a JSON object"})
        return
    answer = None
    for _stream, label, endpoint in offered:
        answer = endpoint.operator_act(item, action, body)
        if answer.status != 404:
            answer.body.setdefault("component", label)
            break
    assert answer is not None
    await _answer(send, answer.status, answer.body)
