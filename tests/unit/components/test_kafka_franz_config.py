"""`kafka_franz` input and output: Redpanda Connect's franz-go names as the kafka components'
settings, the shapes Connect documents linting clean, and what cannot work refused at its place."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from streamforge.config import lint_paths
from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.inputs.kafka_franz import franz_input_conf
from streamforge.license.catalog import registered_features
from streamforge.outputs.kafka_franz import franz_output_conf
from streamforge.plugin import load_builtins, registry


def lint(tmp_path: Path, text: str) -> list[str]:
    """What `streamforge lint` reports: config problems, then what building refuses."""
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    found = lint_paths([str(path)])
    if not found:
        found = build_problems(load_stream(path))
    return [str(p).replace(str(tmp_path) + "/", "") for p in found]


def test_input_fields_become_the_kafka_inputs() -> None:
    conf = franz_input_conf(
        {
            "seed_brokers": ["rp-1:9092,rp-2:9092"],
            "topics": ["press.telemetry,press.events"],
            "consumer_group": "line4",
            "client_id": "gw",
            "start_from_oldest": False,
            "sasl": [{"mechanism": "SCRAM-SHA-512", "username": "u", "password": "p"}],
            "tls": {"enabled": True, "skip_cert_verify": True},
            "batching": {"count": 50, "period": "1s"},
        }
    )
    assert conf["addresses"] == ["rp-1:9092,rp-2:9092"]
    assert conf["topics"] == ["press.telemetry,press.events"]
    assert conf["consumer_group"] == "line4" and conf["start_from_oldest"] is False
    assert conf["client_id"] == "gw" and conf["tls"]["enabled"] is True
    assert conf["sasl"] == {"mechanism": "SCRAM-SHA-512", "user": "u", "password": "p"}
    assert conf["batching"] == {"count": 50, "period": "1s"}


def test_the_newer_start_offset_wins_over_the_default_of_start_from_oldest() -> None:
    base = {"seed_brokers": ["k:9092"], "topics": ["t"]}
    assert franz_input_conf({**base, "start_offset": "latest"})["start_from_oldest"] is False
    assert franz_input_conf({**base, "start_from_oldest": True})["start_from_oldest"] is True


def test_output_fields_become_the_kafka_outputs() -> None:
    conf = franz_output_conf(
        {
            "seed_brokers": ["rp:9092"],
            "topic": "out",
            "key": "${! @id }",
            "partitioner": "round_robin",
            "max_message_bytes": "2MiB",
            "compression": "zstd",
            "idempotent_write": False,
            "acks": "leader",
            "metadata": {"include_prefixes": ["asset_"]},
        }
    )
    assert conf["partitioner"] == "round_robin" and conf["compression"] == "zstd"
    assert conf["max_msg_bytes"] == 2 * 1024 * 1024
    assert conf["max_in_flight"] == 10  # kafka_franz's default, not redpanda's 256
    assert conf["idempotent_write"] is False and conf["ack_replicas"] is False
    assert conf["metadata"]["include_prefixes"] == ["asset_"]
    plain = franz_output_conf({"seed_brokers": ["rp:9092"], "topic": "out"})
    assert plain["partitioner"] == "murmur2_hash" and plain["compression"] == "none"
    assert plain["ack_replicas"] is True and plain["max_msg_bytes"] == 1024 * 1024


def test_both_register_the_kafka_binding() -> None:
    load_builtins()
    features = registered_features()
    assert ("bindings", "kafka") in features[("input", "kafka_franz")]
    assert ("bindings", "kafka") in features[("output", "kafka_franz")]


def test_connects_documented_shapes_lint(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          kafka_franz:
            seed_brokers: [ "foo:9092", "bar:9092" ]
            topics: [ "foo,bar" ]
            consumer_group: benthos_group
            client_id: benthos
            rack_id: ""
            checkpoint_limit: 1024
            auto_replay_nacks: true
            commit_period: 5s
            start_from_oldest: true
            tls:
              enabled: false
              skip_cert_verify: false
            sasl:
              - mechanism: SCRAM-SHA-512
                username: foo
                password: bar
            multi_header: false
            batching:
              count: 10
              period: 1s
            metadata_max_age: 5m
        output:
          kafka_franz:
            seed_brokers: [ "foo:9092,bar:9092" ]
            topic: '${! @kafka_topic }-copy'
            key: '${! @kafka_key }'
            partitioner: manual
            partition: '${! @kafka_partition }'
            client_id: benthos
            idempotent_write: true
            metadata:
              include_prefixes: [ "kafka_" ]
              include_patterns: [ ".*" ]
            max_in_flight: 10
            timeout: 10s
            batching:
              count: 0
              byte_size: 5000
              period: 1s
            max_message_bytes: 1MB
            broker_write_max_bytes: 100MB
            compression: snappy
        """,
    )
    assert problems == []
    problems = lint(
        tmp_path,
        """\
        input:
          kafka_franz:
            seed_brokers: [ "localhost:9092" ]
            topics: [ "foo:0", "bar:1", "bar:3" ]
            start_offset: committed
            fetch_max_bytes: 50MiB
            session_timeout: 1m
        output:
          drop: {}
        """,
    )
    assert problems == []


