"""What operators see of the `alarm` processor in a running stream, and what they may do.

The processor keeps each series' state in its stateful step; after each batch it shows the
series it touched here too (the same objects, read-only), so the process's HTTP endpoint can
list the alarms. An action becomes the processor's own control message and goes through its
`ControlInlet` into the stateful step, so it changes the state exactly as an `alarm_control`
message on the input would (and emits the same alarm message).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from streamforge.message import Message
from streamforge.plugin.operator import ActionAnswer, ControlInlet
from streamforge.processors.alarm.control import CONTROL_KEY
from streamforge.processors.alarm.rules import Rule
from streamforge.timefmt.timestamps import format_nanos

__all__ = ["ACTIONS", "AlarmDesk", "alarm_id"]

#: the actions operators take through the endpoint, as the control message names them
ACTIONS = {"ack": "acknowledge", "suppress": "suppress", "unsuppress": "unsuppress"}
_BODY_KEYS = ("by",)


def alarm_id(asset: str, parameter: str, name: str) -> str:
    """An alarm's id: `asset:parameter:name`, with `/` (never in a URL path segment) as `_`."""
    return ":".join(part.replace("/", "_") for part in (asset, parameter, name))


class AlarmDesk:
    """The alarms of one `alarm` processor in this process: a view and an inlet for actions."""

    def __init__(self, rules_for: Callable[[str, str], tuple[Rule, ...]]) -> None:
        self._rules_for = rules_for
        self._series: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.inlet = ControlInlet()

    def record(self, keys: Iterable[str], states: dict[str, Any]) -> None:
        """The series `keys` now stand as in `states` (a key missing there has no alarms)."""
        with self._lock:
            for key in keys:
                state = states.get(key)
                if state is None:
                    self._series.pop(key, None)
                else:
                    self._series[key] = state

    # -- OperatorEndpoint ---------------------------------------------------------------------
    def operator_view(self) -> list[dict[str, Any]]:
        """Every alarm that is ACTIVE, ACKNOWLEDGED or SUPPRESSED, by asset, parameter, name."""
        with self._lock:
            series = list(self._series.values())
        alarms: list[dict[str, Any]] = []
        for one in series:
            asset, parameter = one["asset_id"], one["parameter"]
            last = one["last"] or (None, None, None)
            rules = {r.name: r for r in self._rules_for(asset, parameter)}
            for name, rs in dict(one["rules"]).items():
                rs = dict(rs)
                if rs["suppressed_by"] is not None:
                    state = "SUPPRESSED"
                elif rs["state"] in ("ACTIVE", "ACKNOWLEDGED"):
                    state = rs["state"]
                else:
                    continue  # NORMAL: an on- or off-delay runs, nothing is raised
                rule = rules.get(name)
                alarms.append(
                    {
                        "id": alarm_id(asset, parameter, name),
                        "name": name,
                        "asset_id": asset,
                        "parameter": parameter,
                        "state": state,
                        "severity": rule.severity if rule is not None else None,
                        "message": rs["text"],
                        "since": format_nanos(rs["since"]) if rs["since"] else None,
                        "value": last[0],
                        "unit": last[1],
                        "threshold": rule.threshold if rule is not None else None,
                        "acknowledged_by": rs["acked_by"],
                        "suppressed_by": rs["suppressed_by"],
                    }
                )
        alarms.sort(key=lambda a: (a["asset_id"], a["parameter"], a["name"]))
        return alarms

    def operator_act(self, item: str, action: str, body: dict[str, Any]) -> ActionAnswer:
        """Acknowledge, suppress or unsuppress alarm `item` on behalf of `body["by"]`."""
        verb = ACTIONS.get(action)
        if verb is None:
            return _refuse(404, f"unknown action {action!r} (valid: {', '.join(ACTIONS)})")
        unknown = sorted(str(k) for k in body if k not in _BODY_KEYS)
        if unknown:
            return _refuse(400, f"{unknown[0]}: not an alarm action field (valid: by)")
        by = body.get("by")
        if not isinstance(by, str) or not by.strip():
            return _refuse(400, "by: say who acts (a non-empty string, e.g. operator-7)")
        alarms = self.operator_view()
        alarm = next((a for a in alarms if a["id"] == item), None)
        if alarm is None:
            known = ", ".join(a["id"] for a in alarms[:10]) or "none"
            return _refuse(404, f"no alarm {item!r} is raised (alarms: {known})")
        refusal = _refusal(verb, alarm)
        if refusal is not None:
            return _refuse(409, refusal)
        control = {
            "action": verb,
            "asset_id": alarm["asset_id"],
            "parameter": alarm["parameter"],
            "name": alarm["name"],
            "by": by.strip(),
        }
        if not self.inlet.put(Message(value={CONTROL_KEY: control})):
            return _refuse(503, "too many alarm actions wait for the stream; try again")
        return ActionAnswer(202, {"alarm": alarm, "action": verb})


def _refusal(verb: str, alarm: dict[str, Any]) -> str | None:
    """Why the lifecycle would ignore `verb` on `alarm`; None when it changes the alarm."""
    state, name = alarm["state"], alarm["id"]
    if verb == "acknowledge" and state != "ACTIVE":
        return f"alarm {name!r} is {state}; only an ACTIVE alarm can be acknowledged"
    if verb == "suppress" and state == "SUPPRESSED":
        return f"alarm {name!r} is suppressed already (by {alarm['suppressed_by']})"
    if verb == "unsuppress" and state != "SUPPRESSED":
        return f"alarm {name!r} is {state}, not suppressed"
    return None


def _refuse(status: int, detail: str) -> ActionAnswer:
    return ActionAnswer(status, {"detail": detail})
