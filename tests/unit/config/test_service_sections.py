"""The Benthos service sections: buffer, metrics, tracer, shutdown_timeout and shutdown_delay."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamforge.config import dump_yaml, lint_paths, load_stream, stream_to_dict

Write = Callable[..., Path]

HEAD = """
input:
  test_only_gen: {}
output:
  test_only_sink: {path: x}
"""


def problems(path: Path) -> list[str]:
    return [str(p).replace(str(path.parent) + "/", "") for p in lint_paths([str(path)])]


def lint_with(write: Write, section: str) -> list[str]:
    """The problems of a stream of HEAD and `section`."""
    return problems(write(HEAD + section))


# -- buffer -------------------------------------------------------------------------------------


def test_no_buffer_is_none(write: Write) -> None:
    stream = load_stream(write(HEAD))
    assert stream.buffer == {"type": "none", "conf": {}, "label": ""}


def test_system_window_buffer_with_defaults(write: Write) -> None:
    path = write(HEAD + "buffer:\n  system_window:\n    size: 1m\n    slide: 10s\n")
    assert problems(path) == []
    buffer = load_stream(path).buffer
    assert buffer["type"] == "system_window"
    assert buffer["conf"] == {
        "timestamp_mapping": "root = now()",
        "size": "1m",
        "slide": "10s",
        "offset": "",
        "allowed_lateness": "",
    }


def test_system_window_problems_are_at_their_field(write: Write) -> None:
    path = write(
        HEAD
        + """buffer:
  system_window:
    slide: 1s
"""
    )
    assert problems(path) == [
        'stream.yaml:6:3: buffer system_window: missing required field "size"'
    ]
    assert lint_with(write, "buffer:\n  system_window:\n    size: 1s\n    slide: 5s\n") == [
        "stream.yaml:8:12: buffer system_window: slide: 5s is longer than size 1s; readings "
        "between windows would be lost"
    ]
    assert lint_with(write, "buffer:\n  system_window:\n    size: 10s\n    offset: 10s\n") == [
        "stream.yaml:8:13: buffer system_window: offset: 10s must be at least 0s and less "
        "than the size"
    ]
    path = write(
        HEAD + "buffer:\n  system_window:\n    size: 1s\n    timestamp_mapping: 'root ='\n"
    )
    [line] = problems(path)
    assert line.startswith("stream.yaml:8:") and "bad Bloblang" in line


def test_memory_buffer_with_a_batch_policy(write: Write) -> None:
    path = write(
        HEAD
        + """buffer:
  memory:
    limit: 1000
    batch_policy:
      enabled: true
      count: 5
      period: 1s
      processors:
        - test_only_upper: {}
"""
    )
    assert problems(path) == []
    conf = load_stream(path).buffer["conf"]
    assert conf["limit"] == 1000
    assert conf["batch_policy"]["count"] == 5
    assert conf["batch_policy"]["processors"][0].type == "test_only_upper"


def test_buffer_types_benthos_has_and_unknown_ones(write: Write) -> None:
    assert lint_with(write, "buffer:\n  sqlite:\n    path: ./buf.db\n") == [
        "stream.yaml:6:3: buffer type 'sqlite' is not supported: `sqlite` is a Benthos buffer "
        "StreamForge does not have (yet)"
    ]
    assert lint_with(write, "buffer:\n  memroy: {}\n") == [
        'stream.yaml:6:3: unknown buffer type "memroy", did you mean "memory"?'
    ]
    assert lint_with(write, "buffer:\n  memory: {}\n  none: {}\n") == [
        "stream.yaml:7:3: buffer has more than one type: memory, none (use one)"
    ]
    assert lint_with(write, "buffer: [memory]\n") == [
        "stream.yaml:5:9: buffer: expected an object, got array"
    ]


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_default_to_prometheus(write: Write) -> None:
    metrics = load_stream(write(HEAD)).metrics
    assert metrics["type"] == "prometheus"
    assert metrics["mapping"] == ""
    assert metrics["conf"]["add_process_metrics"] is False


def test_metrics_prometheus_with_mapping_and_none(write: Write) -> None:
    path = write(
        HEAD
        + """metrics:
  mapping: |
    root = this.replace_all("streamforge_", "plant_")
  prometheus:
    add_process_metrics: true
    add_go_metrics: true
    use_histogram_timing: true
