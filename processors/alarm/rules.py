"""Alarm rules of the `alarm` processor: parsed and checked once, shared by lint and the processor.

`parse_rule` and `parse_rules` are the parsers of the processor's ParsedFields, so
`streamforge lint` reports a bad rule (both `above` and `below`, a negative hysteresis, a
repeated rule) at its file:line:col.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from streamforge.bloblang.errors import ParseError
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString

__all__ = ["SEVERITIES", "Rule", "matching_rules", "parse_rule", "parse_rules"]

#: alarm priorities, least urgent first
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_KEYS = frozenset(
    {"name", "asset", "parameter", "above", "below", "hysteresis", "on_delay", "off_delay",
     "severity", "message"}
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """A threshold alarm on the series whose asset and parameter match the globs."""

    name: str
    asset: str
    parameter: str
    #: "above" raises when the value is greater than `threshold`; "below" when it is less
    direction: str
    threshold: float
    hysteresis: float
    on_delay_ns: int
    off_delay_ns: int
    severity: str
    message: InterpolatedString | None

    def matches(self, asset: str, parameter: str) -> bool:
        """True when the rule applies to the series `asset`/`parameter`."""
        return fnmatchcase(asset, self.asset) and fnmatchcase(parameter, self.parameter)

    def raises(self, value: float) -> bool:
        """The value is beyond the threshold (the alarm condition, before the on-delay)."""
        return value > self.threshold if self.direction == "above" else value < self.threshold

    def clears(self, value: float) -> bool:
        """The value is back inside the threshold by more than the hysteresis."""
        if self.direction == "above":
            return value < self.threshold - self.hysteresis
        return value > self.threshold + self.hysteresis


def _number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def _delay(raw: Mapping[str, Any], key: str, where: str) -> int:
    try:
        seconds = parse_duration(raw.get(key) or 0)
    except ValueError as exc:
        raise ValueError(f"{where}: {key}: {exc}") from None
    if seconds < 0:
        raise ValueError(f"{where}: {key} must not be negative, got {raw.get(key)!r}")
    return round(seconds * 1_000_000_000)


def _glob(raw: Mapping[str, Any], key: str, default: str | None, where: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if default is None:
            raise ValueError(f"{where}: {key} is required (a name or a glob such as temp*)")
        return default
    return str(value)


def parse_rule(raw: Any) -> Rule:
    """One rule from its config; ValueError names the rule and the problem."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"a rule is an object, got {raw!r}")
    name = str(raw.get("name") or "").strip()
    if not name:
        raise ValueError("name is required: each rule is named (e.g. high_temp)")
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise ValueError(f"{name}: unknown key {unknown[0]!r} (valid: {', '.join(sorted(_KEYS))})")
    above, below = _number(raw, "above", name), _number(raw, "below", name)
    if above is not None and below is not None:
        raise ValueError(
            f"{name}: set either above or below, not both (write two rules for a band)"
        )
    if above is None and below is None:
        raise ValueError(f"{name}: set above or below (the threshold)")
    hysteresis = _number(raw, "hysteresis", name) or 0.0
    if hysteresis < 0:
        raise ValueError(f"{name}: hysteresis must not be negative, got {raw.get('hysteresis')!r}")
    severity = str(raw.get("severity") or "MEDIUM").upper()
    if severity not in SEVERITIES:
        raise ValueError(
            f"{name}: severity {raw.get('severity')!r} is not one of {', '.join(SEVERITIES)}"
        )
    text = str(raw.get("message") or "")
    try:
        message = InterpolatedString(text) if text else None
    except ParseError as exc:
        raise ValueError(f"{name}: message: bad interpolation: {exc.reason}") from None
    return Rule(
        name=name,
        asset=_glob(raw, "asset", "*", name),
        parameter=_glob(raw, "parameter", None, name),
        direction="above" if above is not None else "below",
        threshold=above if above is not None else below,  # type: ignore[arg-type]
        hysteresis=hysteresis,
        on_delay_ns=_delay(raw, "on_delay", name),
        off_delay_ns=_delay(raw, "off_delay", name),
        severity=severity,
        message=message,
    )


def parse_rules(raw: Any) -> list[Rule]:
    """Every rule, in order; a rule repeating an earlier one's name, asset and parameter fails."""
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise ValueError(f"expected a list of rules, got {raw!r}")
    rules: list[Rule] = []
    seen: dict[tuple[str, str, str], int] = {}
    for i, item in enumerate(raw):
        try:
            rule = parse_rule(item)
        except ValueError as exc:
            raise ValueError(f"rules[{i}]: {exc}") from None
        ident = (rule.name, rule.asset, rule.parameter)
        if ident in seen:
            raise ValueError(
                f"rules[{i}] ({rule.name}): same name, asset and parameter as rules[{seen[ident]}]"
            )
        seen[ident] = i
        rules.append(rule)
    return rules


def matching_rules(rules: Sequence[Rule], asset: str, parameter: str) -> tuple[Rule, ...]:
    """The rules of a series: per name, the first rule whose globs match it."""
    chosen: dict[str, Rule] = {}
    for rule in rules:
        if rule.name not in chosen and rule.matches(asset, parameter):
            chosen[rule.name] = rule
    return tuple(chosen.values())
