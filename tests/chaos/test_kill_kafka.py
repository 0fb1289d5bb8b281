"""kafka -> kafka killed with SIGKILL at seeded points, resumed, and counted in the output topic.

A third of the records wait in the input topic when the stream first starts; most of the rest
arrive at a steady rate while it is killed and resumed, so reads are small and kills land
between them (a consumer that starts on a full topic prefetches it whole, and its first read
would be all of it); the last tenth arrive once the last run started. The stream
copies every record to another topic with an idempotent producer. It is killed three times once
the output topic holds a seeded share of the records, resumed each time with the same
`--recovery-dir`, and the last run is stopped with SIGTERM once every record reached the output
topic (a Kafka input never ends by itself). Records the killed run produced after its last
snapshot are produced again by the resumed one: an idempotent producer removes the duplicates of
its own retries, not those of a new process. The same run into a `file` output writes each
record exactly once: the file is truncated to the snapshot the input resumes from.
"""

from __future__ import annotations

import random
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_table import ROWS, Row
from peers.stream_run import CLI, out_lines, write
from peers.tansu import Tansu
from test_kill_and_count import KILLS, SEED, SNAPSHOT, count

pytest.importorskip("confluent_kafka")

TOTAL = 3000
PARTITIONS = 3
#: records in the input topic before the stream first starts
BACKLOG = TOTAL // 3
#: records produced after the last kill, so the last run has work of its own
TAIL = TOTAL // 10
#: records produced per second between the two
RATE = 300


@pytest.fixture
def rows(request: pytest.FixtureRequest) -> list[Row]:
    """The crash table's rows (printed at the end of the session)."""
    return request.config.stash[ROWS]


class TopicReader:
    """Reads every partition of a topic from its start, keeping each record's value."""

    def __init__(self, tansu: Tansu, topic: str) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.values: list[str] = []
        self.consumer: Any = Consumer(
            {
                **tansu.client_conf(),
                "group.id": f"chaos-reader-{topic}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                # Tansu answers a fetch only when this wait is over, even with records ready
                "fetch.wait.max.ms": 20,
            }
        )
        self.consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)]
        )

    def read(self) -> list[str]:
        """Every value read so far, after taking what the broker has ready."""
        while True:
            batch = self.consumer.consume(1000, timeout=0.05)
            self.values += [m.value().decode() for m in batch if m.error() is None]
            if not batch:
                return self.values

    def distinct(self) -> int:
        return len(set(self.read()))

    def settle(self, idle: float = 1.0) -> list[str]:
        """Every value, once nothing new arrived for `idle` seconds (late duplicates too)."""
        seen, last = len(self.read()), time.monotonic()
        while time.monotonic() - last < idle:
            if len(self.read()) > seen:
                seen, last = len(self.values), time.monotonic()
        return self.values

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def output_reader(tansu: Tansu) -> Iterator[tuple[str, TopicReader]]:
    topic = tansu.create_topic(tansu.new_topic_name("chaos-out"), PARTITIONS)
    reader = TopicReader(tansu, topic)
    yield topic, reader
    reader.close()


class Producing:
    """Produces ids round the partitions of a topic, at a steady rate, in a thread."""

    def __init__(self, tansu: Tansu, topic: str) -> None:
        self.topic = topic
        self.producer = tansu.producer()
        self.failed: list[Any] = []
        self.thread: threading.Thread | None = None

    def produce(self, ids: list[str], first: int, per_second: float | None = None) -> None:
        """Produce `ids` (the first is record number `first`) and wait for their deliveries."""
        start = time.monotonic()
        for n, value in enumerate(ids):
            self.producer.produce(
                self.topic,
                value.encode(),
                partition=(first + n) % PARTITIONS,
                on_delivery=self._report,
            )
            self.producer.poll(0)
            ahead = start + n / per_second - time.monotonic() if per_second else 0
            if ahead > 0:
                time.sleep(ahead)
        left = self.producer.flush(30)
        if left:
            self.failed.append(f"{left} record(s) not delivered within 30 s")

    def _report(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed.append(err)

    def start(self, ids: list[str], first: int, per_second: float) -> None:
        self.thread = threading.Thread(target=self.produce, args=(ids, first, per_second))
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=60)
        assert not self.failed, self.failed[:3]


