"""Restarts of a NATS JetStream server under running streams: a killed server loses nothing
the inputs and outputs were told was done."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import nats
from peers.nats_server import NatsServer, nats_server  # noqa: F401 - fixture
from peers.stream_run import Run, out_lines, wait_until, write


def to_file(out: Path) -> str:
    return f'file: {{ path: "{out}", codec: lines }}'


async def _call(url: str, fn: Any) -> Any:
    nc = await nats.connect(url)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def js_call(server: NatsServer, fn: Any) -> Any:
    return asyncio.run(_call(server.url, fn))


class Producer:
    """Publishes numbered messages to JetStream from a thread; keeps those the server stored."""

    def __init__(self, url: str, subject: str) -> None:
        self.url = url
        self.subject = subject
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))
        self.thread.start()

    async def _run(self) -> None:
        nc = await nats.connect(
            self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=1
        )
        js = nc.jetstream()
        i = 0
        while not self.stop.is_set():
            body = f"p-{i}"
            try:
                await js.publish(self.subject, body.encode(), timeout=1.0)
            except Exception:  # noqa: BLE001 - not stored: tried again under a new number
                await asyncio.sleep(0.05)
                i += 1
                continue
            self.acked.append(body)
            i += 1
            await asyncio.sleep(0.001)
        await nc.close()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(20)


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
    producer: Producer | None = None
    try:
        run.wait_log("connected to")
        producer = Producer(nats_server.url, "plant.data")
        wait_until(lambda: len(out_lines(out)) > 300, 20, "the first messages")
        nats_server.restart(down_for=1.0)
        before = len(producer.acked)
        wait_until(lambda: len(producer.acked) > before + 300, 30, "producing again")
        producer.finish()
        acked = producer.acked
        wait_until(lambda: set(acked) <= set(out_lines(out)), 30, "every stored message")

        def all_acknowledged() -> bool:
            ci = js_call(nats_server, lambda js: js.consumer_info("PLANT", "steady"))
            return bool(ci.num_ack_pending == 0 and ci.num_pending == 0)

        wait_until(all_acknowledged, 15, "every message acknowledged")
    finally:
        if producer is not None:
            producer.finish()
        assert run.stop() == 0, run.logs()
    lines = out_lines(out)
    assert not set(acked) - set(lines)
    assert len(acked) > 500
    duplicates = sum(c - 1 for c in Counter(lines).values())
    print(f"nats kill: {len(acked)} stored, {duplicates} duplicates")
    assert "reconnected to" in run.logs()


def test_jetstream_output_rides_out_a_server_kill(
    nats_server: NatsServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    js_call(nats_server, lambda js: js.add_stream(name="OUT", subjects=["out.>"]))
    n = 3000
    run = Run(
        write(
            tmp_path / "out.yaml",
            f"""
            input:
              generate:
                count: {n}
                interval: 1ms
                mapping: 'root = counter()'
            output:
              nats_jetstream:
                urls: [ {nats_server.url} ]
                subject: out.data
                write_timeout: 20s
            http: {{ enabled: false }}
            """,
        )
    )

    def stored() -> int:
        try:
            info = js_call(nats_server, lambda js: js.stream_info("OUT"))
        except Exception:  # noqa: BLE001 - the server is away
            return 0
        return int(info.state.messages)

    try:
        wait_until(lambda: stored() > 300, 20, "the first messages")
        nats_server.restart(down_for=1.0)
        assert run.proc.wait(60) == 0, run.logs()
    finally:
        run.stop()

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
    assert "reconnected to" in run.logs()
