"""OPC UA subscription: 1,000 nodes changing at 10 Hz, delivered rate and source-to-output latency.

The OPC UA simulator in its own process (`streamforge simulate opcua --nodes N`) writes every
node each tick with the tick's time as source timestamp. Two phases, one after the other, on
that server:

* baseline: a plain asyncua client in this process, one subscription with a handler
  (`datachange_notification`), counting notifications and their latency on arrival.
* StreamForge: `streamforge run` with the `opcua` input (subscribeEnabled, same sampling and
  publishing interval) -> a mapping stamping `now()` -> a file; latency = that stamp minus
  `opcua_source_timestamp`, i.e. up to the moment the message reaches the output.

Prints messages per second delivered (values written in the window that arrived), p50/p99
latency for both, and the ratios StreamForge / baseline.

    python bench/opcua_subscribe.py [--nodes 1000] [--hz 10] [--seconds 10] [--sampling-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

WARMUP = 3.0


_URL_LINE = re.compile(r"at (opc\.tcp://\S+) \(browse (\S+)\)")


def start_server(nodes: int, hz: float) -> tuple[str, str, subprocess.Popen[str]]:
    """`streamforge simulate opcua` in its own process: (endpoint, folder node id, process)."""
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamforge", "simulate", "opcua", "--port", "0",
            "--nodes", str(nodes), "--interval", f"{1000.0 / hz:g}ms",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = _URL_LINE.search(first)
    if match is None:
        proc.kill()
        raise RuntimeError(f"the OPC UA simulator did not start: {first}{proc.stdout.read()}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain the node list
    return match.group(1), match.group(2), proc


# -- measurement ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def summarise(latencies_ms: list[float], seconds: float) -> dict[str, float]:
    return {
        "rate": len(latencies_ms) / seconds,
        "p50": percentile(latencies_ms, 0.5),
        "p99": percentile(latencies_ms, 0.99),
    }


async def _baseline(endpoint: str, folder: str, sampling_ms: float, seconds: float) -> list[float]:
    from asyncua import Client, ua

    lat: list[float] = []
    start = end = 0.0

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            src = data.monitored_item.Value.SourceTimestamp
            now = time.time()
            t = src.timestamp()
            if start <= t < end:
                lat.append((now - t) * 1000.0)

    async with Client(endpoint, timeout=30) as client:
        refs = await client.get_node(folder).get_children()
        sub = await client.create_subscription(sampling_ms, Handler())
        for i in range(0, len(refs), 1000):
            await sub.subscribe_data_change(
                refs[i : i + 1000], sampling_interval=ua.Double(sampling_ms)
            )
        start = time.time() + WARMUP
        end = start + seconds
        await asyncio.sleep(WARMUP + seconds + 1.0)
        await sub.delete()
    return lat


def baseline(endpoint: str, folder: str, sampling_ms: float, seconds: float) -> dict[str, float]:
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    return summarise(asyncio.run(_baseline(endpoint, folder, sampling_ms, seconds)), seconds)


def _parse_ts(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC timestamp with up to 9 fraction digits."""
    main, _, frac = text.rstrip("Z").partition(".")
    base = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return base.timestamp() + (float(f"0.{frac}") if frac else 0.0)


def streamforge(
    endpoint: str, folder: str, sampling_ms: float, seconds: float, workdir: Path
) -> tuple[dict[str, float], str]:
    out = workdir / "out.jsonl"
    config = workdir / "opcua_subscribe.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            input:
              opcua:
                endpoint: {endpoint}
                nodeIDs: [ "{folder}" ]
                subscribeEnabled: true
                samplingInterval: {sampling_ms:g}ms
                certificateDir: {workdir / "pki"}
            pipeline:
              processors:
                - mapping: |
                    root.s = @opcua_source_timestamp
                    root.t = now()
            output:
              file: {{ path: "{out}", codec: lines }}
            http: {{ enabled: false }}
            """
        ).lstrip()
    )
    log = open(workdir / "run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamforge", "run", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "run.log").read_text()[-2000:])
            time.sleep(0.1)
        start = time.time() + WARMUP
        end = start + seconds
        time.sleep(max(end - time.time(), 0) + 1.5)
    finally:
        proc.send_signal(signal.SIGINT if os.name == "nt" else signal.SIGTERM)
        proc.wait(30)
        log.close()
    lat: list[float] = []
    with out.open() as fh:
        for line in fh:
            doc = json.loads(line)
            s = _parse_ts(doc["s"])
            if start <= s < end:
                lat.append((_parse_ts(doc["t"]) - s) * 1000.0)
    return summarise(lat, seconds), config.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sampling-ms", type=float, default=100.0)
    args = parser.parse_args()

    endpoint, folder, server = start_server(args.nodes, args.hz)
    offered = args.nodes * args.hz
    print(
        f"server: {args.nodes} Double nodes under {folder} written at {args.hz:g} Hz "
        f"(offered {offered:,.0f} changes/s) on {endpoint}"
    )
    print(f"subscription: sampling and publishing interval {args.sampling_ms:g} ms, queue size 1")
    print(f"window: {args.seconds:g} s after {WARMUP:g} s warm-up, per phase\n")
    try:
        base = baseline(endpoint, folder, args.sampling_ms, args.seconds)
        with tempfile.TemporaryDirectory(prefix="sf-opcua-bench-") as tmp:
            sf, config = streamforge(endpoint, folder, args.sampling_ms, args.seconds, Path(tmp))
    finally:
        server.terminate()
        server.wait(10)
    print("\nstream config:\n" + textwrap.indent(config, "    "))
    print(f"{'':28}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in (("asyncua client (baseline)", base), ("StreamForge opcua input", sf)):
        print(f"{name:28}{r['rate']:>10,.0f}{r['p50']:>10.1f}{r['p99']:>10.1f}")
    print(
        f"\nratio StreamForge / baseline: throughput {sf['rate'] / base['rate']:.2f}, "
        f"p99 latency {sf['p99'] / base['p99']:.2f}"
    )


if __name__ == "__main__":
    main()
