"""A managed stream's alarms: read from, and acted on through, its running child.

The alarm state lives in the `alarm` processor's stateful step inside the stream's process;
the child serves it at `/operator/alarms` on its loopback HTTP endpoint, guarded by the
control token the supervisor gave it. An action is delivered there and becomes the
processor's own control message; the manager then waits briefly for the state to show it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import yaml

from streamforge.manager.supervisor import StreamProcess

__all__ = ["OperationRefused", "alarm_action", "has_alarm_processor", "read_alarms"]

#: how long the manager waits for the child's endpoint, and for an action to show
CHILD_TIMEOUT = 5.0
APPLY_TIMEOUT = 5.0
_EXPECTED = {"ack": "ACKNOWLEDGED", "suppress": "SUPPRESSED"}

_CLIENT = httpx.Client(timeout=CHILD_TIMEOUT)


class OperationRefused(Exception):
    """An operator action cannot be done: an HTTP status and a one-line detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def has_alarm_processor(config_yaml: str) -> bool:
    """Whether the config uses the `alarm` processor anywhere (pipeline, input, resources)."""
    try:
        tree = yaml.safe_load(config_yaml)
    except yaml.YAMLError:
        return False
    return _finds_alarm(tree)


def _finds_alarm(node: Any) -> bool:
    if isinstance(node, dict):
        if isinstance(node.get("alarm"), dict) and "rules" in node["alarm"]:
            return True
        return any(_finds_alarm(v) for v in node.values())
    if isinstance(node, list):
        return any(_finds_alarm(v) for v in node)
    return False


def _child_port(stream_id: str, proc: StreamProcess | None) -> int:
    state = proc.state if proc is not None else None
    if state is None or state.status != "running" or state.http_port is None:
        status = state.status if state is not None else "stopped"
        raise OperationRefused(
            409, f"stream {stream_id!r} is not running ({status}); its alarms live in the running "
            "stream",
        )  # fmt: skip
    return state.http_port


def _call(stream_id: str, proc: StreamProcess, method: str, path: str, **kw: Any) -> Any:
    port = _child_port(stream_id, proc)
    headers = {"Authorization": f"Bearer {proc.control_token}"}
    try:
        reply = _CLIENT.request(
            method, f"http://127.0.0.1:{port}/operator/alarms{path}", headers=headers, **kw
        )
    except httpx.HTTPError:
        raise OperationRefused(
            409, f"stream {stream_id!r} does not answer; it may be starting or stopping"
        ) from None
    try:
        body = reply.json()
    except ValueError:
        body = {}
    if reply.status_code >= 400:
        detail = body.get("detail") if isinstance(body, dict) else None
        if reply.status_code == 404 and path == "":
            detail = f"stream {stream_id!r} has not started its alarm processor yet"
            raise OperationRefused(409, detail)
        raise OperationRefused(
            reply.status_code if reply.status_code < 500 else 502,
            str(detail or f"the stream answered {reply.status_code}"),
        )
    return body


def read_alarms(stream_id: str, proc: StreamProcess | None) -> list[dict[str, Any]]:
    """The alarms the running stream holds (ACTIVE, ACKNOWLEDGED, SUPPRESSED)."""
    if proc is None:
        _child_port(stream_id, proc)
    assert proc is not None
    body = _call(stream_id, proc, "GET", "")
    items = body.get("items") if isinstance(body, dict) else None
    return [i for i in items or [] if isinstance(i, dict)]


def alarm_action(
    stream_id: str, proc: StreamProcess | None, alarm: str, action: str, by: str
) -> tuple[dict[str, Any], bool]:
    """Deliver `action` on `alarm`; (the alarm as it now stands, whether the state shows it)."""
    if proc is None:
        _child_port(stream_id, proc)
    assert proc is not None
    body = _call(stream_id, proc, "POST", f"/{alarm}/{action}", json={"by": by})
    before = body.get("alarm") if isinstance(body, dict) else None
    expected = _EXPECTED.get(action)
    deadline = time.monotonic() + APPLY_TIMEOUT
    while time.monotonic() < deadline:
        now = next((a for a in read_alarms(stream_id, proc) if a.get("id") == alarm), None)
        if now is not None and now.get("state") == expected:
            return now, True
        time.sleep(0.1)
    return dict(before or {"id": alarm}), False
