"""The `validate` processor: exact qualities and reasons from schema and rules; lint of rules."""

from __future__ import annotations

import json
import math
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from component_helpers import build
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from streamforge.config import lint_paths
from streamforge.message import Message
from streamforge.processors.validate.schema import SchemaCheck

T0 = "2024-05-01T12:00:00Z"


def at(seconds: float) -> str:
    """An RFC 3339 device time `seconds` after T0."""
    whole, frac = divmod(seconds, 1)
    base = datetime(2024, 5, 1, 12, 0, int(whole), tzinfo=timezone.utc)
    text = base.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{round(frac * 1e9):09d}Z" if frac else f"{text}Z"


def env(value: Any = 20.0, t: float | None = 0.0, **fields: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "asset_id": "boiler-1",
        "parameter": "temperature",
        "value": value,
        "unit": "degC",
        "quality": "GOOD",
        "classification": "TELEMETRY",
        "timestamps": {"device_time": at(t) if t is not None else None, "gateway_time": at(0)},
        "clock_skew_ms": 0,
        "metadata": {"adapter_id": "test"},
    }
    envelope.update(fields)
    return envelope


def validate(conf: dict[str, Any]) -> Any:
    return build("processor", "validate", conf)


def run(proc: Any, *envelopes: Any) -> list[Message]:
    return proc.process_batch([Message.from_value(e) for e in envelopes])  # type: ignore[no-any-return]


def judged(msg: Message) -> tuple[str, list[str]]:
    """(quality, validation reasons) of an output message, read back from its payload."""
    doc = json.loads(msg.payload)
    return doc["quality"], doc["metadata"].get("validation", {}).get("reasons", [])


RANGE = {"rules": [{"parameter": "temperature", "range": {"min": 0, "max": 100}}]}


# -- range -----------------------------------------------------------------------------------


def test_value_above_max_is_bad_and_flagged_with_the_reason() -> None:
    (out,) = run(validate(RANGE), env(120.5))
    assert judged(out) == ("BAD", ["range: 120.5 is above max 100"])
    assert out.error == "validate: range: 120.5 is above max 100"
    assert out.metadata["quality"] == "BAD"
    doc = json.loads(out.payload)
    assert doc["metadata"]["quality_reasons"] == ["range: 120.5 is above max 100"]
    assert doc["metadata"]["validation"]["input_quality"] == "GOOD"
    assert doc["metadata"]["adapter_id"] == "test"


def test_value_below_min_is_bad() -> None:
    (out,) = run(validate(RANGE), env(-3))
    assert judged(out) == ("BAD", ["range: -3 is below min 0"])


def test_value_in_range_passes_untouched() -> None:
    original = env(55.0)
    (out,) = run(validate(RANGE), original)
    assert out.error is None
    assert json.loads(out.payload) == original


def test_soft_range_gives_suspect_and_no_error() -> None:
    conf = {
        "rules": [
            {"parameter": "temperature", "range": {"max": 100}},
            {"parameter": "temperature", "range": {"max": 80, "quality": "SUSPECT"}},
        ]
    }
    out_soft, out_hard = run(validate(conf), env(90), env(101))
    assert judged(out_soft) == ("SUSPECT", ["range: 90 is above max 80"])
    assert out_soft.error is None
    assert judged(out_hard) == (
        "BAD",
        ["range: 101 is above max 100", "range: 101 is above max 80"],
    )


@pytest.mark.parametrize(
    ("value", "shown"), [("hot", "'hot'"), (math.nan, "nan"), (math.inf, "inf"), (None, "None")]
)
def test_value_that_is_no_finite_number_is_bad(value: Any, shown: str) -> None:
    (out,) = run(validate(RANGE), env(value))
    assert out.error == f"validate: range: value {shown} is not a finite number"


def test_rules_match_parameter_and_asset_globs() -> None:
    conf = {"rules": [{"parameter": "temp*", "asset_id": "boiler-*", "range": {"max": 10}}]}
    proc = validate(conf)
    hit, other_asset, other_param = run(
        proc, env(50), env(50, asset_id="press-1"), env(50, parameter="pressure")
    )
    assert hit.error is not None
    assert other_asset.error is None and other_param.error is None


