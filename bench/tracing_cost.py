"""What `tracer: open_telemetry_collector` costs a stream, per message.

The same stream -- a generate-like input over prebuilt messages -> two `mapping` processors ->
`drop`, compiled and run by Bytewax (one worker) -- runs with:

* `tracer: none` (the baseline; no tracing object exists),
* the tracer on with `sampling.ratio: 0` (every trace sampled out: the decision per batch),
* the tracer on, every trace kept, exporting over OTLP/HTTP to a collector in a process of
  its own (a stdlib server answering 200 to each export),

at one message per batch (the MQTT case) and at 100 per batch. It prints µs per message and
the ratio of each to the baseline. Spans are per batch, so the cost per message falls with the
batch size.

    python bench/tracing_cost.py [--count 100000] [--batch-sizes 1,100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from _peers import free_port
from _prebuilt import register_prebuilt_input
from bytewax.testing import run_main
from peers.ports import wait_listening

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.plugin import load_builtins

MESSAGES: list[Message] = []
register_prebuilt_input("bench_rows", MESSAGES)

#: a collector that takes every export and answers 200 (protobuf body left unread but drained)
COLLECTOR = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


def _stream(batch_size: int, tracer: dict[str, Any]) -> StreamConfig:
    loc = Location("bench", 1, 1)
    procs = [
        ComponentConfig(
            "processor", "mapping", "root = this\nroot.b = this.y * 2", f"pipeline.processors.{i}",
            loc, label=f"step_{i}",
        )
        for i in range(2)
    ]  # fmt: skip
    return StreamConfig(
        name="bench",
        path=Path("bench.yaml"),
        input=ComponentConfig("input", "bench_rows", {"batch_size": batch_size}, "input", loc),
        processors=procs,
        output=ComponentConfig("output", "drop", {}, "output", loc),
        tracer=tracer,
    )


def _tracer(address: str, ratio: float | None) -> dict[str, Any]:
    sampling = {"enabled": ratio is not None, "ratio": ratio}
    conf = {"service": "bench", "http": [{"address": address}], "grpc": [], "tags": {}}
    return {"type": "open_telemetry_collector", "conf": {**conf, "sampling": sampling}}


def run(batch_size: int, tracer: dict[str, Any]) -> float:
    """Seconds one run took, the exporters' final flush included."""
    start = time.perf_counter()
    compiled = compile_streams([_stream(batch_size, tracer)])
    run_main(compiled.flow)
    compiled.close()
    return time.perf_counter() - start


def best(repeat: int, batch_size: int, tracer: dict[str, Any]) -> float:
    """µs per message, the best of `repeat` runs."""
    return min(run(batch_size, tracer) for _ in range(repeat)) / len(MESSAGES) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch-sizes", default="1,100")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load_builtins()
    MESSAGES.extend(Message.from_value({"id": i, "y": i % 1000}, {}) for i in range(args.count))
    port = free_port()
    collector = subprocess.Popen([sys.executable, "-c", COLLECTOR, str(port)])
    try:
        wait_listening(port)
        address = f"127.0.0.1:{port}"
        print(f"{args.count:,} messages, input -> 2 x mapping -> drop, one worker")
        print(f"{'batch':>6} {'tracer':<26} {'µs/msg':>8} {'vs none':>8}")
        for size in (int(s) for s in args.batch_sizes.split(",")):
            base = best(args.repeat, size, {"type": "none", "conf": {}})
            print(f"{size:>6} {'none':<26} {base:8.2f} {1.0:8.2f}")
            for what, ratio in (("on, sampled out (ratio 0)", 0.0), ("on, every trace kept", None)):
                cost = best(args.repeat, size, _tracer(address, ratio))
                print(f"{size:>6} {what:<26} {cost:8.2f} {cost / base:8.2f}")
    finally:
        collector.terminate()
        collector.wait()


if __name__ == "__main__":
    main()
