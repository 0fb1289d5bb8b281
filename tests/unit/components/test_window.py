"""The `window` processor: window arithmetic, lateness, keys, chaining, and compiled dataflows."""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main
from bytewax.testing import run_main
from component_helpers import build

from streamforge.cli import main as cli
from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.observability.metrics import REGISTRY
from streamforge.plugin import Input, InputReader, Output, register_input, register_output
from streamforge.plugin.windows import micros_datetime
from streamforge.timefmt.timestamps import format_nanos, time_nanos

T0 = time_nanos("2024-05-01T12:00:00Z")
#: the in-memory windows' system clock, fixed so event-time watermarks do not drift
NOW = T0 + 3600 * 10**9
ALL = ["count", "sum", "avg", "min", "max", "first", "last", "stddev"]


def at(seconds: float) -> str:
    """RFC 3339 text `seconds` after 2024-05-01T12:00:00Z."""
    return format_nanos(T0 + round(seconds * 1e9))


def time_of(seconds: float) -> datetime:
    """The aware datetime `seconds` after T0."""
    return micros_datetime((T0 + round(seconds * 1e9)) // 1000)


def env(
    seconds: float | None,
    value: Any,
    asset: str = "press-01",
    parameter: str = "temperature",
    quality: str = "GOOD",
    unit: str = "degC",
) -> Message:
    """A telemetry envelope read at `seconds` after T0 (None: without a device time)."""
    stamps = {} if seconds is None else {"device_time": at(seconds)}
    doc = {
        "asset_id": asset,
        "parameter": parameter,
        "value": value,
        "unit": unit,
        "quality": quality,
        "classification": "TELEMETRY",
        "timestamps": stamps,
    }
    return Message(value=doc)


def window(**conf: Any) -> Any:
    """A window on event time (device time, no lateness unless given), with a fixed clock."""
    conf.setdefault("timestamp", "this.timestamps.device_time")
    conf.setdefault("allowed_lateness", "0s")
    proc = build("processor", "window", conf)
    proc.now_ns = lambda: NOW
    return proc


def docs(messages: list[Message]) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in messages]


def spans(messages: list[Message]) -> list[tuple[str, str, int, Any]]:
    """(window_start, window_end, count, sum) of each aggregate message."""
    return [
        (d["window_start"], d["window_end"], d["aggregates"]["count"], d["aggregates"].get("sum"))
        for d in docs(messages)
    ]


def late_total(component: str = "component", stream: str = "test") -> float:
    labels = {"stream": stream, "component": component}
    return REGISTRY.get_sample_value("streamforge_window_late_total", labels) or 0.0


# -- window arithmetic ---------------------------------------------------------------------


def test_tumbling_window_reports_every_aggregate_and_closes_at_its_end() -> None:
    w = window(size="10s", aggregates=ALL)
    out = w.process_batch([env(1, 4), env(3, 8), env(9.999, 6, quality="SUSPECT"), env(10, 1)])
    assert docs(out) == [
        {
            "asset_id": "press-01",
            "parameter": "temperature",
            "unit": "degC",
            "quality": "SUSPECT",
            "window_start": "2024-05-01T12:00:00Z",
            "window_end": "2024-05-01T12:00:10Z",
            "aggregates": {
                "count": 3,
                "sum": 18,
                "avg": 6,
                "min": 4,
                "max": 8,
                "first": 4,
                "last": 6,
                "stddev": math.sqrt(8 / 3),
                "m2": 8,
            },
        }
    ]
    assert out[0].metadata == {
        "asset_id": "press-01",
        "parameter": "temperature",
        "quality": "SUSPECT",
        "window_key": "press-01/temperature",
        "window_type": "tumbling",
        "window_size": "10s",
    }
    # the reading at exactly 12:00:10 opened the next window, emitted when the input ends
    assert spans(w.flush()) == [("2024-05-01T12:00:10Z", "2024-05-01T12:00:20Z", 1, 1)]


def test_first_and_last_follow_event_time_not_arrival() -> None:
    w = window(size="10s", aggregates=["first", "last"], allowed_lateness="10s")
    w.process_batch([env(5, "b"), env(2, "a"), env(8, "c"), env(6, "x")])
    (doc,) = docs(w.flush())
    assert doc["aggregates"] == {"count": 4, "first": "a", "last": "c"}


