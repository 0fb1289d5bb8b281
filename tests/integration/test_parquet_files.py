"""Parquet logs end to end: envelopes -> `file` output with batching + `parquet_encode` -> files
that pyarrow, DuckDB and `parquet_decode` read back as exactly the rows that went in."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from peers.stream_run import run_to_end, write

from streamforge.timefmt.timestamps import time_nanos

COUNT = 230
BATCH = 50

#: quickstart-like readings made into telemetry envelopes; every 23rd reading is "n/a"
STREAM = """
http:
  enabled: false

input:
  generate:
    count: {count}
    interval: 0s
    batch_size: 10
    mapping: |
      let n = counter()
      root.asset = ["press-01", "press-02", "oven-07"].index(($n - 1) % 3)
      root.tag = ["temperature", "pressure", "vibration", "power"].index((($n - 1) / 3).floor() % 4)
      root.raw = if {bad} && $n % 23 == 0 {{ "n/a" }} else {{ $n * 0.25 + 1 }}
      root.seq = $n
      root.at = now()

pipeline:
  processors:
    - telemetry:
        asset_id: ${{! this.asset }}
        parameter: ${{! this.tag }}
        value: this.raw
        device_time: this.at
        adapter_id: parquet-test

output:
{output}
"""

PARQUET_OUTPUT = """\
file:
  path: logs/${! timestamp_unix().ts_format("2006-01-02") }/props-${! uuid_v4() }.parquet
  codec: all-bytes
  batching:
    count: 50
    period: 5s
    processors:
      - parquet_encode:
          default_compression: zstd
          schema:
            - { name: asset_id, type: UTF8 }
            - { name: parameter, type: UTF8 }
            - { name: value, type: DOUBLE, optional: true }
            - { name: unit, type: UTF8, optional: true }
            - { name: quality, type: UTF8 }
            - { name: classification, type: UTF8 }
            - name: timestamps
              fields:
                - { name: device_time, type: TIMESTAMP }
                - { name: gateway_time, type: TIMESTAMP }
            - { name: clock_skew_ms, type: DOUBLE }
            - name: metadata
              fields:
                - { name: adapter_id, type: UTF8 }
                - { name: quality_reasons, type: UTF8, repeated: true, optional: true }
