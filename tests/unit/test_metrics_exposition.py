"""What /metrics shows for a `metrics:` section: prometheus, its mapping, and none."""

from __future__ import annotations

from streamforge.observability.exposition import MetricsExposition, exposition_for
from streamforge.observability.metrics import component_metrics


def _text(exposition: MetricsExposition) -> str:
    body = exposition.render()
    assert body is not None
    return body.decode()


def test_prometheus_without_mapping_shows_the_registry() -> None:
    component_metrics("expo_plain", "in").received.inc(4)
    text = _text(MetricsExposition())
    assert 'streamforge_received_total{component="in",stream="expo_plain"} 4.0' in text


def test_mapping_renames_drops_and_relabels() -> None:
    m = component_metrics("expo_mapped", "out")
    m.sent.inc(2)
    m.batch_size.observe(3)
    mapping = (
        'root = if this == "streamforge_batch_size" { deleted() } '
        'else { this.replace_all("streamforge_", "plant_") }\n'
        "meta component = deleted()\n"
        'meta site = "north"'
    )
    text = _text(MetricsExposition("prometheus", {}, mapping))
    assert 'plant_sent_total{site="north",stream="expo_mapped"} 2.0' in text
    assert "# TYPE plant_sent_total counter" in text
    assert "batch_size" not in text
    assert "streamforge_" not in text
    # histograms keep their buckets (`le`) under the new name
    assert 'plant_processing_seconds_bucket{le="0.001",site="north",stream="expo_mapped"}' in text


def test_a_mapping_that_only_edits_labels_keeps_the_name() -> None:
    component_metrics("expo_labels", "c").errors.inc()
    text = _text(MetricsExposition("prometheus", {}, 'meta stream = "renamed"'))
    assert 'streamforge_errors_total{component="c",stream="renamed"} 1.0' in text


def test_none_turns_metrics_off() -> None:
    assert MetricsExposition("none").render() is None
    assert exposition_for([{"type": "none", "conf": {}}]).render() is None
    assert exposition_for([]).render() is not None


def test_process_and_runtime_metrics_on_request() -> None:
    text = _text(
        MetricsExposition("prometheus", {"add_process_metrics": True, "add_go_metrics": True})
    )
    assert "process_resident_memory_bytes" in text
    assert "python_gc_objects_collected_total" in text


def test_file_output_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    component_metrics("expo_file", "in").received.inc()
    path = tmp_path / "metrics.txt"
    MetricsExposition("prometheus", {"file_output_path": str(path)}).write_file()
    assert 'stream="expo_file"' in path.read_text()


def test_a_benthos_shaped_mapping_keeps_only_some_metrics() -> None:
    component_metrics("expo_shape", "x").received.inc()
    mapping = (
        "# keep only what components received\n"
        'root = if !this.has_suffix("_received") { deleted() }\n'
        'meta origin = "gateway"\n'
    )
    text = _text(MetricsExposition("prometheus", {}, mapping))
    assert 'streamforge_received_total{component="x",origin="gateway",stream="expo_shape"}' in text
    assert "streamforge_sent" not in text and "streamforge_errors" not in text
