"""`alarm` processor: threshold alarms per series with an ISA-18.2-style lifecycle, inline."""

from __future__ import annotations

import copy
import math
import time
from functools import partial
from typing import Any, TypedDict

from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, register_processor
from streamforge.plugin.errors import describe_error
from streamforge.plugin.keyed import KeyedOut, KeyedProcessor
from streamforge.plugin.operator import ControlInlet, OperatorEndpoint
from streamforge.plugin.spec import ParsedField
from streamforge.processors.alarm.control import (
    CONTROL_KEY,
    Control,
    control_body,
    control_key,
    parse_control,
)
from streamforge.processors.alarm.lifecycle import (
    RuleState,
    is_idle,
    new_rule_state,
    on_control,
    on_reading,
)
from streamforge.processors.alarm.operator import AlarmDesk
from streamforge.processors.alarm.rules import (
    SEVERITIES,
    Rule,
    matching_rules,
    parse_rule,
    parse_rules,
)
from streamforge.timefmt.timestamps import (
    format_nanos,
    skew_ms,
    time_nanos,
)

__all__ = ["AlarmProcessor", "SeriesState"]

#: series whose matching rules are remembered (a pure function of asset and parameter)
_RULE_CACHE_SIZE = 65_536


class SeriesState(TypedDict):
    """The alarms of one series (asset and parameter); plain data for recovery snapshots."""

    asset_id: str
    parameter: str
    #: the latest reading's (value, unit, quality), for alarm messages operators cause
    last: tuple[Any, Any, Any] | None
    #: rule name -> that alarm's state; idle alarms are not kept
    rules: dict[str, RuleState]


class _BadReading(Exception):
    """A reading a rule applies to cannot be evaluated; the text says why."""


_RULE_FIELDS = (
    Field("name", "string", description="The alarm's name, e.g. high_temp."),
    Field(
        "asset",
        "string",
        default="*",
        description="The assets (`asset_id`) the rule applies to: a name or a glob.",
        examples=("press-*",),
    ),
    Field(
        "parameter",
        "string",
        description="The parameters the rule applies to: a name or a glob.",
        examples=("temperature",),
    ),
    Field(
        "above",
        "float",
        default=None,
        description="Raise when the value is greater than this (set `above` or `below`).",
    ),
    Field(
        "below",
        "float",
        default=None,
        description="Raise when the value is less than this (set `above` or `below`).",
    ),
    Field(
        "hysteresis",
        "float",
        default=0,
        description=(
            "Clear only once the value is below `above - hysteresis` (above `below + "
            "hysteresis`), so a value hovering at the threshold does not chatter."
        ),
    ),
    Field(
        "on_delay",
        "duration",
        default="0s",
        description="How long (device time) the value must stay beyond the threshold first.",
    ),
    Field(
        "off_delay",
        "duration",
        default="0s",
        description="How long (device time) the clear condition must hold before CLEARED.",
    ),
    Field("severity", "string", default="MEDIUM", options=SEVERITIES, description="Priority."),
    Field(
        "message",
        "string",
        default="",
        interpolable=True,
        description="Text for operators, rendered on the reading that raises the alarm.",
        examples=("${! this.asset_id } is at ${! this.value } ${! this.unit }",),
    ),
)

_DESCRIPTION = (
    "Sits inline in a telemetry pipeline: envelopes pass through unchanged (`pass_through`) "
    "and every alarm transition adds an alarm message, the envelope with classification "
    "`ALARM` and `alarm: {name, state, severity, since, value, threshold, message}` "
    "(plus `acknowledged_by` once acknowledged, `suppressed_by` when suppressed, "
    "`unsuppressed_by` when an unsuppression raises or clears it). States: ACTIVE (condition "
    "on past `on_delay`), ACKNOWLEDGED, CLEARED (condition off past `off_delay`, whether "
    "acknowledged or not; the alarm is then over), SUPPRESSED (raises nothing until "
    "unsuppressed, which announces ACTIVE when the condition is on, else CLEARED). Delays run "
    "on the envelope's `timestamps.device_time`. Operators act with control messages on the "
    f'same input: `{{"{CONTROL_KEY}": {{"action": "acknowledge"|"suppress"|"unsuppress", '
    '"asset_id", "parameter", "name" (optional: every alarm of the series), "by", "time" '
    "(optional RFC 3339)}}`; they are consumed, and a wrong one is flagged as an error. "
    "Readings with a null value or BAD quality change nothing; a value that is no number "
    "fails its message. State is keyed by asset and parameter and survives a restart with "
    "`--recovery-dir`."
)

_EXAMPLE = """\
alarm:
  rules:
    - name: high_temp
      asset: press-*
      parameter: temperature
      above: 80
      hysteresis: 2
      on_delay: 10s
      off_delay: 30s
      severity: HIGH
      message: "${! this.asset_id } temperature ${! this.value } ${! this.unit }"
    - name: low_pressure
      parameter: pressure
      below: 4.5
      severity: MEDIUM"""