"""

COLUMNS = ("asset_id", "parameter", "value", "unit", "quality", "classification")


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line if line else line for line in text.splitlines())


def _item(text: str) -> str:
    """`text` (a YAML mapping) as an item of a YAML list."""
    return "- " + _indent(text, 2)[2:]


def run_stream(tmp_path: Path, output: str, *, bad: bool = False) -> str:
    """Run the stream to its end in `tmp_path`; returns its logs."""
    config = write(
        tmp_path / "parquet.yaml",
        STREAM.format(count=COUNT, bad="true" if bad else "false", output=_indent(output, 2)),
    )
    proc = run_to_end(config, cwd=tmp_path, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def sent_envelopes(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_row(env: dict[str, Any]) -> dict[str, Any]:
    """An envelope as the schema keeps it (what a reader of the files should get)."""
    row = {k: env[k] for k in COLUMNS}
    row["clock_skew_ms"] = env["clock_skew_ms"]
    row["timestamps"] = dict(env["timestamps"])
    row["metadata"] = {
        "adapter_id": env["metadata"]["adapter_id"],
        "quality_reasons": env["metadata"].get("quality_reasons"),
    }
    return row


def by_seq(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["timestamps"]["device_time"], r["asset_id"], r["value"]))


def days_around(start: float) -> set[str]:
    """The day folders a run between `start` and now may have written (UTC)."""
    return {
        datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d") for t in (start, time.time())
    }


def test_batches_become_parquet_files_that_pyarrow_and_duckdb_read_back(tmp_path: Path) -> None:
    sent_output = "file:\n  path: sent.jsonl\n  codec: lines"
    items = _item(sent_output) + "\n" + _item(PARQUET_OUTPUT)
    output = "broker:\n  pattern: fan_out\n  outputs:\n" + _indent(items, 4)
    start = time.time()
    run_stream(tmp_path, output)
    sent = sent_envelopes(tmp_path / "sent.jsonl")
    assert len(sent) == COUNT
    want = [expected_row(e) for e in sent]

    files = sorted((tmp_path / "logs").glob("*/props-*.parquet"))
    assert {f.parent.name for f in files} <= days_around(start)
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in files]
    assert sum(sizes) == COUNT and max(sizes) <= BATCH and len(files) >= COUNT // BATCH
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"

    # pyarrow: every column, times compared as nanoseconds
    table = pq.read_table(tmp_path / "logs")
    stamps = table.column("timestamps").combine_chunks()
    device, gateway = (
        pc.struct_field(stamps, name).cast(pa.int64()).to_pylist()
        for name in ("device_time", "gateway_time")
    )
    got = [
        (*(r[k] for k in COLUMNS), r["clock_skew_ms"], r["metadata"]["adapter_id"],
         r["metadata"]["quality_reasons"], d, g)
        for r, d, g in zip(table.drop_columns(["timestamps"]).to_pylist(), device, gateway)
    ]  # fmt: skip
    assert sorted(got, key=_order) == sorted(map(_flat, want), key=_order)

    # DuckDB over the same glob
    glob = str(tmp_path / "logs" / "**" / "*.parquet")
    relation = duckdb.sql(
        "select asset_id, parameter, value, unit, quality, classification, clock_skew_ms, "
        "metadata.adapter_id, metadata.quality_reasons, "
        "epoch_ns(timestamps.device_time), epoch_ns(timestamps.gateway_time) "
        f"from read_parquet('{glob}')"
    )
    assert relation is not None
    rows = relation.fetchall()
    assert sorted(rows, key=_order) == sorted(map(_flat, want), key=_order)

    # parquet_decode: the JSON rows themselves
    decoded = run_decode(tmp_path)
    assert by_seq(decoded) == by_seq(want)


def run_decode(tmp_path: Path) -> list[dict[str, Any]]:
    """Read the files back with a stream: `file` input (all-bytes) + `parquet_decode`."""
    config = write(
        tmp_path / "decode.yaml",
        """
        http:
          enabled: false
        input:
          file:
            paths: [ ./logs/**/*.parquet ]
            codec: all-bytes
          processors:
            - parquet_decode: {}
        output:
          file:
            path: ./decoded.jsonl
        """,
    )
    proc = run_to_end(config, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sent_envelopes(tmp_path / "decoded.jsonl")


def _flat(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        *(row[k] for k in COLUMNS),
        row["clock_skew_ms"],
        row["metadata"]["adapter_id"],
        row["metadata"]["quality_reasons"],
        time_nanos(row["timestamps"]["device_time"]),
        time_nanos(row["timestamps"]["gateway_time"]),
    )


def _order(flat: tuple[Any, ...]) -> tuple[Any, ...]:
    """Sort rows by device time, gateway time, asset and parameter."""
    return (flat[-2], flat[-1], flat[0], flat[1])


def test_readings_that_do_not_fit_go_to_the_dead_letter_file(tmp_path: Path) -> None:
    dead_letter = "file:\n  path: dead_letter.jsonl"
    output = "fallback:\n" + _indent(_item(PARQUET_OUTPUT) + "\n" + _item(dead_letter), 2)
    logs = run_stream(tmp_path, output, bad=True)
    dead = sent_envelopes(tmp_path / "dead_letter.jsonl")
    assert [d["value"] for d in dead] == ["n/a"] * (COUNT // 23)
    assert all(d["timestamps"]["device_time"].endswith("Z") for d in dead)

    table = pq.read_table(tmp_path / "logs")
    assert table.num_rows == COUNT - COUNT // 23
    assert pc.min(table.column("value")).as_py() == 1.25
    assert "n/a" not in logs or "parquet_encode: value: expected DOUBLE" in logs
