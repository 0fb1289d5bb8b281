"""The `kafka` input and output against a real Kafka-compatible broker (Tansu)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from peers.ports import free_port
from peers.stream_run import run_to_end
from peers.tansu import Tansu

pytest.importorskip("confluent_kafka")

CLI = [sys.executable, "-m", "streamforge", "run"]

#: a processor that tags each message with the worker thread that handled it
WORKER_TAG_PLUGIN = """
import threading

from streamforge.plugin import Processor, register_processor


@register_processor("itest_worker_tag")
class WorkerTag(Processor):
    \"\"\"Sets metadata `worker` to the thread (Bytewax worker) processing the message.\"\"\"

    def __init__(self, conf, ctx):
        pass

    def process_batch(self, batch):
        worker = str(threading.get_ident())
        for m in batch:
            m.metadata["worker"] = worker
        return batch
"""

#: turns a Kafka record into a JSON line with everything the tests check
RECORD_MAPPING = (
    'root = {"v": content().string(), "key": @kafka_key, "topic": @kafka_topic, '
    '"partition": @kafka_partition, "offset": @kafka_offset, "h": @h, '
    '"ts": @kafka_timestamp_ms, "worker": @worker}'
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(path)]


def fill(tansu: Tansu, topic: str, partitions: int, per_partition: int, start: int = 0) -> None:
    """Records `p{p}-{i}` with key `k{p}-{i}` and header h=i in every partition."""
    tansu.produce(
        topic,
        [
            (p, f"k{p}-{i}".encode(), f"p{p}-{i}".encode(), [("h", str(i).encode())])
            for i in range(start, start + per_partition)
            for p in range(partitions)
        ],
    )


def input_stream(
    tmp_path: Path,
    name: str,
    address: str,
    topic: str,
    out: Path,
    *,
    group: str = "",
    extra_processors: str = "",
    output: str = "",
) -> Path:
    output = output or f'file:\n            path: "{out}"'
    return write(
        tmp_path / f"{name}.yaml",
        f"""
        input:
          label: kin
          kafka:
            addresses: [ "{address}" ]
            topics: [ "{topic}" ]
            consumer_group: "{group}"
        pipeline:
          processors:
            {extra_processors}
            - mapping: '{RECORD_MAPPING}'
        output:
          label: kout
          {output}
        http:
          enabled: false
        """,
    )


class Run:
    """`streamforge run` as a subprocess that the test stops with SIGTERM."""

    def __init__(self, *args: str | Path) -> None:
        self.stderr_path = Path(str(args[-1]) + f".{time.monotonic_ns()}.stderr")
        self._err = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*CLI, *map(str, args)], stderr=self._err, env={**os.environ})

    def wait_for(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                raise AssertionError(f"run ended early:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; stderr:\n{self.stderr}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.proc.kill()
            self._err.close()

    @property
    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_text(errors="replace")


def check_records(got: list[dict[str, Any]], topic: str, partitions: int, per: int) -> None:
    """Every record exactly once, with its key, partition, offset and header."""
    assert len(got) == partitions * per
    seen = {(r["partition"], r["offset"]): r for r in got}
    assert len(seen) == len(got), "a record was read twice"
    for p in range(partitions):
        for i in range(per):
            r = seen[(p, i)]
            assert r["v"] == f"p{p}-{i}"
            assert r["key"] == f"k{p}-{i}"
            assert r["h"] == str(i)
            assert r["topic"] == topic
            assert r["ts"] > 0
    for p in range(partitions):
        offsets = [r["offset"] for r in got if r["partition"] == p]
        assert offsets == sorted(offsets), "records of a partition arrived out of order"


# -- input ---------------------------------------------------------------------------------


def test_input_reads_every_partition_end_to_end(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("e2e"), partitions=4)
    fill(tansu, topic, 4, 1000)
    out = tmp_path / "out.jsonl"
    run = Run(input_stream(tmp_path, "e2e", tansu.address, topic, out))
    try:
        run.wait_for(lambda: len(lines(out)) >= 4000)
        time.sleep(0.3)  # nothing more may arrive
    finally:
        code = run.stop()
    assert code == 0, run.stderr
    check_records(records(out), topic, 4, 1000)


def test_two_workers_share_the_partitions_and_read_each_record_once(
    tmp_path: Path, tansu: Tansu
) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("w2"), partitions=4)
    fill(tansu, topic, 4, 500)
    plugin = write(tmp_path / "itest_worker_tag.py", WORKER_TAG_PLUGIN)
    out = tmp_path / "out.jsonl"
    cfg = input_stream(
        tmp_path,
        "w2",
        tansu.address,
        topic,
        out,
        extra_processors="- itest_worker_tag: {}",
    )
    run = Run("-w", "2", "--plugins", plugin, cfg)
    try:
        run.wait_for(lambda: len(lines(out)) >= 2000)
        time.sleep(0.3)
    finally:
        code = run.stop()
    assert code == 0, run.stderr
    got = records(out)
    check_records(got, topic, 4, 500)
    workers_of = {p: {r["worker"] for r in got if r["partition"] == p} for p in range(4)}
    assert all(len(w) == 1 for w in workers_of.values()), workers_of
    assert len(set.union(*workers_of.values())) == 2, "both workers should read partitions"


def test_recovery_resumes_where_the_last_run_stopped(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("resume"), partitions=2)
    fill(tansu, topic, 2, 300)
    out = tmp_path / "out.jsonl"
    cfg = input_stream(tmp_path, "resume", tansu.address, topic, out)
    recovery = ["--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval", "200ms"]
    first = Run(*recovery, cfg)
    try:
        first.wait_for(lambda: len(lines(out)) >= 600)
        time.sleep(0.5)  # a snapshot after the last record
    finally:
        assert first.stop() == 0, first.stderr
    fill(tansu, topic, 2, 200, start=300)
    second = Run(*recovery, cfg)
    try:
        second.wait_for(lambda: len(lines(out)) >= 1000)
        time.sleep(0.5)
    finally:
        assert second.stop() == 0, second.stderr
    check_records(records(out), topic, 2, 500)


def test_consumer_group_commits_what_the_output_wrote(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("group"), partitions=3)
    fill(tansu, topic, 3, 400)
    out = tmp_path / "out.jsonl"
    cfg = input_stream(tmp_path, "group", tansu.address, topic, out, group="sf-group")
    run = Run(cfg)
    try:
        run.wait_for(lambda: len(lines(out)) >= 1200)
        run.wait_for(lambda: tansu.committed("sf-group", topic, 3) == {0: 400, 1: 400, 2: 400})
    finally:
        assert run.stop() == 0, run.stderr
    assert tansu.committed("sf-group", topic, 3) == {0: 400, 1: 400, 2: 400}

    # a second run of the group starts after the committed offsets: only new records
    fill(tansu, topic, 3, 50, start=400)
    out2 = tmp_path / "out2.jsonl"
    run2 = Run(input_stream(tmp_path, "group2", tansu.address, topic, out2, group="sf-group"))
    try:
        run2.wait_for(lambda: len(lines(out2)) >= 150)
        time.sleep(0.3)
    finally:
        assert run2.stop() == 0, run2.stderr
    assert sorted(r["offset"] for r in records(out2)) == sorted(list(range(400, 450)) * 3)


def test_failed_writes_are_not_committed(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("nocommit"), partitions=1)
    fill(tansu, topic, 1, 100)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output wants a directory")
    cfg = input_stream(
        tmp_path,
        "nocommit",
        tansu.address,
        topic,
        tmp_path / "unused",
        group="sf-failing",
        output=f'file:\n            path: "{blocked}/out.jsonl"',
    )
    run = Run(cfg)
    try:
        run.wait_for(lambda: "write failed" in run.stderr or "failed to write" in run.stderr)
        time.sleep(1.0)  # commits would have happened by now
    finally:
        assert run.stop() == 0, run.stderr
    assert tansu.committed("sf-failing", topic, 1)[0] < 0, "nothing was written, nothing committed"
    assert "not written" in run.stderr


def test_missing_topic_is_reported_and_read_once_it_exists(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.new_topic_name("late")
    out = tmp_path / "out.jsonl"
    run = Run(input_stream(tmp_path, "late", tansu.address, topic, out))
    try:
        run.wait_for(lambda: f"topic '{topic}' is not available" in run.stderr)
        assert run.proc.poll() is None, "the stream keeps running"
        tansu.create_topic(topic, partitions=2)
        fill(tansu, topic, 2, 100)
        run.wait_for(lambda: len(lines(out)) >= 200)
        time.sleep(0.3)
    finally:
        assert run.stop() == 0, run.stderr
    check_records(records(out), topic, 2, 100)
    assert "component=kin" in run.stderr


def test_unreachable_broker_is_reported_down_and_the_stream_keeps_running(
    tmp_path: Path,
) -> None:
    port = free_port()
    out = tmp_path / "out.jsonl"
    http_port = free_port()
    cfg = write(
        tmp_path / "down.yaml",
        f"""
        input:
          label: kin
          kafka:
            addresses: [ "127.0.0.1:{port}" ]
            topics: [ "nowhere" ]
        output:
          file:
            path: "{out}"
        http:
          address: 127.0.0.1:{http_port}
        """,
    )
    run = Run(cfg)
    try:
        run.wait_for(lambda: "kafka input kin" in run.stderr and "nowhere" in run.stderr)
        metrics = _http_get(http_port, "/metrics")
        ready_status, ready_body = _http_status(http_port, "/ready")
        assert run.proc.poll() is None
    finally:
        assert run.stop() == 0, run.stderr
    assert 'streamforge_connected{component="kin",stream="down"} 0.0' in metrics
    assert ready_status == 503 and "kin" in ready_body
    error_lines = [ln for ln in run.stderr.splitlines() if "level=error" in ln]
    assert any(f"127.0.0.1:{port}" in ln and "component=kin" in ln for ln in error_lines)


def _http_get(port: int, path: str) -> str:
    return _http_status(port, path)[1]


def _http_status(port: int, path: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# -- output --------------------------------------------------------------------------------


def test_output_writes_records_with_interpolated_topic_key_and_headers(
    tmp_path: Path, tansu: Tansu
) -> None:
    base = tansu.new_topic_name("out")
    for suffix in ("even", "odd"):
        tansu.create_topic(f"{base}-{suffix}", partitions=2)
    cfg = write(
        tmp_path / "produce.yaml",
        f"""
        input:
          generate:
            mapping: |
              root = {{"n": counter() - 1}}
              meta site = "plant-7"
              meta kind = if (counter() - 1) % 2 == 0 {{ "even" }} else {{ "odd" }}
              meta secret = "do not send"
            interval: ""
            count: 2000
            batch_size: 100
        output:
          label: kout
          kafka:
            addresses: [ "{tansu.address}" ]
            topic: '{base}-${{! @kind }}'
            key: 'id-${{! this.n }}'
            metadata:
              include_patterns: [ "^site$", "^ki" ]
            static_headers:
              gateway: gw-1
            compression: lz4
        http:
          enabled: false
        """,
    )
    result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    got: dict[int, Any] = {}
    for suffix in ("even", "odd"):
        for m in tansu.consume_all(f"{base}-{suffix}", expect=1000):
            n = json.loads(m.value())["n"]
            assert n not in got, "a record was written twice"
            got[n] = (suffix, m)
    assert sorted(got) == list(range(2000))
    for n, (suffix, m) in got.items():
        assert suffix == ("even" if n % 2 == 0 else "odd")
        assert m.key() == f"id-{n}".encode()
        headers = dict(m.headers())
        assert headers == {"gateway": b"gw-1", "site": b"plant-7", "kind": suffix.encode()}


def test_oversized_records_fail_and_are_routed_by_fallback(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("big"), partitions=1)
    rejected = tmp_path / "rejected.txt"
    cfg = write(
        tmp_path / "big.yaml",
        f"""
        input:
          generate:
            mapping: |
              let n = counter() - 1
              root = if $n % 10 == 3 {{ "x".repeat(5000) }} else {{ "small-%d".format($n) }}
            interval: ""
            count: 50
            batch_size: 10
        pipeline:
          processors: []
        output:
          fallback:
            - kafka:
                addresses: [ "{tansu.address}" ]
                topic: "{topic}"
                max_msg_bytes: 2000
            - file:
                path: "{rejected}"
        http:
          enabled: false
        """,
    )
    result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    assert lines(rejected) == ["x" * 5000] * 5
    written = [m.value().decode() for m in tansu.consume_all(topic, expect=45)]
    assert sorted(written) == sorted(f"small-{n}" for n in range(50) if n % 10 != 3)


def test_output_survives_a_broker_restart_and_routes_failed_deliveries(
    tmp_path: Path, tansu_restartable: Tansu
) -> None:
    """Kill the broker mid-run: deliveries fail into the fallback, then resume after it is back.

    Tansu keeps records in memory only, so a restart loses what it held: the records the
    broker acknowledged before the kill are read by a consumer before the broker is killed,
    with the producing process frozen (SIGSTOP) so nothing is in flight unseen.
    """
    broker = tansu_restartable
    topic = broker.create_topic(broker.new_topic_name("restart"), partitions=1)
    fallback = tmp_path / "fallback.txt"
    total = 1000
    cfg = write(
        tmp_path / "restart.yaml",
        f"""
        input:
          generate:
            mapping: 'root = (counter() - 1).string()'
            interval: 10ms
            batch_size: 10
            count: {total}
        output:
          fallback:
            - label: kout
              kafka:
                addresses: [ "{broker.address}" ]
                topic: "{topic}"
                timeout: 1s
            - file:
                path: "{fallback}"
        http:
          enabled: false
        """,
    )
    before: list[str] = []
    reader_stop = threading.Event()

    def read_before_kill() -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": broker.address, "group.id": "watch"})
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        while not reader_stop.is_set():
            before.extend(str(m.value() or b"", "utf-8") for m in c.consume(500, 0.05))
        c.close()

    reader = threading.Thread(target=read_before_kill, daemon=True)
    reader.start()
    run = Run(cfg)
    try:
        run.wait_for(lambda: len(before) >= 200)
        run.proc.send_signal(signal.SIGSTOP)  # freeze production, let the reader catch up
        settled = -1
        while settled != len(before):
            settled = len(before)
            time.sleep(0.5)
        reader_stop.set()
        reader.join()
        broker.kill()
        run.proc.send_signal(signal.SIGCONT)
        run.wait_for(lambda: len(lines(fallback)) >= 5)  # deliveries fail while it is down
        broker.start()
        broker.create_topic(topic, partitions=1)
        code = run.proc.wait(timeout=40)
    finally:
        run.stop()
    assert code == 0, run.stderr
    after = [m.value().decode() for m in broker.consume_all(topic)]
    routed = lines(fallback)
    assert after, "deliveries resumed after the restart"
    assert str(total - 1) in after, "the last record went to the restarted broker"
    missing = set(map(str, range(total))) - set(before) - set(after) - set(routed)
    assert not missing, (
        f"{len(missing)} record(s) neither delivered nor routed: {sorted(missing)[:5]}"
    )
    errors = [ln for ln in run.stderr.splitlines() if "level=error" in ln]
    assert any("kafka output kout" in ln and broker.address in ln for ln in errors), run.stderr