def test_sliding_windows_hold_each_reading_size_over_slide_times() -> None:
    w = window(type="sliding", size="10s", slide="5s", aggregates=["count", "sum"])
    out = w.process_batch([env(1, 1), env(6, 10), env(11, 100)])
    out += w.flush()
    assert spans(out) == [
        ("2024-05-01T11:59:55Z", "2024-05-01T12:00:05Z", 1, 1),
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:10Z", 2, 11),
        ("2024-05-01T12:00:05Z", "2024-05-01T12:00:15Z", 2, 110),
        ("2024-05-01T12:00:10Z", "2024-05-01T12:00:20Z", 1, 100),
    ]


def test_session_windows_end_after_a_gap_and_span_first_to_last_reading() -> None:
    w = window(type="session", gap="5s", aggregates=["count", "sum"])
    out = w.process_batch([env(0, 1), env(2, 2), env(4, 3), env(20, 10), env(21, 20)])
    assert spans(out) == [("2024-05-01T12:00:00Z", "2024-05-01T12:00:04Z", 3, 6)]
    assert out[0].metadata["window_size"] == "5s"
    assert spans(w.flush()) == [("2024-05-01T12:00:20Z", "2024-05-01T12:00:21Z", 2, 30)]


def test_a_reading_between_two_sessions_merges_them() -> None:
    w = window(type="session", gap="5s", allowed_lateness="10s", aggregates=["count", "sum"])
    assert w.process_batch([env(0, 1), env(10, 2)]) == []
    w.process_batch([env(5, 4)])
    assert spans(w.flush()) == [("2024-05-01T12:00:00Z", "2024-05-01T12:00:10Z", 3, 7)]


def test_windows_align_to_the_given_time() -> None:
    w = window(size="1h", align_to="2024-05-01T00:30:00Z", aggregates=["count"])
    w.process_batch([env(600, 1)])
    assert spans(w.flush()) == [("2024-05-01T11:30:00Z", "2024-05-01T12:30:00Z", 1, None)]


def test_unix_numbers_and_rfc3339_times_fall_in_the_same_windows() -> None:
    w = window(size="10s", timestamp="this.ts", aggregates=["count"])
    seconds = T0 / 1e9
    times = [seconds + 1, (seconds + 2) * 1e3, at(3), "2024-05-01T14:00:04+02:00"]
    w.process_batch(
        [Message(value={"asset_id": "a", "parameter": "p", "value": 1, "ts": t}) for t in times]
    )
    assert spans(w.flush()) == [("2024-05-01T12:00:00Z", "2024-05-01T12:00:10Z", 4, None)]


def test_system_time_windows_close_when_the_clock_passes_their_end() -> None:
    w = build("processor", "window", {"size": "1s", "aggregates": ["count", "sum"]})
    w.now_ns = lambda: T0 + 200_000_000
    assert w.process_batch([env(None, 1), env(None, 2)]) == []
    w.now_ns = lambda: T0 + 1_500_000_000
    out = w.process_batch([env(None, 4)])
    assert spans(out) == [("2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z", 2, 3)]
    assert spans(w.flush()) == [("2024-05-01T12:00:01Z", "2024-05-01T12:00:02Z", 1, 4)]


def test_the_keyed_timer_hooks_close_windows_when_due() -> None:
    w = build("processor", "window", {"size": "1s", "aggregates": ["count"]})
    w.now_ns = lambda: T0 + 200_000_000
    out, state = w.process_key("a/p", [env(None, 1)], None)
    assert out == []
    assert w.notify_at("a/p", state) == time_of(1)
    w.now_ns = lambda: T0 + 1_000_000_000
    out, state = w.on_notify("a/p", state)
    assert spans(out) == [("2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z", 1, None)]
    assert w.notify_at("a/p", state) is None


