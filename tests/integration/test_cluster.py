"""The same stream as a 2-process Bytewax cluster on loopback: every message exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from peers.ports import free_port

CLI = [sys.executable, "-m", "streamforge", "run"]


def free_ports(n: int) -> list[int]:
    return [free_port() for _ in range(n)]


def run_cluster(cfg: Path, processes: int = 2) -> None:
    """`streamforge run` as a cluster of processes on loopback (env PROC = process id)."""
    addresses = [f"127.0.0.1:{p}" for p in free_ports(processes)]
    flags = [arg for a in addresses for arg in ("-a", a)]
    procs = [
        subprocess.Popen(
            [*CLI, "-i", str(i), *flags, str(cfg)],
            env={**os.environ, "PROC": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    results = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=60)
            results.append((p.returncode, err))
    finally:
        for p in procs:
            p.kill()
    for code, err in results:
        assert code == 0, err


def test_two_process_cluster_processes_each_message_exactly_once(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    expected = []
    for f in range(8):
        rows = [f"file{f}-row{n}" for n in range(250)]
        (inputs / f"part{f}.txt").write_text("\n".join(rows) + "\n")
        expected += rows
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            input:
              file:
                paths: [ "{inputs}/*.txt" ]
            output:
              file:
                path: "{tmp_path}/out/proc-${{PROC}}.txt"
            http:
              address: 127.0.0.1:0
            """
        )
    )
    run_cluster(cfg)

    per_process = [
        (tmp_path / "out" / f"proc-{i}.txt").read_text().splitlines()
        if (tmp_path / "out" / f"proc-{i}.txt").exists()
        else []
        for i in range(2)
    ]
    union = per_process[0] + per_process[1]
    duplicates = [row for row, n in Counter(union).items() if n > 1]
    assert duplicates == []
    assert sorted(union) == sorted(expected)
    # the partitioned input was spread: both processes read whole files of their own
    assert per_process[0] and per_process[1]
    files_of = [{row.split("-")[0] for row in rows} for rows in per_process]
    assert files_of[0].isdisjoint(files_of[1])


def test_a_stateful_step_in_a_cluster_keeps_each_series_on_one_process(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in range(4):
        rows = [f'{{"asset_id": "a{n % 6}", "parameter": "t", "value": {n}}}' for n in range(300)]
        (inputs / f"part{f}.jsonl").write_text("\n".join(rows) + "\n")
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            input:
              file:
                paths: [ "{inputs}/*.jsonl" ]
            pipeline:
              processors:
                - downsample:
                    method: deadband
                    deadband: {{ absolute: 1000 }}
                    timestamp: 'now()'
            output:
              file:
                path: "{tmp_path}/out/proc-${{PROC}}.jsonl"
            http:
              address: 127.0.0.1:0
            """
        )
    )
    run_cluster(cfg)
    kept = []
    for i in range(2):
        path = tmp_path / "out" / f"proc-{i}.jsonl"
        kept += path.read_text().splitlines() if path.exists() else []
    # a band wider than every change keeps each series' first reading once, and its last at the
    # end of the input: the series' state lived in one place across both processes
    series = Counter(line.split('"asset_id": "')[1].split('"')[0] for line in kept)
    assert series == {f"a{n}": 2 for n in range(6)}, kept
