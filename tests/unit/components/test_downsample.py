"""`downsample`: deadband and swinging door per series, max_interval, quality, end of input."""

from __future__ import annotations

import math
import pickle
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from component_helpers import Ctx, build
from hypothesis import given, settings
from hypothesis import strategies as st

from streamforge.config import lint_paths
from streamforge.message import Message
from streamforge.observability.metrics import REGISTRY
from streamforge.timefmt.timestamps import format_nanos

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z


def reading(
    i: int,
    value: Any,
    *,
    t: float | None = None,
    quality: str = "GOOD",
    asset: str = "boiler-1",
    parameter: str = "temp",
) -> Message:
    """An envelope whose device time is `t` seconds (default `i`) after T0; `seq` is `i`."""
    seconds = float(i) if t is None else t
    return Message.from_value(
        {
            "asset_id": asset,
            "parameter": parameter,
            "value": value,
            "quality": quality,
            "timestamps": {"device_time": format_nanos(T0 + round(seconds * 1e9))},
            "seq": i,
        }
    )


def downsample(conf: dict[str, Any], label: str = "downsample") -> Any:
    ctx = Ctx()
    ctx.label = label
    return build("processor", "downsample", conf, ctx)


def end_of_input(proc: Any) -> list[Message]:
    """What the processor emits when the input ends (states kept on the instance)."""
    out: list[Message] = []
    states = proc.__dict__.get("_local_states", {})
    for key in list(states):
        emitted, states[key] = proc.on_eof(key, states[key])
        out.extend(emitted)
    return out


def kept(
    conf: dict[str, Any], messages: Sequence[Message], *, eof: bool = True, batch: int = 7
) -> list[int]:
    """`seq` of the messages kept, fed in batches of `batch`, then the end of input."""
    proc = downsample(conf)
    out: list[Message] = []
    for start in range(0, len(messages), batch):
        out.extend(proc.process_batch(list(messages[start : start + batch])))
    if eof:
        out.extend(end_of_input(proc))
    return [m.value["seq"] for m in out]


def series(values: Sequence[Any], **kw: Any) -> list[Message]:
    return [reading(i, v, **kw) for i, v in enumerate(values)]


ABSOLUTE = {"method": "deadband", "deadband": {"absolute": 0.5}}
PERCENT = {"method": "deadband", "deadband": {"percent": 1.0}}


def door(deviation: float, **extra: Any) -> dict[str, Any]:
    return {"method": "swinging_door", "deviation": deviation, **extra}


# -- deadband ---------------------------------------------------------------------------------


def test_deadband_absolute_keeps_readings_beyond_the_band_of_the_last_kept() -> None:
    values = [10.0, 10.25, 10.5, 10.75, 10.5, 11.0, 11.25, 9.0, 9.25, 9.5]
    # 10.5 is exactly the band away: not more, so dropped; the band follows the kept value
    assert kept(ABSOLUTE, series(values), eof=False) == [0, 3, 7]
    assert kept(ABSOLUTE, series(values)) == [0, 3, 7, 9]


def test_deadband_percent_is_relative_to_the_last_kept_value() -> None:
    values = [100.0, 100.5, 101.0, 101.5, 103.0, 101.9, 101.8]
    # bands: 1.0 around 100, then 1.015 around 101.5, 1.03 around 103, 1.019 around 101.9
    assert kept(PERCENT, series(values), eof=False) == [0, 3, 4, 5]
    assert kept(PERCENT, series(values)) == [0, 3, 4, 5, 6]


def test_deadband_percent_around_zero_keeps_every_change() -> None:
    assert kept(PERCENT, series([0, 0, 0.001, 0.001]), eof=False) == [0, 2]


def test_deadband_integers_and_floats_compare_as_numbers() -> None:
    assert kept(ABSOLUTE, series([10, 10.0, 10.4, 11]), eof=False) == [0, 3]


# -- swinging door ----------------------------------------------------------------------------


def test_swinging_door_on_a_line_keeps_only_the_endpoints() -> None:
    line = [3.0 + 0.7 * i for i in range(50)]
    assert kept(door(0.01), series(line)) == [0, 49]


def test_swinging_door_on_a_ramp_with_a_step_keeps_the_corners() -> None:
    values = [float(i) for i in range(10)] + [100.0] * 10
    assert kept(door(0.5), series(values)) == [0, 9, 10, 19]


