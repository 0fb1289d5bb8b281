"""benthos-umh's `uns` and Redpanda Connect's `redpanda` against a real Kafka broker (Tansu), and
`tag_processor` with `nodered_js` in a stream run end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from peers.stream_run import out_lines, run_stream, run_until, stream_config
from peers.tansu import Tansu

pytest.importorskip("confluent_kafka")
pytest.importorskip("quickjs")

UNS = "umh.messages"


def ensure_uns_topic(tansu: Tansu) -> None:
    """The namespace topic exists (created once per broker, one partition)."""
    from confluent_kafka.admin import AdminClient

    meta = AdminClient(tansu.client_conf()).list_topics(timeout=10).topics.get(UNS)
    if meta is None or meta.error is not None:
        tansu.create_topic(UNS, 1)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out_lines(path)]


def headers_of(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in (record.headers() or [])}


def test_uns_round_trip_keys_headers_filter_and_commit(tmp_path: Path, tansu: Tansu) -> None:
    ensure_uns_topic(tansu)
    site = f"site{time.monotonic_ns() % 10**9}"
    done = run_stream(
        tmp_path / "produce.yaml",
        f"""
        input:
          generate:
            count: 6
            interval: ""
            mapping: 'root = counter() * 1.5'
        pipeline:
          processors:
            - tag_processor:
                defaults: |
                  msg.meta.location_path = "acme.{site}.press";
                  msg.meta.data_contract = "_historian";
                  msg.meta.tag_name = "force kN";
                  msg.meta.shift = "night";
                  return msg;
                conditions:
                  - if: msg.payload > 6
                    then: |
                      msg.meta.location_path = "acme.{site}.other";
                      return msg;
        output:
          uns:
            broker_address: "{tansu.address}"
            bridged_by: "gw-{site}"
        """,
    )
    assert "6 read, 6 written" in done.stderr

    got = [r for r in tansu.consume_all(UNS, idle=2.0) if site in (r.key() or b"").decode()]
    assert len(got) == 6
    keys = [r.key().decode() for r in got]
    # the space in the tag name is not allowed in a key: sanitised to `_`
    assert keys.count(f"umh.v1.acme.{site}.press._historian.force_kN") == 4
    assert keys.count(f"umh.v1.acme.{site}.other._historian.force_kN") == 2
    first = headers_of(got[0])
    assert first["bridged_by"] == f"gw-{site}"
    assert first["shift"] == "night" and first["data_contract"] == "_historian"
    assert first["umh_topic"] == f"umh.v1.acme.{site}.press._historian.force kN"
    assert not [k for k in first if k.startswith("kafka_")]
    assert json.loads(got[0].value())["value"] == 1.5

    out = tmp_path / "read.jsonl"
    group = f"uns-{site}"
    read = stream_config(
        tmp_path / "read.yaml",
        f"""
        input:
          uns:
            umh_topic: 'umh\\.v1\\.acme\\.{site}\\.press\\..+'
            broker_address: "{tansu.address}"
            consumer_group: "{group}"
        pipeline:
          processors:
            - mapping: |
                root.topic = @umh_topic
                root.key = @kafka_msg_key
                root.bridged = @bridged_by
                root.value = this.value
        """,
        out,
    )
    # lingers a second: nothing else arrives, the other records are filtered out
    run_until(read, lambda: len(out_lines(out)) >= 4, 30, "the four press records", linger=1.0)
    got_read = records(out)
    assert [r["value"] for r in got_read] == [1.5, 3, 4.5, 6]
    assert {r["topic"] for r in got_read} == {f"umh.v1.acme.{site}.press._historian.force_kN"}
    assert {r["bridged"] for r in got_read} == {f"gw-{site}"}
    # the group's offset passed the filtered records too: they were acknowledged at once
    committed = tansu.committed(group, UNS, 1)[0]
    last_offset = max(r.offset() for r in got)
    assert committed >= last_offset + 1


def test_uns_output_fails_messages_without_a_topic(tmp_path: Path, tansu: Tansu) -> None:
    ensure_uns_topic(tansu)
    topic = f"umh.v1.nowhere-{tmp_path.name}._historian.t"
    out = tmp_path / "dead.jsonl"
    run_stream(
        tmp_path / "s.yaml",
        f"""
        input:
          generate:
            count: 4
            interval: ""
            mapping: |
              root = counter()
              meta umh_topic = if counter() % 2 == 0 {{ "{topic}" }}
        output:
          fallback:
            - uns:
                broker_address: "{tansu.address}"
            - file:
                path: "{out}"
                codec: lines
        """,
    )
    assert sorted(out_lines(out)) == ["1", "3"]


def test_redpanda_round_trip(tmp_path: Path, tansu: Tansu) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("rp"), partitions=2)
    run_stream(
        tmp_path / "produce.yaml",
        f"""
        input:
          generate:
            count: 20
            interval: ""
            mapping: |
              root = {{"n": counter()}}
              meta asset_id = "press-" + (counter() % 3).string()
        output:
          redpanda:
            seed_brokers: [ "{tansu.address}" ]
            topic: "{topic}"
            key: '${{! @asset_id }}'
            metadata:
              include_prefixes: [ "asset_" ]
            idempotent_write: false
            batching:
              count: 5
        """,
    )

    out = tmp_path / "read.jsonl"
    group = f"g-{topic}"
    read = stream_config(
        tmp_path / "read.yaml",
        f"""
        input:
          redpanda:
            seed_brokers: [ "{tansu.address}" ]
            topics: [ "{topic}" ]
            consumer_group: "{group}"
            start_offset: earliest
            session_timeout: 45s
        pipeline:
          processors:
            - mapping: |
                root = this
                root.key = @kafka_key
                root.asset = @asset_id
                root.partition = @kafka_partition
        """,
        out,
    )
    run_until(read, lambda: len(out_lines(out)) >= 20, 30, "twenty records")
    got = records(out)
    assert sorted(r["n"] for r in got) == list(range(1, 21))
    assert all(r["key"] == r["asset"] == f"press-{r['n'] % 3}" for r in got)
    # one key, one partition
    by_key: dict[str, set[int]] = {}
    for r in got:
        by_key.setdefault(r["key"], set()).add(r["partition"])
    assert all(len(parts) == 1 for parts in by_key.values())
    committed = tansu.committed(group, topic, 2)
    assert sum(max(o, 0) for o in committed.values()) == 20


def test_tag_processor_and_nodered_js_stream_with_a_runaway_script(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    start = time.monotonic()
    run_stream(
        tmp_path / "s.yaml",
        """
        input:
          generate:
            count: 8
            interval: ""
            mapping: |
              root = {"rpm": counter() * 100, "machine": "m" + (counter() % 2).string()}
        pipeline:
          processors:
            - nodered_js:
                timeout: 200ms
                code: |
                  if (msg.payload.rpm === 500) {
                    while (true) {}
                  }
                  msg.meta.machine = msg.payload.machine;
                  var n = cache.exists("n") ? cache.get("n") : 0;
                  cache.set("n", n + 1);
                  msg.meta.seq = n + 1;
                  msg.payload = msg.payload.rpm / 60;
                  return msg;
            - tag_processor:
                defaults: |
                  msg.meta.location_path = "acme.hamburg.mill";
                  msg.meta.data_contract = "_historian";
                  msg.meta.tag_name = "speed_rps";
                  return msg;
                conditions:
                  - if: msg.meta.machine === "m1"
                    then: |
                      msg.meta.virtual_path = "spindle";
                      return msg;
                advancedProcessing: |
                  if (msg.payload > 12) {
                    return null;
                  }
                  return msg;
            - catch:
                - mapping: 'root = {"error": error()}'
            - mapping: |
                root = this
                root.topic = @umh_topic
                root.seq = @seq
        """,
        out,
    )
    assert time.monotonic() - start < 50
    got = records(out)
    errors = [r for r in got if "error" in r]
    assert len(errors) == 1
    assert "nodered_js: the code ran longer than 200ms and was stopped" in errors[0]["error"]
    kept = [r for r in got if "error" not in r]
    # rpm 100..800 without 500 (stopped) and above 720 (dropped): 100, 200, 300, 400, 600, 700
    assert [round(r["value"] * 60) for r in kept] == [100, 200, 300, 400, 600, 700]
    assert [r["seq"] for r in kept] == ["1", "2", "3", "4", "5", "6"]
    for r in kept:
        machine = "m1" if round(r["value"] * 60) // 100 % 2 == 1 else "m0"
        path = "._historian.spindle.speed_rps" if machine == "m1" else "._historian.speed_rps"
        assert r["topic"] == "umh.v1.acme.hamburg.mill" + path
        assert r["timestamp_ms"] > 1_700_000_000_000


def test_downsampler_in_a_stream_keeps_each_series_shape(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "s.yaml",
        """
        input:
          generate:
            count: 40
            interval: ""
            mapping: |
              let n = counter()
              root = {"i": $n, "v": if $n <= 20 { 50.0 } else { 50.0 + $n }}
        pipeline:
          threads: 2
          processors:
            - tag_processor:
                defaults: |
                  msg.meta.location_path = "acme.hamburg.oven" + (msg.payload.i % 2);
                  msg.meta.data_contract = "_historian";
                  msg.meta.tag_name = "temperature";
                  msg.meta.timestamp_ms = String(1717243200000 + msg.payload.i * 1000);
                  msg.payload = msg.payload.v;
                  return msg;
            - downsampler:
                default:
                  deadband:
                    threshold: 5
                overrides:
                  - pattern: "*.oven1.*"
                    deadband:
                      threshold: 100
            - mapping: |
                root = this
                root.topic = @umh_topic
                root.by = @downsampled_by
        """,
        out,
    )
    got = records(out)
    oven0 = [r for r in got if ".oven0." in r["topic"]]
    oven1 = [r for r in got if ".oven1." in r["topic"]]
    # oven0 (even i): 50 until i=20, then 50+i: kept at 50 (i=2), 72 (i=22), 78, 84, 90
    assert [r["value"] for r in oven0] == [50.0, 72.0, 78.0, 84.0, 90.0]
    assert {r["by"] for r in oven0} == {"deadband(threshold=5)"}
    # oven1 never changes by 100: its first point, then the last one held when the input ends
    assert [r["value"] for r in oven1] == [50.0, 89.0]