def test_what_cannot_work_is_refused_at_its_place(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          kafka_franz:
            seed_brokers: [ "localhost:9092" ]
            topics: [ "things", "foo:0:10" ]
            regexp_topics: false
            multi_header: true
            checkpoint_limit: 0
            comit_period: 1s
        output:
          kafka_franz:
            seed_brokers: [ "localhost:9092" ]
            topic: b
            max_message_bytes: 1 megabyte
            timestamp_ms: '${! timestamp_unix_milli() }'
            compression: brotli
        """,
    )
    assert problems == [
        "s.yaml:4:25: field topics.1: 'foo:0:10': starting at an explicit offset is not "
        "supported; name the topic or topic:partition",
        "s.yaml:6:19: field multi_header: decoding headers into lists is not supported: a "
        "header repeated in a record keeps its last value",
        "s.yaml:7:23: field checkpoint_limit: must be at least 1",
        's.yaml:8:5: unknown field "comit_period" in input kafka_franz, did you mean '
        '"commit_period"?',
        "s.yaml:13:24: max_message_bytes: '1 megabyte' is not a size such as 1000, 1MB or 1MiB",
        "s.yaml:14:19: field timestamp_ms: setting the record time is not supported: records "
        "carry the time they were produced",
        's.yaml:15:18: field compression: "brotli" is not one of none, snappy, lz4, gzip, zstd',
    ]


def test_combinations_connect_refuses_are_refused_at_the_component(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          kafka_franz:
            seed_brokers: [ "localhost:9092" ]
            topics: [ "foo:0" ]
            consumer_group: g
        output:
          kafka_franz:
            seed_brokers: [ "localhost:9092" ]
            topic: b
            acks: leader
        """,
    )
    assert problems == [
        "s.yaml:2:3: input 'kafka_franz' (input): consumer_group: a consumer group cannot be "
        "used with explicit topic partitions (topic:partition)",
        "s.yaml:7:3: output 'kafka_franz' (output): acks: the idempotent producer needs "
        "`all`; set idempotent_write: false",
    ]


@pytest.mark.parametrize("kind", ["input", "output"])
def test_spec_examples_lint(tmp_path: Path, kind: str) -> None:
    load_builtins()
    spec = registry.get(kind, "kafka_franz")  # type: ignore[arg-type]
    assert spec is not None and spec.examples
    for example in spec.examples:
        stream: dict[str, object] = {
            "input": {"generate": {"count": 1, "interval": "", "mapping": "root = 1"}},
            "output": {"drop": {}},
            kind: yaml.safe_load(example),
        }
        path = tmp_path / f"{kind}.yaml"
        path.write_text(yaml.safe_dump(stream))
        assert lint_paths([str(path)]) == []
