"""`kafka` input/output configuration: specs, lint, topics, TLS/SASL and headers, no network."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from component_helpers import Ctx

from streamforge.config import lint_paths
from streamforge.connectors.kafka import client_config, split_addresses
from streamforge.inputs.kafka.kafka import KafkaInput, TopicSpec, parse_topics
from streamforge.message import Message
from streamforge.outputs.kafka.kafka import header_filter
from streamforge.outputs.kafka.writer import KafkaWriter
from streamforge.plugin import registry

pytest.importorskip("confluent_kafka")


def lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def field_names(kind: str) -> set[str]:
    spec = registry.get(kind, "kafka")  # type: ignore[arg-type]
    assert spec is not None
    return {f.name for f in spec.fields}


def test_specs_use_benthos_field_names() -> None:
    shared = {"addresses", "client_id", "tls", "sasl"}
    assert shared | {"topics", "consumer_group", "start_from_oldest"} <= field_names("input")
    assert shared | {
        "topic", "key", "partition", "partitioner", "compression", "max_in_flight",
        "idempotent_write", "metadata", "batching", "timeout", "ack_replicas",
    } <= field_names("output")  # fmt: skip


def test_full_config_lints_clean(tmp_path: Path) -> None:
    assert (
        lint(
            tmp_path,
            """
            input:
              kafka:
                addresses: [ "a:9092,b:9092" ]
                topics: [ telemetry, "alarms:0-3" ]
                consumer_group: gw
                start_from_oldest: false
                tls: { enabled: true, root_cas_file: /etc/ca.pem }
                sasl: { mechanism: SCRAM-SHA-512, user: u, password: p }
            output:
              kafka:
                addresses: [ "a:9092" ]
                topic: 'out.${! @kafka_topic }'
                key: '${! @kafka_key }'
                partitioner: murmur2_hash
                compression: zstd
                idempotent_write: true
                metadata: { include_patterns: [ "^asset_" ] }
                batching: { count: 100, period: 50ms }
            """,
        )
        == []
    )


def test_lint_names_a_bad_partitioner_and_sasl_mechanism(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        input:
          kafka:
            addresses: [ a:9092 ]
            topics: [ t ]
            sasl: { mechanism: KERBEROS }
        output:
          kafka:
            addresses: [ a:9092 ]
            topic: t
            partitioner: sticky
        """,
    )
    assert any(p.startswith("s.yaml:5:") and "KERBEROS" in p for p in problems), problems
    assert any(p.startswith("s.yaml:10:") and "sticky" in p for p in problems), problems


def test_lint_requires_addresses_and_topics(tmp_path: Path) -> None:
    problems = lint(tmp_path, "input:\n  kafka: {}\noutput:\n  drop: {}\n")
    assert any("addresses" in p for p in problems), problems
    assert any("topics" in p for p in problems), problems


@pytest.mark.parametrize(
    ("topics", "expected"),
    [
        (["a"], [TopicSpec("a")]),
        (["a,b"], [TopicSpec("a"), TopicSpec("b")]),
        (["a:2"], [TopicSpec("a", (2,))]),
        (["a:0-3"], [TopicSpec("a", (0, 1, 2, 3))]),
        (["a:1", "a:3-4"], [TopicSpec("a", (1, 3, 4))]),
        (["a:1", "a"], [TopicSpec("a")]),
    ],
)
def test_topics_accept_benthos_partition_forms(
    topics: list[str], expected: list[TopicSpec]
) -> None:
    assert parse_topics(topics) == expected


@pytest.mark.parametrize("bad", [["a:x"], ["a:3-1"], [":1"], [""], []])
def test_bad_topics_are_rejected_with_the_offending_item(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="topics"):
        parse_topics(bad)


def test_explicit_partitions_need_no_broker_to_list() -> None:
    inp = KafkaInput({"addresses": ["127.0.0.1:1"], "topics": ["plant:0-2", "alarms:5"]}, Ctx())
    assert inp.partitions() == ["plant-0", "plant-1", "plant-2", "alarms-5"]


def test_addresses_may_be_comma_separated() -> None:
    assert split_addresses(["a:1, b:2", "c:3"]) == ["a:1", "b:2", "c:3"]
    with pytest.raises(ValueError, match="addresses"):
        split_addresses([])


