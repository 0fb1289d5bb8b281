"""Redpanda Connect's `redpanda_common` input and output against a real Kafka broker (Tansu): the
cluster connection and producer settings come from the top-level `redpanda:` section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from peers.stream_run import out_lines, run_stream, run_until, stream_config
from peers.tansu import Tansu
from peers.tansu_secure import TlsTansu

pytest.importorskip("confluent_kafka")


def test_round_trip_through_one_shared_section(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("rpc"), partitions=2)
    section = f"""
        redpanda:
          seed_brokers: [ "{tansu.address}" ]
          client_id: line4
          idempotent_write: false
          compression: lz4
        """
    run_stream(
        tmp_path / "produce.yaml",
        section
        + f"""
        input:
          generate:
            count: 20
            interval: ""
            mapping: |
              root = {{"n": counter()}}
              meta asset_id = "press-" + (counter() % 3).string()
              meta other = "not sent"
        output:
          redpanda_common:
            topic: "{topic}"
            key: '${{! @asset_id }}'
            metadata:
              include_prefixes: [ "asset_" ]
            batching:
              count: 5
        """,
    )

    out = tmp_path / "read.jsonl"
    group = f"g-{topic}"
    read = stream_config(
        tmp_path / "read.yaml",
        section
        + f"""
        input:
          redpanda_common:
            topics: [ "{topic}" ]
            consumer_group: "{group}"
            start_from_oldest: true
            commit_period: 1s
        pipeline:
          processors:
            - mapping: |
                root = this
                root.key = @kafka_key
                root.asset = @asset_id
                root.other = @other
                root.partition = @kafka_partition
        """,
        out,
    )
    run_until(read, lambda: len(out_lines(out)) >= 20, 30, "twenty records")
    got = [json.loads(line) for line in out_lines(out)]
    assert sorted(r["n"] for r in got) == list(range(1, 21))
    assert all(r["key"] == r["asset"] == f"press-{r['n'] % 3}" for r in got)
    assert all(r["other"] is None for r in got)
    by_key: dict[str, set[int]] = {}
    for r in got:
        by_key.setdefault(r["key"], set()).add(r["partition"])
    assert all(len(parts) == 1 for parts in by_key.values())
    committed = tansu.committed(group, topic, 2)
    assert sum(max(o, 0) for o in committed.values()) == 20


def test_the_sections_largest_record_applies_to_every_output(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("rpc-big"), partitions=1)
    rejected = tmp_path / "rejected.txt"
    run_stream(
        tmp_path / "big.yaml",
        f"""
        redpanda:
          seed_brokers: [ "{tansu.address}" ]
          max_message_bytes: 2KB
        input:
          generate:
            count: 30
            interval: ""
            batch_size: 10
            mapping: |
              let n = counter() - 1
              root = if $n % 10 == 3 {{ "x".repeat(5000) }} else {{ "small-%d".format($n) }}
        output:
          fallback:
            - redpanda_common:
                topic: "{topic}"
            - file:
                path: "{rejected}"
                codec: lines
        """,
    )
    assert out_lines(rejected) == ["x" * 5000] * 3
    written = [m.value().decode() for m in tansu.consume_all(topic, expect=27)]
    assert sorted(written) == sorted(f"small-{n}" for n in range(30) if n % 10 != 3)


def test_the_sections_tls_carries_input_and_output(tmp_path: Path, tansu_tls: TlsTansu) -> None:
    assert tansu_tls.tls is not None
    source = tansu_tls.create_topic(tansu_tls.new_topic_name("rpc-tls-in"), partitions=2)
    sink = tansu_tls.create_topic(tansu_tls.new_topic_name("rpc-tls-out"))
    n = 200
    tansu_tls.produce(source, [(i % 2, None, f"m{i}".encode(), None) for i in range(n)])
    config = stream_config(
        tmp_path / "tls.yaml",
        f"""
        redpanda:
          seed_brokers: [ "{tansu_tls.address}" ]
          tls:
            enabled: true
            root_cas_file: "{tansu_tls.tls.ca}"
        input:
          redpanda_common:
            topics: [ "{source}" ]
        pipeline:
          processors:
            - mapping: 'root = content().string().uppercase()'
        output:
          redpanda_common:
            topic: "{sink}"
        """,
    )
    got: list[bytes] = []

    def all_arrived() -> bool:
        got[:] = [m.value() for m in tansu_tls.consume_all(sink, expect=n, timeout=2)]
        return len(got) >= n

    run = run_until(config, all_arrived, 30, f"{n} records through TLS")
    assert sorted(got) == sorted(f"M{i}".encode() for i in range(n)), run.logs()
    assert "level=error" not in run.logs()
