"""`metrics: aws_cloudwatch` against moto's CloudWatch server: `streamforge run` pushes the
stream's metrics (after `metrics.mapping`) with PutMetricData while it runs and at shutdown;
read back with ListMetrics and GetMetricStatistics, the input and output counts are what the
stream moved. CloudWatch going away costs the stream nothing and loses no count."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from peers.moto_s3 import KEY_ID, SECRET, CuttableProxy, S3Store, moto_s3  # noqa: F401
from peers.stream_run import Run, out_lines, run_stream, stream_config, wait_until


def _cloudwatch(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


def _section(namespace: str, endpoint: str, mapping: str = "") -> str:
    text = "metrics:\n"
    if mapping:
        text += "  mapping: |\n" + "".join(f"    {line}\n" for line in mapping.splitlines())
    return text + (
        f"  aws_cloudwatch:\n    namespace: {namespace}\n    flush_period: 100ms\n"
        f"    region: us-east-1\n    endpoint: {endpoint}\n"
        f"    credentials: {{id: {KEY_ID}, secret: {SECRET}}}\n"
    )


def _statistic(cw: Any, namespace: str, name: str, component: str, stat: str) -> float:
    """`stat` over every datapoint of one series (stream `stream`, `component`)."""
    now = datetime.now(timezone.utc)
    answer = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[
            {"Name": "component", "Value": component},
            {"Name": "stream", "Value": "stream"},
        ],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=60,
        Statistics=[stat],
    )
    return float(sum(point[stat] for point in answer["Datapoints"]))


def _names(cw: Any, namespace: str) -> set[str]:
    pages = cw.get_paginator("list_metrics").paginate(Namespace=namespace)
    return {m["MetricName"] for page in pages for m in page["Metrics"]}


PIPELINE = """
input:
  label: readings
  generate:
    count: {count}
    interval: {interval}
    batch_size: {batch}
    mapping: 'root = {{"n": counter()}}'
pipeline:
  processors:
    - label: keep_even
      mapping: 'root = if this.n % 2 == 1 {{ deleted() }}'
"""

#: Benthos' advice for CloudWatch's per-series billing: keep only the series you need
KEEP = """if ![
  "streamforge_received",
  "streamforge_sent",
  "streamforge_processing_seconds",
].contains(this) { root = deleted() }
if @component == "keep_even" { meta component = "filter" }
"""


def test_counts_reach_cloudwatch_after_the_mapping(
    moto_s3: S3Store,  # noqa: F811 - the fixture (a moto server)
    tmp_path: Path,
) -> None:
    namespace = f"Plant/{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=30, interval='""', batch=5)
        + _section(namespace, moto_s3.endpoint, KEEP),
        out,
    )
    assert len(out_lines(out)) == 15
    cw = _cloudwatch(moto_s3.endpoint)
    assert _names(cw, namespace) == {
        "streamforge_received",
        "streamforge_sent",
        "streamforge_processing_seconds",
    }
    assert _statistic(cw, namespace, "streamforge_received", "readings", "Sum") == 30
    assert _statistic(cw, namespace, "streamforge_received", "filter", "Sum") == 30
    assert _statistic(cw, namespace, "streamforge_sent", "filter", "Sum") == 15
    assert _statistic(cw, namespace, "streamforge_sent", "output", "Sum") == 15
    # the mapping renamed the label: nothing is filed under the old one
    assert _statistic(cw, namespace, "streamforge_sent", "keep_even", "Sum") == 0
    # one timing per batch the filter worked on, in seconds
    assert _statistic(cw, namespace, "streamforge_processing_seconds", "filter", "SampleCount") == 6
    seconds = _statistic(cw, namespace, "streamforge_processing_seconds", "filter", "Sum")
    assert 0 < seconds < 5


def test_cloudwatch_going_away_loses_no_count(
    moto_s3: S3Store,  # noqa: F811 - the fixture (a moto server)
    tmp_path: Path,
) -> None:
    namespace = f"Plant/{uuid.uuid4().hex[:8]}"
    proxy = CuttableProxy(int(urlsplit(moto_s3.endpoint).port or 0))
    cw = _cloudwatch(moto_s3.endpoint)
    out = tmp_path / "out.jsonl"

    def received() -> float:
        return _statistic(cw, namespace, "streamforge_received", "readings", "Sum")

    config = stream_config(
        tmp_path / "stream.yaml",
        PIPELINE.format(count=300, interval="20ms", batch=1)
        + _section(namespace, f"http://127.0.0.1:{proxy.port}"),
        out,
    )
    run = Run(config)
    try:
        wait_until(lambda: received() >= 10, 30, "the first pushes")
        proxy.cut()
        at_cut = received()
        run.wait_log("pushing metrics to CloudWatch failed", timeout=10)
        written = len(out_lines(out))
        wait_until(lambda: len(out_lines(out)) >= written + 40, 30, "the stream moving on")
        assert received() == at_cut  # nothing arrived while CloudWatch was away
        proxy.restore()
        run.wait_log("metrics reach CloudWatch again", timeout=10)
        assert run.proc.wait(60) == 0
    finally:
        run.stop()
        proxy.close()
    assert len(out_lines(out)) == 150
    assert received() == 300
    assert _statistic(cw, namespace, "streamforge_sent", "output", "Sum") == 150
    assert run.logs().count("pushing metrics to CloudWatch failed") == 1
