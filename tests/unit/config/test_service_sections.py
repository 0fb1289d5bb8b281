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


def test_metrics_aws_cloudwatch(write: Write) -> None:
    path = write(
        HEAD
        + """metrics:
  mapping: 'root = if this != "streamforge_sent" { deleted() }'
  aws_cloudwatch:
    namespace: Plant7/Gateway
    region: eu-central-1
    credentials: {id: AKIA, secret: s3cr3t}
"""
    )
    assert problems(path) == []
    metrics = load_stream(path).metrics
    assert metrics["type"] == "aws_cloudwatch"
    assert metrics["conf"]["flush_period"] == "100ms"
    assert metrics["conf"]["credentials"]["secret"] == "s3cr3t"
    section = "metrics:\n  aws_cloudwatch:\n"
    assert lint_with(write, section + "    namespace: AWS/EC2\n") == [
        "stream.yaml:7:16: metrics aws_cloudwatch: namespace: 'AWS/EC2': names starting with "
        "AWS/ are AWS's own"
    ]
    assert lint_with(write, section + "    flush_period: 0s\n") == [
        "stream.yaml:7:19: metrics aws_cloudwatch: flush_period: must be longer than 0s"
    ]
    assert lint_with(write, section + "    namespaec: x\n") == [
        'stream.yaml:7:5: unknown field "namespaec" in metrics aws_cloudwatch, did you mean '
        '"namespace"?'
    ]


# -- tracer -------------------------------------------------------------------------------------


def test_tracer_none_and_unsupported_tracers(write: Write) -> None:
    assert lint_with(write, "tracer:\n  none: {}\n") == []
    assert "`jaeger` is a Benthos tracer" in lint_with(write, "tracer:\n  jaeger: {}\n")[0]


def test_open_telemetry_collector_with_defaults(write: Write) -> None:
    path = write(
        HEAD
        + """tracer:
  open_telemetry_collector:
    http:
      - address: collector:4318
      - url: localhost:4318
    grpc:
      - address: collector:4317
        secure: true
    sampling:
      enabled: true
      ratio: 0.25
    tags:
      deployment.environment: plant-7
"""
    )
    assert problems(path) == []
    tracer = load_stream(path).tracer
    assert tracer["type"] == "open_telemetry_collector"
    conf = tracer["conf"]
    assert conf["service"] == "streamforge"
    assert conf["http"][0] == {"address": "collector:4318", "url": "", "secure": False}
    assert conf["grpc"][0]["secure"] is True
    assert conf["sampling"] == {"enabled": True, "ratio": 0.25}
    assert conf["tags"] == {"deployment.environment": "plant-7"}


def test_open_telemetry_collector_problems_are_at_their_field(write: Write) -> None:
    section = "tracer:\n  open_telemetry_collector:\n"
    assert lint_with(write, section + "    http: []\n") == [
        "stream.yaml:7:11: tracer open_telemetry_collector: http: no collector: give at least "
        "one http or grpc collector, e.g. http: [{address: localhost:4318}]"
    ]
    assert lint_with(write, section + "    service: x\n") == [
        "stream.yaml:7:5: tracer open_telemetry_collector: http: no collector: give at least "
        "one http or grpc collector, e.g. http: [{address: localhost:4318}]"
    ]
    assert lint_with(
        write, section + "    grpc:\n      - {address: localhost:4317}\n      - address: here\n"
    ) == ["stream.yaml:9:18: field grpc.1.address: 'here' is not host:port (e.g. localhost:4317)"]
    assert lint_with(write, section + "    http: [{address: 'localhost:70000'}]\n") == [
        "stream.yaml:7:22: field http.0.address: 'localhost:70000': port 70000 is not "
        "between 1 and 65535"
    ]
    assert lint_with(write, section + "    http: [{adress: x}]\n") == [
        'stream.yaml:7:13: unknown field "adress" in tracer open_telemetry_collector.http.0, '
        'did you mean "address"?'
    ]
    grpc = "    grpc: [{}]\n"
    assert lint_with(write, section + grpc + "    sampling: {enabled: true}\n") == [
        "stream.yaml:8:15: tracer open_telemetry_collector: sampling: enabled needs a ratio "
        "(the share of traces kept, 0 to 1)"
    ]
    assert lint_with(write, section + grpc + "    sampling: {enabled: true, ratio: 2}\n") == [
        "stream.yaml:8:38: field sampling.ratio: 2 is not a ratio between 0 and 1"
    ]
    assert lint_with(write, section + grpc + "    tags: {env: [a]}\n") == [
        "stream.yaml:8:17: field tags.env: expected string, got array"
    ]


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
