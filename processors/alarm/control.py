"""Operator control messages of the `alarm` processor: acknowledge, suppress, unsuppress.

A control message arrives on the stream's input beside the readings and is recognised by its
shape: `{"alarm_control": {"action", "asset_id", "parameter", "name"?, "by", "time"?}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamforge.processors.alarm.lifecycle import ACTIONS
from streamforge.timefmt.timestamps import time_nanos

__all__ = ["CONTROL_KEY", "Control", "control_body", "control_key", "parse_control"]

CONTROL_KEY = "alarm_control"


@dataclass(frozen=True)
class Control:
    """One operator action on the alarms of a series (all of them when `name` is None)."""

    action: str
    asset_id: str
    parameter: str
    name: str | None
    by: str
    #: when the operator acted (unix ns); None means when the message is processed
    time: int | None


def control_body(value: Any) -> Any:
    """The `alarm_control` part of a payload, or None when the message is not a control."""
    if type(value) is dict and CONTROL_KEY in value:
        return value[CONTROL_KEY]
    return None


def control_key(body: Any) -> str:
    """The series a control message is about, keyed as the readings are (`asset/parameter`)."""
    if not isinstance(body, dict):
        return ""
    asset, parameter = body.get("asset_id"), body.get("parameter")
    return f"{asset if asset is not None else ''}/{parameter if parameter is not None else ''}"


def _text(body: dict[str, Any], key: str, hint: str) -> str:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{CONTROL_KEY}.{key}: missing; {hint}")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError(f"{CONTROL_KEY}.{key}: expected a string, got {value!r}")
    return str(value)


def parse_control(body: Any) -> Control:
    """A control message's body; ValueError names the field that is wrong."""
    if not isinstance(body, dict):
        raise ValueError(f"{CONTROL_KEY}: expected an object, got {body!r}")
    action = _text(body, "action", f"one of {', '.join(ACTIONS)}")
    if action not in ACTIONS:
        raise ValueError(f"{CONTROL_KEY}.action: {action!r} is not one of {', '.join(ACTIONS)}")
    name = body.get("name")
    raw_time = body.get("time")
    when: int | None = None
    if raw_time not in (None, ""):
        try:
            when = time_nanos(raw_time)
        except ValueError as exc:
            raise ValueError(f"{CONTROL_KEY}.time: {exc}") from None
    return Control(
        action=action,
        asset_id=_text(body, "asset_id", "the asset whose alarm this is"),
        parameter=_text(body, "parameter", "the parameter whose alarm this is"),
        name=None if name in (None, "") else str(name),
        by=_text(body, "by", "say who acts (e.g. operator-7)"),
        time=when,
    )
