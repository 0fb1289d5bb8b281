"""Redpanda Connect's `kafka_franz` input and output against a real Kafka broker (Tansu), in the
shapes Connect documents them: keys and headers, consumer group commits, input batches, where a
partition starts, explicit partitions, the largest record and TLS."""

from __future__ import annotations

import json
import time
from pathlib import Path

from peers.stream_run import Run, out_lines, run_stream, run_until, stream_config, wait_until
from peers.tansu import Tansu
from peers.tansu_secure import TlsTansu


def test_round_trip_keys_headers_batches_and_group_commits(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("franz"), partitions=3)
    run_stream(
        tmp_path / "produce.yaml",
        f"""
        input:
          generate:
            count: 30
            interval: ""
            mapping: |
              root = {{"n": counter()}}
              meta asset_id = "press-" + (counter() % 4).string()
              meta other = "not sent"
        output:
          kafka_franz:
            seed_brokers: [ "{tansu.address}" ]
            topic: "{topic}"
            key: '${{! @asset_id }}'
            client_id: line4
            compression: snappy
            max_in_flight: 10
            metadata:
              include_prefixes: [ "asset_" ]
            batching:
              count: 7
              period: 100ms
        """,
    )

    out = tmp_path / "read.jsonl"
    group = f"g-{topic}"
    read = stream_config(
        tmp_path / "read.yaml",
        f"""
        input:
          kafka_franz:
            seed_brokers: [ "{tansu.address}" ]
            topics: [ "{topic}" ]
            consumer_group: "{group}"
            start_from_oldest: true
            checkpoint_limit: 1024
            commit_period: 1s
            batching:
              count: 5
              period: 200ms
        pipeline:
          processors:
            - mapping: |
                root = this
                root.key = @kafka_key
                root.asset = @asset_id
                root.other = @other
                root.partition = @kafka_partition
                root.batch = batch_size()
        """,
        out,
    )
    run_until(read, lambda: len(out_lines(out)) >= 30, 30, "thirty records")
    got = [json.loads(line) for line in out_lines(out)]
    assert sorted(r["n"] for r in got) == list(range(1, 31))
    assert all(r["key"] == r["asset"] == f"press-{r['n'] % 4}" for r in got)
    assert all(r["other"] is None for r in got)
    by_key: dict[str, set[int]] = {}
    for r in got:
        by_key.setdefault(r["key"], set()).add(r["partition"])
    assert all(len(parts) == 1 for parts in by_key.values())
    assert max(r["batch"] for r in got) == 5  # the input's batching policy made the batches
    committed = tansu.committed(group, topic, 3)
    assert sum(max(o, 0) for o in committed.values()) == 30


def test_start_from_oldest_false_reads_only_what_arrives_after_the_start(
    tmp_path: Path, tansu: Tansu
) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("franz-new"))
    tansu.produce(topic, [(0, None, f"old-{i}".encode(), None) for i in range(5)])
    out = tmp_path / "read.txt"
    config = stream_config(
        tmp_path / "read.yaml",
        f"""
        input:
          kafka_franz:
            seed_brokers: [ "{tansu.address}" ]
            topics: [ "{topic}" ]
            start_from_oldest: false
        """,
        out,
    )
    run = Run(config)
    try:
        sent = 0
        deadline = time.monotonic() + 30
        while not out_lines(out) and time.monotonic() < deadline:
            tansu.produce(topic, [(0, None, f"new-{sent}".encode(), None)])
            sent += 1
            time.sleep(0.5)
        wait_until(lambda: len(out_lines(out)) >= 1, 5, "a new record")
    finally:
        run.stop()
    lines = out_lines(out)
    assert lines and all(line.startswith("new-") for line in lines), run.logs()


def test_explicit_partitions_read_only_those(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("franz-parts"), partitions=3)
    tansu.produce(
        topic, [(p, None, f"p{p}-{i}".encode(), None) for p in range(3) for i in range(4)]
    )
    out = tmp_path / "read.txt"
    config = stream_config(
        tmp_path / "read.yaml",
        f"""
        input:
          kafka_franz:
            seed_brokers: [ "{tansu.address}" ]
            topics: [ "{topic}:0-1" ]
        """,
        out,
    )
    run_until(config, lambda: len(out_lines(out)) >= 8, 30, "eight records", linger=1.0)
    assert sorted(out_lines(out)) == sorted(f"p{p}-{i}" for p in range(2) for i in range(4))


def test_a_record_over_max_message_bytes_fails_into_the_fallback(
    tmp_path: Path, tansu: Tansu
) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("franz-big"))
    rejected = tmp_path / "rejected.jsonl"
    run_stream(
        tmp_path / "big.yaml",
        f"""
        input:
          generate:
            count: 20
            interval: ""
            batch_size: 10
            mapping: |
              let n = counter() - 1
              root = if $n % 10 == 4 {{ "x".repeat(3000) }} else {{ "small-%d".format($n) }}
        output:
          fallback:
            - kafka_franz:
                seed_brokers: [ "{tansu.address}" ]
                topic: "{topic}"
                max_message_bytes: 2KiB
            - file:
                path: "{rejected}"
              processors:
                - mapping: 'root = {{"size": content().length(), "why": @fallback_error}}'
        """,
    )
    failed = [json.loads(line) for line in out_lines(rejected)]
    assert [f["size"] for f in failed] == [3000, 3000]
    assert all("kafka" in f["why"].lower() for f in failed)
    written = [m.value().decode() for m in tansu.consume_all(topic, expect=18)]
    assert sorted(written) == sorted(f"small-{n}" for n in range(20) if n % 10 != 4)


def test_tls_carries_the_input_and_the_output(tmp_path: Path, tansu_tls: TlsTansu) -> None:
    assert tansu_tls.tls is not None
    source = tansu_tls.create_topic(tansu_tls.new_topic_name("franz-tls-in"), partitions=2)
    sink = tansu_tls.create_topic(tansu_tls.new_topic_name("franz-tls-out"))
    n = 100
    tansu_tls.produce(source, [(i % 2, None, f"m{i}".encode(), None) for i in range(n)])
    tls = f'tls: {{ enabled: true, root_cas_file: "{tansu_tls.tls.ca}" }}'
    config = stream_config(
        tmp_path / "tls.yaml",
        f"""
        input:
          kafka_franz:
            seed_brokers: [ "{tansu_tls.address}" ]
            topics: [ "{source}" ]
            {tls}
        pipeline:
          processors:
            - mapping: 'root = content().string().uppercase()'
        output:
          kafka_franz:
            seed_brokers: [ "{tansu_tls.address}" ]
            topic: "{sink}"
            {tls}
        """,
    )
    got: list[bytes] = []

    def all_arrived() -> bool:
        got[:] = [m.value() for m in tansu_tls.consume_all(sink, expect=n, timeout=2)]
        return len(got) >= n

    run = run_until(config, all_arrived, 30, f"{n} records through TLS")
    assert sorted(got) == sorted(f"M{i}".encode() for i in range(n)), run.logs()
    assert "level=error" not in run.logs()
