"""`buffer`, `metrics` and `shutdown_timeout` through `streamforge run`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from peers.ports import free_port
from peers.stream_run import Run, run_stream, stream_config, wait_until, write

WINDOW_SUMMARY = """\
            - mapping: |
                root = if batch_index() == 0 {
                  {
                    "count": batch_size(),
                    "sum": json("v").from_all().sum(),
                    "last_at": json("at").from_all().sort().index(-1),
                    "end": @window_end_timestamp,
                    "emitted_at": now(),
                  }
                } else { deleted() }"""


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_system_window_buffer_emits_one_aggregate_per_window(tmp_path: Path) -> None:
    out = tmp_path / "windows.jsonl"
    run_stream(
        tmp_path / "windows.yaml",
        f"""
        input:
          generate:
            count: 12
            interval: 200ms
            mapping: 'root = {{"v": counter(), "at": now()}}'
        buffer:
          system_window:
            size: 1s
        pipeline:
          processors:
{WINDOW_SUMMARY}
        """,
        out,
    )
    windows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(w["count"] for w in windows) == 12
    assert sum(w["sum"] for w in windows) == sum(range(1, 13))
    assert 2 <= len(windows) <= 5
    assert all(w["count"] <= 6 for w in windows)  # at most 1s of messages 200ms apart
    ends = [_time(w["end"]) for w in windows]
    assert ends == sorted(set(ends)) and all(e == int(e) for e in ends)
    # every message of a window is before its end; the first window left the buffer when the
    # clock passed its end, while the input was still generating
    assert all(_time(w["last_at"]) < _time(w["end"]) for w in windows)
    first = windows[0]
    assert _time(first["emitted_at"]) >= _time(first["end"])
    assert _time(first["emitted_at"]) < _time(windows[-1]["last_at"])


def test_a_window_reaches_the_pipeline_as_one_batch_from_a_line_input(tmp_path: Path) -> None:
    cfg = stream_config(
        tmp_path / "lines.yaml",
        """
        input:
          stdin: {}
        buffer:
          system_window:
            size: 1h
        pipeline:
          processors:
            - mapping: 'root = {"line": content().string(), "in_batch": batch_size()}'
        output:
          stdout: {}
        logger:
          level: ERROR
        """,
    )
    result = subprocess.run(
        [sys.executable, "-m", "streamforge", "run", str(cfg)],
        input="a\nb\nc\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert got == [{"line": x, "in_batch": 3} for x in "abc"]


def test_memory_buffer_batch_policy(tmp_path: Path) -> None:
    out = tmp_path / "batches.jsonl"
    run_stream(
        tmp_path / "batches.yaml",
        """
        input:
          generate:
            count: 7
            interval: ""
            mapping: 'root = {"v": counter()}'
        buffer:
          memory:
            batch_policy:
              enabled: true
              count: 3
        pipeline:
          processors:
            - mapping: 'root = {"v": this.v, "size": batch_size()}'
        """,
        out,
    )
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["v"] for g in got] == list(range(1, 8))
    assert [g["size"] for g in got] == [3, 3, 3, 3, 3, 3, 1]


def _endless(tmp_path: Path, name: str, port: int, metrics: str) -> Path:
    return write(
        tmp_path / f"{name}.yaml",
        f"""
        input:
          label: ticks
          generate:
            interval: 20ms
            mapping: 'root = {{"v": counter()}}'
        output:
          label: sink
          drop: {{}}
        http:
          address: 127.0.0.1:{port}
        {metrics}
        """,
    )


def test_metrics_mapping_changes_what_metrics_shows(tmp_path: Path, runs: list[Run]) -> None:
    port = free_port()
    metrics = """metrics:
          mapping: |
            root = this.replace_all("streamforge_", "plant_")
            root = if root.has_prefix("plant_batch") { deleted() } else { root }
            meta line = "l1"
          prometheus:
            add_process_metrics: true
        """
    run = Run(_endless(tmp_path, "mapped", port, metrics), http_port=port)
    runs.append(run)
    wait_until(lambda: "plant_received_total" in run.get("/metrics")[1], 30, "mapped metrics")
    status, text = run.get("/metrics")
    assert status == 200
    assert 'plant_received_total{component="ticks",line="l1",stream="mapped"}' in text
    assert "plant_sent_total" in text and "process_resident_memory_bytes" in text
    assert "streamforge_" not in text and "batch_size" not in text
    assert run.stop() == 0


def test_metrics_none_turns_metrics_off(tmp_path: Path, runs: list[Run]) -> None:
    port = free_port()
    run = Run(_endless(tmp_path, "quiet", port, "metrics:\n          none: {}"), http_port=port)
    runs.append(run)
    wait_until(lambda: run.get("/ready")[0] == 200, 30, "the stream to be ready")
    status, body = run.get("/metrics")
    assert status == 404 and "metrics are off" in body
    assert run.stop() == 0


def test_shutdown_timeout_aborts_a_stop_that_hangs(tmp_path: Path, runs: list[Run]) -> None:
    cfg = stream_config(
        tmp_path / "slow.yaml",
        """
        input:
          generate:
            interval: 10ms
            mapping: 'root = "x"'
        pipeline:
          processors:
            - sleep: {duration: 30s}
        output:
          drop: {}
        shutdown_timeout: 1s
        """,
    )
    run = Run(cfg)
    runs.append(run)
    run.wait_log("running 1 stream(s)")
    time.sleep(0.5)
    started = time.monotonic()
    rc = run.stop(timeout=20)
    assert "shutdown_timeout" in run.logs()
    assert rc == 130
    assert time.monotonic() - started < 15


def test_benthos_system_window_example_counts_cars_per_traffic_light(tmp_path: Path) -> None:
    """The shape of Benthos' system_window example: event time from the message, windows
    grouped by a field and summarised per group."""
    out = tmp_path / "lights.jsonl"
    run_stream(
        tmp_path / "lights.yaml",
        """
        input:
          generate:
            count: 9
            interval: ""
            mapping: |
              let n = counter()
              root.traffic_light = if $n % 3 == 0 { "cbx-1" } else { "cbx-2" }
              root.registration_plate = "AB" + ($n % 4).string()
              root.passengers = $n
              root.created_at = now()
        buffer:
          system_window:
            timestamp_mapping: root = this.created_at
            size: 1h
        pipeline:
          processors:
            - group_by_value:
                value: '${! json("traffic_light") }'
            - mapping: |
                root = if batch_index() == 0 {
                  {
                    "traffic_light": this.traffic_light,
                    "created_at": @window_end_timestamp,
                    "total_cars": json("registration_plate").from_all().unique().length(),
                    "passengers": json("passengers").from_all().sum(),
                  }
                } else { deleted() }
        """,
        out,
    )
    got = {r["traffic_light"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(got) == {"cbx-1", "cbx-2"}
    assert got["cbx-1"]["passengers"] == 3 + 6 + 9
    assert got["cbx-2"]["passengers"] == sum(range(1, 10)) - 18
    assert got["cbx-1"]["total_cars"] == 3  # plates AB3, AB2, AB1
    assert got["cbx-2"]["total_cars"] == 4
    assert got["cbx-1"]["created_at"] == got["cbx-2"]["created_at"]
    assert got["cbx-1"]["created_at"].endswith(":00:00Z")


def test_shutdown_delay_reports_not_ready_before_stopping(tmp_path: Path, runs: list[Run]) -> None:
    port = free_port()
    cfg = write(
        tmp_path / "delayed.yaml",
        f"""
        input:
          generate:
            interval: 20ms
            mapping: 'root = "x"'
        output:
          drop: {{}}
        http:
          address: 127.0.0.1:{port}
        shutdown_delay: 2s
        """,
    )
    run = Run(cfg, http_port=port)
    runs.append(run)
    wait_until(lambda: run.get("/ready")[0] == 200, 30, "the stream to be ready")
    run.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: run.get("/ready")[0] == 503, 5, "/ready to answer 503")
    assert run.proc.poll() is None  # still running during the delay
    time.sleep(0.5)
    assert run.proc.poll() is None
    assert run.proc.wait(timeout=20) == 0
    assert "shutdown_delay" in run.logs()
