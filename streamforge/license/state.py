"""The licence in effect in this process, with its decisions; replaced when the licence changes.

`current()` builds it on first use from the environment (or what `install` put there), so a
component asks `current().allowed(category, feature)` once when it is built and subscribes to
hear of a change (expiry, a new licence file) instead of asking per message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from streamforge.license.decisions import Decisions
from streamforge.license.loading import LicenseStatus, load_license
from streamforge.license.policy import PolicyEngine, engine_for
from streamforge.license.settings import LicenseSettings

__all__ = ["LicenseState", "build_state", "current", "install", "subscribe", "unsubscribe"]


@dataclass(frozen=True)
class LicenseState:
    """One licence (or none) with the policies' decisions about it."""

    settings: LicenseSettings
    status: LicenseStatus
    decisions: Decisions
    engine: PolicyEngine = field(repr=False)

    def allowed(self, category: str, feature: str) -> bool:
        """Whether the feature may be used (cached by Decisions after the first question)."""
        return self.decisions.allowed(category, feature)

    @property
    def subject(self) -> str | None:
        """The licence subject (customer id), None when the defaults apply."""
        return self.decisions.subject

    @property
    def expires_at(self) -> datetime | None:
        """When the licence in effect expires; None without one."""
        license = self.status.license
        return license.expires_at if license is not None else None


def build_state(
    settings: LicenseSettings,
    processors: Iterable[str] | None = None,
    *,
    engine: PolicyEngine | None = None,
    now: datetime | None = None,
) -> LicenseState:
    """Load and verify the licence, set up the policy engine, and make its decisions object.

    `processors` defaults to every processor in the component registry. Raises PolicyError when
    a user policy cannot be loaded; licence problems never raise (the defaults apply).
    """
    if processors is None:
        from streamforge.plugin import load_builtins, registry

        load_builtins()
        processors = [spec.name for spec in registry.specs("processor")]
    status = load_license(settings, now=now)
    engine = engine if engine is not None else engine_for(settings)
    decisions = Decisions(engine, status.license, processors)
    return LicenseState(settings, status, decisions, engine)


_lock = threading.RLock()
_state: LicenseState | None = None
_listeners: list[Callable[[LicenseState], None]] = []


def current() -> LicenseState:
    """The state in effect; built from the environment's settings on first use."""
    global _state
    with _lock:
        if _state is None:
            _state = build_state(LicenseSettings.from_config(None))
        return _state


def install(state: LicenseState | None) -> None:
    """Put a state in effect (None: rebuild from the environment on next use); tell listeners."""
    global _state
    with _lock:
        _state = state
        listeners = list(_listeners)
    if state is not None:
        for listener in listeners:
            listener(state)


def subscribe(listener: Callable[[LicenseState], None]) -> None:
    """Call `listener` with every state installed from now on."""
    with _lock:
        _listeners.append(listener)


def unsubscribe(listener: Callable[[LicenseState], None]) -> None:
    """Stop calling `listener` (a component closing)."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)
