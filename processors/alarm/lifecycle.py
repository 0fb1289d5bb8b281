"""The lifecycle of one alarm (one rule on one series), as a small picklable dict.

The condition follows the readings: it comes on when the value has been beyond the threshold
for the on-delay and goes off when it has been back inside by more than the hysteresis for the
off-delay (both measured on device time). The lifecycle follows the condition and the
operators:

    NORMAL --condition on--> ACTIVE --acknowledge--> ACKNOWLEDGED
    ACTIVE or ACKNOWLEDGED --condition off--> CLEARED (then NORMAL; unacknowledged ones too)
    any --suppress--> SUPPRESSED --unsuppress--> ACTIVE (condition on) or CLEARED (off)

Each function returns the state to announce (an alarm message), or None when nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from streamforge.processors.alarm.rules import Rule

__all__ = ["ACTIONS", "RuleState", "is_idle", "new_rule_state", "on_control", "on_reading"]

#: what an operator can do to an alarm through a control message
ACTIONS = ("acknowledge", "suppress", "unsuppress")


class RuleState(TypedDict):
    """One alarm's state; plain data so that it snapshots with recovery."""

    #: NORMAL, ACTIVE or ACKNOWLEDGED (suppression is kept apart, in `suppressed_by`)
    state: str
    #: the condition is on: raised past the on-delay and not yet cleared past the off-delay
    on: bool
    #: device time (unix ns) the value went beyond the threshold, while the on-delay runs
    pending: int | None
    #: device time (unix ns) the value came back inside, while the off-delay runs
    clearing: int | None
    #: when the announced state began (unix ns)
    since: int
    acked_by: str | None
    suppressed_by: str | None
    #: the rule's message, rendered when the condition last came on
    text: str


def new_rule_state() -> RuleState:
    """An alarm that has seen nothing: NORMAL, condition off."""
    return {
        "state": "NORMAL",
        "on": False,
        "pending": None,
        "clearing": None,
        "since": 0,
        "acked_by": None,
        "suppressed_by": None,
        "text": "",
    }


def is_idle(rs: RuleState) -> bool:
    """Nothing to remember: NORMAL, condition off, no delay running, not suppressed."""
    return (
        rs["state"] == "NORMAL"
        and not rs["on"]
        and rs["pending"] is None
        and rs["clearing"] is None
        and rs["suppressed_by"] is None
    )


def _condition(rule: Rule, rs: RuleState, value: float, t: int) -> str | None:
    """Advance the condition with one reading: "on", "off" or None (unchanged)."""
    if not rs["on"]:
        if not rule.raises(value):
            rs["pending"] = None
            return None
        start = rs["pending"]
        if start is None:
            start = rs["pending"] = t
        if t - start < rule.on_delay_ns:
            return None
        rs["on"], rs["pending"], rs["clearing"] = True, None, None
        return "on"
    if not rule.clears(value):
        rs["clearing"] = None
        return None
    start = rs["clearing"]
    if start is None:
        start = rs["clearing"] = t
    if t - start < rule.off_delay_ns:
        return None
    rs["on"], rs["pending"], rs["clearing"] = False, None, None
    return "off"


def on_reading(
    rule: Rule, rs: RuleState, value: float, t: int, render: Callable[[], str]
) -> str | None:
    """A reading at device time `t`: "ACTIVE", "CLEARED" or None.

    `render` gives the rule's message text; it is called when the condition comes on.
    """
    change = _condition(rule, rs, value, t)
    if change is None:
        return None
    if change == "on":
        rs["text"] = render()
        if rs["suppressed_by"] is not None:
            return None
        rs["state"], rs["since"], rs["acked_by"] = "ACTIVE", t, None
        return "ACTIVE"
    if rs["suppressed_by"] is not None or rs["state"] == "NORMAL":
        return None
    rs["state"], rs["since"] = "NORMAL", t
    return "CLEARED"


def on_control(rs: RuleState, action: str, by: str, t: int) -> str | None:
    """An operator's action at time `t`: the state to announce, or None when it changes nothing.

    Acknowledging anything but an ACTIVE alarm, suppressing a suppressed one or unsuppressing
    one that is not suppressed changes nothing.
    """
    if action == "acknowledge":
        if rs["state"] != "ACTIVE" or rs["suppressed_by"] is not None:
            return None
        rs["state"], rs["since"], rs["acked_by"] = "ACKNOWLEDGED", t, by
        return "ACKNOWLEDGED"
    if action == "suppress":
        if rs["suppressed_by"] is not None:
            return None
        rs["suppressed_by"], rs["state"], rs["since"], rs["acked_by"] = by, "NORMAL", t, None
        return "SUPPRESSED"
    if action == "unsuppress":
        if rs["suppressed_by"] is None:
            return None
        rs["suppressed_by"], rs["since"] = None, t
        if rs["on"]:
            rs["state"], rs["acked_by"] = "ACTIVE", None
            return "ACTIVE"
        return "CLEARED"
    raise ValueError(f"unknown action {action!r} (valid: {', '.join(ACTIONS)})")
