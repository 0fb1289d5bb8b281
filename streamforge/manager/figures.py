"""A stream's figures from its child's Prometheus text: counts, latency, rate; merged /metrics."""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["RateWindow", "StreamFigures", "fetch_metrics", "merge_metrics", "stream_figures"]

#: how long the manager waits for a child's /metrics
FETCH_TIMEOUT = 2.0


#: one pooled client for every child's /metrics (keep-alive connections)
_CLIENT = httpx.Client(timeout=FETCH_TIMEOUT, limits=httpx.Limits(max_keepalive_connections=64))


def fetch_metrics(port: int | None) -> str:
    """The child's /metrics text ("" when it has no endpoint yet or does not answer)."""
    if port is None:
        return ""
    try:
        reply = _CLIENT.get(f"http://127.0.0.1:{port}/metrics")
    except httpx.HTTPError:
        return ""
    return reply.text if reply.status_code == 200 else ""


@dataclass
class StreamFigures:
    """Counts of one stream and its processing latency quantiles (milliseconds)."""

    received: float = 0.0
    sent: float = 0.0
    errors: float = 0.0
    latency_ms: dict[str, float | None] = field(
        default_factory=lambda: {"p50": None, "p90": None, "p99": None}
    )


def stream_figures(text: str, input_label: str, output_label: str) -> StreamFigures:
    """Received (by the input), sent (by the output), errors (anywhere), latency quantiles."""
    figures = StreamFigures()
    buckets: dict[float, float] = collections.defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            component = sample.labels.get("component")
            if sample.name == "streamforge_received_total" and component == input_label:
                figures.received += sample.value
            elif sample.name == "streamforge_sent_total" and component == output_label:
                figures.sent += sample.value
            elif sample.name == "streamforge_errors_total":
                figures.errors += sample.value
            elif sample.name == "streamforge_processing_seconds_bucket":
                buckets[float(sample.labels["le"])] += sample.value
    if buckets:
        figures.latency_ms = {
            name: _quantile(buckets, q) for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        }
    return figures


def _quantile(buckets: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile over cumulative buckets, in milliseconds."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return round(previous_bound * 1000, 3)
            share = (
                (rank - previous_count) / (count - previous_count) if count > previous_count else 0
            )
            return round((previous_bound + (bound - previous_bound) * share) * 1000, 3)
        previous_bound, previous_count = bound, count
    return None


class RateWindow:
    """Messages per second over the last minute, from (time, count) readings."""

    def __init__(self, span: float = 60.0) -> None:
        self.span = span
        self._readings: collections.deque[tuple[float, float]] = collections.deque()

    def add(self, count: float, now: float | None = None) -> float:
        """Record a reading; return the rate since the oldest reading within the span."""
        now = time.monotonic() if now is None else now
        readings = self._readings
        if readings and count < readings[-1][1]:
            readings.clear()  # the child restarted: its counters began again
        readings.append((now, count))
        while len(readings) > 1 and now - readings[1][0] >= self.span:
            readings.popleft()
        first_time, first_count = readings[0]
        elapsed = now - first_time
        return round((count - first_count) / elapsed, 3) if elapsed > 0 else 0.0


def merge_metrics(texts: list[str]) -> str:
    """Several children's Prometheus texts as one (each family's HELP and TYPE once)."""
    order: list[str] = []
    headers: dict[str, tuple[str, str]] = {}
    lines: dict[str, list[str]] = collections.defaultdict(list)
    for text in texts:
        if not text:
            continue
        for family in text_string_to_metric_families(text):
            if family.name not in headers:
                order.append(family.name)
                headers[family.name] = (family.documentation, family.type)
            for sample in family.samples:
                labels = ",".join(
                    f'{key}="{_escape(value)}"' for key, value in sorted(sample.labels.items())
                )
                name = f"{sample.name}{{{labels}}}" if labels else sample.name
                lines[family.name].append(f"{name} {_number(sample.value)}")
    out: list[str] = []
    for name in order:
        documentation, kind = headers[name]
        out.append(f"# HELP {name} {_escape(documentation)}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(lines[name])
    return "\n".join(out) + ("\n" if out else "")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))