def test_tls_and_sasl_map_to_librdkafka_settings() -> None:
    conf = client_config(
        {
            "addresses": ["a:9093"],
            "tls": {
                "enabled": True,
                "skip_cert_verify": True,
                "root_cas_file": "/ca.pem",
                "client_certs": [{"cert_file": "/c.pem", "key_file": "/k.pem"}],
            },
            "sasl": {"mechanism": "SCRAM-SHA-256", "user": "u", "password": "p"},
        }
    )
    assert conf["security.protocol"] == "sasl_ssl"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-256"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("u", "p")
    assert conf["ssl.ca.location"] == "/ca.pem"
    assert conf["ssl.certificate.location"] == "/c.pem"
    assert conf["ssl.key.location"] == "/k.pem"
    assert conf["enable.ssl.certificate.verification"] is False
    plain = client_config({"addresses": ["a:9092"]})
    assert plain["security.protocol"] == "plaintext"
    assert "sasl.mechanism" not in plain


def test_headers_follow_include_and_exclude_rules() -> None:
    wanted = header_filter(
        {
            "include_prefixes": ["asset_"],
            "include_patterns": ["_unit$"],
            "exclude_prefixes": ["asset_secret"],
        }
    )
    assert wanted is not None
    keys = ["asset_id", "asset_secret_token", "temp_unit", "kafka_key"]
    assert [k for k in keys if wanted(k)] == ["asset_id", "temp_unit"]
    assert header_filter({}) is None


def writer(**conf: object) -> KafkaWriter:
    return KafkaWriter({"addresses": ["127.0.0.1:1"], "topic": "t", **conf}, Ctx())


def test_manual_partitioner_needs_a_partition() -> None:
    with pytest.raises(ValueError, match="manual"):
        writer(partitioner="manual")


def test_a_partition_that_is_not_a_number_fails_that_message_only() -> None:
    out = writer(partition="${! @p }", timeout="200ms")
    try:
        bad = Message(b"x", {"p": "seven"})
        failed = out.write_batch([bad])
        assert failed == [bad]
        assert "partition 'seven' is not an integer" in (bad.error or "")
    finally:
        out.close()


def test_undeliverable_records_come_back_failed_with_the_reason() -> None:
    out = writer(timeout="300ms")
    try:
        batch = [Message(b"a"), Message(b"b")]
        failed = out.write_batch(batch)
        assert failed == batch
        assert all("delivery to topic 't' failed" in (m.error or "") for m in failed)
        assert not out.health.conn.connected
    finally:
        out.close()


def test_each_undeliverable_record_fails_once_when_records_are_alike() -> None:
    out = writer(timeout="300ms", key="${! @k }")
    try:
        batch = [Message(b"a", {"k": "1"}), Message(b"a", {"k": "1"}), Message(b"a", {"k": "2"})]
        failed = out.write_batch(batch)
        assert sorted(map(id, failed)) == sorted(map(id, batch))
    finally:
        out.close()


def test_benthos_consumer_and_producer_tuning_fields_lint(tmp_path: Path) -> None:
    """Fields Benthos users set for its own client: accepted where the client here does the
    same its own way, refused where the meaning would change."""
    assert (
        lint(
            tmp_path,
            """
            input:
              kafka:
                addresses: [ localhost:9092 ]
                topics: [ readings ]
                consumer_group: gateway
                checkpoint_limit: 2048
                commit_period: 5s
                target_version: 3.6.0
                rack_id: rack-a
                group:
                  session_timeout: 20s
            output:
              kafka:
                addresses: [ localhost:9092 ]
                topic: out
                static_headers: { source: gateway }
                max_retries: 5
                backoff: { initial_interval: 1s }
            """,
        )
        == []
    )
    problems = lint(
        tmp_path,
        """
        input:
          kafka:
            addresses: [ localhost:9092 ]
            topics: [ readings ]
            multi_header: true
        output:
          kafka:
            addresses: [ localhost:9092 ]
            topic: out
            custom_topic_creation: { enabled: true, partitions: 3 }
        """,
    )
    assert len(problems) == 2, problems
    assert ":5:19:" in problems[0] and "headers as arrays are not supported" in problems[0]
    assert ":10:28:" in problems[1] and "creating topics is not supported" in problems[1]


def test_rack_id_reaches_the_client() -> None:
    settings = client_config({"addresses": ["b:9092"], "rack_id": "rack-a"})
    assert settings["client.rack"] == "rack-a"
