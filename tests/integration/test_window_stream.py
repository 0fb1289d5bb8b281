"""`window` in running streams: streams/multi-resolution.yaml end to end, late routing, and
an open window surviving a killed process with `--recovery-dir`."""

from __future__ import annotations

import json
import re
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from peers.ports import free_port
from peers.stream_run import Run, out_lines, run_to_end, wait_until, write

REPO = Path(__file__).resolve().parents[2]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out_lines(path)]


def run_logs(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """`streamforge run ARGS` in the repository until its inputs end; the logs."""
    proc = run_to_end(*args, env=env, cwd=REPO)
    logs = proc.stdout + proc.stderr
    assert proc.returncode == 0, logs
    return logs


@pytest.mark.parametrize("workers", ["1", "2"])
def test_multi_resolution_stream_writes_consistent_resolutions(
    tmp_path: Path, workers: str
) -> None:
    out = tmp_path / "multi"
    env = {"MULTIRES_OUT": str(out), "MULTIRES_COUNT": "1200", "MULTIRES_INTERVAL": "10ms"}
    logs = run_logs("-w", workers, "streams/multi-resolution.yaml", env=env)
    assert "stream multi-resolution: 1200 read" in logs
    assert "0 dead-lettered, 0 failed (written nowhere)" in logs

    raw = jsonl(out / "raw.jsonl")
    assert len(raw) == 1200
    per_series: dict[tuple[str, str], int] = defaultdict(int)
    for doc in raw:
        per_series[(doc["asset_id"], doc["parameter"])] += 1
    assert len(per_series) == 12

    resolutions = {name: jsonl(out / f"{name}.jsonl") for name in ("1s", "1m", "1h")}
    for name, docs in resolutions.items():
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for doc in docs:
            counts[(doc["asset_id"], doc["parameter"])] += doc["aggregates"]["count"]
        assert counts == per_series, name  # every reading counted once at every resolution
        windows = [(d["asset_id"], d["parameter"], d["window_start"]) for d in docs]
        assert len(windows) == len(set(windows)), name  # one message per series and window

    for doc in resolutions["1s"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["window_start"])
    assert {d["window_start"][14:] for d in resolutions["1h"]} == {"00:00Z"}
    # the hour's average is the count-weighted average of the readings it covers
    for hour in resolutions["1h"]:
        values = [
            d["value"]
            for d in raw
            if (d["asset_id"], d["parameter"]) == (hour["asset_id"], hour["parameter"])
        ]
        aggs = hour["aggregates"]
        assert aggs["avg"] == pytest.approx(sum(values) / len(values), rel=1e-9)
        assert (aggs["min"], aggs["max"]) == (min(values), max(values))
        assert (aggs["first"], aggs["last"]) == (values[0], values[-1])


def test_late_readings_can_be_routed_to_their_own_file(tmp_path: Path) -> None:
    config = write(
        tmp_path / "late.yaml",
        f"""
        http: {{ enabled: false }}
        input:
          generate:
            count: 20
            interval: ""
            batch_size: 1
            mapping: |
              let n = counter()
              root.asset_id = "press-01"
              root.parameter = "temperature"
              root.value = $n
              root.timestamps.device_time = if $n % 2 == 1 {{
                "2024-05-01T12:00:30Z" }} else {{ "2024-05-01T12:00:00Z" }}
        pipeline:
          processors:
            - window:
                size: 1m
                timestamp: this.timestamps.device_time
                allowed_lateness: 10s
                aggregates: [ count, sum ]
                late: error
        output:
          switch:
            cases:
              - check: errored()
                output:
                  file: {{ path: "{tmp_path}/late.jsonl", codec: lines }}
              - output:
                  file: {{ path: "{tmp_path}/minutes.jsonl", codec: lines }}
        """,
    )
    run_logs(config)
    # the first reading (12:00:30) set the watermark to 12:00:20: every 12:00:00 one is late
    assert sorted(d["value"] for d in jsonl(tmp_path / "late.jsonl")) == list(range(2, 21, 2))
    (minute,) = jsonl(tmp_path / "minutes.jsonl")
    assert minute["window_start"] == "2024-05-01T12:00:00Z"
    assert minute["aggregates"] == {"count": 10, "sum": sum(range(1, 20, 2))}


@pytest.mark.parametrize("stop", ["kill", "term"])
def test_an_open_window_survives_a_stopped_process_with_recovery(
    tmp_path: Path, runs: list[Run], stop: str
) -> None:
    """Killed, or stopped gracefully (SIGTERM): with recovery the open window is neither lost
    nor emitted half-full; the next run completes it."""
    port = free_port()
    out = tmp_path / "hours.jsonl"
    config = write(
        tmp_path / "hours.yaml",
        f"""
        http: {{ address: "127.0.0.1:{port}" }}
        input:
          label: readings
          generate:
            count: 150
            interval: 20ms
            batch_size: 1
            mapping: |
              root.asset_id = "press-01"
              root.parameter = "temperature"
              root.value = 2
              root.timestamps.device_time = now()
        pipeline:
          processors:
            - window:
                size: 1h
                timestamp: this.timestamps.device_time
                allowed_lateness: 5s
                aggregates: [ count, sum ]
        output:
          file: {{ path: "{out}", codec: lines }}
        """,
    )
    args = ("--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval", "100ms")
    first = Run(config, http_port=port, extra_args=args)
    runs.append(first)

    def read_so_far() -> float:
        status, text = first.get("/metrics")
        m = re.search(r'streamforge_received_total\{component="readings",[^}]*\} (\S+)', text)
        return float(m.group(1)) if status == 200 and m else 0.0

    wait_until(lambda: read_so_far() >= 40, 30, "40 readings in the first run")
    if stop == "kill":
        first.proc.kill()  # no graceful stop: the window is still open when the process dies
    else:
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(timeout=30) == 0, first.logs()
    first.stop()
    assert out_lines(out) == []

    second = Run(config, http_port=port, extra_args=args)
    runs.append(second)
    assert second.proc.wait(timeout=60) == 0, second.logs()
    second.stop()
    read = re.search(r"stream hours: (\d+) read", second.logs())
    assert read is not None and int(read.group(1)) < 150  # resumed where the snapshot was
    hours = jsonl(out)
    assert 1 <= len(hours) <= 2  # two when the run happened to cross an hour
    # every reading counted once: the first run's part from the snapshot, the rest after it
    assert sum(h["aggregates"]["count"] for h in hours) == 150
    assert sum(h["aggregates"]["sum"] for h in hours) == 300
