"""`retry` output and `retry` processor: the shapes Benthos documents lint clean, bad fields
are refused at their place, and the backoff behaves as Benthos' does."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from streamforge.config import lint_paths
from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.plugin import load_builtins, registry
from streamforge.plugin.retrying import ExponentialBackoff, go_duration


def lint(tmp_path: Path, text: str) -> list[str]:
    """What `streamforge lint` reports: config problems, then what building refuses."""
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    found = lint_paths([str(path)])
    if not found:
        found = build_problems(load_stream(path))
    return [str(p).replace(str(tmp_path) + "/", "") for p in found]


def test_benthos_shapes_lint(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          generate: { interval: 500ms, mapping: 'root.valve = random_int(max: 9)' }
        pipeline:
          processors:
            - retry:
                backoff:
                  initial_interval: 50ms
                  max_interval: 2s
                  max_elapsed_time: 0s
                processors:
                  - http:
                      url: http://mes.local/valves
                      verb: POST
        output:
          retry:
            max_retries: 0
            backoff:
              initial_interval: 500ms
              max_interval: 3s
              max_elapsed_time: 0s
            output:
              http_client:
                url: http://historian.local/ingest
                verb: POST
        """,
    )
    assert problems == []


def test_bad_fields_are_refused_at_their_place(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          generate: { count: 1, interval: "", mapping: "root = 1" }
        pipeline:
          processors:
            - retry:
                max_retries: -1
                parallel: sometimes
                backoff:
                  max_elapsed_time: -1m
                processors:
                  - noop: {}
        output:
          retry:
            backoff:
              max_inteval: 1s
              initial_interval: soon
            output:
              drop: {}
        """,
    )
    assert problems == [
        "s.yaml:6:22: field max_retries: must not be negative",
        "s.yaml:7:19: field parallel: expected bool, got string",
        "s.yaml:9:29: field backoff.max_elapsed_time: must not be negative",
        's.yaml:15:7: unknown field "max_inteval" in output retry.backoff, did you mean '
        '"max_interval"?',
        "s.yaml:16:25: field backoff.initial_interval: invalid duration 'soon': expected a "
        "number with a unit such as 500ms, 1s, 1m30s",
    ]


def test_a_retry_without_processors_is_refused_at_the_component(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          generate: { count: 1, interval: "", mapping: "root = 1" }
        pipeline:
          processors:
            - retry:
                processors: []
        output:
          drop: {}
        """,
    )
    assert problems == [
        "s.yaml:5:7: processor 'retry' (pipeline.processors.0): processors: at least one "
        "child processor is needed",
    ]


@pytest.mark.parametrize("kind", ["output", "processor"])
def test_spec_examples_lint(tmp_path: Path, kind: str) -> None:
    load_builtins()
    spec = registry.get(kind, "retry")  # type: ignore[arg-type]
    assert spec is not None and spec.examples
    for i, example in enumerate(spec.examples):
        component = yaml.safe_load(example)
        stream: dict[str, object] = {
            "input": {"generate": {"count": 1, "interval": "", "mapping": "root = 1"}},
            "output": {"drop": {}},
        }
        if kind == "processor":
            stream["pipeline"] = {"processors": [component]}
        else:
            stream["output"] = component
        path = tmp_path / f"{kind}-{i}.yaml"
        path.write_text(yaml.safe_dump(stream))
        assert lint_paths([str(path)]) == []


def test_backoff_grows_by_half_within_its_bounds_and_stops_past_max_elapsed() -> None:
    backoff = ExponentialBackoff(initial=1.0, maximum=2.0)
    delays = [backoff.next_delay() for _ in range(5)]
    # intervals 1, 1.5, 2, 2, 2: each wait is its interval give or take half of it
    for delay, interval in zip(delays, [1.0, 1.5, 2.0, 2.0, 2.0]):
        assert delay is not None and interval * 0.5 <= delay <= interval * 1.5
    assert ExponentialBackoff(initial=1.0, maximum=2.0, max_elapsed=0.2).next_delay() is None
    assert ExponentialBackoff(initial=0.01, maximum=0.01, max_elapsed=60).next_delay() is not None


def test_durations_read_as_go_prints_them() -> None:
    assert [go_duration(s) for s in (0, 0.0005, 0.25, 1.5, 60, 123.5, 3600)] == [
        "0s",
        "500µs",
        "250ms",
        "1.5s",
        "1m0s",
        "2m3.5s",
        "1h0m0s",
    ]
