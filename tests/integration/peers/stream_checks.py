"""What the broker and database tests of the queue components share: a file output, a
`generate` stream to a given output, producers that count what their peer confirmed, and
the peer-kill checks (nothing confirmed lost by an input, nothing lost by an output)."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from peers.process import PeerProcess
from peers.stream_run import Run, out_lines, run_to_end, wait_until, write

__all__ = [
    "AsyncProducer",
    "Producer",
    "generate_to",
    "input_loses_nothing",
    "output_rides_out",
    "run_generate",
    "to_file",
]


def to_file(out: Path) -> str:
    """An output writing each message as a line of `out`."""
    return f'file: {{ path: "{out}", codec: lines }}'


def _block(yaml: str, indent: int) -> str:
    return textwrap.indent(textwrap.dedent(yaml).strip(), " " * indent)


def generate_to(
    path: Path,
    count: int,
    output: str,
    *,
    mapping: str = "root = counter()",
    processors: str = "",
    interval: str = "1ms",
) -> Path:
    """A config: `count` messages made by `mapping` (numbers 1, 2 ... by default) from
    `generate`, through `processors` (YAML, the list's items), to `output` (YAML, the
    output's own block)."""
    pipeline = f"pipeline:\n  processors:\n{_block(processors, 4)}\n" if processors else ""
    return write(
        path,
        "input:\n"
        "  generate:\n"
        f"    count: {count}\n"
        f'    interval: "{interval}"\n'
        f"    mapping: |\n{_block(mapping, 6)}\n"
        f"{pipeline}"
        f"output:\n{_block(output, 2)}\n"
        "http: { enabled: false }\n",
    )


def run_generate(
    path: Path, count: int, output: str, **options: str
) -> subprocess.CompletedProcess[str]:
    """Run `generate_to` (no interval unless given) to its end; it must exit cleanly."""
    done = run_to_end(generate_to(path, count, output, **{"interval": "", **options}))
    assert done.returncode == 0, done.stderr
    return done


class Producer:
    """Produces numbered messages from a thread (`produce`, until `stop`); `acked` holds the
    ones the peer confirmed."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.produce)
        self.thread.start()

    def produce(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(20)


class AsyncProducer(Producer):
    """A `Producer` whose loop (`run`) is a coroutine, publishing to `target` at `url`."""

    def __init__(self, url: str, target: str) -> None:
        self.url = url
        self.target = target
        super().__init__()

    def produce(self) -> None:
        asyncio.run(self.run())

    async def run(self) -> None:
        raise NotImplementedError


def input_loses_nothing(
    run: Run,
    out: Path,
    server: PeerProcess,
    start_producer: Callable[[], Producer],
    *,
    what: str,
    down_for: float,
    settled: Callable[[], bool] | None = None,
) -> None:
    """With `run` (an input writing lines to `out`) connected and a producer going, kill and
    restart `server`: every message the peer confirmed is written (and, with `settled`, the
    peer agrees all was acknowledged), and the input says it reconnected."""
    producer: Producer | None = None
    try:
        run.wait_log("connected to")
        producer = start_producer()
        wait_until(lambda: len(out_lines(out)) > 300, 20, "the first messages")
        server.restart(down_for=down_for)
        before = len(producer.acked)
        wait_until(lambda: len(producer.acked) > before + 300, 40, "producing again")
        producer.finish()
        acked = producer.acked
        wait_until(lambda: set(acked) <= set(out_lines(out)), 30, "every confirmed message")
        if settled is not None:
            wait_until(settled, 15, "every message acknowledged")
    finally:
        if producer is not None:
            producer.finish()
        assert run.stop() == 0, run.logs()
    lines = out_lines(out)
    assert not set(acked) - set(lines)
    assert len(acked) > 500
    duplicates = sum(c - 1 for c in Counter(lines).values())
    print(f"{what} kill: {len(acked)} confirmed, {duplicates} duplicates")
    assert "reconnected to" in run.logs()


def output_rides_out(
    path: Path,
    count: int,
    output: str,
    server: PeerProcess,
    stored: Callable[[], int],
    *,
    down_for: float,
) -> None:
    """`count` generated messages to `output`, `server` killed and restarted after the first
    300 are `stored`: the stream still ends cleanly, saying it reconnected (the test then
    checks that every message arrived)."""
    run = Run(generate_to(path, count, output))
    try:
        wait_until(lambda: stored() > 300, 20, "the first messages")
        server.restart(down_for=down_for)
        assert run.proc.wait(60) == 0, run.logs()
    finally:
        run.stop()
    assert "reconnected to" in run.logs()
