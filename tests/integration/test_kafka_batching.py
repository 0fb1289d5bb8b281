"""The kafka input's `batching` policy against a real Kafka-compatible broker (Tansu), through
`streamforge run`: records reach the pipeline in batches of the policy, and the group commits
what was written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from peers.tansu import Tansu

pytest.importorskip("confluent_kafka")

CLI = [sys.executable, "-m", "streamforge", "run"]


def _stream(tmp_path: Path, address: str, topic: str, group: str, out: Path) -> Path:
    path = tmp_path / "batched.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            input:
              kafka:
                addresses: [ "{address}" ]
                topics: [ "{topic}" ]
                consumer_group: "{group}"
                batching:
                  count: 4
                  period: 700ms
            pipeline:
              processors:
                - mapping: |
                    root = {{"v": content().string(), "size": batch_size(),
                             "index": batch_index()}}
            output:
              file:
                path: "{out}"
            http:
              enabled: false
            """
        ).lstrip()
    )
    return path


def test_records_arrive_in_batches_of_the_policy(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("batching"), partitions=1)
    group = f"sf-batching-{time.monotonic_ns()}"
    tansu.produce(topic, [(0, None, f"r{i}".encode(), None) for i in range(10)])
    out = tmp_path / "out.jsonl"
    err = (tmp_path / "run.err").open("wb")
    proc = subprocess.Popen(
        [*CLI, str(_stream(tmp_path, tansu.address, topic, group, out))],
        stderr=err,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while len(out.read_text().splitlines() if out.exists() else []) < 10:
            assert proc.poll() is None, (tmp_path / "run.err").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.err").read_text()
            time.sleep(0.05)
        time.sleep(0.5)  # the group commit follows the write
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        err.close()
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["v"] for r in got] == [f"r{i}" for i in range(10)]
    # two full batches of four, then the last two once the period passed
    assert [r["size"] for r in got] == [4] * 8 + [2] * 2
    assert [r["index"] for r in got] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert tansu.committed(group, topic, 1) == {0: 10}