"""
    )
    assert problems(path) == []
    metrics = load_stream(path).metrics
    assert metrics["type"] == "prometheus"
    assert "plant_" in metrics["mapping"]
    assert metrics["conf"]["add_process_metrics"] is True
    path = write(HEAD + "metrics:\n  none: {}\n")
    assert load_stream(path).metrics["type"] == "none"


def test_metrics_problems(write: Write) -> None:
    assert lint_with(write, "metrics:\n  statsd:\n    address: localhost:8125\n") == [
        "stream.yaml:6:3: metrics type 'statsd' is not supported: `statsd` is a Benthos metrics "
        "exporter StreamForge does not have (yet)"
    ]
    [line] = lint_with(write, "metrics:\n  mapping: 'root = '\n  prometheus: {}\n")
    assert line.startswith("stream.yaml:6:") and "bad Bloblang" in line
    assert lint_with(write, "metrics:\n  prometheus:\n    histogram_buckets: [0.1, 1]\n") == [
        "stream.yaml:7:24: metrics prometheus: histogram_buckets: not supported: StreamForge's "
        "timing histograms have fixed buckets (leave it empty)"
    ]
    assert lint_with(write, "metrics:\n  prometheus:\n    add_proces_metrics: true\n") == [
        'stream.yaml:7:5: unknown field "add_proces_metrics" in metrics prometheus, did you mean '
        '"add_process_metrics"?'
    ]


# -- tracer -------------------------------------------------------------------------------------


def test_tracer_none_and_unsupported_tracers(write: Write) -> None:
    assert lint_with(write, "tracer:\n  none: {}\n") == []
    assert lint_with(write, "tracer:\n  open_telemetry_collector:\n    http: []\n") == [
        "stream.yaml:6:3: tracer type 'open_telemetry_collector' is not supported: "
        "`open_telemetry_collector` is a Benthos tracer StreamForge does not have (yet)"
    ]
    assert "`jaeger` is a Benthos tracer" in lint_with(write, "tracer:\n  jaeger: {}\n")[0]


# -- shutdown, unknown sections, echo -----------------------------------------------------------


def test_shutdown_durations(write: Write) -> None:
    stream = load_stream(write(HEAD + "shutdown_timeout: 1m30s\nshutdown_delay: 500ms\n"))
    assert stream.shutdown_timeout == 90.0
    assert stream.shutdown_delay == 0.5
    assert load_stream(write(HEAD)).shutdown_timeout == 20.0
    assert lint_with(write, "shutdown_timeout: soon\n")[0].startswith(
        "stream.yaml:5:19: field shutdown_timeout: invalid duration"
    )


def test_unknown_top_level_sections_are_errors(write: Write) -> None:
    assert lint_with(write, "tracr:\n  none: {}\nbufer:\n  none: {}\n") == [
        'stream.yaml:5:1: unknown field "tracr" in stream, did you mean "tracer"?',
        'stream.yaml:7:1: unknown field "bufer" in stream, did you mean "buffer"?',
    ]
    [line] = lint_with(write, "tracing: {}\n")
    assert line.startswith('stream.yaml:5:1: unknown field "tracing" in stream (valid: ')


def test_echo_keeps_the_sections_as_written(write: Write) -> None:
    path = write(
        HEAD + "buffer:\n  system_window:\n    size: 1s\nmetrics:\n  none: {}\n"
        "tracer:\n  none: {}\nshutdown_delay: 1s\n"
    )
    echoed = stream_to_dict(load_stream(path))
    assert echoed["buffer"] == {"system_window": {"size": "1s"}}
    assert echoed["metrics"] == {"none": {}}
    assert echoed["shutdown_delay"] == "1s"
    again = write(dump_yaml(echoed), name="again.yaml")
    assert load_stream(again).buffer["type"] == "system_window"