# -- rate of change --------------------------------------------------------------------------

RATE = {"rules": [{"parameter": "temperature", "rate_of_change": {"max_per_second": 2}}]}


def test_faster_change_than_allowed_is_suspect() -> None:
    first, ok, fast = run(validate(RATE), env(20, 0), env(21, 1), env(27, 2))
    assert first.error is None and ok.error is None
    assert json.loads(ok.payload)["quality"] == "GOOD"
    assert judged(fast) == ("SUSPECT", ["rate_of_change: 6/s exceeds max_per_second 2"])
    assert fast.error is None


def test_rate_state_is_kept_per_series_between_batches() -> None:
    proc = validate(RATE)
    run(proc, env(20, 0), env(100, 0, asset_id="boiler-2"))
    (out,) = run(proc, env(20.5, 1))
    assert out.error is None and json.loads(out.payload)["quality"] == "GOOD"
    (out2,) = run(proc, env(110, 1, asset_id="boiler-2"))
    assert judged(out2) == ("SUSPECT", ["rate_of_change: 10/s exceeds max_per_second 2"])


def test_out_of_order_reading_is_suspect_and_not_the_new_baseline() -> None:
    late, after = run(validate(RATE), env(20, 10), env(20, 5), env(21, 11))[1:]
    assert judged(late) == (
        "SUSPECT",
        ["rate_of_change: device_time is earlier than the previous reading's"],
    )
    assert json.loads(after.payload)["quality"] == "GOOD"


def test_a_bad_reading_does_not_become_the_rate_baseline() -> None:
    conf = {
        "rules": [
            {
                "parameter": "temperature",
                "range": {"max": 100},
                "rate_of_change": {"max_per_second": 5},
            }
        ]
    }
    outs = run(validate(conf), env(20, 0), env(500, 1), env(22, 2))
    assert outs[1].error is not None
    assert json.loads(outs[2].payload)["quality"] == "GOOD"  # 1/s from 20 at t=0


# -- duplicates ------------------------------------------------------------------------------


def test_same_device_time_again_is_a_suspect_duplicate() -> None:
    conf = {"rules": [{"parameter": "*", "duplicate": {"window": "1s"}}]}
    first, dup = run(validate(conf), env(20, 3), env(20, 3))
    assert first.error is None and json.loads(first.payload)["quality"] == "GOOD"
    assert judged(dup) == ("SUSPECT", [f"duplicate: device_time {at(3)} already seen"])


def test_duplicates_are_dropped_with_action_drop() -> None:
    conf = {"rules": [{"parameter": "*", "duplicate": {"window": "1s", "action": "drop"}}]}
    outs = run(validate(conf), env(20, 3), env(20, 3), env(21, 4), env(21, 3))
    assert [json.loads(m.payload)["value"] for m in outs] == [20, 21]


def test_a_device_time_older_than_the_window_is_no_longer_remembered() -> None:
    conf = {"rules": [{"parameter": "*", "duplicate": {"window": "1s"}}]}
    outs = run(validate(conf), env(20, 3), env(20, 5), env(20, 3))
    assert json.loads(outs[2].payload)["quality"] == "GOOD"


# -- device time -----------------------------------------------------------------------------

DEVICE_TIME = {"rules": [{"parameter": "*", "require_device_time": True}]}


def test_missing_device_time_is_uncertain() -> None:
    (out,) = run(validate(DEVICE_TIME), env(20, None))
    assert judged(out) == ("UNCERTAIN", ["require_device_time: no device time"])
    assert out.error is None