def test_swinging_door_output_is_one_point_behind_and_carries_the_original_message() -> None:
    proc = downsample(door(0.5))
    msgs = series([0.0, 1.0, 2.0, 10.0, 11.0])
    assert proc.process_batch([msgs[0]]) == [msgs[0]]  # the first point starts the series
    assert proc.process_batch([msgs[1]]) == []
    assert proc.process_batch([msgs[2]]) == []
    emitted = proc.process_batch([msgs[3]])  # the door closes: the point before is archived
    assert len(emitted) == 1 and emitted[0] is msgs[2]
    assert proc.process_batch([msgs[4]]) == [msgs[3]]
    assert end_of_input(proc) == [msgs[4]]


def interpolation_errors(points: list[tuple[float, float]], kept_idx: list[int]) -> list[float]:
    """|value - kept series interpolated at its time| of every dropped point."""
    errors = []
    kept_set = set(kept_idx)
    for i, (t, v) in enumerate(points):
        if i in kept_set:
            continue
        left = max(k for k in kept_idx if k < i)
        right = min(k for k in kept_idx if k > i)
        (t0, v0), (t1, v1) = points[left], points[right]
        errors.append(abs(v0 + (v1 - v0) * (t - t0) / (t1 - t0) - v))
    return errors


def test_swinging_door_on_a_noisy_sine_stays_within_the_deviation() -> None:
    noise = [((i * 7919) % 101) / 101 - 0.5 for i in range(2000)]
    points = [(i * 0.1, math.sin(i * 0.01) * 10 + noise[i] * 0.2) for i in range(2000)]
    msgs = [reading(i, v, t=t) for i, (t, v) in enumerate(points)]
    idx = kept(door(0.25), msgs, batch=100)
    assert idx[0] == 0 and idx[-1] == 1999
    assert len(idx) < 200  # the shape of a slow sine needs few points
    assert max(interpolation_errors(points, idx)) <= 0.25 + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.001, max_value=100.0),
            st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
            st.sampled_from(["GOOD"] * 5 + ["BAD"]),
        ),
        min_size=2,
        max_size=80,
    ),
    deviation=st.floats(min_value=0.0, max_value=50.0),
    max_interval=st.sampled_from(["", "5s", "60s"]),
    batch=st.integers(min_value=1, max_value=20),
)
def test_swinging_door_every_dropped_point_is_within_the_deviation(
    steps: list[tuple[float, float, str]], deviation: float, max_interval: str, batch: int
) -> None:
    points, qualities, t = [], [], 0.0
    for gap, value, quality in steps:
        t += gap
        points.append((round(t, 3), value))
        qualities.append(quality)
    msgs = [reading(i, v, t=ts, quality=q) for i, ((ts, v), q) in enumerate(zip(points, qualities))]
    idx = kept(door(deviation, max_interval=max_interval), msgs, batch=batch)
    assert idx == sorted(set(idx)) and idx[0] == 0 and idx[-1] == len(points) - 1
    for i in set(range(len(points))) - set(idx):  # a segment never spans a quality change
        left, right = max(k for k in idx if k < i), min(k for k in idx if k > i)
        assert qualities[left] == qualities[i] == qualities[right]
    tolerance = 1e-9 * (1 + max(abs(v) for _, v in points))
    assert all(e <= deviation + tolerance for e in interpolation_errors(points, idx))


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(min_value=-100, max_value=100), min_size=2, max_size=60),
    method=st.sampled_from([door(0.5), ABSOLUTE]),
    max_interval=st.integers(min_value=1, max_value=10),
)
def test_no_point_is_dropped_max_interval_after_the_last_kept_one(
    values: list[float], method: dict[str, Any], max_interval: int
) -> None:
    idx = kept({**method, "max_interval": f"{max_interval}s"}, series(values))
    last = 0
    for i in range(len(values)):
        if i in idx:
            last = i
        else:
            assert i - last < max_interval


# -- max_interval -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", [ABSOLUTE, door(0.5)], ids=["deadband", "swinging_door"])
def test_max_interval_keeps_a_flat_signal_alive(method: dict[str, Any]) -> None:
    conf = {**method, "max_interval": "10s"}
    assert kept(conf, series([5.0] * 35)) == [0, 10, 20, 30, 34]
    assert kept(method, series([5.0] * 35)) == [0, 34]


def test_max_interval_uses_the_timestamp_query() -> None:
    conf = {**ABSOLUTE, "max_interval": "1m", "timestamp": "this.ts"}
    msgs = [
        Message.from_value({"asset_id": "a", "ts": i * 20, "value": 1, "seq": i}) for i in range(7)
    ]
    assert kept(conf, msgs, eof=False) == [0, 3, 6]


