"""`tracer: open_telemetry_collector`: `streamforge run` sends a trace per input batch to a real
OTLP collector (HTTP and gRPC), with the service name, the component names and the message
counts a user looks for in Jaeger; sampling keeps the share asked for; a collector that is
not there costs the stream nothing."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from peers.otlp_collector import OtlpCollector, Span, otlp_collector  # noqa: F401 - fixture
from peers.ports import free_port
from peers.stream_run import out_lines, run_stream

PIPELINE = """
input:
  label: readings
  generate:
    count: {count}
    interval: ""
    batch_size: {batch}
    mapping: 'root = {{"n": counter()}}'
pipeline:
  processors:
    - label: scale
      mapping: 'root.value = this.n * 10'
    - label: drop_odd
      mapping: 'root = if this.value % 20 != 0 {{ deleted() }}'
{tracer}
"""


def _tracer(collector: str, extra: str = "") -> str:
    return f"""tracer:
  open_telemetry_collector:
    service: plant-gateway
    {collector}
    tags:
      deployment.environment: line-7
{extra}"""


def _traces(spans: list[Span]) -> dict[str, list[Span]]:
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    return by_trace


def _complete(spans: list[Span], traces: int) -> bool:
    """`traces` traces of four spans each (input, two processors, output) have arrived."""
    found = _traces(spans)
    return len(found) >= traces and all(len(s) == 4 for s in found.values())


def _check_batch_trace(spans: list[Span]) -> None:
    """One batch of four readings: read, scaled, half dropped, two written."""
    by_name = {s.name: s for s in spans}
    assert sorted(by_name) == ["drop_odd", "file", "readings", "scale"]
    root = by_name["readings"]
    assert root.parent_id == ""
    assert root.kind == "SPAN_KIND_CONSUMER"
    assert root.count == 4
    assert root.attributes["streamforge.component.type"] == "generate"
    for name in ("scale", "drop_odd", "file"):
        assert by_name[name].parent_id == root.span_id
    assert by_name["scale"].count == 4
    assert by_name["scale"].attributes["streamforge.messages_out"] == 4
    assert by_name["drop_odd"].count == 4
    assert by_name["drop_odd"].attributes["streamforge.messages_out"] == 2
    assert by_name["file"].kind == "SPAN_KIND_PRODUCER"
    assert by_name["file"].count == 2
    assert by_name["file"].status == "STATUS_CODE_UNSET"
    # the root spans the batch's whole way: from the read until the output wrote it
    assert root.start_ns <= by_name["scale"].start_ns
    assert by_name["scale"].end_ns <= by_name["drop_odd"].end_ns <= by_name["file"].end_ns
    assert root.end_ns >= by_name["file"].end_ns


def test_each_batch_is_a_trace_at_an_http_collector(
    otlp_collector: OtlpCollector,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    collector = f"http:\n      - address: {otlp_collector.http_address}"
    run_stream(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=12, batch=4, tracer=_tracer(collector)),
        out,
    )
    assert len(out_lines(out)) == 6
    # the run exported its spans before it exited
    spans = otlp_collector.received()
    assert _complete(spans, 3), [(s.name, s.trace_id) for s in spans]
    assert {s.transport for s in spans} == {"http"}
    assert {s.service for s in spans} == {"plant-gateway"}
    assert {s.resource["deployment.environment"] for s in spans} == {"line-7"}
    assert {s.resource["streamforge.stream"] for s in spans} == {"stream"}
    traces = _traces(spans)
    assert len(traces) == 3
    for trace in traces.values():
        _check_batch_trace(trace)


def test_a_grpc_collector_gets_the_same_traces(
    otlp_collector: OtlpCollector,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    collector = f"grpc:\n      - address: {otlp_collector.grpc_address}\n        secure: false"
    run_stream(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=8, batch=4, tracer=_tracer(collector)),
        out,
    )
    spans = otlp_collector.received()
    assert {s.transport for s in spans} == {"grpc"}
    assert {s.service for s in spans} == {"plant-gateway"}
    traces = _traces(spans)
    assert len(traces) == 2
    for trace in traces.values():
        _check_batch_trace(trace)


def test_sampling_keeps_about_the_ratio_of_whole_traces(
    otlp_collector: OtlpCollector,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    collector = f"http:\n      - address: {otlp_collector.http_address}"
    sampling = "    sampling:\n      enabled: true\n      ratio: 0.25\n"
    run_stream(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=1600, batch=4, tracer=_tracer(collector, sampling)),
        out,
    )
    assert len(out_lines(out)) == 800  # sampling leaves the data alone
    traces = _traces(otlp_collector.received())
    # 400 batches, a quarter kept: 100 expected; the bounds are five standard deviations
    assert 57 <= len(traces) <= 143, len(traces)
    assert all(len(spans) == 4 for spans in traces.values())


def test_sampling_ratio_zero_sends_nothing(
    otlp_collector: OtlpCollector,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    collector = f"http:\n      - address: {otlp_collector.http_address}"
    sampling = "    sampling:\n      enabled: true\n      ratio: 0\n"
    run_stream(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=40, batch=4, tracer=_tracer(collector, sampling)),
        out,
    )
    assert len(out_lines(out)) == 20
    assert otlp_collector.received() == []


def test_after_a_buffer_each_flushed_batch_starts_a_trace(
    otlp_collector: OtlpCollector,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    collector = f"http:\n      - address: {otlp_collector.http_address}"
    buffer = "buffer:\n  memory:\n    batch_policy:\n      enabled: true\n      count: 6\n"
    run_stream(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=12, batch=4, tracer=_tracer(collector) + buffer),
        out,
    )
    assert len(out_lines(out)) == 6
    traces = list(_traces(otlp_collector.received()).values())
    reads = [t for t in traces if [s.name for s in t] == ["readings"]]
    assert sorted(t[0].count for t in reads) == [4, 4, 4]
    flushed = [t for t in traces if len(t) > 1]
    assert len(flushed) == 2
    for spans in flushed:
        by_name = {s.name: s for s in spans}
        assert sorted(by_name) == ["buffer memory", "drop_odd", "file", "scale"]
        root = by_name["buffer memory"]
        assert root.parent_id == "" and root.count == 6
        assert by_name["scale"].parent_id == root.span_id
        assert by_name["file"].count == 3


def test_a_missing_collector_costs_the_stream_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    nowhere = f"http:\n      - address: 127.0.0.1:{free_port()}"
    started = time.monotonic()
    done = run_stream(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=400, batch=4, tracer=_tracer(nowhere)),
        out,
    )
    assert len(out_lines(out)) == 200
    # giving up on the spans is bounded by the exporter's timeout, not endless
    assert time.monotonic() - started < 60
    assert "Traceback" not in done.stderr