def test_gateway_time_stood_in_by_telemetry_counts_as_missing() -> None:
    meta = {"adapter_id": "x", "quality_reasons": ["no device time; gateway time used"]}
    (out,) = run(validate(DEVICE_TIME), env(20, 0, quality="UNCERTAIN", metadata=meta))
    doc = json.loads(out.payload)
    assert doc["quality"] == "UNCERTAIN"
    assert doc["metadata"]["quality_reasons"] == [
        "no device time; gateway time used",
        "require_device_time: no device time",
    ]


def test_device_time_that_is_no_time_is_uncertain() -> None:
    envelope = env(20)
    envelope["timestamps"]["device_time"] = "yesterday"
    (out,) = run(validate(DEVICE_TIME), envelope)
    assert judged(out) == ("UNCERTAIN", ["require_device_time: device_time 'yesterday' is no time"])


# -- combining with the envelope's own quality, and validating again ------------------------


def test_quality_is_the_worst_of_the_envelope_and_the_rules() -> None:
    meta = {"adapter_id": "x", "quality_reasons": ["OPC UA status UncertainInitialValue"]}
    (out,) = run(validate(RATE), env(20, 0, quality="UNCERTAIN", metadata=meta))
    assert json.loads(out.payload)["quality"] == "UNCERTAIN"
    proc = validate(RATE)
    outs = run(proc, env(20, 0), env(30, 1, quality="UNCERTAIN", metadata=meta))
    doc = json.loads(outs[1].payload)
    assert doc["quality"] == "UNCERTAIN"
    assert doc["metadata"]["validation"]["quality"] == "SUSPECT"
    assert doc["metadata"]["quality_reasons"] == [
        "OPC UA status UncertainInitialValue",
        "rate_of_change: 10/s exceeds max_per_second 2",
    ]


def test_validating_again_with_changed_rules_starts_from_the_input_quality() -> None:
    (bad,) = run(validate(RANGE), env(120))
    relaxed = {"rules": [{"parameter": "temperature", "range": {"max": 150}}]}
    (again,) = run(validate(relaxed), json.loads(bad.payload))
    assert again.error is None
    doc = json.loads(again.payload)
    assert doc["quality"] == "GOOD"
    assert "validation" not in doc["metadata"] and "quality_reasons" not in doc["metadata"]
    assert again.metadata["quality"] == "GOOD"


def test_bad_envelope_from_the_source_is_flagged_unless_flag_bad_is_off() -> None:
    meta = {"adapter_id": "x", "quality_reasons": ["modbus: timeout"]}
    (out,) = run(validate(RANGE), env(20, quality="BAD", metadata=meta))
    assert out.error == "validate: envelope quality BAD: modbus: timeout"
    (kept,) = run(validate({**RANGE, "flag_bad": False}), env(120))
    assert kept.error is None and judged(kept)[0] == "BAD"


def test_payload_that_is_not_json_is_bad() -> None:
    (out,) = validate(RANGE).process_batch([Message(b"not json {")])
    assert out.error is not None and out.error.startswith("validate: payload: failed to parse")
    assert out.metadata["quality"] == "BAD"


# -- schema ----------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["asset_id", "value"],
    "properties": {"value": {"type": "number"}, "unit": {"enum": ["degC", "bar"]}},
}


def test_schema_violations_are_bad_with_path_and_message() -> None:
    proc = validate({"schema": SCHEMA})
    good, bad = run(proc, env(20), env("warm", unit="F"))
    assert good.error is None
    assert judged(bad) == (
        "BAD",
        [
            "schema: $.value: 'warm' is not of type 'number'",
            "schema: $.unit: 'F' is not one of ['degC', 'bar']",
        ],
    )
    (missing,) = validate({"schema": SCHEMA}).process_batch([Message.from_value({"x": 1})])
    assert missing.error == "validate: schema: $: 'asset_id' is a required property; " + (
        "schema: $: 'value' is a required property"
    )


def test_only_the_first_schema_errors_are_named() -> None:
    schema = {"type": "object", "required": ["a", "b", "c", "d", "e"]}
    (out,) = validate({"schema": schema}).process_batch([Message.from_value({})])
    assert out.error is not None
    assert out.error.count("is a required property") == 3
    assert out.error.endswith("schema: more errors not shown")


