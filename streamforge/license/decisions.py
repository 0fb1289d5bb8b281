"""The policies' answers for one licence, each evaluated once and cached.

Gates, the `license_check` processor and `license status` ask a Decisions object; only the
first question about a (category, feature) pair reaches the policy engine, so nothing is
evaluated per message.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from streamforge.license.claims import CATEGORIES, License
from streamforge.license.policy import UNDEFINED, PolicyEngine, PolicyError

__all__ = [
    "ALLOW",
    "ALLOWED_FEATURES",
    "PROCESSOR_ALLOWED",
    "REASON",
    "Decisions",
    "policy_input",
]

ALLOW = "data.streamforge.features.allow"
REASON = "data.streamforge.features.reason"
ALLOWED_FEATURES = "data.streamforge.features.allowed_features"
PROCESSOR_ALLOWED = "data.streamforge.features.processor_allowed"


def policy_input(license: License | None, processors: Iterable[str] = ()) -> dict[str, Any]:
    """The input document the policies read: the licence (null: defaults) and known processors."""
    return {
        "license": license.to_policy_input() if license is not None else None,
        "processors": sorted(set(processors)),
    }


_JSON_TYPES: dict[type, str] = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _shown(value: Any) -> str:
    """A policy's answer as an error message shows it: `'yes' (string)`."""
    if value is UNDEFINED:
        return "no value (undefined)"
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({kind})"


def _names(value: Any, query: str) -> list[str]:
    """A Rego set (a JSON array) of names, sorted."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{query} gave {_shown(value)}: expected a set of names")
    return sorted(set(value))


class Decisions:
    """Cached answers from the policies for one licence (None: the base defaults)."""

    def __init__(
        self, engine: PolicyEngine, license: License | None, processors: Iterable[str] = ()
    ) -> None:
        self.engine = engine
        self._license = license
        self._input = policy_input(license, processors)
        self._lock = threading.Lock()
        self._allowed: dict[tuple[str, str], bool] = {}
        self._reasons: dict[tuple[str, str], str] = {}
        self._features: dict[str, Any] | None = None
        self._in_effect: dict[str, list[str] | dict[str, Any]] | None = None

    @property
    def license(self) -> License | None:
        """The verified licence the answers are for; None when the defaults apply."""
        return self._license

    @property
    def subject(self) -> str | None:
        """The licence's subject (customer id); None without a licence."""
        return self._license.subject if self._license is not None else None

    def _request(self, category: str, feature: str) -> dict[str, Any]:
        return {**self._input, "request": {"category": category, "feature": feature}}

    def allowed(self, category: str, feature: str) -> bool:
        """Whether the policies allow `feature` of `category` (e.g. "bindings", "kafka")."""
        key = (category, feature)
        answer = self._allowed.get(key)
        if answer is not None:
            return answer
        with self._lock:
            answer = self._allowed.get(key)
            if answer is None:
                value = self.engine.query(ALLOW, self._request(category, feature))
                if not isinstance(value, bool):
                    raise PolicyError(
                        f"{ALLOW} gave {_shown(value)} for {category}/{feature}: "
                        "a decision must be true or false"
                    )
                self._allowed[key] = answer = value
        return answer

    def reason(self, category: str, feature: str) -> str:
        """Why the feature is refused ("" when it is allowed)."""
        if self.allowed(category, feature):
            return ""
        key = (category, feature)
        with self._lock:
            if key not in self._reasons:
                value = self.engine.query(REASON, self._request(category, feature))
                if value is UNDEFINED or value == "":
                    value = f"{category}/{feature} is not allowed by the policies"
                elif not isinstance(value, str):
                    raise PolicyError(
                        f"{REASON} gave {_shown(value)} for {category}/{feature}: "
                        "a reason must be a string"
                    )
                self._reasons[key] = value
            return self._reasons[key]

    def _allowed_features(self) -> dict[str, Any]:
        with self._lock:
            if self._features is None:
                value = self.engine.query(ALLOWED_FEATURES, self._input)
                if not isinstance(value, dict) or not isinstance(value.get("capabilities"), dict):
                    raise PolicyError(
                        f"{ALLOWED_FEATURES} gave {_shown(value)}: expected an object of "
                        "feature sets and capabilities"
                    )
                self._features = value
            return self._features

    def capabilities(self) -> dict[str, Any]:
        """Limits and switches in effect: max_things, max_streams, max_users, multi_tenancy..."""
        return dict(self._allowed_features().get("capabilities", {}))

    def limit(self, resource: str) -> int | None:
        """The most `resource`s ("things", "streams", "users") allowed; None: no limit."""
        value = self.capabilities().get(f"max_{resource}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value)

    def within_limit(self, resource: str, count: int) -> bool:
        """Whether `count` `resource`s (after adding the new one) stay within the limit."""
        limit = self.limit(resource)
        return limit is None or count <= limit

    def features_in_effect(self) -> dict[str, list[str] | dict[str, Any]]:
        """Names per category that may be used (processors: every known one allowed) and the
        capabilities."""
        features = self._allowed_features()
        with self._lock:
            if self._in_effect is None:
                in_effect: dict[str, list[str] | dict[str, Any]] = {}
                for category in CATEGORIES:
                    in_effect[category] = _names(features.get(category, []), ALLOWED_FEATURES)
                processors = self.engine.query(PROCESSOR_ALLOWED, self._input)
                if processors is not UNDEFINED:
                    in_effect["processors"] = _names(processors, PROCESSOR_ALLOWED)
                in_effect["capabilities"] = dict(features.get("capabilities", {}))
                self._in_effect = in_effect
            items = self._in_effect.items()
            return {k: list(v) if isinstance(v, list) else dict(v) for k, v in items}

    def input_document(self) -> Mapping[str, Any]:
        """The input the policies are evaluated with (without a request)."""
        return dict(self._input)
