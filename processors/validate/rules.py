"""The per-parameter rules of the `validate` processor: their config, parsing, and series plans.

Each rule names the series it applies to (`parameter` and `asset_id` globs) and any of the
checks `range`, `rate_of_change`, `duplicate`, `gap` and `require_device_time`. Every rule
that matches a series applies; a `SeriesPlan` is what they add up to for one series.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from streamforge.durations import parse_duration
from streamforge.plugin import Field
from streamforge.plugin.spec import ParsedField
from streamforge.processors.telemetry.quality import Quality
from streamforge.processors.telemetry.source_quality import choice

__all__ = ["DUPLICATE_ACTIONS", "Rule", "SeriesPlan", "parse_rule", "plan_for", "rules_field"]

DUPLICATE_ACTIONS = ("flag", "drop")
_RULE_QUALITIES = ("SUSPECT", "UNCERTAIN", "BAD")


@dataclass(frozen=True)
class Rule:
    """One entry of `rules`, parsed."""

    parameter: str = "*"
    asset_id: str = "*"
    range_min: float | None = None
    range_max: float | None = None
    range_quality: Quality = "BAD"
    max_per_second: float | None = None
    rate_quality: Quality = "SUSPECT"
    duplicate_window: float | None = None
    duplicate_action: str = "flag"
    gap_interval: float | None = None
    gap_text: str = ""
    require_device_time: bool = False
    future_ahead: float | None = None
    future_text: str = ""
    future_quality: Quality = "SUSPECT"

    def matches(self, asset_id: str, parameter: str) -> bool:
        return fnmatchcase(parameter, self.parameter) and fnmatchcase(asset_id, self.asset_id)


@dataclass(frozen=True)
class SeriesPlan:
    """The checks every matching rule adds up to for one series (asset and parameter)."""

    ranges: tuple[tuple[float | None, float | None, Quality], ...] = ()
    rates: tuple[tuple[float, Quality], ...] = ()
    duplicate_window: float | None = None
    duplicate_drop: bool = False
    gap_interval: float | None = None
    gap_text: str = ""
    require_device_time: bool = False
    #: device times further ahead of the system clock than this (ns) are judged
    future_ns: int | None = None
    future_text: str = ""
    future_quality: Quality = "SUSPECT"
    #: True when the series needs state between readings
    stateful: bool = field(init=False)
    #: True when no check applies
    empty: bool = field(init=False)
    #: the duplicate window in nanoseconds
    duplicate_ns: int | None = field(init=False)

    def __post_init__(self) -> None:
        stateful = (
            bool(self.rates) or self.duplicate_window is not None or self.gap_interval is not None
        )
        window = self.duplicate_window
        object.__setattr__(self, "stateful", stateful)
        checks = self.ranges or stateful or self.require_device_time or self.future_ns
        object.__setattr__(self, "empty", not checks)
        object.__setattr__(self, "duplicate_ns", None if window is None else int(window * 1e9))


def plan_for(rules: tuple[Rule, ...], asset_id: str, parameter: str) -> SeriesPlan:
    """Combine the rules matching a series: all ranges and rates apply, the widest duplicate
    window and the shortest gap interval win, `drop` wins over `flag`."""
    matching = [r for r in rules if r.matches(asset_id, parameter)]
    windows = [r.duplicate_window for r in matching if r.duplicate_window is not None]
    gaps = [(r.gap_interval, r.gap_text) for r in matching if r.gap_interval is not None]
    gap = min(gaps) if gaps else (None, "")
    futures = [r for r in matching if r.future_ahead is not None]
    future = min(futures, key=lambda r: r.future_ahead or 0.0) if futures else None
    return SeriesPlan(
        ranges=tuple(
            (r.range_min, r.range_max, r.range_quality)
            for r in matching
            if r.range_min is not None or r.range_max is not None
        ),
        rates=tuple(
            (r.max_per_second, r.rate_quality) for r in matching if r.max_per_second is not None
        ),
        duplicate_window=max(windows) if windows else None,
        duplicate_drop=any(
            r.duplicate_action == "drop" for r in matching if r.duplicate_window is not None
        ),
        gap_interval=gap[0],
        gap_text=gap[1],
        require_device_time=any(r.require_device_time for r in matching),
        future_ns=int(future.future_ahead * 1e9) if future and future.future_ahead else None,
        future_text=future.future_text if future else "",
        future_quality=future.future_quality if future else "SUSPECT",
    )


# -- parsing -----------------------------------------------------------------------------------


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    return float(value)


def _positive_duration(value: Any, name: str) -> tuple[float, str]:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise ValueError(f"{name}: must be longer than 0, got {value!r}")
    return seconds, str(value)


def _section(rule: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = rule.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected an object, got {type(value).__name__}")
    return value


def parse_rule(rule: Any) -> Rule:
    """One rule from its config; ValueError naming the field when it is wrong."""
    if not isinstance(rule, dict):
        raise ValueError(f"a rule is an object, got {type(rule).__name__}")
    parameter = str(rule.get("parameter") or "").strip()
    if not parameter:
        raise ValueError("parameter: empty; name a parameter or a glob such as `*` or `temp*`")
    asset_id = str(rule.get("asset_id") or "*").strip() or "*"
    values: dict[str, Any] = {"parameter": parameter, "asset_id": asset_id}

    rng = _section(rule, "range")
    if rng is not None:
        low, high = _number(rng.get("min"), "range.min"), _number(rng.get("max"), "range.max")
        if low is None and high is None:
            raise ValueError("range: give min, max or both")
        if low is not None and high is not None and low > high:
            raise ValueError(f"range: min {rng.get('min')} is above max {rng.get('max')}")
        quality = choice(str(rng.get("quality") or "BAD"), _RULE_QUALITIES, "range.quality")
        values.update(range_min=low, range_max=high, range_quality=quality)

    rate = _section(rule, "rate_of_change")
    if rate is not None:
        limit = _number(rate.get("max_per_second"), "rate_of_change.max_per_second")
        if limit is None or limit <= 0:
            raise ValueError("rate_of_change.max_per_second: a number above 0 is needed")
        quality = choice(
            str(rate.get("quality") or "SUSPECT"), _RULE_QUALITIES, "rate_of_change.quality"
        )
        values.update(max_per_second=limit, rate_quality=quality)

    dup = _section(rule, "duplicate")
    if dup is not None:
        window, _ = _positive_duration(dup.get("window", "1s"), "duplicate.window")
        action = str(dup.get("action") or "flag").strip().lower()
        if action not in DUPLICATE_ACTIONS:
            raise ValueError(f'duplicate.action: "{action}" is not one of flag, drop')
        values.update(duplicate_window=window, duplicate_action=action)

    gap = _section(rule, "gap")
    if gap is not None:
        interval, text = _positive_duration(gap.get("expected_interval"), "gap.expected_interval")
        values.update(gap_interval=interval, gap_text=text)

    future = _section(rule, "future")
    if future is not None:
        ahead, text = _positive_duration(future.get("max_ahead", "1m"), "future.max_ahead")
        quality = choice(str(future.get("quality") or "SUSPECT"), _RULE_QUALITIES, "future.quality")
        values.update(future_ahead=ahead, future_text=text, future_quality=quality)

    values["require_device_time"] = bool(rule.get("require_device_time", False))
    checks = (rng, rate, dup, gap, future)
    if all(c is None for c in checks) and not values["require_device_time"]:
        raise ValueError(
            f"rule for {parameter!r} checks nothing: add range, rate_of_change, "
            "duplicate, gap, future or require_device_time"
        )
    parsed = Rule(**values)
    return parsed


def _section_parser(name: str) -> Callable[[Any], Rule]:
    """Lint one check's object on its own, so a problem is reported at that object."""

    def parse(value: Any) -> Rule:
        try:
            return parse_rule({"parameter": "*", name: value})
        except ValueError as exc:
            text = str(exc)
            raise ValueError(text.removeprefix(f"{name}: ").removeprefix(f"{name}.")) from None

    return parse


