"""Core throughput: structured messages through a three-assignment mapping into `drop`.

Runs over the same prebuilt rows `{id, x, y, s}` (and messages made from them), in one
process:

* StreamForge: a generate-like input -> `mapping` processor -> `drop`, compiled by
  `streamforge.engine.dataflow` and run by Bytewax (one worker).
* plain loop: a Python `for` loop doing the same work by hand: each prebuilt message's
  document mapped by a hand-written function into a new message, then dropped.
* naive Bytewax: single dicts, one per source poll, through one `op.map` per message doing
  the mapping in plain Python, then an output -- one operator per processor per message.

Prints throughputs and the two ratios: StreamForge / plain loop (target >= 0.5) and
StreamForge / naive Bytewax (target >= 2). For context it also prints the `mapping` processor
in a loop without a dataflow (the runtime's own overhead), a hand-written loop over bare dicts
(no messages at all) and the naive dataflow with a source that hands Bytewax 1000 dicts per
poll.

    python bench/core_throughput.py [--count 1000000] [--batch-size 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bytewax.operators as op
from _prebuilt import register_prebuilt_input
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSource, run_main

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.plugin import (
    load_builtins,
    registry,
)

MAPPING = "root.a = this.x\nroot.b = this.y * 2\nroot.c = this.s.uppercase()"

ROWS: list[dict[str, Any]] = []
#: ROWS as structured messages, prebuilt once (the mapping never changes its input)
MESSAGES: list[Message] = []


def make_rows(count: int) -> list[dict[str, Any]]:
    """The benchmark documents, built once and shared by every run."""
    words = ["pump", "valve", "motor", "sensor", "boiler", "fan", "press", "drum"]
    return [
        {"id": i, "x": i * 0.5, "y": i % 1000, "s": words[i % len(words)]} for i in range(count)
    ]


# -- generate-like input over the prebuilt rows ----------------------------------------------


register_prebuilt_input("bench_rows", MESSAGES)


def _python_mapping(doc: dict[str, Any]) -> dict[str, Any]:
    return {"a": doc["x"], "b": doc["y"] * 2, "c": doc["s"].upper()}


# -- the three contenders -----------------------------------------------------------------------


def run_streamforge(batch_size: int) -> None:
    loc = Location("bench", 1, 1)
    stream = StreamConfig(
        name="bench",
        path=Path("bench.yaml"),
        input=ComponentConfig("input", "bench_rows", {"batch_size": batch_size}, "input", loc),
        processors=[ComponentConfig("processor", "mapping", MAPPING, "pipeline.processors.0", loc)],
        output=ComponentConfig("output", "drop", {}, "output", loc),
    )
    compiled = compile_streams([stream])
    run_main(compiled.flow)
    compiled.close()


def run_plain_loop() -> None:
    """The same work by hand: each message's document mapped in Python into a new message."""
    mapping = _python_mapping
    out = None
    for msg in MESSAGES:
        out = Message.from_value(mapping(msg.value), dict(msg.metadata))
    del out


def run_processor_loop(batch_size: int) -> None:
    """The same `mapping` processor in a `for` loop, without a dataflow around it."""
    spec = registry.get("processor", "mapping")
    assert spec is not None
    proc = spec.factory(MAPPING, None)
    dropped = 0
    for pos in range(0, len(MESSAGES), batch_size):
        dropped += len(proc.process_batch(MESSAGES[pos : pos + batch_size]))


class _DropPartition(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        pass


class _DropSink(DynamicSink[Any]):
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DropPartition:
        return _DropPartition()


def run_naive_bytewax(source_batch: int) -> None:
    flow = Dataflow("naive")
    docs = op.input("input", flow, TestingSource(ROWS, batch_size=source_batch))
    mapped = op.map("mapping", docs, _python_mapping)
    op.output("drop", mapped, _DropSink())
    run_main(flow)


def run_dict_loop() -> None:
    mapping = _python_mapping
    out = None
    for row in ROWS:
        out = mapping(row)
    del out


def measure(fn: Callable[..., None], repeat: int, *args: Any) -> float:
    """Best throughput (messages/second) of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return len(ROWS) / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=1_000_000, help="messages per run")
    parser.add_argument("--batch-size", type=int, default=1000, help="messages per batch")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best wins")
    args = parser.parse_args(argv)

    load_builtins()
    ROWS[:] = make_rows(args.count)
    MESSAGES[:] = [Message.from_value(row) for row in ROWS]
    rates = {
        "streamforge": measure(run_streamforge, args.repeat, args.batch_size),
        "plain_loop": measure(run_plain_loop, args.repeat),
        "processor_loop": measure(run_processor_loop, args.repeat, args.batch_size),
        "naive_bytewax": measure(run_naive_bytewax, args.repeat, 1),
        "naive_bytewax_batched_source": measure(run_naive_bytewax, args.repeat, 1000),
        "dict_loop": measure(run_dict_loop, args.repeat),
    }
    sf = rates["streamforge"]
    print(f"messages: {args.count}  batch_size: {args.batch_size}")
    for name, rate in rates.items():
        print(f"{name:>29}: {rate:12,.0f} msg/s")
    print(f"ratio streamforge / plain_loop:    {sf / rates['plain_loop']:.2f}  (target >= 0.5)")
    print(f"ratio streamforge / naive_bytewax: {sf / rates['naive_bytewax']:.2f}  (target >= 2)")
    print(
        "context: streamforge / processor_loop "
        f"{sf / rates['processor_loop']:.2f}, streamforge / naive_bytewax_batched_source "
        f"{sf / rates['naive_bytewax_batched_source']:.2f}, "
        f"streamforge / dict_loop {sf / rates['dict_loop']:.2f}"
    )


if __name__ == "__main__":
    main()