# -- lateness ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["drop", "emit", "error"])
def test_late_readings_are_counted_and_routed_as_configured(mode: str) -> None:
    w = window(size="10s", aggregates=["count", "sum"], late=mode)
    before = late_total()
    out = w.process_batch([env(5, 1), env(12, 2), env(3, 99)])
    assert late_total() == before + 1
    assert spans([m for m in out if "aggregates" in m.value]) == [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:10Z", 1, 1)
    ]
    late = [m for m in out if "aggregates" not in m.value]
    if mode == "drop":
        assert late == []
        return
    (msg,) = late
    assert msg.value["value"] == 99
    assert msg.metadata["window_late"] is True
    if mode == "emit":
        assert msg.error is None
    else:
        assert msg.error == (
            "window: late: event time 2024-05-01T12:00:03Z is behind the watermark "
            "(allowed_lateness 0s)"
        )


def test_with_pass_through_a_late_reading_passes_on_once_and_is_counted() -> None:
    w = window(size="10s", aggregates=["count"], late="error", pass_through=True)
    before = late_total()
    batch = [env(5, 1), env(12, 2), env(3, 99)]
    out = w.process_batch(batch)
    assert [m for m in out if "aggregates" not in m.value] == batch
    assert all(m.error is None for m in out)
    assert late_total() == before + 1


def test_allowed_lateness_accepts_readings_up_to_it_behind_the_latest() -> None:
    w = window(size="10s", allowed_lateness="5s", aggregates=["count", "sum"], late="emit")
    before = late_total()
    out = w.process_batch([env(8, 1), env(13, 2), env(6, 3), env(9, 4)])
    # 13 - 5s = 8: the reading at 6 is late, the one at 9 still joins the open window
    assert [m.value["value"] for m in out] == [3]
    assert late_total() == before + 1
    assert spans(w.flush()) == [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:10Z", 2, 5),
        ("2024-05-01T12:00:10Z", "2024-05-01T12:00:20Z", 1, 2),
    ]


# -- keys and values -----------------------------------------------------------------------


def test_each_series_has_its_own_windows() -> None:
    w = window(size="10s", aggregates=["count", "sum"])
    w.process_batch(
        [
            env(1, 1),
            env(1, 10, asset="press-02"),
            env(2, 100, parameter="pressure", unit="bar"),
            env(3, 2),
            env(4, 20, asset="press-02"),
        ]
    )
    got = {(d["asset_id"], d["parameter"], d["unit"]): d["aggregates"] for d in docs(w.flush())}
    assert got == {
        ("press-01", "temperature", "degC"): {"count": 2, "sum": 3},
        ("press-02", "temperature", "degC"): {"count": 2, "sum": 30},
        ("press-01", "pressure", "bar"): {"count": 1, "sum": 100},
    }


def test_an_interpolated_key_groups_series_as_asked() -> None:
    w = window(size="10s", key="${! this.asset_id }", aggregates=["count", "sum"])
    w.process_batch([env(1, 1), env(2, 5, parameter="pressure"), env(3, 7, asset="press-02")])
    out = w.flush()
    assert sorted((m.metadata["window_key"], m.value["aggregates"]["sum"]) for m in out) == [
        ("press-01", 6),
        ("press-02", 7),
    ]


def test_values_that_are_not_numbers_count_but_are_skipped_by_numeric_aggregates() -> None:
    w = window(size="10s", aggregates=ALL)
    values = [1, "open", None, float("nan"), 3, True, float("inf")]
    w.process_batch([env(i, v) for i, v in enumerate(values)])
    (doc,) = docs(w.flush())
    assert doc["aggregates"] == {
        "count": 7,
        "sum": 4,
        "avg": 2,
        "min": 1,
        "max": 3,
        "first": 1,
        "last": None,  # +Inf has no JSON form
        "stddev": 1,
        "m2": 2,
        "skipped": 5,
    }


def test_only_non_numbers_give_null_numeric_aggregates() -> None:
    w = window(size="10s", aggregates=["count", "avg", "last"])
    w.process_batch([env(1, "open"), env(2, "closed")])
    (doc,) = docs(w.flush())
    assert doc["aggregates"] == {"count": 2, "avg": None, "last": "closed", "skipped": 2}


