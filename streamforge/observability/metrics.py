"""Prometheus metrics of running streams, in one registry owned by StreamForge.

Every series is labelled by `stream` and `component` (the component's label or config path).
Hot paths bind the labelled children once (`ComponentMetrics`) and only increment per batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "REGISTRY",
    "STREAMS_STOPPED",
    "ComponentMetrics",
    "component_metrics",
    "own_metric",
    "render_metrics",
    "stream_totals",
    "summary_line",
]

#: the registry served on /metrics; nothing else registers into it
REGISTRY = CollectorRegistry(auto_describe=True)

_LABELS = ("stream", "component")

RECEIVED = Counter(
    "streamforge_received",
    "Messages received by a component.",
    _LABELS,
    registry=REGISTRY,
)
SENT = Counter(
    "streamforge_sent",
    "Messages a component passed on (processors) or wrote (outputs).",
    _LABELS,
    registry=REGISTRY,
)
ERRORS = Counter(
    "streamforge_errors",
    "Messages a component flagged as failed (processors) or failed to write (outputs).",
    _LABELS,
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "streamforge_processing_seconds",
    "Time a component spent on one batch.",
    _LABELS,
    registry=REGISTRY,
    buckets=(
        0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
    ),
)  # fmt: skip
BATCH_SIZE = Histogram(
    "streamforge_batch_size",
    "Messages per batch seen by a component.",
    _LABELS,
    registry=REGISTRY,
    buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000),
)

DEAD_LETTERED = Counter(
    "streamforge_dead_lettered",
    "Messages an output wrote despite a failure: flagged by a processor, or handed on to a "
    "later output by `fallback`; also counted in sent.",
    _LABELS,
    registry=REGISTRY,
)

STREAMS_STOPPED = Counter(
    "streamforge_streams_stopped",
    "Streams stopped while the process runs, by reason (license: the licence no longer "
    "allows a component).",
    ("stream", "reason"),
    registry=REGISTRY,
)


@dataclass(frozen=True)
class ComponentMetrics:
    """The metric children of one component, bound to its labels."""

    stream: str
    component: str
    received: Counter
    sent: Counter
    errors: Counter
    seconds: Histogram
    batch_size: Histogram
    dead_lettered: Counter

    def counter(self, name: str, documentation: str) -> Any:
        """A counter of the component's own, `streamforge_<name>`, bound to its labels."""
        return own_metric(Counter, name, documentation).labels(self.stream, self.component)

    def gauge(self, name: str, documentation: str) -> Any:
        """A gauge of the component's own, `streamforge_<name>`, bound to its labels."""
        return own_metric(Gauge, name, documentation).labels(self.stream, self.component)


_own_lock = threading.Lock()
_own: dict[str, Any] = {}


def own_metric(kind: type[Any], name: str, documentation: str) -> Any:
    """The metric `streamforge_<name>` labelled by stream and component, registered once."""
    full = f"streamforge_{name}"
    with _own_lock:
        metric = _own.get(full)
        if metric is None:
            metric = _own[full] = kind(full, documentation, _LABELS, registry=REGISTRY)
        elif not isinstance(metric, kind):
            raise ValueError(f"metric {full} is already a {type(metric).__name__}")
        return metric


def component_metrics(stream: str, component: str) -> ComponentMetrics:
    """Bound metric children for one component of one stream."""
    labels = {"stream": stream, "component": component}
    return ComponentMetrics(
        stream=stream,
        component=component,
        received=RECEIVED.labels(**labels),
        sent=SENT.labels(**labels),
        errors=ERRORS.labels(**labels),
        seconds=PROCESSING_SECONDS.labels(**labels),
        batch_size=BATCH_SIZE.labels(**labels),
        dead_lettered=DEAD_LETTERED.labels(**labels),
    )


def stream_totals(stream: str, input_label: str, output_label: str) -> dict[str, int]:
    """What a stream's input read and what became of it at the output.

    `written`: written without a failure; `dead_lettered`: written despite one (flagged, or
    handed on by a `fallback`); `failed`: written nowhere (the output could not write them).
    """

    def value(name: str, component: str) -> int:
        sample = REGISTRY.get_sample_value(name, {"stream": stream, "component": component})
        return int(sample or 0)

    sent = value("streamforge_sent_total", output_label)
    dead_lettered = value("streamforge_dead_lettered_total", output_label)
    return {
        "read": value("streamforge_received_total", input_label),
        "written": sent - dead_lettered,
        "dead_lettered": dead_lettered,
        "failed": value("streamforge_errors_total", output_label),
    }


def summary_line(stream: str, totals: dict[str, int]) -> str:
    """`stream <name>: N read, N written, N dead-lettered, N failed (written nowhere)`."""
    return (
        f"stream {stream}: {totals['read']} read, {totals['written']} written, "
        f"{totals['dead_lettered']} dead-lettered, {totals['failed']} failed (written nowhere)"
    )


def render_metrics() -> bytes:
    """The registry in the Prometheus text exposition format."""
    return generate_latest(REGISTRY)
