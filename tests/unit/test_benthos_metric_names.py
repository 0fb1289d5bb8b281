"""Component metrics are served under Benthos' names too (`input_received{label, path,
stream}` ...), so dashboards and `metrics.mapping`s written for Benthos work unchanged."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streamforge.observability.benthos_names import describe_component
from streamforge.observability.exposition import MetricsExposition
from streamforge.observability.metrics import REGISTRY, component_metrics
from streamforge.runtime.cloudwatch import read_registry


def _samples(text: str, stream: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("path", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("stream") == stream and "le" not in s.labels
    }


def _render(mapping: str = "") -> str:
    body = MetricsExposition("prometheus", {}, mapping).render()
    assert body is not None
    return body.decode()


def _stream(name: str) -> None:
    describe_component(name, "plc", "input", "plc", "input")
    describe_component(name, "pipeline.processors.0", "processor", "", "pipeline.processors.0")
    describe_component(name, "historian", "output", "historian", "output")
    component_metrics(name, "plc").received.inc(7)
    proc = component_metrics(name, "pipeline.processors.0")
    proc.received.inc(7)
    proc.sent.inc(6)
    proc.errors.inc(1)
    out = component_metrics(name, "historian")
    out.sent.inc(6)
    out.seconds.observe(0.002)


def test_each_kind_of_component_gets_benthos_names_labels_and_units() -> None:
    _stream("bn_plain")
    text = _render()
    values = _samples(text, "bn_plain")
    assert values[("input_received", "root.input")] == 7
    assert values[("processor_received", "root.pipeline.processors.0")] == 7
    assert values[("processor_sent", "root.pipeline.processors.0")] == 6
    assert values[("processor_error", "root.pipeline.processors.0")] == 1
    assert values[("output_sent", "root.output")] == 6
    assert values[("output_latency_ns_count", "root.output")] == 1
    assert values[("output_latency_ns_sum", "root.output")] == 2_000_000
    # Benthos' label: the component's own, empty when the config gives none
    assert (
        'processor_error{label="",path="root.pipeline.processors.0",stream="bn_plain"} 1.0' in text
    )
    assert 'input_received{label="plc",path="root.input",stream="bn_plain"} 7.0' in text
    # the latency buckets are in nanoseconds too
    assert 'output_latency_ns_bucket{label="historian",le="5e+06"' in text or (
        'output_latency_ns_bucket{label="historian",le="5000000.0"' in text
    )
    # StreamForge's own names are still there
    assert 'streamforge_received_total{component="plc",stream="bn_plain"} 7.0' in text


def test_a_mapping_written_for_benthos_names_works() -> None:
    _stream("bn_mapped")
    mapping = (
        'root = if !["input_received", "output_sent"].contains(this) { deleted() }\n'
        "meta path = deleted()\n"
        'meta env = "plant"\n'
    )
    text = _render(mapping)
    kept = {
        s.name
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("stream") == "bn_mapped"
    }
    assert kept == {"input_received", "output_sent"}
    assert 'input_received{env="plant",label="plc",stream="bn_mapped"} 7.0' in text
    assert "streamforge_" not in text


def test_a_component_nobody_described_has_only_its_own_names() -> None:
    component_metrics("bn_undescribed", "loose").received.inc()
    names = {
        s.name
        for family in text_string_to_metric_families(_render())
        for s in family.samples
        if s.labels.get("stream") == "bn_undescribed"
    }
    assert "streamforge_received_total" in names
    assert all(name.startswith("streamforge_") for name in names), names


def test_cloudwatch_counts_benthos_counters_as_counters() -> None:
    _stream("bn_cloudwatch")
    read = read_registry(REGISTRY.collect())
    counters = {
        name: value
        for (name, labels), value in read["counter"].items()
        if ("stream", "bn_cloudwatch") in labels
    }
    assert counters["input_received"] == 7
    assert counters["output_sent"] == 6
    assert not any(name == "input_received" for name, _ in read["gauge"])