def test_a_value_query_picks_the_reading() -> None:
    w = window(size="10s", value="this.value.celsius * 2", aggregates=["sum"])
    w.process_batch([env(1, {"celsius": 1.5}), env(2, {"celsius": 2})])
    (doc,) = docs(w.flush())
    assert doc["aggregates"] == {"count": 2, "sum": 7.0}


def test_the_window_quality_is_the_worst_reading_quality() -> None:
    w = window(size="10s", aggregates=["count"])
    w.process_batch([env(1, 1), env(2, 1, quality="UNCERTAIN"), env(3, 1, quality="SUSPECT")])
    (out,) = w.flush()
    assert out.value["quality"] == "UNCERTAIN"
    assert out.metadata["quality"] == "UNCERTAIN"


def test_messages_that_cannot_be_windowed_pass_on_flagged() -> None:
    w = window(size="10s", aggregates=["count", "avg"])
    no_time = env(None, 1)
    bad_time = env(1, 1)
    bad_time.value["timestamps"]["device_time"] = "yesterday"
    not_json = Message(b"{not json")
    partial = env(1, None)
    partial.value["aggregates"] = {"count": 3, "min": 1}
    out = w.process_batch([no_time, bad_time, not_json, env(2, 5), partial])
    assert out == [no_time, bad_time, not_json, partial]
    assert no_time.error == "window: timestamp: the message has no event time (the query gave null)"
    assert bad_time.error is not None and "'yesterday' is not a time" in bad_time.error
    assert partial.error == "window: aggregates: sum or avg is needed to combine earlier windows"
    assert not_json.error is not None and "failed to parse message as JSON" in not_json.error
    (doc,) = docs(w.flush())
    assert doc["aggregates"] == {"count": 1, "avg": 5}


def test_check_leaves_other_messages_untouched_and_pass_through_keeps_the_windowed_ones() -> None:
    w = window(size="10s", aggregates=["count"], check='this.parameter == "temperature"')
    other = env(1, 1, parameter="pressure")
    out = w.process_batch([env(1, 1), other])
    assert out == [other]
    assert [d["aggregates"]["count"] for d in docs(w.flush())] == [1]

    kept = window(size="10s", aggregates=["count"], pass_through=True)
    reading = env(1, 1)
    assert kept.process_batch([reading]) == [reading]


def test_check_must_give_a_boolean() -> None:
    w = window(size="10s", check="this.value")
    (out,) = w.process_batch([env(1, 1)])
    assert out.error is not None and "check: expected a boolean, got int" in out.error


# -- chaining ------------------------------------------------------------------------------


def _readings(minutes: int) -> list[Message]:
    """Readings every 0.25 s with values that vary, and a few that are not numbers."""
    out = []
    for i in range(minutes * 240):
        value: Any = ((i * 37) % 101) / 7 - 5 if i % 97 else "sensor fault"
        out.append(env(i / 4, value, quality="SUSPECT" if i % 113 == 0 else "GOOD"))
    return out


def test_a_minute_window_over_second_aggregates_equals_one_over_the_readings() -> None:
    wanted = ALL
    direct = window(size="1m", aggregates=wanted)
    expected = docs(direct.process_batch(_readings(3)) + direct.flush())

    seconds = window(size="1s", aggregates=wanted)
    per_second = seconds.process_batch(_readings(3)) + seconds.flush()
    assert len(per_second) == 180
    # through JSON, as a file or a broker between the stages would carry them
    relayed = [Message(m.payload, dict(m.metadata)) for m in per_second]
    minutes = window(size="1m", timestamp="this.window_start", aggregates=wanted)
    chained = docs(minutes.process_batch(relayed) + minutes.flush())

    assert len(chained) == len(expected) == 3
    for got, want in zip(chained, expected, strict=True):
        g, e = got.pop("aggregates"), want.pop("aggregates")
        assert got == want
        assert {k: g[k] for k in ("count", "min", "max", "first", "last", "skipped")} == {
            k: e[k] for k in ("count", "min", "max", "first", "last", "skipped")
        }
        for name in ("sum", "avg", "stddev", "m2"):
            assert g[name] == pytest.approx(e[name], rel=1e-12, abs=1e-9)


