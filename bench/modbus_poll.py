"""Modbus polling: 10 simulated devices x 50 FLOAT32 tags at 10 Hz on one Bytewax worker.

Starts `streamforge.simulators.modbus.ModbusSimulator` (10 slaves, 50 tags each, values
changing every 100 ms) in a process of its own, then runs, one after the other in this process
(compiled by `streamforge.engine.dataflow`, run by Bytewax on one worker, `modbus` input -> `drop`):

* coalesced: the `modbus` input as it is; the 50 adjacent tags of a device are one request.
* baseline: the same input with its planner replaced by one request per tag (50 per poll),
  what a poller without coalescing sends.

Each phase warms up, then measures for `--seconds`: sustained readings per second (messages
the input emitted), the fraction of the poll period one poll of a device takes (mean poll
time / period, from `streamforge_modbus_poll_seconds`), requests per poll (per device and for
all devices) and this process's CPU use. Prints both and the ratios coalesced / baseline.

    python bench/modbus_poll.py [--seconds 10] [--devices 10] [--tags 50] [--rate 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamforge.config import load_stream
from streamforge.engine.dataflow import compile_streams
from streamforge.inputs.modbus import device as _modbus_device
from streamforge.inputs.modbus.plan import ReadRequest
from streamforge.observability.metrics import REGISTRY
from streamforge.runtime.http import Readiness
from streamforge.runtime.run import RunOptions, run_compiled

WARMUP = 2.0
INPUT_LABEL = "modbus_in"

_SIMULATOR = """
import sys
from streamforge.simulators.modbus import ModbusSimulator
sim = ModbusSimulator(port=0, devices={devices}, tags_per_device={tags}, interval=0.1, seed=1)
sim.start()
print(sim.port, flush=True)
sys.stdin.read()
sim.stop()
"""


@contextmanager
def simulator(devices: int, tags: int) -> Iterator[int]:
    """The simulator in its own process (so its CPU is not ours); yields its port."""
    code = _SIMULATOR.format(devices=devices, tags=tags)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise RuntimeError("the Modbus simulator did not start")
        yield int(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Figures:
    readings_per_s: float
    poll_fraction: float
    requests_per_poll: float
    polls_per_s: float
    cpu: float


def _sample(name: str, stream: str, component: str = INPUT_LABEL) -> float:
    """Sum of a metric over the input's series in one stream (one per device for some)."""
    total = 0.0
    for metric in REGISTRY.collect():
        for s in metric.samples:
            labels = s.labels
            if s.name == name and (labels.get("stream"), labels.get("component")) == (
                stream,
                component,
            ):
                total += s.value
    return total


def _snapshot(stream: str) -> dict[str, float]:
    return {
        "readings": _sample("streamforge_received_total", stream),
        "requests": _sample("streamforge_modbus_requests_total", stream),
        "polls": _sample("streamforge_modbus_poll_seconds_count", stream),
        "poll_seconds": _sample("streamforge_modbus_poll_seconds_sum", stream),
        "cpu": time.process_time(),
        "wall": time.monotonic(),
    }


def _config(path: Path, port: int, devices: int, tags: int, period_ms: int) -> Path:
    addresses = "\n".join(
        f"      - {{ name: tag{i + 1:04d}, address: {2 * i}, type: FLOAT32 }}" for i in range(tags)
    )
    path.write_text(
        textwrap.dedent(
            f"""
            http: {{ enabled: false }}
            input:
              label: {INPUT_LABEL}
              modbus:
                controller: tcp://127.0.0.1:{port}
                slaveIDs: {list(range(1, devices + 1))}
                timeBetweenReads: {period_ms}ms
                timeout: 1s
                addresses:
            """
        ).lstrip()
        + textwrap.indent(addresses, "    ")
        + "\noutput:\n  drop: {}\n"
    )
    return path


