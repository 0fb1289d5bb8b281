"""OPC UA subscription: 1,000 nodes changing at 10 Hz, delivered rate and source-to-output latency.

An asyncua server in its own process (`streamforge.simulators.opcua.OpcuaSimulator` with
`nodes=N` when that module exists, else the small server below) writes every node each tick
with the tick's time as source timestamp. Two phases, one after the other, on that server:

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
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

NS_URI = "urn:streamforge:bench"
WARMUP = 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"no OPC UA server on port {port}")


# -- the server (own process) ---------------------------------------------------------------------


def _serve(port: int, nodes: int, hz: float, written: Any) -> None:
    """A server with `nodes` Double variables under one folder, all written `hz` times a second."""
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    from asyncua import Server, ua

    async def main() -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench/")
        idx = await server.register_namespace(NS_URI)
        folder = await server.nodes.objects.add_folder(
            ua.NodeId.from_string(f"ns={idx};s=Bench"), ua.QualifiedName("Bench", idx)
        )
        ids = []
        for i in range(nodes):
            var = await folder.add_variable(
                ua.NodeId.from_string(f"ns={idx};s=Bench.T{i}"), ua.QualifiedName(f"T{i}", idx), 0.0
            )
            ids.append(var.nodeid)
        await server.start()
        period, tick = 1.0 / hz, 0
        due = time.monotonic()
        while True:
            tick += 1
            now: Any = datetime.now(timezone.utc)
            for i, nodeid in enumerate(ids):
                dv = ua.DataValue(
                    ua.Variant(tick + i / 1000.0, ua.VariantType.Double),
                    SourceTimestamp=now,
                    ServerTimestamp=now,
                )
                await server.write_attribute_value(nodeid, dv)
            written.value += len(ids)
            due += period
            await asyncio.sleep(max(due - time.monotonic(), 0))

    asyncio.run(main())


def start_server(nodes: int, hz: float) -> tuple[str, str, Any, Any]:
    """(endpoint, folder node id, process or simulator, shared write counter)."""
    try:
        from streamforge.simulators.opcua import OpcuaSimulator  # type: ignore[import-not-found]
    except ImportError:
        OpcuaSimulator = None  # noqa: N806
    if OpcuaSimulator is not None:
        sim = OpcuaSimulator(nodes=nodes, interval=1.0 / hz)
        sim.start()
        endpoint = getattr(sim, "endpoint", f"opc.tcp://127.0.0.1:{sim.port}")
        root = getattr(sim, "root_node_id", None) or getattr(sim, "folder_node_id", None)
        if root:
            return endpoint, root, sim, None
        sim.stop()  # no way to find its nodes: use the bench's own server
    port = _free_port()
    written = mp.get_context("spawn").Value("q", 0, lock=False)
    proc = mp.get_context("spawn").Process(
        target=_serve, args=(port, nodes, hz, written), daemon=True
    )
    proc.start()
    _wait_listening(port)
    return f"opc.tcp://127.0.0.1:{port}/bench/", "ns=2;s=Bench", proc, written


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

    endpoint, folder, server, written = start_server(args.nodes, args.hz)
    offered = args.nodes * args.hz
    print(
        f"server: {args.nodes} Double nodes under {folder} written at {args.hz:g} Hz "
        f"(offered {offered:,.0f} changes/s) on {endpoint}"
    )
    print(f"subscription: sampling and publishing interval {args.sampling_ms:g} ms, queue size 1")
    print(f"window: {args.seconds:g} s after {WARMUP:g} s warm-up, per phase\n")
    try:
        before = written.value if written is not None else 0
        t0 = time.monotonic()
        base = baseline(endpoint, folder, args.sampling_ms, args.seconds)
        if written is not None:
            actual = (written.value - before) / (time.monotonic() - t0)
            print(f"server wrote {actual:,.0f} values/s during the baseline phase")
        with tempfile.TemporaryDirectory(prefix="sf-opcua-bench-") as tmp:
            before = written.value if written is not None else 0
            t0 = time.monotonic()
            sf, config = streamforge(endpoint, folder, args.sampling_ms, args.seconds, Path(tmp))
            if written is not None:
                actual = (written.value - before) / (time.monotonic() - t0)
                print(f"server wrote {actual:,.0f} values/s during the StreamForge phase")
    finally:
        if hasattr(server, "terminate"):
            server.terminate()
        else:
            server.stop()
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
