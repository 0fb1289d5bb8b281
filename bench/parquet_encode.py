"""Parquet encoding: telemetry envelopes per second through `parquet_encode`, beside pyarrow.

Runs over the same prebuilt envelopes (structured messages, as the `telemetry` processor
leaves them), in one process:

* parquet_encode (schema): the processor with the envelope's schema given, batch by batch.
* parquet_encode (inferred): the processor inferring the schema from each batch.
* + file output: the schema case, each file written by the `file` output (`codec: all-bytes`).
* baseline: pyarrow by hand on the same dicts: `pa.Table.from_pylist` + `pq.write_table`
  (snappy) per batch, no checks.

Prints envelopes/s for each and the ratios to the baseline (the processor also checks every
message against the schema, flags misfits and keeps the metadata).

    python bench/parquet_encode.py [--count 100000] [--batch-size 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from streamforge.message import Message
from streamforge.outputs.file import FileWriter
from streamforge.plugin import load_builtins
from streamforge.processors.parquet.encoder import ParquetEncodeProcessor
from streamforge.timefmt.timestamps import format_nanos

SCHEMA: list[dict[str, Any]] = [
    {"name": "asset_id", "type": "UTF8"},
    {"name": "parameter", "type": "UTF8"},
    {"name": "value", "type": "DOUBLE", "optional": True},
    {"name": "unit", "type": "UTF8", "optional": True},
    {"name": "quality", "type": "UTF8"},
    {"name": "classification", "type": "UTF8"},
    {
        "name": "timestamps",
        "fields": [
            {"name": "device_time", "type": "TIMESTAMP"},
            {"name": "gateway_time", "type": "TIMESTAMP"},
        ],
    },
    {"name": "clock_skew_ms", "type": "DOUBLE"},
    {
        "name": "metadata",
        "fields": [
            {"name": "adapter_id", "type": "UTF8"},
            {"name": "quality_reasons", "type": "UTF8", "repeated": True, "optional": True},
        ],
    },
]


def make_envelopes(count: int) -> list[dict[str, Any]]:
    """Quickstart-like envelopes: 3 assets x 4 parameters, nanosecond times."""
    assets = ["press-01", "press-02", "oven-07"]
    params = [("temperature", "degC"), ("pressure", "bar"), ("vibration", "mm/s"), ("power", "kW")]
    t0 = 1_714_564_800_000_000_000
    out = []
    for i in range(count):
        param, unit = params[(i // 3) % 4]
        device = t0 + i * 1_000_123
        out.append(
            {
                "asset_id": assets[i % 3],
                "parameter": param,
                "value": 60.0 + (i % 997) / 8,
                "unit": unit,
                "quality": "GOOD",
                "classification": "TELEMETRY",
                "timestamps": {
                    "device_time": format_nanos(device),
                    "gateway_time": format_nanos(device + 2_500_000),
                },
                "clock_skew_ms": 2.5,
                "metadata": {"adapter_id": "bench-gateway"},
            }
        )
    return out


def timed(runs: dict[str, Callable[[], int]], repeat: int) -> dict[str, tuple[float, int]]:
    """Best wall time of each run over `repeat` rounds (interleaved, so load hits all alike),
    and the bytes its last round wrote."""
    best: dict[str, tuple[float, int]] = {name: (float("inf"), 0) for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            start = time.perf_counter()
            written = fn()
            seconds = time.perf_counter() - start
            best[name] = (min(best[name][0], seconds), written)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    load_builtins()
    envelopes = make_envelopes(args.count)
    size = args.batch_size
    batches = [envelopes[i : i + size] for i in range(0, len(envelopes), size)]
    messages = [[Message.from_value(e, {"asset_id": e["asset_id"]}) for e in b] for b in batches]
    with_schema = ParquetEncodeProcessor({"schema": SCHEMA})
    inferred = ParquetEncodeProcessor({})

    def run(proc: Any) -> Callable[[], int]:
        def go() -> int:
            written = 0
            for batch in messages:
                (out,) = proc.process_batch(batch)
                written += len(out.payload)
            return written

        return go

    tmp = Path(tempfile.mkdtemp(prefix="sf-parquet-bench-"))

    def to_files() -> int:
        path = str(tmp / "${! uuid_v4() }.parquet")
        output = FileWriter(path, "all-bytes")
        written = 0
        for batch in messages:
            out = with_schema.process_batch(batch)
            assert not output.write_batch(out)
            written += len(out[0].payload)
        output.close()
        return written

    def baseline() -> int:
        written = 0
        for batch in batches:
            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pylist(batch), sink, compression="snappy")
            written += len(sink.getvalue())
        return written

    print(f"parquet_encode: {args.count:,} envelopes, batches of {size:,}, best of {args.repeat}")
    results = timed(
        {
            "baseline: from_pylist + write_table": baseline,
            "parquet_encode (schema)": run(with_schema),
            "parquet_encode (inferred)": run(inferred),
            "parquet_encode (schema) + file output": to_files,
        },
        args.repeat,
    )
    base_rate = args.count / results["baseline: from_pylist + write_table"][0]
    for name, (seconds, nbytes) in results.items():
        rate = args.count / seconds
        print(
            f"  {name:<40} {rate:>12,.0f} envelopes/s   {nbytes / args.count:6.1f} B/envelope"
            f"   ratio {rate / base_rate:5.2f}"
        )
    files = list(tmp.glob("*.parquet"))
    check = pq.read_table(files[0]).num_rows if files else 0
    print(f"  ({len(files)} files written by the file output, {check:,} rows in the first)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
