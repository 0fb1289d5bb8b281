"""validate (schema + 3 rules) -> window (1 s tumbling) -> drop over 1,000 series, one worker.

Each series reads every 10 ms (device time), so a window aggregates 100 readings per series.

The StreamForge stream is compiled and run by Bytewax on one worker. The baseline does the same
work in a plain Python loop on the same envelopes: jsonschema's validator, the range, rate of
change and duplicate checks per series, and a dict of per-window accumulators (count, min, max,
sum for the average) keyed by series and window start.

    python bench/quality_pipeline.py [--count 1000000] [--series 1000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bytewax.testing import run_main
from jsonschema import Draft202012Validator

sys.path.insert(0, str(Path(__file__).parent))

import validate_rules as vr

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.plugin import load_builtins
from streamforge.timefmt.timestamps import canonical_nanos, format_nanos

#: readings 10 ms apart change by up to 3.0 (50-300 units/s); the ones made to jump change by
#: 20 more (2,000 units/s) and are the ones rate_of_change flags, as in bench/validate_rules.py
MAX_PER_SECOND = 500.0
RULES = [
    {
        **vr.RULES[0],
        "rate_of_change": {"max_per_second": MAX_PER_SECOND},
        "duplicate": {"window": "1s"},
    }
]
WINDOW = {
    "type": "tumbling",
    "size": "1s",
    "timestamp": "this.timestamps.device_time",
    "allowed_lateness": "1s",
    "aggregates": ["count", "avg", "min", "max"],
}
WINDOW_NS = 1_000_000_000


def run_stream(batch_size: int) -> None:
    loc = Location("bench", 1, 1)

    def proc(kind: str, conf: Any, i: int) -> ComponentConfig:
        return ComponentConfig("processor", kind, conf, f"pipeline.processors.{i}", loc)

    stream = StreamConfig(
        name="bench_quality_pipeline",
        path=Path("bench.yaml"),
        input=ComponentConfig("input", "bench_envelopes", {"batch_size": batch_size}, "input", loc),
        processors=[
            proc("validate", {"schema": vr.SCHEMA, "rules": RULES}, 0),
            proc("window", WINDOW, 1),
        ],
        output=ComponentConfig("output", "drop", {}, "output", loc),
    )
    compiled = compile_streams([stream])
    run_main(compiled.flow)
    compiled.close()


def run_baseline(batch_size: int) -> None:
    """jsonschema + the three rules + per-window accumulators, by hand."""
    validator = Draft202012Validator(vr.SCHEMA)
    last: dict[tuple[str, str], tuple[int, float]] = {}
    seen: dict[tuple[str, str], set[int]] = {}
    windows: dict[tuple[str, str, int], list[float]] = {}
    count = vr._SETTINGS["count"]
    for pos in range(0, count, batch_size):
        batch = [
            Message.from_value(vr.envelope(i)) for i in range(pos, min(pos + batch_size, count))
        ]
        for msg in batch:
            doc = msg.value
            reasons = [e.message for e in validator.iter_errors(doc)]
            value = doc["value"]
            if not vr.LOW <= value <= vr.HIGH:
                reasons.append("range")
            key = (doc["asset_id"], doc["parameter"])
            t = canonical_nanos(doc["timestamps"]["device_time"]) or 0
            times = seen.setdefault(key, set())
            if t in times:
                reasons.append("duplicate")
            times.add(t)
            if len(times) > 2:
                times.discard(min(times))
            prev = last.get(key)
            t0, v0 = prev if prev is not None else (t, value)
            if t > t0 and abs(value - v0) / ((t - t0) / 1e9) > MAX_PER_SECOND:
                reasons.append("rate")
            if "range" in reasons:
                continue  # BAD: dead-lettered, not aggregated
            last[key] = (t, value)
            start = t - t % WINDOW_NS
            acc = windows.get((key[0], key[1], start))
            if acc is None:
                windows[(key[0], key[1], start)] = [1, value, value, value]
            else:
                acc[0] += 1
                acc[1] = min(acc[1], value)
                acc[2] = max(acc[2], value)
                acc[3] += value


def measure(fn: Callable[[int], None], batch_size: int) -> float:
    start = time.perf_counter()
    fn(batch_size)
    return vr._SETTINGS["count"] / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=1_000_000, help="envelopes per run")
    parser.add_argument("--series", type=int, default=1000, help="series (asset, parameter)")
    parser.add_argument("--batch-size", type=int, default=1000, help="envelopes per batch")
    args = parser.parse_args(argv)

    load_builtins()
    vr._SETTINGS.update(count=args.count, series=args.series)
    rounds = args.count // args.series + 1
    base = 1_714_564_800 * 1_000_000_000
    # every series reads every 10 ms: 100 readings per series per 1 s window
    vr._TIMES[:] = [format_nanos(base + r * 10_000_000 + 123_456) for r in range(rounds)]
    vr._ASSETS[:] = [f"asset-{n:04d}" for n in range(args.series)]
    streamforge = measure(run_stream, args.batch_size)
    baseline = measure(run_baseline, args.batch_size)
    print(f"envelopes: {args.count}  series: {args.series}  batch_size: {args.batch_size}")
    print("validate (schema + range + rate_of_change + duplicate) -> window (1 s tumbling) -> drop")
    print(f"  streamforge (compiled, 1 worker): {streamforge:12,.0f} msg/s")
    print(f"  jsonschema + dict loop:           {baseline:12,.0f} msg/s")
    ratio = streamforge / baseline
    print(f"ratio streamforge / baseline: {ratio:.2f}   (target: >= 100,000 msg/s)")


if __name__ == "__main__":
    main()
