"""Operator actions on a running stream: what a stateful component shows and accepts.

A keyed processor that operators act on (the `alarm` processor: acknowledge, suppress) offers
an `OperatorEndpoint` under a topic ("alarms") and a `ControlInlet`. The engine feeds what is
put into the inlet into the processor's own stateful step, so an action changes the state
exactly as a control message on the input would. The process's HTTP endpoint serves the
endpoints of every running stream at `/operator/<topic>` (see `streamforge.runtime.http`).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from streamforge.message import Message

__all__ = [
    "ActionAnswer",
    "ControlInlet",
    "OperatorEndpoint",
    "endpoints",
    "register_endpoint",
    "unregister_endpoint",
]

#: messages an inlet holds at most; an operator acting faster than the stream reads is refused
INLET_CAPACITY = 10_000


class ControlInlet:
    """Messages waiting to enter a processor's stateful step, in the order they were put."""

    def __init__(self) -> None:
        self._queue: deque[Message] = deque()
        self._lock = threading.Lock()

    def put(self, msg: Message) -> bool:
        """Queue `msg`; False when the inlet is full."""
        with self._lock:
            if len(self._queue) >= INLET_CAPACITY:
                return False
            self._queue.append(msg)
            return True

    def take(self) -> list[Message]:
        """Every queued message, oldest first (empty when none)."""
        with self._lock:
            taken = list(self._queue)
            self._queue.clear()
            return taken


@dataclass(frozen=True)
class ActionAnswer:
    """An action's outcome: an HTTP status and its JSON body (`detail` on refusals)."""

    status: int
    body: dict[str, Any]


class OperatorEndpoint(Protocol):
    """What operators see of a component and what they may do to it."""

    def operator_view(self) -> list[dict[str, Any]]:
        """The component's current items (e.g. its alarms), JSON-ready."""

    def operator_act(self, item: str, action: str, body: dict[str, Any]) -> ActionAnswer:
        """Deliver `action` on `item`; a refusal is a 4xx answer with a one-line detail."""


@dataclass(frozen=True)
class _Registered:
    stream: str
    label: str
    endpoint: OperatorEndpoint


_ENDPOINTS: dict[str, list[_Registered]] = {}
_LOCK = threading.Lock()


def register_endpoint(topic: str, stream: str, label: str, endpoint: OperatorEndpoint) -> None:
    """Offer `endpoint` under `topic` while its stream runs in this process."""
    with _LOCK:
        _ENDPOINTS.setdefault(topic, []).append(_Registered(stream, label, endpoint))


def unregister_endpoint(endpoint: OperatorEndpoint) -> None:
    """Withdraw `endpoint` from every topic (its stream stopped)."""
    with _LOCK:
        for topic, found in list(_ENDPOINTS.items()):
            kept = [r for r in found if r.endpoint is not endpoint]
            if kept:
                _ENDPOINTS[topic] = kept
            else:
                del _ENDPOINTS[topic]


def endpoints(topic: str) -> list[tuple[str, str, OperatorEndpoint]]:
    """(stream, component label, endpoint) of every component offering `topic`."""
    with _LOCK:
        return [(r.stream, r.label, r.endpoint) for r in _ENDPOINTS.get(topic, [])]