# -- non-numeric values, quality, errors ------------------------------------------------------


@pytest.mark.parametrize("method", [ABSOLUTE, door(0.5)], ids=["deadband", "swinging_door"])
def test_non_numeric_values_are_kept_when_they_change(method: dict[str, Any]) -> None:
    flags = [True, True, False, False, False, True, 1, 1]  # True then the number 1: a change
    assert kept(method, series(flags), eof=False) == [0, 2, 5, 6]
    states = ["open", "open", "closed", None, None, "closed"]
    assert kept(method, series(states), eof=False) == [0, 2, 3, 5]


@pytest.mark.parametrize("method", [ABSOLUTE, door(0.5)], ids=["deadband", "swinging_door"])
def test_nan_and_infinity_are_values_kept_when_they_change(method: dict[str, Any]) -> None:
    values = [1.0, math.nan, math.nan, math.inf, 1.0, 1.0]
    assert kept(method, series(values), eof=False) == [0, 1, 3, 4]


def test_deadband_keeps_a_point_whose_quality_changed() -> None:
    msgs = [
        reading(i, 10.0, quality=q)
        for i, q in enumerate(["GOOD", "GOOD", "BAD", "BAD", "UNCERTAIN", "GOOD"])
    ]
    assert kept(ABSOLUTE, msgs, eof=False) == [0, 2, 4, 5]


def test_swinging_door_ends_its_segment_at_a_quality_change() -> None:
    msgs = [reading(i, float(i), quality="GOOD" if i < 5 else "SUSPECT") for i in range(8)]
    # the line so far ends at 4 (kept, so its interpolation holds), the new segment starts at 5
    assert kept(door(0.5), msgs) == [0, 4, 5, 7]


def test_swinging_door_keeps_both_points_when_time_does_not_advance() -> None:
    msgs = [reading(0, 0.0), reading(1, 1.0), reading(2, 2.0, t=1.0), reading(3, 3.0, t=3.0)]
    assert kept(door(0.5), msgs) == [0, 1, 2, 3]


def test_a_message_whose_point_cannot_be_read_fails_alone() -> None:
    proc = downsample({**ABSOLUTE, "timestamp": "this.ts"})
    good = Message.from_value({"asset_id": "a", "ts": "2024-05-01T12:00:00Z", "value": 1})
    late = Message.from_value({"asset_id": "a", "ts": "yesterday", "value": 2})
    raw = Message(b"not json")
    out = proc.process_batch([good, late, raw])
    assert out[0] is good and good.error is None
    assert late.error is not None and late.error.startswith("downsample: timestamp: 'yesterday'")
    assert raw.error is not None and raw.error.startswith("downsample: failed to parse")


def test_value_query_that_fails_names_the_field() -> None:
    proc = downsample({**ABSOLUTE, "value": "this.reading.number()"})
    msg = Message.from_value({"asset_id": "a", "reading": "warm"})
    (out,) = proc.process_batch([msg])
    assert out.error is not None and out.error.startswith("downsample: value: ")


def test_missing_device_time_uses_the_system_time() -> None:
    msgs = [
        Message.from_value({"asset_id": "a", "value": v, "seq": i}) for i, v in enumerate([1, 1, 3])
    ]
    assert kept(ABSOLUTE, msgs, eof=False) == [0, 2]
    assert kept(door(0.1), msgs) == [0, 1, 2]


# -- end of input, keys, state ----------------------------------------------------------------


@pytest.mark.parametrize("method", [ABSOLUTE, door(0.5)], ids=["deadband", "swinging_door"])
def test_end_of_input_emits_the_last_held_point_once(method: dict[str, Any]) -> None:
    proc = downsample(method)
    msgs = series([1.0, 1.0, 1.0])
    assert proc.process_batch(msgs) == [msgs[0]]
    assert end_of_input(proc) == [msgs[2]]
    assert end_of_input(proc) == []
    # the flushed point is the last kept one now: the series continues from it
    assert proc.process_batch([reading(3, 1.1)]) == []


def test_series_are_compressed_apart_by_default_key() -> None:
    msgs = []
    for i in range(10):
        msgs.append(reading(2 * i, 20.0, parameter="temp"))
        msgs.append(reading(2 * i + 1, 1.0 + i, parameter="pressure"))
    # the constant temperature keeps its first and last; each pressure step is beyond the band
    assert sorted(kept(ABSOLUTE, msgs)) == sorted([0, 18, *range(1, 20, 2)])