def rules_field() -> Field:
    """The `rules` field: a list of rule objects, each checked by `parse_rule` (lint too)."""
    quality_options = ", ".join(_RULE_QUALITIES)
    rule_fields = (
        Field(
            "parameter",
            "string",
            description="The parameter (envelope `parameter`) the rule is for; a glob.",
            examples=("temperature", "temp*", "*"),
        ),
        Field(
            "asset_id",
            "string",
            default="*",
            description="Only for these assets (envelope `asset_id`); a glob.",
            examples=("press-*",),
        ),
        ParsedField(
            "range",
            "object",
            parser=_section_parser("range"),
            default=None,
            description="The value must lie within min and max (either may be left out).",
            fields=(
                Field("min", "float", default=None, description="The lowest valid value."),
                Field("max", "float", default=None, description="The highest valid value."),
                Field(
                    "quality",
                    "string",
                    default="BAD",
                    options=_RULE_QUALITIES,
                    description=f"The quality of a value outside ({quality_options}); "
                    "SUSPECT suits soft limits.",
                ),
            ),
        ),
        ParsedField(
            "rate_of_change",
            "object",
            parser=_section_parser("rate_of_change"),
            default=None,
            description="The value may change by at most this much per second of device time.",
            fields=(
                Field("max_per_second", "float", description="The largest change per second."),
                Field(
                    "quality",
                    "string",
                    default="SUSPECT",
                    options=_RULE_QUALITIES,
                    description="The quality of a reading that changed faster.",
                ),
            ),
        ),
        Field(
            "duplicate",
            "object",
            default=None,
            description=(
                "A reading whose device_time the series already had, within `window` of the "
                "newest device_time seen, is a duplicate."
            ),
            fields=(
                Field("window", "duration", default="1s", description="How far back to look."),
                Field(
                    "action",
                    "string",
                    default="flag",
                    options=DUPLICATE_ACTIONS,
                    description="flag: keep it as SUSPECT; drop: remove it from the stream.",
                ),
            ),
        ),
        Field(
            "gap",
            "object",
            default=None,
            description=(
                "When no reading of the series arrives for `expected_interval` (system time), "
                "an EVENT envelope `<parameter>.gap` is emitted once, its value the seconds "
                "since the last reading."
            ),
            fields=(
                Field(
                    "expected_interval",
                    "duration",
                    description="The longest normal time between readings.",
                    examples=("10s",),
                ),
            ),
        ),
        ParsedField(
            "future",
            "object",
            parser=_section_parser("future"),
            default=None,
            description=(
                "A device_time further ahead of the gateway's clock than `max_ahead` is judged "
                "(a device clock gone wrong). Such a reading is not a duplicate candidate nor "
                "the reading the next rate of change is measured from, so one bad clock "
                "reading does not make the following good ones look out of order."
            ),
            fields=(
                Field(
                    "max_ahead",
                    "duration",
                    default="1m",
                    description="How far ahead of system time a device time may be.",
                ),
                Field(
                    "quality",
                    "string",
                    default="SUSPECT",
                    options=_RULE_QUALITIES,
                    description="The quality of a reading from the future.",
                ),
            ),
        ),
        Field(
            "require_device_time",
            "bool",
            default=False,
            description="A reading without a device time (or with one that is no time) is "
            "UNCERTAIN.",
        ),
    )
    return Field(
        "rules",
        "array",
        default=[],
        description=(
            "Checks per series. Every rule whose `parameter` and `asset_id` globs match an "
            "envelope applies; the worst result sets the quality."
        ),
        item=ParsedField("rule", "object", fields=rule_fields, parser=parse_rule),
        examples=(
            [
                {
                    "parameter": "temperature",
                    "range": {"min": -20, "max": 120},
                    "rate_of_change": {"max_per_second": 5},
                    "gap": {"expected_interval": "10s"},
                },
                {"parameter": "*", "require_device_time": True, "duplicate": {"window": "1s"}},
            ],
        ),
    )
