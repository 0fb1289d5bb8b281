"""Restarts of a NATS JetStream server under running streams: a killed server loses nothing
the inputs and outputs were told was done."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
from peers.nats_server import NatsServer, nats_server  # noqa: F401 - fixture
from peers.stream_checks import AsyncProducer, input_loses_nothing, output_rides_out, to_file
from peers.stream_run import Run, write


async def _call(url: str, fn: Any) -> Any:
    nc = await nats.connect(url)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def js_call(server: NatsServer, fn: Any) -> Any:
    return asyncio.run(_call(server.url, fn))


class Producer(AsyncProducer):
    """Publishes numbered messages to JetStream from a thread; keeps those the server stored."""

    async def run(self) -> None:
        nc = await nats.connect(
            self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=1
        )
        js = nc.jetstream()
        i = 0
        while not self.stop.is_set():
            body = f"p-{i}"
            try:
                await js.publish(self.target, body.encode(), timeout=1.0)
            except Exception:  # noqa: BLE001 - not stored: tried again under a new number
                await asyncio.sleep(0.05)
                i += 1
                continue
            self.acked.append(body)
            i += 1
            await asyncio.sleep(0.001)
        await nc.close()


def test_jetstream_input_loses_nothing_across_a_server_kill(
    nats_server: NatsServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    js_call(nats_server, lambda js: js.add_stream(name="PLANT", subjects=["plant.>"]))
    out = tmp_path / "out.txt"
    run = Run(
        write(
            tmp_path / "in.yaml",
            f"""
            input:
              nats_jetstream:
                urls: [ {nats_server.url} ]
                subject: plant.>
                durable: steady
                ack_wait: 3s
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )

    def all_acknowledged() -> bool:
        ci = js_call(nats_server, lambda js: js.consumer_info("PLANT", "steady"))
        return bool(ci.num_ack_pending == 0 and ci.num_pending == 0)

    input_loses_nothing(
        run,
        out,
        nats_server,
        lambda: Producer(nats_server.url, "plant.data"),
        what="nats",
        down_for=1.0,
        settled=all_acknowledged,
    )


def test_jetstream_output_rides_out_a_server_kill(
    nats_server: NatsServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    js_call(nats_server, lambda js: js.add_stream(name="OUT", subjects=["out.>"]))
    n = 3000

    def stored() -> int:
        try:
            info = js_call(nats_server, lambda js: js.stream_info("OUT"))
        except Exception:  # noqa: BLE001 - the server is away
            return 0
        return int(info.state.messages)

    output_rides_out(
        tmp_path / "out.yaml",
        n,
        f"""
        nats_jetstream:
          urls: [ {nats_server.url} ]
          subject: out.data
          write_timeout: 20s
        """,
        nats_server,
        stored,
        down_for=1.0,
    )

    async def read_all(js: Any) -> set[int]:
        sub = await js.pull_subscribe("out.>", durable="check")
        seen: set[int] = set()
        while True:
            try:
                batch = await sub.fetch(1000, timeout=1.0)
            except Exception:  # noqa: BLE001 - nothing more to fetch
                return seen
            for m in batch:
                seen.add(int(m.data))
                await m.ack()

    assert js_call(nats_server, read_all) == set(range(1, n + 1))