def test_schema_as_yaml_text_and_from_a_file(tmp_path: Path) -> None:
    text = "type: object\nproperties:\n  value: {type: number, maximum: 50}\n"
    path = tmp_path / "envelope.schema.json"
    path.write_text(json.dumps({"properties": {"value": {"maximum": 50}}}))
    for conf in ({"schema": text}, {"schema_path": str(path)}):
        (out,) = run(validate(conf), env(60))
        assert judged(out) == ("BAD", ["schema: $.value: 60 is greater than the maximum of 50"])


def test_schema_problems_fail_the_build_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"schema: invalid JSON Schema at \$.type"):
        validate({"schema": {"type": "thing"}})
    with pytest.raises(ValueError, match="schema_path: cannot read"):
        validate({"schema_path": str(tmp_path / "missing.json")})
    with pytest.raises(ValueError, match="schema and schema_path: give the schema one way only"):
        validate({"schema": SCHEMA, "schema_path": "x.json"})


def test_processor_without_stateful_rules_is_not_keyed() -> None:
    assert validate({"schema": SCHEMA, **RANGE}).stateful is False
    assert validate(RATE).stateful is True


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats()
    | st.sampled_from(["degC", "x", ""]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["asset_id", "value", "unit", "tags", "n"]), inner, max_size=4
        )
    ),
    max_leaves=8,
)
_SCHEMAS = [
    SCHEMA,
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "asset_id": {"type": "string", "minLength": 1, "maxLength": 8},
            "value": {"type": ["integer", "null"], "minimum": 0, "exclusiveMaximum": 100},
            "tags": {"type": "array", "items": {"type": "string"}},
            "unit": {"const": "degC"},
            "n": {"type": "boolean"},
        },
    },
    {"type": "array", "items": {"type": "number", "maximum": 10}},
]


@settings(max_examples=300, deadline=None)
@given(doc=_json, which=st.sampled_from(range(len(_SCHEMAS))))
def test_the_fast_schema_plan_agrees_with_jsonschema(doc: Any, which: int) -> None:
    check = SchemaCheck(_SCHEMAS[which])
    assert check.plan is not None
    valid = Draft202012Validator(_SCHEMAS[which]).is_valid(doc)
    assert (check.errors(doc) == []) is valid
    if check.plan(doc):
        assert valid


# -- future ----------------------------------------------------------------------------------

#: T0 (2024-05-01T12:00:00Z) in unix seconds: the tests' gateway clock reads T0 + offset
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()


