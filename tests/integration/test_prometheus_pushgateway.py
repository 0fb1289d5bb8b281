"""`metrics.prometheus.push_url` against a real Prometheus Pushgateway: `streamforge run` PUTs
the series /metrics serves (after `metrics.mapping`) under `job=<push_job_name>` every
`push_interval` and once more at shutdown, with HTTP Basic credentials when the gateway asks
for them. A gateway that goes away costs the stream nothing; pushes resume when it is back."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from peers.ports import free_port
from peers.pushgateway import (  # noqa: F401 - fixtures
    PASSWORD,
    USER,
    Pushgateway,
    pushgateway,
    secured_pushgateway,
)
from peers.stream_run import CLI, Run, out_lines, run_stream, stream_config, wait_until

STREAM = """
input:
  label: readings
  generate:
    count: {count}
    interval: {interval}
    mapping: 'root = {{"n": counter()}}'
pipeline:
  processors:
    - label: keep_even
      mapping: 'root = if this.n % 2 == 1 {{ deleted() }}'
metrics:
  mapping: |
    root = if this == "streamforge_batch_size" {{ deleted() }}
    meta plant = "p7"
  prometheus:
    push_url: {url}
    push_job_name: {job}
"""


def _stream(url: str, job: str, count: int, interval: str, extra: str = "") -> str:
    return STREAM.format(url=url, job=job, count=count, interval=interval) + extra


def _endless(
    gateway: Pushgateway, tmp_path: Path, job: str
) -> tuple[Run, Path, Callable[[], float]]:
    """An endless stream pushing every 200 ms under `job`, started; its run, its output file
    and how many messages its input received by the gateway's last push."""
    out = tmp_path / "out.jsonl"
    config = stream_config(
        tmp_path / "stream.yaml",
        _stream(gateway.url, job, 0, "20ms", "    push_interval: 200ms\n"),
        out,
    )

    def received() -> float:
        return gateway.value("input_received", job=job, label="readings") or 0.0

    return Run(config), out, received


def test_pushes_grow_while_running_and_the_last_one_has_the_final_counts(
    pushgateway: Pushgateway,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    run, out, received = _endless(pushgateway, tmp_path, "press_line")
    try:
        wait_until(lambda: received() >= 5, 20, "the first periodic push")
        first = received()
        wait_until(lambda: received() >= first + 10, 10, "a later push with grown counts")
    finally:
        assert run.stop() == 0
    # after the stop, the gateway holds exactly what the stream wrote
    written = len(out_lines(out))
    assert written > 0
    sent = pushgateway.value("output_sent", job="press_line", stream="stream")
    assert sent == written
    assert pushgateway.value("streamforge_received_total", job="press_line",
                             component="readings") == received()  # fmt: skip
    # the same series /metrics serves: the mapping's label is on them, what it drops is not
    assert all(dict(s)["plant"] == "p7" for s in pushgateway.series("input_received"))
    assert pushgateway.series("streamforge_batch_size_count", job="press_line") == {}
    # grouped by the job alone, as Benthos pushes
    [labels] = pushgateway.series("push_time_seconds", job="press_line")
    assert dict(labels) == {"job": "press_line", "instance": ""}


def test_without_an_interval_the_run_pushes_once_at_its_end(
    pushgateway: Pushgateway,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    run_stream(tmp_path / "stream.yaml", _stream(pushgateway.url, "batch_job", 37, '""'), out)
    assert len(out_lines(out)) == 18
    assert pushgateway.value("input_received", job="batch_job", label="readings") == 37
    assert pushgateway.value("processor_received", job="batch_job", label="keep_even") == 37
    assert pushgateway.value("output_sent", job="batch_job", stream="stream") == 18


def test_default_job_name_is_benthos_push_and_credentials_reach_a_secured_gateway(
    secured_pushgateway: Pushgateway,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    gateway = secured_pushgateway
    auth = f"    push_basic_auth:\n      username: {USER}\n      password: {PASSWORD}\n"
    body = _stream(gateway.url, "x", 12, '""', auth).replace("    push_job_name: x\n", "")
    run_stream(tmp_path / "ok.yaml", body, tmp_path / "ok.jsonl")
    assert gateway.value("input_received", job="benthos_push", label="readings") == 12

    # a wrong password: the gateway refuses, the run says so and still ends well
    wrong = _stream(gateway.url, "refused", 12, '""', auth.replace(PASSWORD, "nope"))
    done = run_stream(tmp_path / "refused.yaml", wrong, tmp_path / "refused.jsonl")
    logs = done.stdout + done.stderr
    assert "pushing metrics to the Pushgateway failed" in logs
    assert "HTTP 401" in logs and "nope" not in logs
    assert gateway.series("input_received", job="refused") == {}


def test_gateway_down_mid_run_costs_the_stream_nothing(
    pushgateway: Pushgateway,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    run, out, received = _endless(pushgateway, tmp_path, "outage")
    try:
        wait_until(lambda: received() >= 5, 20, "the first periodic push")
        pushgateway.stop()
        run.wait_log("pushing metrics to the Pushgateway failed", timeout=10)
        written = len(out_lines(out))
        wait_until(lambda: len(out_lines(out)) >= written + 20, 15, "the stream moving on")
        down_at = len(out_lines(out))
        pushgateway.start()  # empty again, on the same port
        run.wait_log("metrics reach the Pushgateway again", timeout=10)
        # the first push after the outage carries the counts of that moment
        assert received() >= 2 * down_at - 1
    finally:
        assert run.stop() == 0
    assert pushgateway.value("output_sent", job="outage", stream="stream") == len(out_lines(out))
    # several pushes failed while it was down, one warning said so
    assert run.logs().count("pushing metrics to the Pushgateway failed") == 1


def test_the_processes_of_a_cluster_push_side_by_side(
    pushgateway: Pushgateway,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in range(4):
        (inputs / f"part{f}.txt").write_text("".join(f"f{f}-{n}\n" for n in range(50)))
    config = stream_config(
        tmp_path / "cluster.yaml",
        f"""
        input:
          label: lines
          file:
            paths: ["{inputs}/*.txt"]
        output:
          drop: {{}}
        metrics:
          prometheus:
            push_url: {pushgateway.url}
            push_job_name: cluster
        """,
    )
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    flags = [arg for a in addresses for arg in ("-a", a)]
    procs = [
        subprocess.Popen(
            [*CLI, "-i", str(i), *flags, str(config)], stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    counts = {
        dict(labels)["process"]: value
        for labels, value in pushgateway.series("input_received", job="cluster").items()
    }
    assert set(counts) == {"0", "1"}  # each process's group, neither replaced by the other
    assert sum(counts.values()) == 200
