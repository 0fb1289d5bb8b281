"""Window aggregation: telemetry envelopes through a 1 s tumbling `window` on event time.

Runs over the same prebuilt envelopes (100 series, one reading per series every 10 ms of
device time, so 100 s of event time), in one process:

* StreamForge: an input over the prebuilt messages -> `window` (1 s tumbling on
  `this.timestamps.device_time`, count/avg/min/max) -> an output counting the aggregates,
  compiled by `streamforge.engine.dataflow` and run by Bytewax (one worker).
* dict loop: a hand-written Python loop over the same messages: the series key from the
  envelope, the device time parsed (with the same parser and the same one-string cache), a
  dict of [count, sum, min, max] accumulators per (series, window), windows emitted as
  aggregate dicts once the latest device time has passed their end.

Prints messages/s of both and their ratio, and checks both produced the same aggregates.

    python bench/window_aggregate.py [--count 1000000] [--series 100] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _prebuilt import register_prebuilt_input
from bytewax.testing import run_main

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.observability.metrics import REGISTRY
from streamforge.plugin import (
    Output,
    load_builtins,
    register_output,
)
from streamforge.timefmt.timestamps import canonical_nanos, format_nanos

START_NS = 1_714_564_800 * 10**9  # 2024-05-01T12:00:00Z
STEP_NS = 10_000_000  # each series reads every 10 ms
WINDOW_NS = 1_000_000_000

#: the benchmark envelopes, built once and shared by both contenders
MESSAGES: list[Message] = []
#: aggregates the StreamForge run wrote: (series, window start) -> (count, avg, min, max)
WRITTEN: dict[tuple[str, str], tuple[Any, ...]] = {}


def make_messages(count: int, series: int) -> list[Message]:
    """Envelopes in device-time order, every series once per 10 ms step."""
    out = []
    for i in range(count):
        step, s = divmod(i, series)
        doc = {
            "asset_id": f"asset-{s // 4:03d}",
            "parameter": ("temperature", "pressure", "vibration", "power")[s % 4],
            "value": ((i * 7919) % 1000) / 10.0,
            "unit": "degC",
            "quality": "GOOD",
            "classification": "TELEMETRY",
            "timestamps": {"device_time": format_nanos(START_NS + step * STEP_NS)},
        }
        out.append(Message.from_value(doc))
    return out


register_prebuilt_input("bench_envelopes", MESSAGES)


@register_output("bench_aggregates")
class AggregatesOutput(Output):
    """Keeps each aggregate's figures in WRITTEN."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        pass

    def write_batch(self, batch: list[Message]) -> list[Message]:
        for msg in batch:
            doc = msg.value
            a = doc["aggregates"]
            key = (f"{doc['asset_id']}/{doc['parameter']}", doc["window_start"])
            WRITTEN[key] = (a["count"], a["avg"], a["min"], a["max"])
        return []


def run_streamforge(batch_size: int) -> dict[tuple[str, str], tuple[Any, ...]]:
    loc = Location("bench", 1, 1)
    window = {
        "type": "tumbling",
        "size": "1s",
        "timestamp": "this.timestamps.device_time",
        "aggregates": ["count", "avg", "min", "max"],
    }
    stream = StreamConfig(
        name="bench_window",
        path=Path("bench.yaml"),
        input=ComponentConfig("input", "bench_envelopes", {"batch_size": batch_size}, "input", loc),
        processors=[ComponentConfig("processor", "window", window, "pipeline.processors.0", loc)],
        output=ComponentConfig("output", "bench_aggregates", {}, "output", loc),
    )
    WRITTEN.clear()
    compiled = compile_streams([stream])
    run_main(compiled.flow)
    compiled.close()
    return dict(WRITTEN)


def run_dict_loop() -> dict[tuple[str, str], tuple[Any, ...]]:
    """The same aggregation by hand over the same messages."""
    open_windows: dict[tuple[str, int], list[Any]] = {}
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    latest = -1
    last_text, last_ns = None, 0
    for msg in MESSAGES:
        doc = msg.value
        text = doc["timestamps"]["device_time"]
        if text != last_text:
            last_text, last_ns = text, canonical_nanos(text) or 0
            if last_ns > latest:
                latest = last_ns
                for key in [k for k in open_windows if (k[1] + 1) * WINDOW_NS <= latest]:
                    c, s, lo, hi = open_windows.pop(key)
                    out[(key[0], format_nanos(key[1] * WINDOW_NS))] = (c, s / c, lo, hi)
        x = doc["value"]
        key = (f"{doc['asset_id']}/{doc['parameter']}", last_ns // WINDOW_NS)
        acc = open_windows.get(key)
        if acc is None:
            open_windows[key] = [1, x, x, x]
        else:
            acc[0] += 1
            acc[1] += x
            if x < acc[2]:
                acc[2] = x
            elif x > acc[3]:
                acc[3] = x
    for (series, w), (c, s, lo, hi) in open_windows.items():
        out[(series, format_nanos(w * WINDOW_NS))] = (c, s / c, lo, hi)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=1_000_000, help="envelopes per run")
    parser.add_argument("--series", type=int, default=100, help="series (keys)")
    parser.add_argument("--batch-size", type=int, default=1000, help="messages per batch")
    args = parser.parse_args(argv)

    load_builtins()
    MESSAGES[:] = make_messages(args.count, args.series)

    start = time.perf_counter()
    streamforge = run_streamforge(args.batch_size)
    sf_rate = args.count / (time.perf_counter() - start)

    start = time.perf_counter()
    baseline = run_dict_loop()
    loop_rate = args.count / (time.perf_counter() - start)

    late = REGISTRY.get_sample_value(
        "streamforge_window_late_total",
        {"stream": "bench_window", "component": "pipeline.processors.0"},
    )
    same = streamforge.keys() == baseline.keys() and all(
        streamforge[k][0] == baseline[k][0]
        and streamforge[k][2:] == baseline[k][2:]
        and abs(streamforge[k][1] - baseline[k][1]) <= 1e-9 * max(1.0, abs(baseline[k][1]))
        for k in baseline
    )
    print(
        f"envelopes: {args.count}  series: {args.series}  batch_size: {args.batch_size}  "
        f"windows: {len(baseline)}  late: {int(late or 0)}  same aggregates: {same}"
    )
    print(f"  streamforge window (compiled, 1 worker): {sf_rate:12,.0f} msg/s")
    print(f"  dict-of-accumulators loop:               {loop_rate:12,.0f} msg/s")
    print(f"ratio streamforge / dict loop: {sf_rate / loop_rate:.2f}")


if __name__ == "__main__":
    main()