def kill_while_producing(
    tmp_path: Path,
    tansu: Tansu,
    output: str,
    written: Callable[[], list[str]],
) -> tuple[list[str], int]:
    """Run kafka -> `output` (YAML of the output section), killed KILLS times while records
    arrive, then stopped with SIGTERM once every record was written. Returns (ids, kills)."""
    source = tansu.create_topic(tansu.new_topic_name("chaos-in"), PARTITIONS)
    ids = [f"record-{i:05d}" for i in range(TOTAL)]
    producing = Producing(tansu, source)
    producing.produce(ids[:BACKLOG], 0)
    producing.join()
    config = write(
        tmp_path / "kafka_to_out.yaml",
        f"""
        input:
          kafka:
            addresses: [ "{tansu.address}" ]
            topics: [ "{source}" ]
            consumer_group: chaos-{source}
        pipeline:
          processors:
            - sleep: {{ duration: 20ms }}
        http:
          enabled: false
        """,
    )
    config.write_text(config.read_text() + textwrap.dedent(output).lstrip())
    args = [*CLI, "--recovery-dir", str(tmp_path / "recovery"), *SNAPSHOT, str(config)]
    log = tmp_path / "stream.log"

    def distinct() -> int:
        return len(set(written()))

    def start() -> subprocess.Popen[bytes]:
        with open(log, "ab") as fh:
            return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)

    def running(proc: subprocess.Popen[bytes], deadline: float, what: str) -> None:
        assert proc.poll() is None, f"the stream ended by itself:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text()}"

    rng = random.Random(f"{SEED}:kafka")
    targets = sorted(rng.randrange(TOTAL // 10, TOTAL * 7 // 10) for _ in range(KILLS))
    before_tail = TOTAL - TAIL
    kills = 0
    proc = start()
    try:
        producing.start(ids[BACKLOG:before_tail], BACKLOG, RATE)
        for seeded in targets:
            # a resumed run writes records of its own before it is killed, if any are left
            target_count = min(max(seeded, distinct() + 1), before_tail)
            deadline = time.monotonic() + 60
            while distinct() < target_count:
                running(proc, deadline, f"fewer than {target_count} records written")
                time.sleep(0.01)
            proc.kill()
            proc.wait(timeout=30)
            kills += 1
            proc = start()
        producing.join()
        producing.produce(ids[before_tail:], before_tail)
        producing.join()
        deadline = time.monotonic() + 60
        while not set(ids) <= set(written()):
            running(proc, deadline, "records still missing")
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        producing.join()
    return ids, kills


def test_kafka_to_kafka(
    tmp_path: Path, rows: list[Row], tansu: Tansu, output_reader: tuple[str, TopicReader]
) -> None:
    target, reader = output_reader
    output = f"""
    output:
      kafka:
        addresses: [ "{tansu.address}" ]
        topic: "{target}"
        idempotent_write: true
    """
    ids, kills = kill_while_producing(tmp_path, tansu, output, reader.read)
    row = count(rows, "kafka -> kafka", ids, reader.settle(), kills, "at least once")
    assert row.kills == KILLS
    assert row.missing == 0


def test_kafka_to_file(tmp_path: Path, rows: list[Row], tansu: Tansu) -> None:
    """The input reads again from the snapshot's offsets, so the file output rewinds to it."""
    out = tmp_path / "out.txt"
    output = f"""
    output:
      file: {{ path: "{out}" }}
    """
    ids, kills = kill_while_producing(tmp_path, tansu, output, lambda: out_lines(out))
    row = count(rows, "kafka -> file", ids, out_lines(out), kills, "exactly once")
    assert row.kills == KILLS
    assert (row.missing, row.duplicates) == (0, 0)
