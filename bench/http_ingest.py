"""HTTP ingest: 1 KB JSON POSTs through `http_server` -> mapping -> drop, against a bare server.

In one run, for each concurrency (`--clients`, default 50 and 400):

* StreamForge: `streamforge run` (a subprocess) with `http_server` -> a three-assignment
  `mapping` -> `drop`; every request is answered once the stream is done with its message.
* baseline: a bare ASGI app on uvicorn (a subprocess) that reads the body and answers 200,
  the least any Python HTTP server does per request (uvicorn is what `http_server` runs on).

The load comes from this process: `--clients` keep-alive connections on one asyncio loop, each
sending its next POST when the previous answer arrived (closed loop), for `--seconds`. Printed
per phase: requests answered, failed, requests/s, p50/p99 latency; then StreamForge's ratio to
the baseline; then the first concurrency again beside 1,000 idle connections and a storm of
connections reset mid-head (latency under abuse). On a 2-core machine the load generator and
the server share the cores, so the baseline shows what this machine's Python can serve, not
what uvicorn can.

    python bench/http_ingest.py [--seconds 5] [--clients 50,400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import StreamRun, free_port
from peers.ports import wait_listening

BODY = json.dumps(
    {
        "asset_id": "press-01",
        "parameter": "temperature",
        "value": 21.5,
        "unit": "degC",
        "note": "x" * 900,
    }  # fmt: skip
).encode()
PATH = "/ingest"
#: silent connections held open during the abuse phase
ABUSE_IDLE = 1000

STREAM = """
http:
  address: ${HTTP_ADDRESS}
input:
  http_server:
    address: 127.0.0.1:${INGEST_PORT}
    path: /ingest
    allowed_verbs: [ POST ]
pipeline:
  processors:
    - mapping: |
        root.asset = this.asset_id
        root.value = this.value * 2
        root.unit = this.unit
output:
  drop: {}
"""

BARE_APP = textwrap.dedent(
    """
    import sys

    import uvicorn


    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"OK"})


    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)


@dataclass
class Phase:
    answered: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def _client(port: int, until: float, latencies: list[float], failures: list[int]) -> None:
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            at = head.lower().find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 : head.index(b"\r\n", at)])
            if length:
                await reader.readexactly(length)
            if head[9:12] == b"200":
                latencies.append(time.perf_counter() - start)
            else:
                failures.append(1)
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        failures.append(1)
    finally:
        writer.close()


async def _abuse(port: int, until: float, idle: int) -> int:
    """Hold `idle` silent connections and, until `until`, open connections that send part of
    a request head and reset; returns how many were reset."""
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(idle)]
    resets = 0
    linger = struct.pack("ii", 1, 0)
    while time.monotonic() < until:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.write(b"POST /ingest HTTP/1.1\r\nContent-Le")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        writer.transport.abort()
        resets += 1
        await asyncio.sleep(0.002)
    for _, writer in held:
        writer.close()
    return resets


async def _load(port: int, clients: int, seconds: float, abuse: bool = False) -> Phase:
    latencies: list[float] = []
    failures: list[int] = []
    start = time.monotonic()
    until = start + seconds
    jobs = [_client(port, until, latencies, failures) for _ in range(clients)]
    if abuse:
        jobs.append(_abuse(port, until, ABUSE_IDLE))
    await asyncio.gather(*jobs)
    return Phase(len(latencies), len(failures), time.monotonic() - start, latencies)


def load(port: int, clients: int, seconds: float, abuse: bool = False) -> Phase:
    """`clients` keep-alive connections posting for `seconds` (a short warm-up first);
    with `abuse`, idle connections and a reset storm run beside them."""
    asyncio.run(_load(port, min(clients, 10), 0.5))
    return asyncio.run(_load(port, clients, seconds, abuse))


def print_phase(name: str, clients: int, phase: Phase) -> None:
    print(
        f"  {name:<12} {clients:>4} clients: {phase.answered:>7} answered, {phase.failed:>5} "
        f"failed, {phase.rate:>8,.0f} req/s, p50 {phase.percentile(0.5):6.1f} ms, "
        f"p99 {phase.percentile(0.99):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="50,400")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.clients.split(",")]

    with tempfile.TemporaryDirectory(prefix="sf-http-ingest-") as tmp:
        work = Path(tmp)
        config = work / "http_ingest.yaml"
        config.write_text(STREAM)
        ingest_port = free_port()
        stream = StreamRun(config, {"INGEST_PORT": str(ingest_port)}, work / "stream.log")
        try:
            stream.wait_ready()
            wait_listening(ingest_port, timeout=30)
            ours = {c: load(ingest_port, c, args.seconds) for c in concurrencies}
            abused = load(ingest_port, concurrencies[0], args.seconds, abuse=True)
        finally:
            stream.stop()

        bare: dict[int, Phase] = {}
        app = work / "bare_app.py"
        app.write_text(BARE_APP)
        bare_port = free_port()
        server = subprocess.Popen(
            [sys.executable, str(app), str(bare_port)], stderr=subprocess.PIPE, env=os.environ
        )
        try:
            wait_listening(bare_port, timeout=15)
            bare = {c: load(bare_port, c, args.seconds) for c in concurrencies}
        except Exception as exc:  # noqa: BLE001 - the baseline is optional
            err = server.stderr.read().decode(errors="replace") if server.poll() is not None else ""
            print(f"baseline not run ({exc}): {err.strip().splitlines()[-1:] or ''}")
        finally:
            server.terminate()
            server.wait(timeout=10)

    print(f"1 KB JSON POSTs, {args.seconds:g} s per phase, closed loop over keep-alive connections")
    for clients in concurrencies:
        print_phase("streamforge", clients, ours[clients])
        if clients in bare:
            print_phase("bare uvicorn", clients, bare[clients])
    print_phase("under abuse", concurrencies[0], abused)
    print(
        f"  (beside {ABUSE_IDLE} idle connections and a storm of connections that send part of a "
        f"request head and reset; ratio to the calm phase: "
        f"{abused.rate / max(ours[concurrencies[0]].rate, 1e-9):.2f})"
    )
    for clients in concurrencies:
        if clients in bare and bare[clients].rate:
            ratio = ours[clients].rate / bare[clients].rate
            print(f"ratio streamforge / bare uvicorn at {clients} clients: {ratio:.2f}")
    print("target: >= 5,000 req/s through http_server on this machine")


if __name__ == "__main__":
    main()
