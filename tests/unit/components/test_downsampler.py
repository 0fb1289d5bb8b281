"""`downsampler`: benthos-umh's defaults + overrides on the `downsample` algorithms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from component_helpers import Ctx, build, lint_processors

from streamforge.message import Message

T0 = 1_717_243_200_000  # 2024-06-01T12:00:00Z in ms
TEMP = "umh.v1.acme.hamburg.line1._historian.oven.temperature"
COUNTER = "umh.v1.acme.hamburg.line1._historian.parts_counter"


def tag(value: Any, i: int, topic: str = TEMP, contract: str | None = "_historian") -> Message:
    meta = {"umh_topic": topic}
    if contract is not None:
        meta["data_contract"] = contract
    return Message.from_value({"value": value, "timestamp_ms": T0 + i * 1000}, meta)


def downsampler(conf: dict[str, Any]) -> Any:
    return build("processor", "downsampler", conf, Ctx())


def values(out: list[Message]) -> list[Any]:
    return [m.value["value"] for m in out]


def test_deadband_keeps_changes_of_at_least_the_threshold() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 0.5}}})
    out = proc.process_batch(
        [tag(v, i) for i, v in enumerate([20.0, 20.3, 20.5, 20.6, 21.1, 19.0])]
    )
    # 20.5 differs by exactly the threshold: kept, as benthos-umh keeps it
    assert values(out) == [20.0, 20.5, 21.1, 19.0]
    assert out[0].metadata["downsampled_by"] == "deadband(threshold=0.5)"


def test_max_time_forces_a_point() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 5, "max_time": "3s"}}})
    out = proc.process_batch([tag(10.0, i) for i in range(8)])
    assert [m.value["timestamp_ms"] - T0 for m in out] == [0, 3000, 6000]


def test_max_interval_is_the_older_name_of_max_time() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 5, "max_interval": "3s"}}})
    out = proc.process_batch([tag(10.0, i) for i in range(8)])
    assert [m.value["timestamp_ms"] - T0 for m in out] == [0, 3000, 6000]
    with pytest.raises(ValueError, match="not both"):
        downsampler({"default": {"deadband": {"max_time": "3s", "max_interval": "3s"}}})


def test_swinging_door_default_keeps_line_ends_one_point_behind() -> None:
    proc = downsampler({"default": {"swinging_door": {"threshold": 0.1}}})
    ramp = [float(i) for i in range(6)] + [5.0, 5.0, 5.0]
    out = proc.process_batch([tag(v, i) for i, v in enumerate(ramp)])
    assert values(out) == [0.0, 5.0]  # the ramp's start and the corner; the flat end is held
    assert values(proc.end_of_input()) == [5.0]
    assert out[0].metadata["downsampled_by"].startswith("swinging_door(")


def test_overrides_first_match_wins_by_pattern_last_segment_or_topic() -> None:
    proc = downsampler(
        {
            "default": {"deadband": {"threshold": 10}},
            "overrides": [
                {"pattern": "*.temperature", "deadband": {"threshold": 0.1}},
                {"pattern": ".+_counter", "swinging_door": {"threshold": 0.5}},
                {"topic": "umh.v1.acme.x._historian.exact", "deadband": {"threshold": 1}},
            ],
        }
    )
    conf, _ = proc.settings(TEMP)
    assert (conf.algorithm, conf.threshold) == ("deadband", 0.1)
    conf, _ = proc.settings(COUNTER)
    assert (conf.algorithm, conf.threshold) == ("swinging_door", 0.5)
    conf, _ = proc.settings("umh.v1.acme.x._historian.exact")
    assert (conf.algorithm, conf.threshold) == ("deadband", 1.0)
    conf, _ = proc.settings("umh.v1.acme.x._historian.other")
    assert (conf.algorithm, conf.threshold) == ("deadband", 10.0)
    out = proc.process_batch([tag(20.0, 0), tag(20.2, 1), tag(20.25, 2)])
    assert values(out) == [20.0, 20.2]


def test_series_are_independent() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 1}}})
    other = "umh.v1.acme.hamburg.line2._historian.oven.temperature"
    out = proc.process_batch([tag(1.0, 0), tag(1.0, 0, other), tag(1.5, 1), tag(5.0, 1, other)])
    assert [(m.metadata["umh_topic"], m.value["value"]) for m in out] == [
        (TEMP, 1.0),
        (other, 1.0),
        (other, 5.0),
    ]


def test_non_historian_and_unreadable_messages_pass_unchanged() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 100}}})
    analytics = Message.from_value(
        {"order": 7}, {"umh_topic": "umh.v1.acme._analytics.order", "data_contract": "_analytics"}
    )
    no_ts = Message.from_value({"value": 1}, {"umh_topic": TEMP, "data_contract": "_historian"})
    out = proc.process_batch([tag(1.0, 0), tag(2.0, 1), analytics, no_ts])
    assert analytics in out and no_ts in out
    assert values([m for m in out if m is not analytics and m is not no_ts]) == [1.0]
    assert "downsampled_by" not in analytics.metadata


def test_historian_contract_read_from_the_topic_when_metadata_lacks_it() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 1}}})
    out = proc.process_batch([tag(1.0, 0, contract=None), tag(1.2, 1, contract=None)])
    assert values(out) == [1.0]


def test_late_points_pass_through_or_drop() -> None:
    proc = downsampler(
        {
            "default": {"deadband": {"threshold": 0.1}},
            "overrides": [{"pattern": "*_counter", "late_policy": {"late_policy": "drop"}}],
        }
    )
    out = proc.process_batch([tag(1.0, 5), tag(9.0, 2), tag(3.0, 6)])
    assert values(out) == [1.0, 3.0, 9.0]
    late = [m for m in out if m.value["value"] == 9.0][0]
    assert late.metadata["late_oos"] == "true"
    out = proc.process_batch([tag(1, 5, COUNTER), tag(2, 2, COUNTER)])
    assert values(out) == [1]


def test_booleans_and_strings_are_kept_on_change() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 0.5}}})
    out = proc.process_batch([tag(v, i) for i, v in enumerate([True, True, False, "run", "run"])])
    assert values(out) == [True, False, "run"]


def test_lint_reports_bad_overrides_and_policies(tmp_path: Path) -> None:
    procs = """\
        - downsampler:
            default:
              deadband: {threshold: -1}
            overrides:
              - deadband: {threshold: 1}
              - pattern: "*.x"
                late_policy: {late_policy: keep}
    """
    problems = lint_processors(tmp_path, procs)
    assert problems == [
        "s.yaml:7:11: field default: default.deadband.threshold: -1 must be a finite number >= 0",
        "s.yaml:11:40: field overrides.1.late_policy.late_policy: 'keep' is not one of "
        "passthrough, drop",
    ]
    procs = procs.replace("{threshold: -1}", "{threshold: 1}").replace("keep", "drop")
    problems = lint_processors(tmp_path, procs)
    assert problems == [
        "s.yaml:9:11: field overrides: overrides.0: set exactly one of pattern or topic"
    ]


def test_documented_configs_lint(tmp_path: Path) -> None:
    procs = """\
        - downsampler:
            default:
              deadband:
                threshold: 0.4
                max_time: 30m
              swinging_door:
                threshold: 0.4
                max_time: 30m
              late_policy:
                late_policy: passthrough
            overrides:
              - pattern: "*.pressure"
                deadband:
                  threshold: 0.05
              - pattern: "^flow_"
                swinging_door:
                  threshold: 0.02
              - topic: "umh.v1.acme.hamburg.line1._historian.critical_temp"
                deadband:
                  threshold: 0.01
              - pattern: "*.alarm"
                late_policy:
                  late_policy: drop
    """
    assert lint_processors(tmp_path, procs) == []


def test_deadband_min_time_rate_limits_and_keeps_the_last_kept_value_as_reference() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 0.5, "min_time": "3s"}}})
    # one reading a second, every one a change beyond the threshold
    series = [10.0, 11.0, 12.0, 13.0, 10.2, 10.4, 16.0, 16.1]
    out = proc.process_batch([tag(v, i) for i, v in enumerate(series)])
    # 11 and 12 come within 3s of 10; 13 is kept at 3s; 10.2/10.4 within 3s of 13;
    # 16.0 at 6s is kept; 16.1 is too close in time (and too small a change anyway)
    assert [(m.value["timestamp_ms"] - T0, m.value["value"]) for m in out] == [
        (0, 10.0),
        (3000, 13.0),
        (6000, 16.0),
    ]
    assert out[0].metadata["downsampled_by"] == "deadband(threshold=0.5,min_time=3s)"
    # the gate spans batches: the next point 1s after the last kept one is dropped too
    assert proc.process_batch([tag(30.0, 7)]) == []
    assert values(proc.process_batch([tag(30.0, 9)])) == [30.0]


def test_deadband_without_min_time_keeps_every_change() -> None:
    proc = downsampler({"default": {"deadband": {"threshold": 0.5}}})
    series = [10.0, 11.0, 12.0, 13.0]
    assert values(proc.process_batch([tag(v, i) for i, v in enumerate(series)])) == series


def test_swinging_door_min_time_and_max_time() -> None:
    proc = downsampler(
        {"default": {"swinging_door": {"threshold": 0.1, "min_time": "2s", "max_time": "4s"}}}
    )
    conf, _ = proc.settings(TEMP)
    assert (conf.algorithm, conf.min_time, conf.max_time) == ("swinging_door", 2.0, 4.0)
    # a zig-zag: without min_time every corner is archived
    zigzag = [0.0, 5.0, 0.0, 5.0, 0.0, 5.0, 0.0, 5.0, 0.0]
    free = downsampler({"default": {"swinging_door": {"threshold": 0.1}}})
    free_out = free.process_batch([tag(v, i) for i, v in enumerate(zigzag)])
    assert len(free_out) == 8  # every point but the held last one
    out = proc.process_batch([tag(v, i) for i, v in enumerate(zigzag)])
    # the 5.0 peaks come 1s after an archived point: never archived; archived points are 2s
    # apart at least
    assert [(m.value["timestamp_ms"] - T0, m.value["value"]) for m in out] == [
        (0, 0.0),
        (2000, 0.0),
        (4000, 0.0),
        (6000, 0.0),
    ]
    assert values(proc.end_of_input()) == [0.0]
    assert out[0].metadata["downsampled_by"] == (
        "swinging_door(threshold=0.1,max_time=4s,min_time=2s)"
    )


def test_swinging_door_max_time_forces_a_point_on_a_flat_line() -> None:
    proc = downsampler({"default": {"swinging_door": {"threshold": 1, "max_time": "3s"}}})
    out = proc.process_batch([tag(5.0, i) for i in range(8)])
    assert [m.value["timestamp_ms"] - T0 for m in out] == [0, 3000, 6000]


def test_override_min_time_inherits_and_overrides() -> None:
    proc = downsampler(
        {
            "default": {"deadband": {"threshold": 1, "min_time": "5s", "max_time": "1m"}},
            "overrides": [
                {"pattern": "*.temperature", "deadband": {"threshold": 0.1}},
                {"pattern": ".+_counter", "swinging_door": {"min_time": "1s"}},
            ],
        }
    )
    conf, _ = proc.settings(TEMP)
    assert (conf.threshold, conf.min_time, conf.max_time) == (0.1, 5.0, 60.0)
    conf, _ = proc.settings(COUNTER)
    assert (conf.algorithm, conf.threshold, conf.min_time) == ("swinging_door", 1.0, 1.0)


def test_lint_reports_bad_min_time(tmp_path: Path) -> None:
    procs = """\
        - downsampler:
            default:
              swinging_door: {threshold: 1, min_time: 2m, max_time: 1m}
    """
    problems = lint_processors(tmp_path, procs)
    assert problems == [
        "s.yaml:7:11: field default: default.swinging_door.min_time: 120s is longer than "
        "max_time (60s)"
    ]
    procs = procs.replace("min_time: 2m", "min_time: soon")
    problems = lint_processors(tmp_path, procs)
    assert len(problems) == 1 and "min_time" in problems[0], problems


def test_benthos_umh_min_time_configs_lint(tmp_path: Path) -> None:
    procs = """\
        - downsampler:
            default:
              deadband:
                threshold: 0.2
                max_time: 1h
                min_time: 5s
              swinging_door:
                threshold: 0.2
                min_time: 1s
                max_time: 1h
            overrides:
              - pattern: "(vibration|accelerometer)"
                swinging_door:
                  threshold: 0.01
                  min_time: 1s
    """
    assert lint_processors(tmp_path, procs) == []
