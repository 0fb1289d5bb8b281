"""Downsampling: compression ratio, reconstruction error and throughput of `downsample`.

A noisy signal of 1,000,000 telemetry envelopes (100 series, a slow sine plus noise, one
reading per second per series, interleaved) runs through compiled streams, one worker each:

* `downsample` with `method: swinging_door` (deviation D): points kept, and the largest
  distance of any reading from the kept series linearly interpolated (must be <= D);
* `downsample` with `method: deadband` (absolute band D): points kept, and the largest
  distance of any reading from the last kept value before it (must be <= D);
* the baseline: the same input through `noop` into the same output.

Prints kept points, compression ratios, the errors beside D and msg/s with the ratio to noop.

    python bench/downsample_ratio.py [--count 1000000] [--series 100] [--deviation 0.2]
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import time
from pathlib import Path
from typing import Any

from _prebuilt import register_prebuilt_input

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.plugin import (
    Output,
    load_builtins,
    register_output,
)
from streamforge.timefmt.timestamps import format_nanos

T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z
#: the prebuilt envelopes, interleaved across series, and each reading's (series, second, value)
MESSAGES: list[Message] = []
POINTS: list[tuple[int, int, float]] = []
#: index (`i`) of every message the output received, per run
RECEIVED: list[int] = []


def make_points(count: int, series: int, seed: int = 7) -> None:
    """A slow sine per series (period 10-30 min, amplitude 10) plus Gaussian noise (σ 0.05)."""
    rng = random.Random(seed)
    shapes = [(rng.uniform(600, 1800), rng.uniform(0, 2 * math.pi)) for _ in range(series)]
    MESSAGES.clear()
    POINTS.clear()
    for i in range(count):
        s, second = i % series, i // series
        period, phase = shapes[s]
        value = round(50 + 10 * math.sin(2 * math.pi * second / period + phase), 6)
        value = round(value + rng.gauss(0, 0.05), 6)
        POINTS.append((s, second, value))
        MESSAGES.append(
            Message.from_value(
                {
                    "asset_id": f"pump-{s:03d}",
                    "parameter": "pressure",
                    "value": value,
                    "unit": "bar",
                    "quality": "GOOD",
                    "classification": "TELEMETRY",
                    "timestamps": {
                        "device_time": format_nanos(T0 + second * 1_000_000_000 + s),
                        "gateway_time": format_nanos(T0 + second * 1_000_000_000 + 5_000_000),
                    },
                    "clock_skew_ms": 5.0,
                    "metadata": {"adapter_id": "bench"},
                    "i": i,
                }
            )
        )


register_prebuilt_input("bench_envelopes", MESSAGES)


@register_output("bench_indices")
class IndexOutput(Output):
    """Remembers the index of every message written."""

    def __init__(self, conf: Any, ctx: Any) -> None:
        pass

    def write_batch(self, batch: list[Message]) -> list[Message]:
        RECEIVED.extend(m.value["i"] for m in batch)
        return []


def run_stream(name: str, processor: str, conf: Any, batch_size: int) -> float:
    """Seconds to run one compiled stream over every message."""
    loc = Location("bench", 1, 1)
    stream = StreamConfig(
        name=name,
        path=Path(f"{name}.yaml"),
        input=ComponentConfig("input", "bench_envelopes", {"batch_size": batch_size}, "input", loc),
        processors=[ComponentConfig("processor", processor, conf, "pipeline.processors.0", loc)],
        output=ComponentConfig("output", "bench_indices", {}, "output", loc),
    )
    from bytewax.testing import run_main

    RECEIVED.clear()
    compiled = compile_streams([stream])
    started = time.perf_counter()
    run_main(compiled.flow)
    elapsed = time.perf_counter() - started
    compiled.close()
    return elapsed


def per_series(indices: list[int]) -> dict[int, list[tuple[int, float]]]:
    """Kept (second, value) per series, in time order."""
    out: dict[int, list[tuple[int, float]]] = {}
    for i in sorted(indices, key=lambda i: (POINTS[i][0], POINTS[i][1])):
        s, second, value = POINTS[i]
        out.setdefault(s, []).append((second, value))
    return out


def interpolation_error(kept: dict[int, list[tuple[int, float]]]) -> float:
    """Largest |reading - kept series linearly interpolated at its time|."""
    times = {s: [t for t, _ in pts] for s, pts in kept.items()}
    worst = 0.0
    for s, second, value in POINTS:
        pts, ts = kept[s], times[s]
        j = bisect.bisect_left(ts, second)
        if j < len(ts) and ts[j] == second:
            continue
        (t0, v0), (t1, v1) = pts[j - 1], pts[j]
        worst = max(worst, abs(v0 + (v1 - v0) * (second - t0) / (t1 - t0) - value))
    return worst


def hold_error(kept: dict[int, list[tuple[int, float]]]) -> float:
    """Largest |reading - last kept value at or before its time| (step reconstruction)."""
    times = {s: [t for t, _ in pts] for s, pts in kept.items()}
    worst = 0.0
    for s, second, value in POINTS:
        j = bisect.bisect_right(times[s], second) - 1
        worst = max(worst, abs(kept[s][j][1] - value))
    return worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=1_000_000, help="readings in all")
    parser.add_argument("--series", type=int, default=100, help="series, interleaved")
    parser.add_argument("--deviation", type=float, default=0.2, help="deviation and band")
    parser.add_argument("--batch-size", type=int, default=1000, help="messages per input batch")
    args = parser.parse_args(argv)

    load_builtins()
    make_points(args.count, args.series)
    n, dev = args.count, args.deviation
    print(f"readings: {n:,}  series: {args.series}  batch_size: {args.batch_size}  D: {dev}")

    noop_s = run_stream("noop", "noop", {}, args.batch_size)
    assert len(RECEIVED) == n
    results: list[tuple[str, float, int, float, str]] = []
    sd_conf = {"method": "swinging_door", "deviation": dev}
    sd_s = run_stream("swinging_door", "downsample", sd_conf, args.batch_size)
    sd_kept = per_series(RECEIVED)
    results.append(
        ("swinging_door", sd_s, len(RECEIVED), interpolation_error(sd_kept), "interpolated")
    )
    db_conf = {"method": "deadband", "deadband": {"absolute": dev}}
    db_s = run_stream("deadband", "downsample", db_conf, args.batch_size)
    db_kept = per_series(RECEIVED)
    results.append(("deadband", db_s, len(RECEIVED), hold_error(db_kept), "held"))

    print(f"{'noop':>14}: {n / noop_s:12,.0f} msg/s  (baseline, every reading passes)")
    for name, seconds, kept, error, how in results:
        print(
            f"{name:>14}: {n / seconds:12,.0f} msg/s  ratio to noop {noop_s / seconds:.2f}  "
            f"kept {kept:,} ({kept / n:.2%}), compression {n / kept:.1f}:1  "
            f"max error ({how}) {error:.6f} vs D {dev} -> {'ok' if error <= dev + 1e-9 else 'OVER'}"
        )


if __name__ == "__main__":
    main()
