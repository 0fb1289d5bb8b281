"""What `metrics: aws_cloudwatch` sends: counters as increases, gauges when they change,
histograms as statistics of the new observations; and the OTLP collector addresses."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streamforge.config.telemetry import collector_url
from streamforge.runtime.cloudwatch import metric_data, read_registry

AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
EMPTY: dict = {"counter": {}, "gauge": {}, "histogram": {}}


def _by_name(data: list[dict]) -> dict[str, dict]:
    return {d["MetricName"]: d for d in data}


def test_counters_send_their_increase_and_nothing_when_idle() -> None:
    registry = CollectorRegistry()
    sent = Counter("plant_sent", "", ["stream", "component"], registry=registry)
    sent.labels("line", "out").inc(5)
    first = read_registry(registry.collect())
    [datum] = metric_data(first, EMPTY, AT)
    assert datum["MetricName"] == "plant_sent"
    assert datum["Value"] == 5 and datum["Unit"] == "Count"
    assert datum["Dimensions"] == [
        {"Name": "component", "Value": "out"},
        {"Name": "stream", "Value": "line"},
    ]
    assert metric_data(read_registry(registry.collect()), first, AT) == []
    sent.labels("line", "out").inc(3)
    [datum] = metric_data(read_registry(registry.collect()), first, AT)
    assert datum["Value"] == 3


def test_gauges_when_they_change_and_empty_labels_are_no_dimension() -> None:
    registry = CollectorRegistry()
    level = Gauge("tank_level", "", ["stream", "component"], registry=registry)
    level.labels("line", "").set(0.5)
    first = read_registry(registry.collect())
    [datum] = metric_data(first, EMPTY, AT)
    assert datum["Value"] == 0.5 and datum["Unit"] == "None"
    assert datum["Dimensions"] == [{"Name": "stream", "Value": "line"}]
    assert metric_data(read_registry(registry.collect()), first, AT) == []
    level.labels("line", "").set(0)
    [datum] = metric_data(read_registry(registry.collect()), first, AT)
    assert datum["Value"] == 0


def test_histograms_send_statistics_of_the_new_observations() -> None:
    registry = CollectorRegistry()
    timing = Histogram("step_seconds", "", ["component"], buckets=(0.001, 0.01, 0.1, 1.0),
                       registry=registry)  # fmt: skip
    for seconds in (0.002, 0.005, 0.05):
        timing.labels("scale").observe(seconds)
    first = read_registry(registry.collect())
    stats = _by_name(metric_data(first, EMPTY, AT))["step_seconds"]
    assert stats["Unit"] == "Seconds"
    values = stats["StatisticValues"]
    assert values["SampleCount"] == 3
    assert values["Sum"] == pytest.approx(0.057)
    # to the buckets' precision: the smallest was above 0.001, the largest below 0.1
    assert values["Minimum"] == 0.001 and values["Maximum"] == 0.1
    timing.labels("scale").observe(5.0)  # beyond the last bucket
    [datum] = metric_data(read_registry(registry.collect()), first, AT)
    values = datum["StatisticValues"]
    assert values["SampleCount"] == 1 and values["Sum"] == pytest.approx(5.0)
    assert values["Minimum"] == 1.0 and values["Maximum"] == pytest.approx(5.0)


def test_collector_addresses() -> None:
    assert collector_url("http", {}) == "http://localhost:4318/v1/traces"
    assert collector_url("http", {"address": "otel:4318", "secure": True}) == (
        "https://otel:4318/v1/traces"
    )
    assert collector_url("http", {"url": "otel:4318"}) == "http://otel:4318/v1/traces"
    assert collector_url("http", {"address": "https://otel:443/custom/traces"}) == (
        "https://otel:443/custom/traces"
    )
    assert collector_url("grpc", {"address": "[::1]:4317"}) == "[::1]:4317"
    assert collector_url("grpc", {"address": "http://otel:4317"}) == "otel:4317"
    with pytest.raises(ValueError, match="is not host:port"):
        collector_url("grpc", {"address": "otel"})
