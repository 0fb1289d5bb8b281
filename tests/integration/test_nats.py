"""The `nats` and `nats_jetstream` inputs and outputs against real NATS servers, through
`streamforge run`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from peers.nats_server import start_nats
from peers.stream_checks import run_generate, to_file
from peers.stream_run import Run, out_lines, wait_until, write

SHARED = "nats://127.0.0.1:4222"


async def _js(url: str, fn: Any) -> Any:
    nc = await nats.connect(url)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def js_call(fn: Any, url: str = SHARED) -> Any:
    """Run `fn(jetstream)` on a connection of the test's own."""
    return asyncio.run(_js(url, fn))


@pytest.fixture
def js_stream() -> Iterator[tuple[str, str]]:
    """A JetStream stream of the test's own on the shared server: (name, subject prefix)."""
    name = f"SFTEST_{uuid.uuid4().hex[:8].upper()}"
    prefix = f"sftest.{name.lower()}"
    js_call(lambda js: js.add_stream(name=name, subjects=[f"{prefix}.>"]))
    yield name, prefix
    js_call(lambda js: js.delete_stream(name))


# -- core NATS -------------------------------------------------------------------------------


def test_core_round_trip_with_queue_headers_and_metadata(tmp_path: Path) -> None:
    prefix = f"sftest.{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out.txt"
    sub = Run(
        write(
            tmp_path / "sub.yaml",
            f"""
            input:
              nats:
                urls: [ {SHARED} ]
                subject: {prefix}.>
                queue: workers
            pipeline:
              processors:
                - mapping: |
                    root.n = content().number()
                    root.subject = @nats_subject
                    root.site = @Site
                    root.unit = @unit
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )
    n = 1000
    try:
        sub.wait_log("connected to nats://127.0.0.1:4222")
        run_generate(
            tmp_path / "pub.yaml",
            n,
            f"""
            nats:
              urls: [ {SHARED} ]
              subject: {prefix}.${{! if this % 2 == 0 {{ "even" }} else {{ "odd" }} }}
              headers:
                Site: hamburg
              metadata:
                include_prefixes: [ un ]
            """,
            mapping="""
            root = counter()
            meta unit = "bar"
            meta hidden = "no"
            """,
        )
        wait_until(lambda: len(out_lines(out)) >= n, 20, "every message")
    finally:
        assert sub.stop() == 0, sub.logs()
    docs = [json.loads(line) for line in out_lines(out)]
    assert sorted(d["n"] for d in docs) == list(range(1, n + 1))
    assert {d["subject"] for d in docs} == {f"{prefix}.even", f"{prefix}.odd"}
    assert {d["site"] for d in docs} == {"hamburg"}
    assert {d["unit"] for d in docs} == {"bar"}


def test_token_auth_and_a_wrong_token(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("auth")
    server = start_nats(tmp / "server", token="s3cret")
    try:
        out = tmp / "out.txt"

        def run(name: str, token: str) -> str:
            done = run_generate(
                tmp / f"{name}.yaml",
                5,
                f"""
                fallback:
                  - nats:
                      urls: [ nats://{token}@127.0.0.1:{server.port} ]
                      subject: auth.test
                      write_timeout: 1s
                  - {to_file(out)}
                """,
            )
            return done.stdout + done.stderr

        run("good", "s3cret")
        assert out_lines(out) == []
        logs = run("bad", "wrong")
        assert out_lines(out) == ["1", "2", "3", "4", "5"]
        assert "authorization violation" in logs.lower()
    finally:
        server.stop()


# -- JetStream -------------------------------------------------------------------------------


def test_jetstream_round_trip_acknowledged_after_the_write(
    js_stream: tuple[str, str], tmp_path: Path
) -> None:
    name, prefix = js_stream
    n = 2000
    run_generate(
        tmp_path / "gen.yaml",
        n,
        f"""
        nats_jetstream:
          urls: [ {SHARED} ]
          subject: {prefix}.${{! @asset }}
          metadata:
            include_patterns: [ "^asset$" ]
        """,
        mapping="""
        root = {"n": counter()}
        meta asset = "pump-" + (counter() % 4).string()
        """,
    )
    info = js_call(lambda js: js.stream_info(name))
    assert info.state.messages == n
    out = tmp_path / "out.txt"
    run = Run(
        write(
            tmp_path / "read.yaml",
            f"""
            input:
              nats_jetstream:
                urls: [ {SHARED} ]
                subject: {prefix}.>
                durable: reader
                deliver: all
            pipeline:
              processors:
                - mapping: |
                    root = this
                    root.seq = @nats_sequence_stream
                    root.asset = @asset
                    root.subject = @nats_subject
            output:
              {to_file(out)}
            http: {{ enabled: false }}
            """,
        )
    )
    try:
        wait_until(lambda: len(out_lines(out)) >= n, 30, "every message")

        def acked() -> bool:
            ci = js_call(lambda js: js.consumer_info(name, "reader"))
            return bool(ci.num_ack_pending == 0 and ci.num_pending == 0)

        wait_until(acked, 10, "every message acknowledged")
    finally:
        assert run.stop() == 0, run.logs()
    docs = [json.loads(line) for line in out_lines(out)]
    assert sorted(d["n"] for d in docs) == list(range(1, n + 1))
    assert sorted(int(d["seq"]) for d in docs) == list(range(1, n + 1))
    first = next(d for d in docs if d["n"] == 1)
    assert first["asset"] == "pump-1"
    assert first["subject"] == f"{prefix}.pump-1"


def test_jetstream_failed_writes_are_redelivered(
    js_stream: tuple[str, str], tmp_path: Path
) -> None:
    name, prefix = js_stream

    async def fill(js: Any) -> None:
        for i in range(30):
            await js.publish(f"{prefix}.x", f"m-{i}".encode())

    js_call(fill)
    out = tmp_path / "out.txt"

    def config(cfg: str, pipeline: str) -> Path:
        return write(
            tmp_path / f"{cfg}.yaml",
            f"""
            input:
              nats_jetstream:
                urls: [ {SHARED} ]
                subject: {prefix}.>
                durable: flaky
                ack_wait: 2s
            {pipeline}
            output:
              reject_errored:
                {to_file(out)}
            http: {{ enabled: false }}
            """,
        )

    failing = Run(
        config(
            "failing",
            """
            pipeline:
              processors:
                - mapping: 'root = throw("downstream refuses " + content().string())'
            """,
        )
    )
    try:
        failing.wait_log("downstream refuses m-0")
        # negatively acknowledged: the server delivers them again at once, again and again
        wait_until(
            lambda: "m-0" in failing.logs().split("downstream refuses m-0", 1)[1], 10, "redelivery"
        )
    finally:
        assert failing.stop() == 0
    assert out_lines(out) == []
    healthy = Run(config("healthy", ""))
    try:
        wait_until(lambda: len(set(out_lines(out))) >= 30, 20, "redelivered messages")
    finally:
        assert healthy.stop() == 0
    assert sorted(set(out_lines(out))) == sorted(f"m-{i}" for i in range(30))


def test_jetstream_output_to_a_subject_without_stream_fails_the_message(tmp_path: Path) -> None:
    dead = tmp_path / "dead.txt"
    run_generate(
        tmp_path / "nostream.yaml",
        2,
        f"""
        fallback:
          - nats_jetstream:
              urls: [ {SHARED} ]
              subject: sftest.nostream.{uuid.uuid4().hex[:8]}
              write_timeout: 2s
          - {to_file(dead)}
        """,
    )
    assert out_lines(dead) == ["1", "2"]