@register_processor(
    "alarm",
    fields=[
        ParsedField(
            "rules",
            "array",
            parser=parse_rules,
            item=ParsedField("rule", "object", default={}, fields=_RULE_FIELDS, parser=parse_rule),
            description=(
                "Threshold rules. A series gets, per rule name, the first rule whose `asset` "
                "and `parameter` globs match it, so list specific rules before general ones."
            ),
            examples=(
                [
                    {
                        "name": "high_temp",
                        "asset": "press-*",
                        "parameter": "temperature",
                        "above": 80,
                        "hysteresis": 2,
                        "on_delay": "10s",
                        "severity": "HIGH",
                    },
                ],
            ),  # fmt: skip
        ),
        Field(
            "pass_through",
            "bool",
            default=True,
            description="Pass the readings on; false emits only the alarm messages.",
        ),
    ],
    summary="Raises, acknowledges, suppresses and clears threshold alarms per series.",
    description=_DESCRIPTION,
    examples=(_EXAMPLE,),
)
class AlarmProcessor(KeyedProcessor):
    """Raises, acknowledges, suppresses and clears threshold alarms per series."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        self.rules = parse_rules(conf.get("rules"))
        if not self.rules:
            raise ValueError("rules: at least one rule is needed")
        self.pass_through = bool(conf.get("pass_through", True))
        self.stream = getattr(ctx, "stream", "") or "streamforge"
        self._series_rules: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self.desk = AlarmDesk(self._rules_for)
        self.control_inlet: ControlInlet | None = self.desk.inlet

    # -- operator actions ---------------------------------------------------------------------
    def operator_endpoint(self) -> tuple[str, OperatorEndpoint] | None:
        return "alarms", self.desk

    def process_shard(
        self, keys: list[str], batch: list[Message], states: dict[str, Any]
    ) -> list[Message]:
        out = super().process_shard(keys, batch, states)
        self.desk.record(set(keys), states)
        return out

    def resumed(self, states: dict[str, Any]) -> None:
        self.desk.record(list(states), states)

    # -- keying -----------------------------------------------------------------------------
    def key(self, msg: Message) -> str:
        """`asset_id/parameter` of an envelope or of a control message; "" for anything else."""
        try:
            value = msg.value
        except PayloadError:
            return ""
        if type(value) is not dict:
            return ""
        body = control_body(value)
        if body is not None:
            return control_key(body)
        asset, parameter = value.get("asset_id"), value.get("parameter")
        if asset is None and parameter is None:
            return ""
        return f"{asset if asset is not None else ''}/{parameter if parameter is not None else ''}"

    def _rules_for(self, asset: str, parameter: str) -> tuple[Rule, ...]:
        cache = self._series_rules
        found = cache.get((asset, parameter))
        if found is None:
            if len(cache) >= _RULE_CACHE_SIZE:
                cache.clear()
            found = cache[(asset, parameter)] = matching_rules(self.rules, asset, parameter)
        return found

    # -- one key's batch --------------------------------------------------------------------
    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        series: SeriesState | None = state
        out: list[Message] = []
        for i, msg in enumerate(batch):
            try:
                value = msg.value
            except PayloadError:
                out.append(msg)
                continue
            body = control_body(value)
            if body is not None:
                emitted, series = self._control(msg, body, series)
                out.extend(emitted)
                continue
            try:
                emitted, series = self._reading(msg, batch, i, value, series)
            except _BadReading as exc:
                msg.error = f"alarm: {exc}"
                out.append(msg)
                continue
            if self.pass_through:
                out.append(msg)
            out.extend(emitted)
        if series is not None and not series["rules"]:
            series = None
        return out, series

    def _reading(
        self, msg: Message, batch: list[Message], i: int, env: Any, series: SeriesState | None
    ) -> tuple[list[Message], SeriesState | None]:
        if type(env) is not dict:
            return [], series
        asset, parameter = env.get("asset_id"), env.get("parameter")
        if asset is None and parameter is None:
            return [], series
        asset, parameter = _name(asset), _name(parameter)
        rules = self._rules_for(asset, parameter)
        raw = env.get("value")
        if not rules or raw is None or env.get("quality") == "BAD":
            return [], series
        number = _number(raw, asset, parameter)
        t = _device_nanos(env)
        if series is None:
            series = _new_series(asset, parameter)
        series["last"] = (raw, env.get("unit"), env.get("quality"))
        states = series["rules"]
        out: list[Message] = []
        for rule in rules:
            rs = states.get(rule.name) or new_rule_state()
            change = on_reading(rule, rs, number, t, partial(self._render, rule, msg, batch, i))
            if is_idle(rs):
                states.pop(rule.name, None)
            else:
                states[rule.name] = rs
            if change is not None:
                alarm = self._alarm(rule, rs, change, raw, None)
                out.append(_from_reading(msg, env, alarm))
        return out, series

    def _control(
        self, msg: Message, body: Any, series: SeriesState | None
    ) -> tuple[list[Message], SeriesState | None]:
        try:
            ctl = parse_control(body)
        except ValueError as exc:
            msg.error = f"alarm: {exc}"
            return [msg], series
        rules = self._rules_for(ctl.asset_id, ctl.parameter)
        if ctl.name is not None:
            rules = tuple(r for r in rules if r.name == ctl.name)
        if not rules:
            named = f" named {ctl.name!r}" if ctl.name is not None else ""
            msg.error = (
                f"alarm: {CONTROL_KEY}: no rule{named} applies to {ctl.asset_id}/{ctl.parameter}"
            )
            return [msg], series
        now = time.time_ns()
        t = ctl.time if ctl.time is not None else now
        if series is None:
            series = _new_series(ctl.asset_id, ctl.parameter)
        states = series["rules"]
        out: list[Message] = []
        for rule in rules:
            rs = states.get(rule.name) or new_rule_state()
            change = on_control(rs, ctl.action, ctl.by, t)
            if is_idle(rs):
                states.pop(rule.name, None)
            else:
                states[rule.name] = rs
            if change is not None:
                last = series["last"] or (None, None, None)
                alarm = self._alarm(rule, rs, change, last[0], ctl)
                out.append(self._from_control(msg, series, alarm, t, now))
        return out, series

    # -- alarm messages ---------------------------------------------------------------------
    def _render(self, rule: Rule, msg: Message, batch: list[Message], i: int) -> str:
        if rule.message is None:
            return ""
        try:
            return rule.message.render(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - the alarm is raised all the same
            return f"{rule.name}: message failed: {describe_error(exc)}"

    @staticmethod
    def _alarm(
        rule: Rule, rs: RuleState, state: str, value: Any, ctl: Control | None
    ) -> dict[str, Any]:
        text = rs["text"]
        if not text and rule.message is not None and rule.message.is_static:
            text = rule.message.render(Message())
        alarm: dict[str, Any] = {
            "name": rule.name,
            "state": state,
            "severity": rule.severity,
            "since": format_nanos(rs["since"]),
            "value": value,
            "threshold": rule.threshold,
            "message": text,
        }
        if rs["acked_by"] is not None and state in ("ACKNOWLEDGED", "CLEARED"):
            alarm["acknowledged_by"] = rs["acked_by"]
        if state == "SUPPRESSED":
            alarm["suppressed_by"] = rs["suppressed_by"]
        elif ctl is not None and ctl.action == "unsuppress":
            alarm["unsuppressed_by"] = ctl.by
        return alarm

    def _from_control(
        self, msg: Message, series: SeriesState, alarm: dict[str, Any], t: int, now: int
    ) -> Message:
        value, unit, quality = series["last"] or (None, None, None)
        env = {
            "asset_id": series["asset_id"],
            "parameter": series["parameter"],
            "value": value,
            "unit": unit,
            "quality": quality,
            "classification": "ALARM",
            "timestamps": {"device_time": format_nanos(t), "gateway_time": format_nanos(now)},
            "clock_skew_ms": skew_ms(now, t),
            "metadata": {"adapter_id": self.stream},
            "alarm": alarm,
        }
        return Message(metadata=_alarm_metadata(msg, env, alarm), value=env)


def _new_series(asset: str, parameter: str) -> SeriesState:
    return {"asset_id": asset, "parameter": parameter, "last": None, "rules": {}}


def _name(value: Any) -> str:
    return value if type(value) is str else ("" if value is None else str(value))


def _number(raw: Any, asset: str, parameter: str) -> float:
    """A reading's value as a number (booleans count as 0 and 1)."""
    if isinstance(raw, (int, float)):
        number = float(raw)
        if not math.isnan(number):
            return number
    raise _BadReading(f"value {raw!r} of {asset}/{parameter} is not a number")


def _device_nanos(env: dict[str, Any]) -> int:
    """The reading's device time (else its gateway time, else now) in unix nanoseconds."""
    stamps = env.get("timestamps")
    raw = None
    if type(stamps) is dict:
        raw = stamps.get("device_time") or stamps.get("gateway_time")
    if raw is None or raw == "":
        return time.time_ns()
    try:
        return time_nanos(raw)
    except ValueError as exc:
        raise _BadReading(f"timestamps.device_time: {exc}") from None


def _alarm_metadata(msg: Message, env: dict[str, Any], alarm: dict[str, Any]) -> dict[str, Any]:
    meta = dict(msg.metadata)
    meta["asset_id"] = env["asset_id"]
    meta["parameter"] = env["parameter"]
    meta["classification"] = "ALARM"
    meta["alarm_name"] = alarm["name"]
    meta["alarm_state"] = alarm["state"]
    meta["alarm_severity"] = alarm["severity"]
    return meta


def _from_reading(msg: Message, env: dict[str, Any], alarm: dict[str, Any]) -> Message:
    out = copy.deepcopy(env)
    out["classification"] = "ALARM"
    out["alarm"] = alarm
    return Message(metadata=_alarm_metadata(msg, out, alarm), value=out)
