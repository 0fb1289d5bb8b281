"""`alarm` processor: thresholds with hysteresis and delays, lifecycle, control messages, lint."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from component_helpers import build

from streamforge.config.loader import lint_paths
from streamforge.message import Message

T0 = "2024-05-01T12:00:00Z"

HIGH_TEMP = {
    "name": "high_temp",
    "asset": "press-*",
    "parameter": "temperature",
    "above": 80,
    "hysteresis": 2,
    "severity": "HIGH",
    "message": "${! this.asset_id } at ${! this.value } ${! this.unit }",
}


def at(second: float) -> str:
    """Device time `second` seconds after 12:00:00 (below one hour)."""
    whole = int(second)
    frac = f"{second - whole:.3f}"[1:].rstrip("0").rstrip(".")
    return f"2024-05-01T12:{whole // 60:02d}:{whole % 60:02d}{frac}Z"


def reading(
    value: Any, second: float = 0, asset: str = "press-01", parameter: str = "temperature"
) -> Message:
    return Message.from_value(
        {
            "asset_id": asset,
            "parameter": parameter,
            "value": value,
            "unit": "degC",
            "quality": "GOOD",
            "classification": "TELEMETRY",
            "timestamps": {"device_time": at(second), "gateway_time": at(second)},
            "clock_skew_ms": 0,
            "metadata": {"adapter_id": "line-3"},
        },
        {"asset_id": asset, "source": "plc-1"},
    )


def control(
    action: str,
    asset: str = "press-01",
    parameter: str = "temperature",
    name: str | None = "high_temp",
    by: str = "operator-7",
    second: float | None = None,
) -> Message:
    body: dict[str, Any] = {"action": action, "asset_id": asset, "parameter": parameter, "by": by}
    if name is not None:
        body["name"] = name
    if second is not None:
        body["time"] = at(second)
    return Message.from_value({"alarm_control": body}, {"mqtt_topic": "plant/alarms/control"})


def alarm_proc(*rules: dict[str, Any], **conf: Any) -> Any:
    return build("processor", "alarm", {"rules": list(rules or [HIGH_TEMP]), **conf})


def alarms(out: list[Message]) -> list[dict[str, Any]]:
    return [m.value["alarm"] for m in out if m.value.get("classification") == "ALARM"]


def states(out: list[Message]) -> list[str]:
    return [a["state"] for a in alarms(out)]


def feed(proc: Any, values: list[float], start: float = 0, step: float = 1) -> list[Message]:
    return proc.process_batch([reading(v, start + i * step) for i, v in enumerate(values)])


# -- thresholds ---------------------------------------------------------------------------------


def test_value_above_the_threshold_raises_once_and_readings_pass_through_unchanged() -> None:
    proc = alarm_proc()
    batch = [reading(75, 0), reading(81.5, 1), reading(83, 2)]
    payloads = [m.payload for m in batch]
    out = proc.process_batch(batch)
    assert [m.payload for m in out if m.value["classification"] == "TELEMETRY"] == payloads
    assert out[1] is batch[1] and out[2].value["classification"] == "ALARM"
    assert states(out) == ["ACTIVE"]


def test_hysteresis_keeps_a_value_hovering_at_the_threshold_from_chattering() -> None:
    proc = alarm_proc()
    out = feed(proc, [79.5, 80.5, 79.0, 80.2, 78.5, 80.9, 78.0, 79.9])
    assert states(out) == ["ACTIVE"]  # 78.0 is not below 80 - 2
    out = feed(proc, [77.9, 80.5, 79.9], start=10)
    assert states(out) == ["CLEARED", "ACTIVE"]
    assert [a["value"] for a in alarms(out)] == [77.9, 80.5]


def test_without_hysteresis_the_value_must_still_fall_below_the_threshold_to_clear() -> None:
    proc = alarm_proc({**HIGH_TEMP, "hysteresis": 0})
    assert states(feed(proc, [81, 80, 80, 79.99])) == ["ACTIVE", "CLEARED"]


def test_below_rule_mirrors_above() -> None:
    rule = {"name": "low_pressure", "parameter": "pressure", "below": 4.5, "hysteresis": 0.5}
    proc = alarm_proc(rule)
    out = proc.process_batch(
        [reading(v, i, parameter="pressure") for i, v in enumerate([5, 4.4, 4.6, 4.9, 5.01])]
    )
    assert states(out) == ["ACTIVE", "CLEARED"]
    assert [a["value"] for a in alarms(out)] == [4.4, 5.01]
    assert alarms(out)[0]["threshold"] == 4.5


# -- delays on device time ----------------------------------------------------------------------


def test_on_delay_counts_device_time_while_the_value_stays_beyond() -> None:
    proc = alarm_proc({**HIGH_TEMP, "on_delay": "10s"})
    # a whole minute of readings in one batch: only device time decides
    out = feed(proc, [81, 85, 90, 82], step=3)  # 0s, 3s, 6s, 9s
    assert states(out) == []
    out = proc.process_batch([reading(81, 10)])
    assert states(out) == ["ACTIVE"]
    assert alarms(out)[0]["since"] == at(10)


def test_a_dip_below_the_threshold_restarts_the_on_delay() -> None:
    proc = alarm_proc({**HIGH_TEMP, "on_delay": "10s"})
    out = proc.process_batch(
        [reading(81, 0), reading(82, 6), reading(79, 7), reading(81, 8), reading(83, 17)]
    )
    assert states(out) == []
    assert states(proc.process_batch([reading(81, 18)])) == ["ACTIVE"]


def test_off_delay_needs_the_clear_condition_to_hold_on_device_time() -> None:
    proc = alarm_proc({**HIGH_TEMP, "off_delay": "30s"})
    assert states(proc.process_batch([reading(85, 0)])) == ["ACTIVE"]
    # clear at 10s, back up at 25s (restarts), clear from 30s on
    out = proc.process_batch([reading(70, 10), reading(79, 25), reading(70, 30), reading(70, 59.5)])
    assert states(out) == []
    out = proc.process_batch([reading(71, 60)])
    assert states(out) == ["CLEARED"]
    assert alarms(out)[0]["since"] == at(60)


def test_readings_without_a_value_or_with_bad_quality_change_nothing() -> None:
    proc = alarm_proc()
    bad = reading(95, 1)
    bad.value["quality"] = "BAD"
    out = proc.process_batch([reading(None, 0), bad])
    assert states(out) == [] and len(out) == 2 and all(m.error is None for m in out)


def test_a_value_that_is_no_number_fails_only_its_message() -> None:
    proc = alarm_proc()
    out = proc.process_batch([reading("hot", 0), reading(90, 1)])
    assert out[0].error == "alarm: value 'hot' of press-01/temperature is not a number"
    assert states(out) == ["ACTIVE"]


def test_a_device_time_that_is_no_time_fails_its_message_naming_the_field() -> None:
    proc = alarm_proc()
    msg = reading(90, 0)
    msg.value["timestamps"]["device_time"] = "yesterday"
    (out,) = proc.process_batch([msg])
    assert out.error is not None and out.error.startswith("alarm: timestamps.device_time: ")


# -- lifecycle and control messages -------------------------------------------------------------


def test_acknowledge_then_clear_names_the_operator_on_both_messages() -> None:
    proc = alarm_proc()
    proc.process_batch([reading(85, 0)])
    ack = control("acknowledge", second=5)
    out = proc.process_batch([ack])
    assert ack not in out  # consumed
    (acked,) = alarms(out)
    assert acked["state"] == "ACKNOWLEDGED"
    assert acked["acknowledged_by"] == "operator-7"
    assert acked["since"] == at(5)
    assert acked["value"] == 85  # the latest reading
    (cleared,) = alarms(proc.process_batch([reading(70, 9)]))
    assert cleared["state"] == "CLEARED" and cleared["acknowledged_by"] == "operator-7"


def test_an_unacknowledged_alarm_clears_without_acknowledged_by() -> None:
    proc = alarm_proc()
    out = feed(proc, [85, 70])
    assert states(out) == ["ACTIVE", "CLEARED"]
    assert "acknowledged_by" not in alarms(out)[1]
    # the alarm is over: acknowledging it now changes nothing, and is not an error
    out = proc.process_batch([control("acknowledge")])
    assert out == []


def test_acknowledging_twice_or_a_normal_alarm_announces_nothing() -> None:
    proc = alarm_proc()
    assert proc.process_batch([control("acknowledge")]) == []
    proc.process_batch([reading(85, 0)])
    out = proc.process_batch([control("acknowledge"), control("acknowledge", by="operator-9")])
    assert states(out) == ["ACKNOWLEDGED"]
    assert alarms(out)[0]["acknowledged_by"] == "operator-7"


def test_a_returning_condition_after_clearing_raises_a_new_unacknowledged_alarm() -> None:
    proc = alarm_proc()
    proc.process_batch([reading(85, 0), control("acknowledge"), reading(70, 1)])
    (again,) = alarms(proc.process_batch([reading(86, 2)]))
    assert again["state"] == "ACTIVE" and "acknowledged_by" not in again


def test_suppressed_alarm_raises_nothing_until_unsuppressed_while_the_condition_holds() -> None:
    proc = alarm_proc()
    out = proc.process_batch([control("suppress", by="maintenance", second=1)])
    (suppressed,) = alarms(out)
    assert suppressed["state"] == "SUPPRESSED" and suppressed["suppressed_by"] == "maintenance"
    assert suppressed["value"] is None  # no reading seen yet
    out = feed(proc, [85, 70, 90], start=2)
    assert states(out) == [] and len(out) == 3
    out = proc.process_batch([control("unsuppress", by="maintenance", second=9)])
    (back,) = alarms(out)
    assert back["state"] == "ACTIVE"
    assert back["unsuppressed_by"] == "maintenance"
    assert back["value"] == 90 and back["since"] == at(9)
    assert back["message"] == "press-01 at 90 degC"


def test_suppressing_an_active_alarm_and_unsuppressing_it_after_it_cleared() -> None:
    proc = alarm_proc()
    proc.process_batch([reading(85, 0)])
    assert states(proc.process_batch([control("suppress")])) == ["SUPPRESSED"]
    assert states(feed(proc, [70], start=1)) == []
    assert states(proc.process_batch([control("unsuppress")])) == ["CLEARED"]
    assert states(proc.process_batch([control("unsuppress")])) == []  # not suppressed any more


def test_control_without_a_name_acts_on_every_alarm_of_the_series() -> None:
    high_high = {**HIGH_TEMP, "name": "high_high_temp", "above": 95, "severity": "CRITICAL"}
    proc = alarm_proc(HIGH_TEMP, high_high)
    out = proc.process_batch([reading(97, 0)])
    assert [(a["name"], a["severity"]) for a in alarms(out)] == [
        ("high_temp", "HIGH"),
        ("high_high_temp", "CRITICAL"),
    ]
    out = proc.process_batch([control("acknowledge", name=None)])
    assert [(a["name"], a["state"]) for a in alarms(out)] == [
        ("high_temp", "ACKNOWLEDGED"),
        ("high_high_temp", "ACKNOWLEDGED"),
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"asset_id": "press-01", "parameter": "temperature", "by": "op"},
         "alarm: alarm_control.action: missing; one of acknowledge, suppress, unsuppress"),
        ({"action": "ack", "asset_id": "press-01", "parameter": "temperature", "by": "op"},
         "alarm: alarm_control.action: 'ack' is not one of acknowledge, suppress, unsuppress"),
        ({"action": "acknowledge", "parameter": "temperature", "by": "op"},
         "alarm: alarm_control.asset_id: missing; the asset whose alarm this is"),
        ({"action": "acknowledge", "asset_id": "press-01", "parameter": "temperature"},
         "alarm: alarm_control.by: missing; say who acts (e.g. operator-7)"),
        ({"action": "acknowledge", "asset_id": "oven-07", "parameter": "temperature", "by": "op"},
         "alarm: alarm_control: no rule applies to oven-07/temperature"),
        ({"action": "suppress", "asset_id": "press-01", "parameter": "temperature",
          "name": "low_temp", "by": "op"},
         "alarm: alarm_control: no rule named 'low_temp' applies to press-01/temperature"),
        ({"action": "suppress", "asset_id": "press-01", "parameter": "temperature",
          "by": "op", "time": "tea time"},
         "alarm: alarm_control.time: "),
        ("acknowledge", "alarm: alarm_control: expected an object, got 'acknowledge'"),
    ],
)  # fmt: skip
def test_a_wrong_control_message_is_flagged_naming_what_is_wrong(body: Any, error: str) -> None:
    proc = alarm_proc()
    msg = Message.from_value({"alarm_control": body})
    (out,) = proc.process_batch([msg])
    assert out is msg and out.error is not None and out.error.startswith(error), out.error


# -- alarm messages -----------------------------------------------------------------------------


def test_alarm_message_is_the_envelope_with_classification_alarm_and_the_alarm() -> None:
    proc = alarm_proc()
    source = reading(84.25, 3)
    out = proc.process_batch([source])
    assert len(out) == 2
    msg = out[1]
    assert msg.value == {
        "asset_id": "press-01",
        "parameter": "temperature",
        "value": 84.25,
        "unit": "degC",
        "quality": "GOOD",
        "classification": "ALARM",
        "timestamps": {"device_time": at(3), "gateway_time": at(3)},
        "clock_skew_ms": 0,
        "metadata": {"adapter_id": "line-3"},
        "alarm": {
            "name": "high_temp",
            "state": "ACTIVE",
            "severity": "HIGH",
            "since": at(3),
            "value": 84.25,
            "threshold": 80,
            "message": "press-01 at 84.25 degC",
        },
    }
    assert msg.metadata == {
        "asset_id": "press-01",
        "source": "plc-1",
        "parameter": "temperature",
        "classification": "ALARM",
        "alarm_name": "high_temp",
        "alarm_state": "ACTIVE",
        "alarm_severity": "HIGH",
    }
    assert source.value["classification"] == "TELEMETRY"


def test_alarm_message_an_operator_causes_carries_the_latest_reading() -> None:
    proc = build("processor", "alarm", {"rules": [HIGH_TEMP]}, None)
    proc.process_batch([reading(84.25, 3)])
    (msg,) = proc.process_batch([control("acknowledge", second=20)])
    env = msg.value
    assert {k: env[k] for k in ("asset_id", "parameter", "value", "unit", "quality")} == {
        "asset_id": "press-01",
        "parameter": "temperature",
        "value": 84.25,
        "unit": "degC",
        "quality": "GOOD",
    }
    assert env["classification"] == "ALARM"
    assert env["timestamps"]["device_time"] == at(20)
    assert env["metadata"] == {"adapter_id": "test"}  # the stream's name
    assert env["alarm"] == {
        "name": "high_temp",
        "state": "ACKNOWLEDGED",
        "severity": "HIGH",
        "since": at(20),
        "value": 84.25,
        "threshold": 80,
        "message": "press-01 at 84.25 degC",
        "acknowledged_by": "operator-7",
    }
    assert msg.metadata["mqtt_topic"] == "plant/alarms/control"
    assert msg.metadata["alarm_state"] == "ACKNOWLEDGED"


def test_pass_through_false_emits_only_alarm_messages() -> None:
    proc = alarm_proc(pass_through=False)
    out = feed(proc, [70, 85, 86, 70])
    assert [m.value["classification"] for m in out] == ["ALARM", "ALARM"]
    assert states(out) == ["ACTIVE", "CLEARED"]


def test_messages_no_rule_applies_to_pass_through_untouched() -> None:
    proc = alarm_proc()
    others = [
        reading(500, 0, asset="oven-07"),
        reading(500, 0, parameter="pressure"),
        Message(b"not json"),
        Message.from_value({"hello": "world"}),
    ]
    out = proc.process_batch(list(others))
    assert out == others and all(m.error is None for m in out)


# -- keys and rules -----------------------------------------------------------------------------


def test_each_series_has_its_own_alarm() -> None:
    proc = alarm_proc({**HIGH_TEMP, "on_delay": "5s"})
    one = [reading(v, s, asset="press-01") for s, v in ((0, 85), (3, 85), (4, 85), (6, 85))]
    two = [reading(v, s, asset="press-02") for s, v in ((0, 85), (3, 85), (4, 70), (6, 85))]
    out = proc.process_batch([m for pair in zip(one, two) for m in pair])
    assert [
        (m.value["asset_id"], m.value["alarm"]["state"]) for m in out if "alarm" in m.value
    ] == [("press-01", "ACTIVE")]
    out = proc.process_batch([control("acknowledge", asset="press-02")])
    assert out == []  # press-02 is not in alarm
    out = proc.process_batch([control("acknowledge", asset="press-01")])
    assert [m.value["asset_id"] for m in out] == ["press-01"]


def test_the_first_rule_of_a_name_matching_a_series_applies_to_it() -> None:
    oven = {**HIGH_TEMP, "asset": "oven-*", "above": 250}
    general = {**HIGH_TEMP, "asset": "*", "above": 100}
    proc = alarm_proc(oven, general)
    out = proc.process_batch([reading(200, 0, asset="oven-07"), reading(200, 0, asset="mixer-03")])
    assert [(m.value["asset_id"], m.value["alarm"]["threshold"]) for m in alarms_msgs(out)] == [
        ("mixer-03", 100)
    ]


def alarms_msgs(out: list[Message]) -> list[Message]:
    return [m for m in out if m.value.get("classification") == "ALARM"]


def test_state_is_dropped_once_every_alarm_of_a_series_is_normal() -> None:
    proc = alarm_proc()
    _, state = proc.process_key("press-01/temperature", [reading(85, 0)], None)
    assert state["rules"]["high_temp"]["state"] == "ACTIVE"
    _, state = proc.process_key("press-01/temperature", [reading(70, 1)], state)
    assert state is None


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({**HIGH_TEMP, "below": 5}, "rules[0]: high_temp: set either above or below, not both"),
        ({"name": "x", "parameter": "p"}, "rules[0]: x: set above or below (the threshold)"),
        ({"name": "x", "above": 1}, "rules[0]: x: parameter is required"),
        ({**HIGH_TEMP, "hysteresis": -1}, "rules[0]: high_temp: hysteresis must not be negative"),
        ({**HIGH_TEMP, "on_delay": "soon"}, "rules[0]: high_temp: on_delay: invalid duration"),
        ({**HIGH_TEMP, "severity": "HUGE"}, "rules[0]: high_temp: severity 'HUGE' is not one of"),
        ({**HIGH_TEMP, "above": "80"}, "rules[0]: high_temp: above must be a number"),
        ({**HIGH_TEMP, "limit": 3}, "rules[0]: high_temp: unknown key 'limit'"),
        ({"parameter": "p", "above": 1}, "rules[0]: name is required"),
    ],
)
def test_bad_rules_fail_the_build_naming_the_rule(rule: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError) as info:
        alarm_proc(rule)
    assert str(info.value).startswith(error), info.value


def test_no_rules_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="rules: at least one rule is needed"):
        build("processor", "alarm", {"rules": []})


BAD_RULES = """
input:
  stdin: {}
