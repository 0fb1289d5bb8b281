"""Topics chosen by regular expression (`regexp_topics` of kafka_franz and redpanda_common,
`regexp_topics_include/_exclude` of redpanda) against a real Kafka broker (Tansu), as UMH's
bridges read `umh.v1.*`; and a `redpanda` output connecting as the top-level `redpanda:`
section says."""

from __future__ import annotations

import json
from pathlib import Path

from peers.stream_run import out_lines, run_stream, run_to_end, run_until, stream_config
from peers.tansu import Tansu


def _fill(tansu: Tansu, topic: str, values: list[int]) -> None:
    tansu.produce(topic, [(0, None, json.dumps({"v": v}).encode(), None) for v in values])


def test_kafka_franz_reads_every_topic_its_patterns_match(tmp_path: Path, tansu: Tansu) -> None:
    base = tansu.new_topic_name("umh")
    press = tansu.create_topic(f"{base}.v1.plant.press")
    oven = tansu.create_topic(f"{base}.v1.plant.oven", partitions=2)
    other = tansu.create_topic(f"{base}.v2.plant.mill")
    _fill(tansu, press, [1, 2])
    _fill(tansu, oven, [3, 4])
    _fill(tansu, other, [99])
    out = tmp_path / "out.jsonl"
    config = stream_config(
        tmp_path / "bridge.yaml",
        f"""
        input:
          kafka_franz:
            seed_brokers: [ "{tansu.address}" ]
            regexp_topics: true
            topics: [ '^{base}\\.v1\\.' ]
            consumer_group: bridge
        pipeline:
          processors:
            - mapping: 'root = this.merge({{"topic": @kafka_topic}})'
        """,
        out,
    )
    run_until(config, lambda: len(out_lines(out)) >= 4, 30, "the four v1 readings", linger=1.0)
    rows = [json.loads(line) for line in out_lines(out)]
    assert sorted(r["v"] for r in rows) == [1, 2, 3, 4]  # not the v2 topic's
    assert {r["topic"] for r in rows} == {press, oven}


def test_redpanda_include_and_exclude_patterns(tmp_path: Path, tansu: Tansu) -> None:
    base = tansu.new_topic_name("line")
    keep = tansu.create_topic(f"{base}-a.telemetry")
    drop = tansu.create_topic(f"{base}-b.debug")
    _fill(tansu, keep, [1])
    _fill(tansu, drop, [2])
    out = tmp_path / "out.jsonl"
    config = stream_config(
        tmp_path / "read.yaml",
        f"""
        input:
          redpanda:
            seed_brokers: [ "{tansu.address}" ]
            regexp_topics_include: [ '^{base}-' ]
            regexp_topics_exclude: [ 'debug$' ]
        """,
        out,
    )
    run_until(config, lambda: len(out_lines(out)) >= 1, 30, "the telemetry reading", linger=1.0)
    assert [json.loads(line)["v"] for line in out_lines(out)] == [1]


def test_no_matching_topic_is_a_clear_error(tmp_path: Path, tansu: Tansu) -> None:
    config = stream_config(
        tmp_path / "none.yaml",
        f"""
        input:
          redpanda:
            seed_brokers: [ "{tansu.address}" ]
            regexp_topics_include: [ '^no-such-topic-anywhere$' ]
        """,
        tmp_path / "out.jsonl",
    )
    done = run_to_end(config, timeout=60)
    assert done.returncode != 0
    assert "no topic of the cluster matches ^no-such-topic-anywhere$" in done.stderr


def test_a_redpanda_output_connects_as_the_top_level_section_says(
    tmp_path: Path, tansu: Tansu
) -> None:
    topic = tansu.create_topic(tansu.new_topic_name("shared"))
    run_stream(
        tmp_path / "write.yaml",
        f"""
        input:
          generate:
            count: 5
            interval: ""
            mapping: 'root = {{"n": counter()}}'
        output:
          redpanda:
            topic: "{topic}"
        redpanda:
          seed_brokers: [ "{tansu.address}" ]
          client_id: shared-client
        """,
    )
    got = tansu.consume_all(topic, expect=5)
    assert sorted(json.loads(m.value())["n"] for m in got) == [1, 2, 3, 4, 5]
