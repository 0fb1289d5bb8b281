"""`metric` processor: counters, gauges and timings of its own, from values in messages.

The series go into the process's Prometheus registry, so they show on the stream's `/metrics`
beside StreamForge's own.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streamforge.bloblang import ParseError
from streamforge.bloblang.error_calls import interpolation_asks_about_errors
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import (
    METRICS_REGISTRY,
    BuildContext,
    Field,
    Processor,
    RateLimitedErrorLogger,
    register_processor,
)
from streamforge.plugin.errors import describe_error

__all__ = ["METRIC_TYPES", "MetricProcessor", "custom_metrics"]

METRIC_TYPES = ("counter", "counter_by", "gauge", "timing")
#: Prometheus' default histogram buckets, in seconds (timings)
TIMING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_RESERVED_PREFIX = "streamforge_"


def prometheus_name(name: str, *, label: bool = False) -> str:
    """`name` as Prometheus allows it: other characters become `_`, no leading digit."""
    clean = _INVALID.sub("_", name)
    if label:
        clean = clean.replace(":", "_")
    if clean and clean[0].isdigit():
        clean = "_" + clean
    return clean


@dataclass
class _Family:
    """One metric name: its kind, label names and the value of each label set."""

    name: str
    kind: str  # counter, gauge, timing
    labels: tuple[str, ...]
    values: dict[tuple[str, ...], float] = field(default_factory=dict)
    #: timings: per label set, the count in each bucket (not cumulative), and the sum
    buckets: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    sums: dict[tuple[str, ...], float] = field(default_factory=dict)


class CustomMetrics(Collector):
    """The metrics of every `metric` processor in the process, collected for /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}

    def family(self, name: str, kind: str, labels: tuple[str, ...]) -> _Family:
        """The family `name`, created on first use; raises ValueError when it exists with
        another kind or other labels."""
        with self._lock:
            found = self._families.get(name)
            if found is None:
                found = self._families[name] = _Family(name, kind, labels)
            elif (found.kind, found.labels) != (kind, labels):
                have = f"a {found.kind} with labels ({', '.join(found.labels)})"
                want = f"a {kind} with labels ({', '.join(labels)})"
                raise ValueError(f"metric {name!r} is already {have}, not {want}")
            return found

    def add(self, family: _Family, labels: tuple[str, ...], amount: float) -> None:
        with self._lock:
            family.values[labels] = family.values.get(labels, 0.0) + amount

    def set(self, family: _Family, labels: tuple[str, ...], value: float) -> None:
        with self._lock:
            family.values[labels] = value

    def observe(self, family: _Family, labels: tuple[str, ...], seconds: float) -> None:
        slot = next((i for i, b in enumerate(TIMING_BUCKETS) if seconds <= b), len(TIMING_BUCKETS))
        with self._lock:
            counts = family.buckets.get(labels)
            if counts is None:
                counts = family.buckets[labels] = [0] * (len(TIMING_BUCKETS) + 1)
            counts[slot] += 1
            family.sums[labels] = family.sums.get(labels, 0.0) + seconds

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot = [
                (f, dict(f.values), {k: list(v) for k, v in f.buckets.items()}, dict(f.sums))
                for f in self._families.values()
            ]
        for family, values, buckets, sums in snapshot:
            names = list(family.labels)
            doc = f"{family.kind} of a metric processor"
            if family.kind == "timing":
                hist = HistogramMetricFamily(family.name, doc, labels=names)
                for labels, counts in buckets.items():
                    running, cumulative = 0, []
                    for bound, count in zip((*TIMING_BUCKETS, math.inf), counts):
                        running += count
                        cumulative.append(("+Inf" if bound == math.inf else str(bound), running))
                    hist.add_metric(list(labels), cumulative, sums.get(labels, 0.0))
                yield hist
            elif family.kind == "gauge":
                gauge = GaugeMetricFamily(family.name, doc, labels=names)
                for labels, value in values.items():
                    gauge.add_metric(list(labels), value)
                yield gauge
            else:
                # Benthos exposes counters under their exact name (no `_total` added)
                counter = Metric(family.name, doc, "unknown")
                for labels, value in values.items():
                    counter.add_sample(family.name, dict(zip(names, labels)), value)
                yield counter


_custom = CustomMetrics()
METRICS_REGISTRY.register(_custom)


def custom_metrics() -> CustomMetrics:
    """The collector of every `metric` processor's series in this process."""
    return _custom


def _number(text: str) -> float:
    text = text.strip()
    try:
        value = float(int(text))
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"value {text!r} is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"value {text!r} is not a finite number")
    return value


def _not_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise ValueError(f"value {text.strip()} is negative")
    return value