def test_chaining_needs_what_the_coarser_window_asks_for() -> None:
    fine = window(size="1s", aggregates=["count", "avg"])
    fine.process_batch([env(0.5, 1), env(0.7, 2)])
    relayed = [Message(m.payload) for m in fine.flush()]
    coarse = window(size="1m", timestamp="this.window_start", aggregates=["count", "stddev"])
    (out,) = coarse.process_batch(relayed)
    assert out.error == "window: aggregates: m2 or stddev is needed to combine a stddev"


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({}, "size: a tumbling window needs a size"),
        ({"type": "sliding", "size": "10s"}, "slide: a sliding window needs a slide"),
        ({"type": "sliding", "size": "10s", "slide": "20s"}, "slide: 20s is longer than size"),
        ({"type": "session"}, "gap: a session window needs a gap"),
        ({"type": "hopping", "size": "1s"}, "type: 'hopping' is not one of tumbling"),
        ({"size": "0s"}, "size: '0s' must be a positive duration"),
        ({"size": "1s", "allowed_lateness": "-1s"}, "allowed_lateness: '-1s' must be not"),
        ({"size": "1s", "aggregates": ["mean"]}, "aggregates[0]: 'mean' is not one of count"),
        ({"size": "1s", "align_to": "noon"}, "align_to: 'noon' is not a time"),
        ({"size": "1s", "late": "keep"}, "late: 'keep' is not one of drop, emit, error"),
        ({"size": "1s", "timestamp": "this.("}, "timestamp: bad Bloblang"),
    ],
)
def test_bad_configs_name_the_field(conf: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError) as err:
        build("processor", "window", conf)
    assert str(err.value).startswith(problem), str(err.value)


