"""`downsample` in compiled streams: series on their workers, metrics, state across a restart."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
from bytewax.run import cli_main
from peers.stream_run import run_to_end

from streamforge.config.loader import load_stream
from streamforge.engine.dataflow import compile_streams
from streamforge.observability.metrics import REGISTRY
from streamforge.plugin import load_builtins
from streamforge.timefmt.timestamps import format_nanos

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z


def envelope(asset: str, seq: int, value: float, quality: str = "GOOD") -> dict[str, Any]:
    return {
        "asset_id": asset,
        "parameter": "temp",
        "value": value,
        "unit": "degC",
        "quality": quality,
        "classification": "TELEMETRY",
        "timestamps": {"device_time": format_nanos(T0 + seq * 1_000_000_000)},
        "seq": seq,
    }


def append_lines(path: Path, docs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)


def stream_file(tmp_path: Path, name: str, processor: str, extra: str = "") -> Path:
    """file input (JSONL envelopes) -> `processor` labelled `thin` -> one file per asset."""
    config = tmp_path / f"{name}.yaml"
    body = textwrap.indent(textwrap.dedent(processor).strip(), " " * 6)
    config.write_text(
        f"""\
input:
  file:
    paths: [ "{tmp_path}/in/*.jsonl" ]
pipeline:
  processors:
    - label: thin
{body}
output:
  file:
    path: "{tmp_path}/out/${{! this.asset_id }}.jsonl"
http:
  enabled: false
{extra}
"""
    )
    return config


def kept_seq(tmp_path: Path, asset: str) -> list[int]:
    path = tmp_path / "out" / f"{asset}.jsonl"
    return [json.loads(line)["seq"] for line in path.read_text().splitlines()]


def test_compiled_stream_compresses_each_series_on_its_worker(tmp_path: Path) -> None:
    load_builtins()
    docs = []
    for seq in range(200):  # interleaved: a ramp with a step, a slow sine, a flat line
        docs.append(envelope("ramp", seq, float(seq if seq < 100 else 500)))
        docs.append(envelope("sine", seq, round(math.sin(seq / 20) * 10, 6)))
        docs.append(envelope("flat", seq, 7.0))
    append_lines(tmp_path / "in" / "a.jsonl", docs)
    config = stream_file(
        tmp_path,
        "sd",
        """
        downsample:
          method: swinging_door
          deviation: 0.05
          max_interval: 1m
        """,
    )
    compiled = compile_streams([load_stream(config)])
    cli_main(compiled.flow, workers_per_process=2)
    compiled.close()

    assert kept_seq(tmp_path, "ramp") == [0, 60, 99, 100, 160, 199]
    assert kept_seq(tmp_path, "flat") == [0, 60, 120, 180, 199]
    sine = kept_seq(tmp_path, "sine")
    assert sine[0] == 0 and sine[-1] == 199 and 10 < len(sine) < 60
    for seq in range(200):  # every dropped reading is within the deviation of the kept line
        if seq in sine:
            continue
        left = max(k for k in sine if k < seq)
        right = min(k for k in sine if k > seq)
        v0, v1 = (round(math.sin(k / 20) * 10, 6) for k in (left, right))
        line = v0 + (v1 - v0) * (seq - left) / (right - left)
        assert abs(line - round(math.sin(seq / 20) * 10, 6)) <= 0.05 + 1e-9

    labels = {"stream": "sd", "component": "thin"}
    kept = REGISTRY.get_sample_value("streamforge_downsample_kept_total", labels)
    dropped = REGISTRY.get_sample_value("streamforge_downsample_dropped_total", labels)
    assert kept == 6 + 5 + len(sine)
    assert kept is not None and dropped is not None and kept + dropped == 600


DEADBAND = """
downsample:
  method: deadband
  deadband: {absolute: 0.5}
"""
DOOR = """
downsample:
  method: swinging_door
  deviation: 0.1
"""


@pytest.mark.parametrize(
    ("processor", "first", "second", "expected"),
    [
        # the first run ends by keeping 12.1; after the restart 12.2 and 12.3 are within its band
        (DEADBAND, [10, 10.1, 10.2, 12, 12.1], [12.2, 12.3, 15, 15.1], [0, 3, 4, 7, 8]),
        # the ramp continues from the point kept at the end of the first run: no new corner
        (DOOR, [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [0, 4, 9]),
    ],
    ids=["deadband", "swinging_door"],
)
def test_series_state_continues_after_a_restart_with_recovery(
    tmp_path: Path, processor: str, first: list[float], second: list[float], expected: list[int]
) -> None:
    data = tmp_path / "in" / "plant.jsonl"
    config = stream_file(tmp_path, "restart", processor)
    recovery = ["--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval", "100ms"]

    append_lines(data, [envelope("boiler", i, v) for i, v in enumerate(first)])
    done = run_to_end(*recovery, config)
    assert done.returncode == 0, done.stderr
    after_first = kept_seq(tmp_path, "boiler")
    assert after_first == [k for k in expected if k < len(first)]

    append_lines(data, [envelope("boiler", len(first) + i, v) for i, v in enumerate(second)])
    done = run_to_end(*recovery, config)
    assert done.returncode == 0, done.stderr
    assert kept_seq(tmp_path, "boiler") == expected