def test_key_field_chooses_the_series() -> None:
    conf = {**ABSOLUTE, "key": "${! this.sensor }", "timestamp": "this.n"}
    msgs = [
        Message.from_value({"sensor": s, "value": v, "n": i, "seq": i})
        for i, (s, v) in enumerate([("a", 1), ("b", 1), ("a", 1), ("b", 5), ("a", 9)])
    ]
    assert sorted(kept(conf, msgs, eof=False)) == [0, 1, 3, 4]
    proc = downsample(conf)
    assert proc.key(msgs[0]) == "a"


@pytest.mark.parametrize("method", [PERCENT, door(0.3)], ids=["deadband", "swinging_door"])
def test_state_pickled_between_batches_gives_the_same_result(method: dict[str, Any]) -> None:
    values = [math.sin(i / 5) * 10 for i in range(60)]
    expected = kept(method, series(values), batch=5)
    proc = downsample(method)
    out: list[Message] = []
    msgs = series(values)
    for start in range(0, 60, 5):
        out.extend(proc.process_batch(msgs[start : start + 5]))
        states = proc.__dict__["_local_states"]
        for key in states:  # as a recovery snapshot does
            states[key] = pickle.loads(pickle.dumps(states[key]))
    out.extend(end_of_input(proc))
    assert [m.value["seq"] for m in out] == expected


def test_kept_and_dropped_are_counted_per_component() -> None:
    proc = downsample(ABSOLUTE, label="counted")
    msgs = series([1.0, 1.1, 1.2, 5.0, 5.1])
    proc.process_batch(msgs)
    labels = {"stream": "test", "component": "counted"}
    assert REGISTRY.get_sample_value("streamforge_downsample_kept_total", labels) == 2
    assert REGISTRY.get_sample_value("streamforge_downsample_dropped_total", labels) == 2
    end_of_input(proc)
    assert REGISTRY.get_sample_value("streamforge_downsample_kept_total", labels) == 3


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "error"),
    [
        ({"method": "thin"}, "method: 'thin' is not one of deadband, swinging_door"),
        ({"method": "deadband"}, "deadband: set exactly one of absolute or percent"),
        (
            {"method": "deadband", "deadband": {"absolute": 1, "percent": 2}},
            "deadband: set exactly one of absolute or percent",
        ),
        ({"method": "deadband", "deadband": {"absolute": -1}}, "deadband.absolute: -1"),
        ({"method": "swinging_door"}, "deviation: required for method swinging_door"),
        ({"method": "swinging_door", "deviation": -0.1}, "deviation: -0.1 must be"),
        ({**ABSOLUTE, "deviation": 1}, "deviation: only for method swinging_door"),
        ({**door(1), "deadband": {"percent": 1}}, "deadband: only for method deadband"),
        ({**door(1), "max_interval": "soon"}, "max_interval: invalid duration 'soon'"),
        ({**door(1), "value": "this.("}, "value: bad Bloblang"),
        ({**door(1), "key": "${! this.( }"}, "key: bad interpolation"),
    ],
)
def test_bad_config_is_refused_naming_the_field(conf: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError) as exc:
        downsample(conf)
    assert str(exc.value).startswith(error)


def test_lint_reports_bad_values_at_their_place(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent(
            """
            input:
              stdin: {}
            pipeline:
              processors:
                - downsample:
                    method: swinging_dor
                    deviation: -2
                    max_interval: -1s
                    deadband: {absolute: 1, percent: 1}
            output:
              drop: {}
            """
        ).lstrip()
    )
    problems = [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]
    assert problems == [
        's.yaml:6:17: field method: "swinging_dor" is not one of deadband, swinging_door, '
        'did you mean "swinging_door"?',
        "s.yaml:7:20: deviation: -2 must be a finite number >= 0",
        "s.yaml:8:23: field max_interval: '-1s' must not be negative",
        "s.yaml:9:19: deadband: set exactly one of absolute or percent",
    ]


def test_spec_examples_build_and_compress() -> None:
    import yaml

    from streamforge.plugin import registry

    spec = registry.get("processor", "downsample")
    assert spec is not None
    deadband_ex, door_ex = (yaml.safe_load(e)["downsample"] for e in spec.examples)
    assert kept(deadband_ex, series([20.0, 20.2, 21.0, 21.1])) == [0, 2, 3]
    readings = [
        Message.from_value({"sensor": "s1", "ts": i, "temperature": 20 + i, "seq": i})
        for i in range(10)
    ]
    assert kept(door_ex, readings) == [0, 9]
