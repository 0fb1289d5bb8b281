"""`metric` processor: counter, counter_by, gauge and timing series on /metrics."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from streamforge.message import Message
from streamforge.observability.metrics import REGISTRY, render_metrics
from streamforge.plugin import registry
from streamforge.plugin.testing import PluginTestContext
from streamforge.processors.metric import MetricProcessor, prometheus_name


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def metric(**conf: Any) -> MetricProcessor:
    spec = registry.get("processor", "metric")
    assert spec is not None
    ctx = PluginTestContext(label="metric", type_name="metric")
    built = spec.factory({"labels": {}, "value": "", **conf}, ctx)
    assert isinstance(built, MetricProcessor)
    return built


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_counter_counts_messages_per_label_set_under_the_exact_name() -> None:
    name = unique("Foos")
    proc = metric(type="counter", name=name, labels={"asset": '${! json("a") }'})
    batch = [Message.from_value({"a": a}) for a in ("p1", "p2", "p1")]
    out = proc.process_batch(batch)
    assert out is batch and [m.error for m in out] == [None] * 3
    assert sample(name, asset="p1") == 2 and sample(name, asset="p2") == 1
    text = render_metrics().decode()
    assert f'{name}{{asset="p1"}} 2.0' in text
    assert f"{name}_total" not in text


def test_counter_by_adds_the_value_and_skips_what_is_not_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = unique("bytes")
    proc = metric(type="counter_by", name=name, value='${! json("n") }')
    with caplog.at_level(logging.ERROR):
        out = proc.process_batch([Message.from_value({"n": n}) for n in (3, 2.5, -1, "x")])
        proc.close()
    assert sample(name) == 5.5
    assert [m.error for m in out] == [None] * 4  # logged, not flagged (as Benthos)
    errors = [r.fields["error"] for r in caplog.records if hasattr(r, "fields")]  # type: ignore[attr-defined]
    assert "metric not updated" in caplog.text
    assert any("negative" in e for e in errors) and any("not a number" in e for e in errors)


def test_gauge_takes_the_last_value_negative_too() -> None:
    name = unique("temp")
    proc = metric(type="gauge", name=name, value='${! json("t") }', labels={"s": "x"})
    proc.process_batch([Message.from_value({"t": t}) for t in (21.5, -4)])
    assert sample(name, s="x") == -4
    assert f"# TYPE {name} gauge" in render_metrics().decode()


def test_timing_records_nanoseconds_as_a_histogram_in_seconds() -> None:
    name = unique("latency")
    proc = metric(type="timing", name=name, value='${! json("ns") }')
    proc.process_batch([Message.from_value({"ns": ns}) for ns in (2_000_000, 300_000_000)])
    assert sample(f"{name}_count") == 2
    assert sample(f"{name}_sum") == pytest.approx(0.302)
    assert sample(f"{name}_bucket", le="0.005") == 1
    assert sample(f"{name}_bucket", le="+Inf") == 2


def test_processors_naming_one_metric_share_it_and_must_agree() -> None:
    name = unique("shared")
    metric(type="counter", name=name).process_batch([Message.from_value({})])
    metric(type="counter_by", name=name, value="4").process_batch([Message.from_value({})])
    assert sample(name) == 5
    with pytest.raises(ValueError, match="already a counter"):
        metric(type="gauge", name=name)
    with pytest.raises(ValueError, match="labels"):
        metric(type="counter", name=name, labels={"a": "b"})


def test_names_are_made_valid_and_streamforge_names_are_refused() -> None:
    assert prometheus_name("count.custom.field") == "count_custom_field"
    assert prometheus_name("9lives") == "_9lives"
    assert prometheus_name("a:b", label=True) == "a_b"
    with pytest.raises(ValueError, match="taken"):
        metric(type="counter", name="streamforge_received")
    with pytest.raises(ValueError, match="name"):
        metric(type="counter", name="")
    with pytest.raises(ValueError, match="type"):
        metric(type="histogram", name=unique("x"))