def later(seconds: float, value: float) -> dict[str, Any]:
    """An envelope whose device time is `seconds` after T0 (any size)."""
    stamp = datetime.fromtimestamp(T0 + seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return env(value, None, timestamps={"device_time": stamp, "gateway_time": at(0)})


def test_a_device_time_ahead_of_the_clock_is_judged_and_kept_out_of_the_series_state() -> None:
    proc = validate(
        {
            "rules": [
                {
                    "parameter": "temperature",
                    "future": {"max_ahead": "1m"},
                    "rate_of_change": {"max_per_second": 1},
                    "duplicate": {"window": "1d"},
                }
            ]
        }
    )
    proc._clock = lambda: T0 + 10
    ok, ahead, after, again = run(
        proc,
        env(20.0, 0),
        later(3 * 3600, 20.5),  # a clock three hours ahead
        env(20.5, 1),  # not out of order: the reading from the future is no baseline
        later(3 * 3600, 21.0),  # the same bad time again is judged, not called a duplicate
    )
    assert judged(ok) == ("GOOD", [])
    assert judged(ahead) == (
        "SUSPECT",
        [
            "future: device_time 2024-05-01T15:00:00Z is 3.0h ahead of the gateway clock "
            "(max_ahead 1m)"
        ],
    )
    assert judged(after) == ("GOOD", [])
    assert judged(again)[1][0].startswith("future: ")
    assert len(judged(again)[1]) == 1


def test_the_future_quality_can_be_bad_and_a_near_time_passes() -> None:
    proc = validate(
        {"rules": [{"parameter": "*", "future": {"max_ahead": "30s", "quality": "BAD"}}]}
    )
    proc._clock = lambda: T0
    near, far = run(proc, env(20.0, 29), env(20.0, 31))
    assert judged(near) == ("GOOD", [])
    assert far.error is not None and "future: " in far.error
    assert judged(far)[0] == "BAD"


# -- gap -------------------------------------------------------------------------------------


def test_gap_emits_one_event_envelope_when_a_series_goes_quiet() -> None:
    proc = validate({"rules": [{"parameter": "temperature", "gap": {"expected_interval": "10s"}}]})
    clock = [1000.0]
    proc._clock = lambda: clock[0]
    out, state = proc.process_key("boiler-1/temperature", [Message.from_value(env(20, 0))], None)
    assert len(out) == 1
    due = proc.notify_at("boiler-1/temperature", state)
    assert due == datetime.fromtimestamp(1010.0, tz=timezone.utc)
    clock[0] = 1012.5
    (event,), state = proc.on_notify("boiler-1/temperature", state)
    doc = event.value
    assert doc["classification"] == "EVENT"
    assert doc["parameter"] == "temperature.gap"
    assert doc["asset_id"] == "boiler-1"
    assert doc["value"] == 12.5
    assert doc["metadata"]["gap"] == {
        "parameter": "temperature",
        "expected_interval": "10s",
        "last_reading": at(0),
    }
    assert event.metadata["classification"] == "EVENT"
    assert proc.notify_at("boiler-1/temperature", state) is None  # once per gap
    clock[0] = 1020.0
    proc.process_key("boiler-1/temperature", [Message.from_value(env(21, 20))], state)
    assert proc.notify_at("boiler-1/temperature", state) == datetime.fromtimestamp(
        1030.0, tz=timezone.utc
    )


# -- lint ------------------------------------------------------------------------------------


def lint(tmp_path: Path, processor: str) -> list[str]:
    path = tmp_path / "s.yaml"
    body = textwrap.indent(textwrap.dedent(processor).strip(), " " * 8)
    path.write_text(
        "input:\n  generate:\n    mapping: 'root = {}'\npipeline:\n  processors:\n"
        f"    - validate:\n{body}\noutput:\n  drop: {{}}\n"
    )
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def test_lint_reports_bad_rules_at_file_line_col(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        rules:
          - parameter: temperature
            range: {min: 10, max: 5}
          - parameter: pressure
            rate_of_change: {max_per_sec: 3}
          - parameter: flow
            gap: {expected_interval: soon}
          - parameter: level
            duplicate: {window: 1s, action: skip}
          - parameter: power
          - parameter: x
            rate_of_change: {max_per_second: -1}
        """,
    )
    assert problems == [
        "s.yaml:9:20: field rules.0.range: min 10 is above max 5",
        "s.yaml:11:13: processor validate: missing required field "
        '"rules.1.rate_of_change.max_per_second"',
        's.yaml:11:30: unknown field "max_per_sec" in processor validate.rules.1.rate_of_change, '
        'did you mean "max_per_second"?',
        "s.yaml:13:38: field rules.2.gap.expected_interval: invalid duration 'soon': expected "
        "a number with a unit such as 500ms, 1s, 1m30s",
        's.yaml:15:45: field rules.3.duplicate.action: "skip" is not one of flag, drop',
        "s.yaml:16:13: field rules.4: rule for 'power' checks nothing: add range, "
        "rate_of_change, duplicate, gap, future or require_device_time",
        "s.yaml:18:29: field rules.5.rate_of_change: max_per_second: a number above 0 is needed",
    ]


def test_lint_reports_an_invalid_inline_schema(tmp_path: Path) -> None:
    problems = lint(tmp_path, "schema: {type: object, required: yes}")
    assert len(problems) == 1
    assert problems[0].startswith("s.yaml:7:17: field schema: invalid JSON Schema at $.required")
