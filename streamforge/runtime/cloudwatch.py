"""Push a process' metrics to Amazon CloudWatch (`metrics: aws_cloudwatch`, as in Benthos).

Every `flush_period` and once more at shutdown, the metrics /metrics serves (after
`metrics.mapping`) go to PutMetricData: a counter as its increase since the last push (unit
Count), a gauge as its value when it changed, a histogram as the statistics of the
observations since the last push (sample count, sum, and minimum and maximum to the
precision of its buckets; unit Seconds for `*_seconds` timings). Labels become dimensions.
Series that did not move are not sent, so an idle stream costs nothing.

A push that fails (CloudWatch unreachable, throttled, credentials refused) is logged and
retried at the next flush with what accumulated meanwhile; the stream never waits for it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from streamforge.durations import parse_duration
from streamforge.observability.benthos_names import BENTHOS_COUNTERS
from streamforge.plugin.aws import make_client
from streamforge.plugin.optional import require
from streamforge.runtime.periodic_push import PeriodicPush

__all__ = ["CloudWatchPush", "Series", "metric_data", "metrics_push"]

log = logging.getLogger("streamforge.metrics")

#: metric data per PutMetricData request (CloudWatch takes up to 1,000)
_PER_REQUEST = 500
#: dimensions per datum CloudWatch takes
_MAX_DIMENSIONS = 30

#: (metric name, sorted label pairs): one series
Series = tuple[str, tuple[tuple[str, str], ...]]


class _Histogram:
    """One histogram series as read from the registry: cumulative count, sum and buckets."""

    __slots__ = ("count", "total", "buckets")

    def __init__(self) -> None:
        self.count = 0.0
        self.total = 0.0
        #: upper bound -> cumulative count
        self.buckets: dict[float, float] = {}


def _series(name: str, labels: dict[str, str]) -> Series:
    return name, tuple(sorted((k, v) for k, v in labels.items() if v != ""))


def read_registry(families: Iterable[Any]) -> dict[str, dict[Series, Any]]:
    """Counters, gauges and histograms of `families` (prometheus_client Metric objects)."""
    counters: dict[Series, float] = {}
    gauges: dict[Series, float] = {}
    histograms: dict[Series, _Histogram] = {}
    for family in families:
        kind = family.type
        for sample in family.samples:
            value = float(sample.value)
            if math.isnan(value):
                continue
            if kind == "counter":
                if sample.name == family.name + "_total":
                    counters[_series(family.name, sample.labels)] = value
            elif family.name in BENTHOS_COUNTERS:
                counters[_series(family.name, sample.labels)] = value
            elif kind in ("gauge", "unknown"):
                if sample.name == family.name:
                    gauges[_series(family.name, sample.labels)] = value
            elif kind == "histogram":
                labels = {k: v for k, v in sample.labels.items() if k != "le"}
                hist = histograms.setdefault(_series(family.name, labels), _Histogram())
                suffix = sample.name[len(family.name) :]
                if suffix == "_count":
                    hist.count = value
                elif suffix == "_sum":
                    hist.total = value
                elif suffix == "_bucket":
                    hist.buckets[float(sample.labels.get("le", "+Inf"))] = value
    return {"counter": counters, "gauge": gauges, "histogram": histograms}


def _dimensions(series: Series) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in series[1][:_MAX_DIMENSIONS]]


def _statistics(now: _Histogram, before: _Histogram | None) -> dict[str, float] | None:
    """SampleCount, Sum, Minimum, Maximum of the observations between `before` and `now`."""
    count = now.count - (before.count if before else 0.0)
    total = now.total - (before.total if before else 0.0)
    if count <= 0:
        return None
    bounds = sorted(now.buckets)
    lowest = highest = None
    previous_bound, previous_cum = 0.0, 0.0
    for bound in bounds:
        cum = now.buckets[bound] - (before.buckets.get(bound, 0.0) if before else 0.0)
        if cum > previous_cum:
            if lowest is None:
                lowest = previous_bound
            highest = bound
        previous_bound, previous_cum = bound, cum
    average = total / count
    minimum = min(lowest if lowest is not None else average, average)
    maximum = highest if highest is not None and not math.isinf(highest) else max(total, average)
    return {
        "SampleCount": count,
        "Sum": total,
        "Minimum": minimum,
        "Maximum": max(maximum, average),
    }


def metric_data(
    now: dict[str, dict[Series, Any]], sent: dict[str, dict[Series, Any]], at: datetime
) -> list[dict[str, Any]]:
    """The MetricData for what changed between `sent` (the last push) and `now`."""
    data: list[dict[str, Any]] = []
    for series, value in now["counter"].items():
        before = sent["counter"].get(series, 0.0)
        delta = value - before if value >= before else value  # a reset counts from zero
        if delta > 0:
            data.append(_datum(series, at, "Count", Value=delta))
    for series, value in now["gauge"].items():
        if sent["gauge"].get(series) != value:
            data.append(_datum(series, at, "None", Value=value))
    for series, hist in now["histogram"].items():
        stats = _statistics(hist, sent["histogram"].get(series))
        if stats is not None:
            unit = "Seconds" if series[0].endswith("_seconds") else "None"
            data.append(_datum(series, at, unit, StatisticValues=stats))
    return data


def _datum(series: Series, at: datetime, unit: str, **value: Any) -> dict[str, Any]:
    return {
        "MetricName": series[0],
        "Dimensions": _dimensions(series),
        "Timestamp": at,
        "Unit": unit,
        **value,
    }


class CloudWatchPush(PeriodicPush):
    """Pushes what `collect()` yields to CloudWatch every `period` seconds on a thread of its
    own, and once more at `stop()`; a failed push leaves the changes for the next one."""

    target = "CloudWatch"
    recovered_note = "; what accumulated was pushed"

    def __init__(
        self,
        client: Any,
        namespace: str,
        period: float,
        collect: Callable[[], Iterable[Any]],
    ) -> None:
        super().__init__(period, join_timeout=30)
        self.client = client
        self.namespace = namespace
        self.collect = collect
        #: the registry as it was at the last push that CloudWatch accepted
        self._sent: dict[str, dict[Series, Any]] = {"counter": {}, "gauge": {}, "histogram": {}}

    def log_fields(self) -> dict[str, Any]:
        return {"namespace": self.namespace}

    def push_once(self) -> None:
        """Push what changed since the last accepted push."""
        now = read_registry(self.collect())
        data = metric_data(now, self._sent, datetime.now(timezone.utc))
        for start in range(0, len(data), _PER_REQUEST):
            self.client.put_metric_data(
                Namespace=self.namespace, MetricData=list(data[start : start + _PER_REQUEST])
            )
        if data:
            self.pushes += 1
        self._sent = now


def _client(conf: dict[str, Any]) -> Any:
    """A boto3 CloudWatch client for the section's region, endpoint and credentials; one
    attempt per flush (the next flush is the retry)."""
    require("boto3", "aws", "metrics aws_cloudwatch")
    return make_client(conf, service="cloudwatch", timeout=10, connect_timeout=3, attempts=1)


def metrics_push(
    sections: Iterable[dict[str, Any]], collect: Callable[[], Iterable[Any]]
) -> CloudWatchPush | None:
    """The CloudWatch push of a process running streams (the first stream's `metrics:`
    decides, as for /metrics); None unless it is `aws_cloudwatch`. Not started yet.

    Raises MissingExtra (a ValueError) when boto3 is not installed.
    """
    for section in sections:
        if section.get("type") != "aws_cloudwatch":
            return None
        conf = section.get("conf") or {}
        return CloudWatchPush(
            _client(conf),
            str(conf.get("namespace") or "StreamForge"),
            parse_duration(conf.get("flush_period") or "100ms"),
            collect,
        )
    return None
