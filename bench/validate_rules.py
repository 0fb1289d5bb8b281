"""Validate throughput: telemetry envelopes through `validate` (schema + range + rate_of_change).

In one process, over the same generated envelopes (`--series` series, device times advancing
one second per round, about 1% of values out of range and some changing too fast):

* validate: envelope input -> `validate` -> `drop`, compiled by `streamforge.engine.dataflow`
  and run by Bytewax (one worker). rate_of_change makes it keyed, so it runs as a stateful step.
* noop: the same stream with `noop` instead of `validate` (what the dataflow costs anyway).
* direct loop: the same checks by hand in a Python loop, with jsonschema's validator and a
  dict of last values per series, no dataflow (context).

Prints each throughput and the ratios validate / noop and validate / direct loop.

    python bench/validate_rules.py [--count 1000000] [--series 1000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bytewax.testing import run_main
from jsonschema import Draft202012Validator

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.plugin import Field, Input, InputReader, load_builtins, register_input
from streamforge.timefmt.timestamps import canonical_nanos, format_nanos

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["asset_id", "parameter", "value", "quality", "timestamps"],
    "properties": {
        "asset_id": {"type": "string", "minLength": 1},
        "parameter": {"type": "string", "minLength": 1},
        "value": {"type": ["number", "null"]},
        "quality": {"enum": ["GOOD", "SUSPECT", "UNCERTAIN", "BAD"]},
        "timestamps": {"type": "object", "required": ["device_time"]},
    },
}
LOW, HIGH, MAX_PER_SECOND = 0.0, 100.0, 5.0
RULES = [
    {
        "parameter": "*",
        "range": {"min": LOW, "max": HIGH},
        "rate_of_change": {"max_per_second": MAX_PER_SECOND},
    }
]

_SETTINGS: dict[str, int] = {"count": 0, "series": 1000}
_TIMES: list[str] = []
_ASSETS: list[str] = []
_META = {"adapter_id": "bench"}


def envelope(i: int) -> dict[str, Any]:
    """The i-th envelope: series i % series, one second of device time per round."""
    series = _SETTINGS["series"]
    n, step = i % series, i // series
    value = 50.0 + (step % 7) * 0.5 + (n % 10)
    if i % 97 == 0:
        value = 150.0  # out of range
    elif i % 89 == 0:
        value += 20.0  # too fast
    stamp = _TIMES[step]
    return {
        "asset_id": _ASSETS[n],
        "parameter": "temperature",
        "value": value,
        "unit": "degC",
        "quality": "GOOD",
        "classification": "TELEMETRY",
        "timestamps": {"device_time": stamp, "gateway_time": stamp},
        "clock_skew_ms": 0,
        "metadata": _META,
    }


class _EnvelopeReader(InputReader):
    def __init__(self, batch_size: int, start: int) -> None:
        self.batch_size = batch_size
        self.pos = start

    def read(self) -> list[Message] | None:
        pos, count = self.pos, _SETTINGS["count"]
        if pos >= count:
            return None
        end = min(pos + self.batch_size, count)
        self.pos = end
        return [Message.from_value(envelope(i)) for i in range(pos, end)]

    def snapshot(self) -> int:
        return self.pos


@register_input("bench_envelopes", fields=[Field("batch_size", "int", default=1000)])
class EnvelopeInput(Input):
    """Generated telemetry envelopes, `batch_size` per batch."""

    def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
        self.batch_size = int(conf["batch_size"])

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _EnvelopeReader(self.batch_size, int(resume_state or 0))


def run_stream(processor: str, conf: Any, batch_size: int) -> None:
    loc = Location("bench", 1, 1)
    stream = StreamConfig(
        name=f"bench_{processor}",
        path=Path("bench.yaml"),
        input=ComponentConfig("input", "bench_envelopes", {"batch_size": batch_size}, "input", loc),
        processors=[ComponentConfig("processor", processor, conf, "pipeline.processors.0", loc)],
        output=ComponentConfig("output", "drop", {}, "output", loc),
    )
    compiled = compile_streams([stream])
    run_main(compiled.flow)
    compiled.close()


def run_direct_loop(batch_size: int) -> None:
    """The same checks by hand: jsonschema, range, rate per series, quality into a new dict."""
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    last: dict[tuple[str, str], tuple[int, float]] = {}
    count = _SETTINGS["count"]
    for pos in range(0, count, batch_size):
        batch = [Message.from_value(envelope(i)) for i in range(pos, min(pos + batch_size, count))]
        for msg in batch:
            doc = msg.value
            reasons = [e.message for e in validator.iter_errors(doc)]
            value = doc["value"]
            if not LOW <= value <= HIGH:
                reasons.append("range")
            key = (doc["asset_id"], doc["parameter"])
            t = canonical_nanos(doc["timestamps"]["device_time"]) or 0
            prev = last.get(key)
            t0, v0 = prev if prev is not None else (t, value)
            if t > t0 and abs(value - v0) / ((t - t0) / 1e9) > MAX_PER_SECOND:
                reasons.append("rate")
            if not reasons or reasons[-1] != "range":
                last[key] = (t, value)
            if reasons:
                msg.set_value({**doc, "quality": "BAD", "metadata": {"reasons": reasons}})


def measure(fn: Callable[..., None], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return _SETTINGS["count"] / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=1_000_000, help="envelopes per run")
    parser.add_argument("--series", type=int, default=1000, help="series (asset, parameter)")
    parser.add_argument("--batch-size", type=int, default=1000, help="envelopes per batch")
    args = parser.parse_args(argv)

    load_builtins()
    _SETTINGS.update(count=args.count, series=args.series)
    rounds = args.count // args.series + 1
    base = 1_714_564_800 * 1_000_000_000
    _TIMES[:] = [format_nanos(base + r * 1_000_000_000 + 123_456_789) for r in range(rounds)]
    _ASSETS[:] = [f"asset-{n:04d}" for n in range(args.series)]
    conf = {"schema": SCHEMA, "rules": RULES}
    rates = {
        "validate": measure(run_stream, "validate", conf, args.batch_size),
        "noop": measure(run_stream, "noop", {}, args.batch_size),
        "direct_loop": measure(run_direct_loop, args.batch_size),
    }
    print(f"envelopes: {args.count}  series: {args.series}  batch_size: {args.batch_size}")
    print("validate: schema (5 keywords) + range + rate_of_change, keyed by asset and parameter")
    for name, rate in rates.items():
        print(f"{name:>12}: {rate:12,.0f} msg/s")
    v = rates["validate"]
    print(f"ratio validate / noop:        {v / rates['noop']:.2f}")
    print(f"ratio validate / direct_loop: {v / rates['direct_loop']:.2f}")


if __name__ == "__main__":
    main()
