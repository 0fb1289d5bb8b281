"""What a binding makes of the affordances to read: the input (a `td_*` template use) and how
each message is traced back to its affordance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamforge.wot.model import Affordance, Form
from streamforge.wot.problems import TdProblem
from streamforge.wot.security import Auth

__all__ = ["BindingSettings", "InputPlan", "Reading", "millis"]


@dataclass(frozen=True)
class Reading:
    """One affordance to read, through one form and operation."""

    affordance: Affordance
    form: Form
    op: str

    @property
    def observed(self) -> bool:
        """The Thing pushes values (observe, subscribe) rather than being read on request."""
        return self.op in ("observeproperty", "subscribeevent")


@dataclass
class BindingSettings:
    """What every binding gets besides its readings."""

    thing_id: str
    stream_id: str
    auth: Auth
    interval: str | None = None


@dataclass
class InputPlan:
    """The input of the stream and how a message names its affordance.

    `key` is a Bloblang query of the message (e.g. `@mqtt_topic`); `routes` map its values,
    exactly or by regular expression, to affordance names. With no key the input already
    sets `wot_affordance` (or its tag name metadata names the affordance).
    """

    input: dict[str, Any]
    key: str | None = None
    routes: list[tuple[str, str, bool]] = field(default_factory=list)  # (value, name, is_regex)
    readings: list[Reading] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[TdProblem] = field(default_factory=list)


def millis(value: Any) -> str | None:
    """A duration in milliseconds (a TD's `pollingTime`) as a config duration, `500ms`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    ms = int(value)
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"