@register_processor(
    "metric",
    fields=[
        Field(
            "type",
            "string",
            options=METRIC_TYPES,
            description=(
                "`counter` adds 1 per message (`value` is ignored); `counter_by` adds `value` "
                "(a number of at least 0); `gauge` sets the series to `value`; `timing` "
                "records `value` as a duration in nanoseconds, in a histogram in seconds."
            ),
        ),
        Field(
            "name",
            "string",
            description=(
                "The metric's name on /metrics, exactly (characters Prometheus does not allow "
                "become `_`). Processors that give the same name share the series; they must "
                "agree on the type and label names."
            ),
            examples=("readings_received", "press_force_newton"),
        ),
        Field(
            "labels",
            "map",
            default={},
            item=Field("label", "string", interpolable=True),
            description="Label names and their values, rendered per message.",
            examples=({"asset": '${! json("asset_id") }', "topic": '${! meta("mqtt_topic") }'},),
        ),
        Field(
            "value",
            "string",
            default="",
            interpolable=True,
            description="The number for `counter_by`, `gauge` and `timing`, rendered per message.",
            examples=('${! json("force") }',),
        ),
    ],
    summary="Counts messages and records values from them as metrics of its own on /metrics.",
    description=(
        "Messages pass unchanged. A message whose value or label fails to render, or whose "
        "value is not a number the type takes, updates nothing and is logged (rate-limited), "
        "as in Benthos; it is not flagged."
    ),
    examples=(
        "pipeline:\n"
        "  processors:\n"
        "    - metric:\n"
        "        type: counter\n"
        "        name: readings_received\n"
        "        labels:\n"
        '          asset: ${! json("asset_id") }',
        "pipeline:\n"
        "  processors:\n"
        "    - metric:\n"
        "        type: gauge\n"
        "        name: press_force_newton\n"
        '        value: ${! json("force") }',
    ),
)
class MetricProcessor(Processor):
    """Counts messages and records values from them as metrics of its own on /metrics."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        kind = str(conf.get("type") or "")
        if kind not in METRIC_TYPES:
            raise ValueError(f"type: {kind!r} is not one of {', '.join(METRIC_TYPES)}")
        name = prometheus_name(str(conf.get("name") or ""))
        if not name:
            raise ValueError("name: must not be empty")
        if name.startswith(_RESERVED_PREFIX):
            raise ValueError(f"name: {name!r} is taken ({_RESERVED_PREFIX}* are StreamForge's)")
        raw_labels = dict(conf.get("labels") or {})
        names = sorted(raw_labels)
        label_names = tuple(prometheus_name(str(n), label=True) for n in names)
        for original, clean in zip(names, label_names):
            if not clean or clean.startswith("__"):
                raise ValueError(f"labels: {original!r} is not a usable label name")
        if len(set(label_names)) != len(label_names):
            raise ValueError("labels: two label names are the same once made valid")
        texts = [str(raw_labels[n]) for n in names]
        value_text = str(conf.get("value") or "")
        try:
            self.labels = [InterpolatedString(t) for t in texts]
            self.value = InterpolatedString(value_text)
        except ParseError as exc:
            raise ValueError(f"bad interpolation: {exc}") from None
        family_kind = {"counter_by": "counter"}.get(kind, kind)
        self.metrics = custom_metrics()
        self.family = self.metrics.family(name, family_kind, label_names)
        self.update: Callable[[tuple[str, ...], str], None] = getattr(self, f"_{kind}")
        self.needs_value = kind != "counter"
        self.handles_errors = any(interpolation_asks_about_errors(t) for t in (*texts, value_text))
        self.failed = RateLimitedErrorLogger(
            ctx.logger, ctx.stream, ctx.label, what="metric not updated"
        )

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for i, msg in enumerate(batch):
            try:
                value = self.value.render(msg, batch, i) if self.needs_value else ""
                labels = tuple(label.render(msg, batch, i) for label in self.labels)
                self.update(labels, value)
            except Exception as exc:  # noqa: BLE001 - logged; the message passes unchanged
                sample = msg.copy()
                sample.error = f"metric {self.family.name}: {describe_error(exc)}"
                self.failed.report(1, sample)
        return batch

    def _counter(self, labels: tuple[str, ...], value: str) -> None:
        self.metrics.add(self.family, labels, 1.0)

    def _counter_by(self, labels: tuple[str, ...], value: str) -> None:
        self.metrics.add(self.family, labels, _not_negative(value))

    def _gauge(self, labels: tuple[str, ...], value: str) -> None:
        self.metrics.set(self.family, labels, _number(value))

    def _timing(self, labels: tuple[str, ...], value: str) -> None:
        self.metrics.observe(self.family, labels, _not_negative(value) / 1e9)

    def close(self) -> None:
        self.failed.flush()