pipeline:
  processors:
    - alarm:
        rules:
          - name: high_temp
            parameter: temperature
            above: 80
          - name: low_temp
            parameter: temperature
            above: 90
            below: 5
          - name: vib
            parameter: vibration
            above: 7.1
            severity: HUGE
output:
  drop: {}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_lint_reports_bad_rules_at_file_line_col(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_RULES)
    assert [str(p) for p in lint_paths([str(path)])] == [
        f"{path}:10:13: field rules.1: low_temp: set either above or below, not both "
        "(write two rules for a band)",
        f'{path}:17:23: field rules.2.severity: "HUGE" is not one of LOW, MEDIUM, HIGH, CRITICAL',
    ]


def test_lint_reports_a_repeated_rule(tmp_path: Path) -> None:
    text = BAD_RULES.replace("low_temp", "high_temp").replace("HUGE", "LOW")
    path = write(tmp_path, text.replace("            above: 90\n", ""))
    problems = [str(p) for p in lint_paths([str(path)])]
    assert problems == [
        f"{path}:7:11: field rules: rules[1] (high_temp): same name, asset and parameter as "
        "rules[0]"
    ]


def test_spec_example_builds_and_raises() -> None:
    import yaml

    from streamforge.plugin import registry

    spec = registry.get("processor", "alarm")
    assert spec is not None
    (example,) = spec.examples
    proc = build("processor", "alarm", yaml.safe_load(example)["alarm"])
    out = proc.process_batch([reading(81, 0), reading(81, 10)])
    assert alarms(out)[0]["message"] == "press-01 temperature 81 degC"