def _one_request_per_tag(tags: Any) -> list[ReadRequest]:
    """The baseline's planner: every tag read on its own."""
    return [ReadRequest.of([t]) for t in tags]


def run_phase(
    name: str, config: Path, seconds: float, period: float, planner: Callable[..., Any] | None
) -> Figures:
    """Run the stream for warm-up + `seconds` on one worker; measure the window."""
    original = _modbus_device.plan_requests
    if planner is not None:
        _modbus_device.plan_requests = planner  # type: ignore[assignment]
    try:
        stream = load_stream(config, name=name)
        stop = threading.Event()
        compiled = compile_streams([stream], stop=stop)
        marks: list[dict[str, float]] = []

        def measure() -> None:
            time.sleep(WARMUP)
            marks.append(_snapshot(name))
            time.sleep(seconds)
            marks.append(_snapshot(name))
            stop.set()

        timer = threading.Thread(target=measure, daemon=True)
        timer.start()
        try:
            run_compiled(
                compiled,
                RunOptions(workers=1, http=False, configure_logging=False),
                stop,
                Readiness(),
            )
        finally:
            compiled.close()
        timer.join()
    finally:
        _modbus_device.plan_requests = original  # type: ignore[assignment]
    start, end = marks
    wall = end["wall"] - start["wall"]
    polls = end["polls"] - start["polls"]
    return Figures(
        readings_per_s=(end["readings"] - start["readings"]) / wall,
        poll_fraction=(end["poll_seconds"] - start["poll_seconds"]) / polls / period,
        requests_per_poll=(end["requests"] - start["requests"]) / polls,
        polls_per_s=polls / wall,
        cpu=(end["cpu"] - start["cpu"]) / wall,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="polls per second per device")
    args = parser.parse_args()
    period = 1.0 / args.rate
    expected = args.devices * args.tags * args.rate
    with simulator(args.devices, args.tags) as port, tempfile.TemporaryDirectory() as tmp:
        config = _config(
            Path(tmp) / "modbus.yaml", port, args.devices, args.tags, int(period * 1000)
        )
        print(
            f"modbus poll: {args.devices} devices x {args.tags} FLOAT32 tags at {args.rate:g} Hz, "
            f"one worker, {args.seconds:g}s measured after {WARMUP:g}s warm-up "
            f"(simulator in its own process on 127.0.0.1:{port})"
        )
        print(f"offered: {expected:,.0f} readings/s, {args.devices * args.rate:g} polls/s\n")
        phases = {
            "coalesced": run_phase("coalesced", config, args.seconds, period, None),
            "baseline (1 request/tag)": run_phase(
                "per_tag", config, args.seconds, period, _one_request_per_tag
            ),
        }
    header = (
        f"{'phase':<26}{'readings/s':>12}{'polls/s':>10}{'req/poll/dev':>14}"
        f"{'req/poll all':>14}{'poll time/period':>18}{'CPU':>8}"
    )
    print(header)
    for label, f in phases.items():
        print(
            f"{label:<26}{f.readings_per_s:>12,.0f}{f.polls_per_s:>10.1f}"
            f"{f.requests_per_poll:>14.1f}{f.requests_per_poll * args.devices:>14.0f}"
            f"{f.poll_fraction:>17.1%}{f.cpu:>8.0%}"
        )
    co, base = phases["coalesced"], phases["baseline (1 request/tag)"]
    print(
        f"\nratios coalesced / baseline: readings/s {co.readings_per_s / base.readings_per_s:.2f}, "
        f"requests per poll {co.requests_per_poll / base.requests_per_poll:.3f} "
        f"({base.requests_per_poll / co.requests_per_poll:.0f}x fewer), "
        f"poll time {co.poll_fraction / base.poll_fraction:.2f}, CPU {co.cpu / base.cpu:.2f}"
    )
    print(f"coalesced sustains {co.readings_per_s / expected:.1%} of the offered readings")


if __name__ == "__main__":
    main()