def test_lint_reports_bad_window_fields_at_their_place(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "input:\n  stdin: {}\n"
        "pipeline:\n  processors:\n"
        "    - window:\n        size: soon\n        aggregates: [ count, mean ]\n"
        "output:\n  drop: {}\n"
    )
    assert cli(["lint", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{path}:6:15: field size: invalid duration") for line in lines)
    assert any(
        line.startswith(f'{path}:7:30: field aggregates.1: "mean" is not one of') for line in lines
    )


# -- compiled dataflows --------------------------------------------------------------------

#: test input name -> partitions -> batches of envelope documents
FEEDS: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}
#: output name -> messages written
WRITTEN: dict[str, list[Message]] = {}
#: input name -> set when the output has written an aggregate (the input may end)
AGGREGATED: dict[str, threading.Event] = {}
#: input name -> batch index at which the reader raises (a crash), once
CRASH_AT: dict[str, int] = {}
#: input name -> the batch index each reader started from (resumed runs start later)
STARTS: dict[str, list[int]] = {}
#: input name -> whether the aggregate had been written when the input ended
ENDED_AGGREGATED: dict[str, bool] = {}


class _FeedReader(InputReader):
    def __init__(self, name: str, batches: list[list[dict[str, Any]]], start: int) -> None:
        self.name = name
        self.batches = batches
        self.pos = start
        self.idle_until = 0.0
        STARTS.setdefault(name, []).append(start)

    def read(self) -> list[Message] | None:
        if CRASH_AT.get(self.name) == self.pos:
            del CRASH_AT[self.name]
            raise RuntimeError("power cut")
        if self.pos < len(self.batches):
            batch = self.batches[self.pos]
            self.pos += 1
            return [Message(value=json.loads(json.dumps(doc))) for doc in batch]
        done = AGGREGATED.get(self.name)
        if done is None:
            return None
        if not self.idle_until:
            self.idle_until = time.monotonic() + 20
        if done.is_set() or time.monotonic() > self.idle_until:
            ENDED_AGGREGATED[self.name] = done.is_set()
            return None
        return []

    def snapshot(self) -> int:
        return self.pos


@register_input("twin_feed")
class _Feed(Input):
    """Batches from FEEDS[name]; with AGGREGATED[name] it stays open until that is set."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.name = conf["name"]

    def partitions(self) -> list[str]:
        return sorted(FEEDS[self.name])

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _FeedReader(self.name, FEEDS[self.name][partition], int(resume_state or 0))


@register_output("twin_collect")
class _Collect(Output):
    """Keeps what it writes in WRITTEN[name]; notes whether an aggregate was written."""

    lock = threading.Lock()

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.name = conf["name"]

    def write_batch(self, batch: list[Message]) -> list[Message]:
        with self.lock:
            WRITTEN.setdefault(self.name, []).extend(batch)
        if any("aggregates" in m.value for m in batch) and self.name in AGGREGATED:
            AGGREGATED[self.name].set()
        return []


LOC = Location("window.yaml", 1, 1)


def compiled(name: str, conf: dict[str, Any], validate: dict[str, Any] | None = None) -> Any:
    """The window (after a `validate` with this config, if given) between feed and collector."""
    WRITTEN.pop(name, None)
    procs = [("validate", validate)] if validate is not None else []
    procs.append(("window", conf))
    stream = StreamConfig(
        name=name,
        path=Path(f"{name}.yaml"),
        input=ComponentConfig("input", "twin_feed", {"name": name}, "input", LOC),
        processors=[
            ComponentConfig("processor", kind, c, f"pipeline.processors.{i}", LOC)
            for i, (kind, c) in enumerate(procs)
        ],
        output=ComponentConfig("output", "twin_collect", {"name": name}, "output", LOC),
    )
    return compile_streams([stream])


def doc_of(seconds: float, value: Any, asset: str, parameter: str) -> dict[str, Any]:
    return json.loads(env(seconds, value, asset, parameter).payload)  # type: ignore[no-any-return]


def aggregates_of(messages: list[Message]) -> list[dict[str, Any]]:
    found = [m.value for m in messages if "aggregates" in m.value]
    return sorted(found, key=lambda d: (d["asset_id"], d["parameter"], d["window_start"]))


@pytest.mark.parametrize(
    "windows",
    [
        {"size": "5s"},
        {"type": "sliding", "size": "6s", "slide": "2s"},
        {"type": "session", "gap": "1s"},  # the readings come in bursts 0.7 s apart
    ],
    ids=["tumbling", "sliding", "session"],
)
def test_a_compiled_stream_on_two_workers_gives_the_in_memory_aggregates(
    windows: dict[str, Any],
) -> None:
    series = [(a, p) for a in ("press-01", "press-02", "oven-07") for p in ("temp", "power")]
    feeds: dict[str, list[list[dict[str, Any]]]] = {}
    readings: list[Message] = []
    for n, (asset, parameter) in enumerate(series):
        times = [i * 0.7 + 3 * (i // 10) for i in range(60)]  # a 3 s pause every 10 readings
        docs_ = [doc_of(t, (i * 13 + n) % 29, asset, parameter) for i, t in enumerate(times)]
        feeds.setdefault(f"p{n % 4}", []).extend(docs_[i : i + 7] for i in range(0, 60, 7))
        readings += [Message(value=d) for d in docs_]
    FEEDS["two_workers"] = feeds
    conf = {
        **windows,
        "timestamp": "this.timestamps.device_time",
        "allowed_lateness": "2s",
        "aggregates": ALL,
    }
    flow = compiled("two_workers", conf)
    cli_main(flow.flow, workers_per_process=2)
    flow.close()

    memory = window(**conf)
    expected = memory.process_batch(readings) + memory.flush()
    got = aggregates_of(WRITTEN["two_workers"])
    assert got == aggregates_of(expected)
    per_reading = 3 if windows.get("type") == "sliding" else 1  # size / slide windows each
    assert sum(d["aggregates"]["count"] for d in got) == 6 * 60 * per_reading


def test_system_time_windows_close_on_their_own_while_the_input_is_open() -> None:
    FEEDS["clock"] = {"0": [[doc_of(1, 2, "a", "p"), doc_of(1, 4, "a", "p")]]}
    AGGREGATED["clock"] = threading.Event()
    flow = compiled("clock", {"size": "200ms", "aggregates": ["count", "avg"]})
    run_main(flow.flow)
    flow.close()
    (doc,) = aggregates_of(WRITTEN["clock"])
    assert doc["aggregates"] == {"count": 2, "avg": 3}
    # written while the input was still open: the window closed on the clock, not at the end
    assert ENDED_AGGREGATED["clock"] is True


def test_late_readings_in_a_dataflow_are_counted_and_passed_on_flagged() -> None:
    FEEDS["lates"] = {
        "0": [
            [doc_of(8, 1, "a", "p"), doc_of(13, 2, "a", "p")],
            [doc_of(6, 3, "a", "p"), doc_of(9, 4, "a", "p")],
        ]
    }
    before = late_total("pipeline.processors.0", "lates")
    conf = {
        "size": "10s",
        "timestamp": "this.timestamps.device_time",
        "allowed_lateness": "5s",
        "aggregates": ["count", "sum"],
        "late": "error",
    }
    flow = compiled("lates", conf)
    run_main(flow.flow)
    flow.close()
    assert late_total("pipeline.processors.0", "lates") == before + 1
    (late,) = [m for m in WRITTEN["lates"] if m.error is not None]
    assert late.value["value"] == 3 and late.metadata["window_late"] is True
    assert str(late.error).startswith("window: late: event time 2024-05-01T12:00:06Z")
    assert [(d["window_start"], d["aggregates"]) for d in aggregates_of(WRITTEN["lates"])] == [
        ("2024-05-01T12:00:00Z", {"count": 2, "sum": 5}),
        ("2024-05-01T12:00:10Z", {"count": 1, "sum": 2}),
    ]


def test_an_open_window_survives_a_crash_and_restart_with_recovery(tmp_path: Path) -> None:
    # readings 0.25 s apart on the event clock, without any allowed lateness
    batches = [[doc_of((i * 5 + j) / 4, 1, "a", "p") for j in range(5)] for i in range(10)]
    FEEDS["recovered"] = {"0": batches}
    CRASH_AT["recovered"] = 6
    init_db_dir(tmp_path, 1)
    conf = {
        "size": "1h",
        "timestamp": "this.timestamps.device_time",
        "allowed_lateness": "0s",
        "aggregates": ["count", "sum", "first", "last"],
    }
    before = late_total("pipeline.processors.0", "recovered")
    recovery = RecoveryConfig(str(tmp_path))
    flow = compiled("recovered", conf)
    with pytest.raises(BytewaxRuntimeError, match="next_batch"):
        run_main(flow.flow, epoch_interval=timedelta(0), recovery_config=recovery)
    flow.close()
    assert aggregates_of(WRITTEN.get("recovered", [])) == []  # the window was still open
    time.sleep(0.6)  # down for longer than the readings' spacing: resuming must not make them late

    flow = compiled("recovered", conf)
    run_main(flow.flow, epoch_interval=timedelta(0), recovery_config=recovery)
    flow.close()
    first_run, second_run = STARTS["recovered"]
    assert first_run == 0 and 0 < second_run <= 6  # resumed: the early readings came once
    (doc,) = aggregates_of(WRITTEN["recovered"])
    assert doc["window_start"] == "2024-05-01T12:00:00Z"
    assert doc["aggregates"] == {"count": 50, "sum": 50, "first": 1, "last": 1}
    assert late_total("pipeline.processors.0", "recovered") == before


def test_a_reading_from_the_far_future_fails_and_leaves_the_watermark_alone() -> None:
    w = window(size="1s", max_future="1h", late="error", aggregates=["count", "sum"])
    ahead = 3600 + 3 * 3600  # the fixed clock is T0 + 1 h: this one is three hours ahead of it
    out = w.process_batch([env(0.5, 1.0), env(ahead, 9.0), env(0.7, 2.0)])
    (failed,) = out
    assert failed.error == (
        f"window: timestamp: event time {at(ahead)} is 3.0h ahead of the system clock "
        "(max_future 1h)"
    )
    closed = w.process_batch([env(1.5, 3.0)])  # the watermark only reached 1.5 s
    assert spans(closed) == [(at(0), at(1), 2, 3.0)]
    assert all(m.error is None for m in closed)


def test_max_future_0s_turns_the_check_off() -> None:
    w = window(size="1s", max_future="0s", aggregates=["count", "sum"])
    assert w.process_batch([env(100_000, 1.0)]) == []  # counted in its window
    assert spans(w.flush()) == [(at(100_000), at(100_001), 1, 1.0)]


# -- validate and window in one stateful step ----------------------------------------------------

RANGE_AND_DROP = {
    "rules": [
        {"parameter": "*", "range": {"max": 20}, "duplicate": {"window": "1h", "action": "drop"}}
    ]
}


def test_validate_then_window_share_one_stateful_step() -> None:
    from streamforge.engine.dataflow import _segments

    def built(kind: str, conf: dict[str, Any]) -> tuple[ComponentConfig, Any]:
        return ComponentConfig("processor", kind, conf, "p", LOC), build("processor", kind, conf)

    validate = built("validate", RANGE_AND_DROP)
    window_ = built("window", {"size": "5s"})
    assert [len(seg) for seg in _segments([validate, window_])] == [2]
    checked = built("window", {"size": "5s", "check": "true"})  # keyed its own way
    assert [len(seg) for seg in _segments([validate, checked])] == [1, 1]
    gaps = built("validate", {"rules": [{"parameter": "*", "gap": {"expected_interval": "1s"}}]})
    assert [len(seg) for seg in _segments([gaps, window_])] == [1, 1]  # it has timers


def test_a_shared_step_gives_what_validate_then_window_give_one_after_the_other() -> None:
    series = [("press-01", "temp"), ("press-02", "temp"), ("oven-07", "power")]
    feeds: dict[str, list[list[dict[str, Any]]]] = {}
    readings: list[dict[str, Any]] = []
    for n, (asset, parameter) in enumerate(series):
        docs_ = [doc_of(i * 0.5, (i * 7 + n) % 25, asset, parameter) for i in range(40)]
        docs_ += docs_[5:8]  # repeated device times: dropped as duplicates
        feeds.setdefault(f"p{n % 2}", []).extend(docs_[i : i + 6] for i in range(0, 43, 6))
        readings += docs_
    FEEDS["shared"] = feeds
    conf = {"size": "5s", "timestamp": "this.timestamps.device_time", "aggregates": ALL}
    flow = compiled("shared", conf, validate=RANGE_AND_DROP)
    cli_main(flow.flow, workers_per_process=2)
    flow.close()

    validate = build("processor", "validate", RANGE_AND_DROP)
    memory = window(**conf)
    judged = validate.process_batch([Message(value=json.loads(json.dumps(d))) for d in readings])
    expected = memory.process_batch(judged) + memory.flush()
    written = WRITTEN["shared"]
    assert aggregates_of(written) == aggregates_of(expected)
    flagged = sorted(m.value["value"] for m in written if m.error is not None)
    assert flagged == sorted(m.value["value"] for m in judged if m.error is not None)
    assert flagged and all(v > 20 for v in flagged)  # BAD readings pass the window flagged
    assert sum(d["aggregates"]["count"] for d in aggregates_of(written)) == 120 - len(flagged)


def test_a_shared_step_keeps_both_states_across_a_restart_with_recovery(tmp_path: Path) -> None:
    batches = [[doc_of((i * 5 + j) / 4, 1, "a", "p") for j in range(5)] for i in range(10)]
    batches.append(batches[1])  # seen before the crash: a duplicate only if validate remembers
    FEEDS["shared_recovered"] = {"0": batches}
    CRASH_AT["shared_recovered"] = 6
    init_db_dir(tmp_path, 1)
    conf = {
        "size": "1h",
        "timestamp": "this.timestamps.device_time",
        "allowed_lateness": "0s",
        "aggregates": ["count", "sum"],
    }
    recovery = RecoveryConfig(str(tmp_path))
    flow = compiled("shared_recovered", conf, validate=RANGE_AND_DROP)
    with pytest.raises(BytewaxRuntimeError, match="next_batch"):
        run_main(flow.flow, epoch_interval=timedelta(0), recovery_config=recovery)
    flow.close()
    flow = compiled("shared_recovered", conf, validate=RANGE_AND_DROP)
    run_main(flow.flow, epoch_interval=timedelta(0), recovery_config=recovery)
    flow.close()
    (doc,) = aggregates_of(WRITTEN["shared_recovered"])
    assert doc["aggregates"] == {"count": 50, "sum": 50}
