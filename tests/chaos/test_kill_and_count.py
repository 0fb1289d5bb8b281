"""Kill -9 a stream at seeded points, resume it with the same recovery directory, and count.

Each path runs until a seeded share of its records reached the output, is killed with SIGKILL,
started again with the same `--recovery-dir` (snapshots every 200 ms), killed again, and at last
run to its end. Then every record of the input is looked for in the output: missing ones break
the guarantee of every path. Paths whose input replays from the snapshot (file, generate) write
exactly once: the resumed `file` output first drops what it wrote after the snapshot. An input
that acknowledged to its peer (MQTT) keeps what was written, so duplicates are what that
at-least-once path may write. The table is printed at the end of the session.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from crash_table import ROWS, Row
from peers.mosquitto import Mosquitto
from peers.stream_run import CLI, out_lines, write

SEED = 20261205
KILLS = 3
SNAPSHOT = ("--snapshot-interval", "200ms")


@pytest.fixture
def rows(request: pytest.FixtureRequest) -> list[Row]:
    """The crash table's rows (printed at the end of the session)."""
    return request.config.stash[ROWS]


def kill_and_resume(
    config: Path,
    recovery: Path,
    written: Callable[[], int],
    total: int,
    extra_args: tuple[str, ...] = (),
) -> int:
    """Run `config` KILLS times, each killed with SIGKILL once `written()` reaches a seeded
    point; then run it to its end. Returns how many runs were killed before they ended."""
    rng = random.Random(f"{SEED}:{config.stem}")
    targets = sorted(rng.randrange(total // 10, total * 7 // 10) for _ in range(KILLS))
    args = [*CLI, "--recovery-dir", str(recovery), *SNAPSHOT, *extra_args, str(config)]
    kills = 0
    for target in targets:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while written() < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            kills += 1
        _, err = proc.communicate(timeout=30)
        assert proc.returncode in (0, -9), err.decode(errors="replace")
    final = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    return kills


def count(
    rows: list[Row], path: str, expected: list[str], seen: list[str], kills: int, guarantee: str
) -> Row:
    """Missing and duplicate records of the output against the input's, added to the table."""
    times = Counter(seen)
    row = Row(
        path=path,
        kills=kills,
        records=len(expected),
        missing=sum(1 for key in expected if key not in times),
        duplicates=sum(n - 1 for n in times.values() if n > 1),
        guarantee=guarantee,
    )
    rows.append(row)
    return row


def test_generate_to_file(tmp_path: Path, rows: list[Row]) -> None:
    out = tmp_path / "out.jsonl"
    total = 6000
    config = write(
        tmp_path / "generate_to_file.yaml",
        f"""
        input:
          generate:
            count: {total}
            interval: 2ms
            batch_size: 5
            mapping: 'root = {{"n": counter()}}'
        output:
          file: {{ path: "{out}" }}
        http:
          enabled: false
        """,
    )
    kills = kill_and_resume(config, tmp_path / "recovery", lambda: len(out_lines(out)), total)
    seen = [str(json.loads(line)["n"]) for line in out_lines(out)]
    row = count(rows, "generate -> file", [str(n) for n in range(1, total + 1)], seen, kills,
                "exactly once")  # fmt: skip
    assert row.kills >= 1
    assert (row.missing, row.duplicates) == (0, 0)


def test_file_to_file(tmp_path: Path, rows: list[Row]) -> None:
    source = tmp_path / "in.txt"
    total = 20_000
    source.write_text("".join(f"line {i:06d} of the input file, padded to a useful length\n"
                              for i in range(total)))  # fmt: skip
    out = tmp_path / "out.txt"
    config = write(
        tmp_path / "file_to_file.yaml",
        f"""
        input:
          file: {{ paths: ["{source}"] }}
        pipeline:
          processors:
            - sleep: {{ duration: 150ms }}
        output:
          file: {{ path: "{out}" }}
        http:
          enabled: false
        """,
    )
    kills = kill_and_resume(config, tmp_path / "recovery", lambda: len(out_lines(out)), total)
    row = count(rows, "file -> file", source.read_text().splitlines(), out_lines(out), kills,
                "exactly once")  # fmt: skip
    assert row.kills >= 1
    assert (row.missing, row.duplicates) == (0, 0)
    assert out.read_text() == source.read_text()  # in order, no torn line


def test_two_files_on_two_workers_to_files_named_per_message(
    tmp_path: Path, rows: list[Row]
) -> None:
    """Two input partitions on two workers, an interpolated output path and a batching
    policy: what the batch holds is written before each snapshot, every file rewinds."""
    total = 0
    sources = []
    for name in ("a", "b"):
        source = tmp_path / f"{name}.txt"
        source.write_text("".join(f"{name} {i:05d}\n" for i in range(5000)))
        sources.append(source)
        total += 5000
    out = tmp_path / "out"
    config = write(
        tmp_path / "two_files.yaml",
        f"""
        input:
          file: {{ paths: ["{sources[0]}", "{sources[1]}"] }}
        pipeline:
          processors:
            - sleep: {{ duration: 50ms }}
        output:
          file:
            path: '{out}/${{! content().string().slice(0, 1) }}-${{! count("n") % 3 }}.txt'
            batching: {{ count: 40, period: 100ms }}
        http:
          enabled: false
        """,
    )

    def lines() -> list[str]:
        return [line for f in sorted(out.glob("*.txt")) for line in out_lines(f)]

    kills = kill_and_resume(
        config, tmp_path / "recovery", lambda: len(lines()), total, extra_args=("-w", "2")
    )
    expected = [line for source in sources for line in source.read_text().splitlines()]
    row = count(rows, "2 files -> files (-w 2)", expected, lines(), kills, "exactly once")
    assert row.kills >= 1
    assert (row.missing, row.duplicates) == (0, 0)


def test_file_to_window_to_file(tmp_path: Path, rows: list[Row]) -> None:
    source = tmp_path / "readings.jsonl"
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    series = ("press-01", "press-02", "oven-07")
    per_series = 4000  # a reading every 100 ms: 400 one-second windows per series
    lines = []
    for i in range(per_series):
        stamp = (start + timedelta(milliseconds=100 * i)).isoformat().replace("+00:00", "Z")
        for asset in series:
            reading = {"asset_id": asset, "parameter": "temperature", "value": float(i)}
            lines.append(json.dumps({**reading, "timestamps": {"device_time": stamp}}))
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "windows.jsonl"
    config = write(
        tmp_path / "file_window_file.yaml",
        f"""
        input:
          file: {{ paths: ["{source}"] }}
        pipeline:
          processors:
            - sleep: {{ duration: 100ms }}
            - window:
                size: 1s
                timestamp: this.timestamps.device_time
                aggregates: [ count ]
        output:
          file: {{ path: "{out}" }}
        http:
          enabled: false
        """,
    )
    windows = per_series // 10 * len(series)
    kills = kill_and_resume(config, tmp_path / "recovery", lambda: len(out_lines(out)), windows)
    docs = [json.loads(line) for line in out_lines(out)]
    seen = [f"{d['asset_id']}@{d['window_start']}" for d in docs]
    expected = [
        f"{asset}@{(start + timedelta(seconds=s)).isoformat().replace('+00:00', 'Z')}"
        for asset in series
        for s in range(per_series // 10)
    ]
    row = count(rows, "file -> window -> file", expected, seen, kills, "exactly once")
    assert row.kills >= 1
    assert (row.missing, row.duplicates) == (0, 0)
    assert {d["aggregates"]["count"] for d in docs} == {10}


def test_mqtt_to_file(tmp_path: Path, rows: list[Row], mosquitto: Mosquitto) -> None:
    """QoS 1 with a kept session: a killed stream has not acknowledged what it had not written,
    so the broker delivers it again to the resumed one (at least once, nothing lost)."""
    out = tmp_path / "out.txt"
    total = 3000
    config = write(
        tmp_path / "mqtt_to_file.yaml",
        f"""
        input:
          mqtt:
            urls: [ {mosquitto.url} ]
            topics: [ chaos/readings ]
            client_id: sf-chaos-{SEED}
            clean_session: false
            qos: 1
        output:
          file: {{ path: "{out}" }}
        http:
          enabled: false
        """,
    )
    args = [*CLI, "--recovery-dir", str(tmp_path / "recovery"), *SNAPSHOT, str(config)]
    log = tmp_path / "stream.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log, "ab") as fh:
            proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while log.read_text(errors="replace").count("connected to") < starts + 1:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        return proc

    starts = 0
    proc = start()
    starts += 1
    payloads = [f"reading {i:05d}" for i in range(total)]
    publisher = threading.Thread(target=publish_slowly, args=(mosquitto, payloads))
    publisher.start()
    rng = random.Random(f"{SEED}:mqtt")
    kills = 0
    for target in sorted(rng.randrange(total // 10, total * 7 // 10) for _ in range(KILLS)):
        deadline = time.monotonic() + 60
        while len(out_lines(out)) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.kill()
        proc.wait(timeout=30)
        kills += 1
        proc = start()
        starts += 1
    publisher.join(timeout=60)
    deadline = time.monotonic() + 60
    while not set(payloads) <= set(out_lines(out)) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()
    row = count(rows, "mqtt (QoS 1) -> file", payloads, out_lines(out), kills, "at least once")
    assert row.missing == 0


def publish_slowly(broker: Mosquitto, payloads: list[str], per_second: int = 600) -> None:
    """Publish with QoS 1 at a steady rate and wait until the broker acknowledged every one."""
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="chaos-publisher")
    pub.connect("127.0.0.1", broker.port, keepalive=5)
    pub.loop_start()
    try:
        infos = []
        start = time.monotonic()
        for i, payload in enumerate(payloads):
            infos.append(pub.publish("chaos/readings", payload, qos=1))
            ahead = start + i / per_second - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        for info in infos:
            info.wait_for_publish(30)
    finally:
        pub.disconnect()
        pub.loop_stop()
