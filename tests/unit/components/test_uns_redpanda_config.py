"""`uns` and `redpanda` inputs and outputs: config translation, UMH topic filters and keys, lint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamforge.config import lint_paths
from streamforge.connectors.uns import sanitize_key
from streamforge.inputs.redpanda import kafka_input_conf
from streamforge.inputs.uns import topic_filter
from streamforge.outputs.redpanda import kafka_output_conf
from streamforge.outputs.uns import kafka_output_conf as uns_kafka_conf


def lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def test_uns_key_sanitising() -> None:
    assert sanitize_key("umh.v1.acme.plant 1._historian.temp(°C)") == (
        "umh.v1.acme.plant_1._historian.temp__C_"
    )
    assert sanitize_key("umh.v1.a-b.c_d") == "umh.v1.a-b.c_d"


def test_uns_topic_filters() -> None:
    [everything] = topic_filter({})
    assert everything.pattern == ".*"
    many = topic_filter({"umh_topics": [r"umh\.v1\.acme\.berlin\..+", r"umh\.v1\.acme\.paris\..+"]})
    key = "umh.v1.acme.paris._historian.temp"
    assert any(p.search(key) for p in many)
    assert not any(p.search("umh.v1.acme.rome._historian.temp") for p in many)
    [old] = topic_filter({"topic": "umh.v1.acme"})
    assert old.search("umh.v1.acme.x") is not None
    with pytest.raises(ValueError, match="cannot be used together"):
        topic_filter({"umh_topic": "a", "umh_topics": ["b"]})
    with pytest.raises(ValueError, match="not a regular expression"):
        topic_filter({"umh_topic": "umh.(v1"})


def test_uns_output_writes_umh_messages_with_headers_but_kafka_metadata() -> None:
    conf = uns_kafka_conf({"broker_address": "edge:9092"})
    assert conf["topic"] == "umh.messages" and conf["addresses"] == ["edge:9092"]
    assert conf["metadata"]["exclude_prefixes"] == ["kafka_"]


def test_redpanda_input_translation() -> None:
    conf = kafka_input_conf(
        {
            "seed_brokers": ["rp-1:9092,rp-2:9092"],
            "topics": ["press.telemetry", "press.events:0-1"],
            "consumer_group": "line4",
            "start_offset": "latest",
            "client_id": "gw",
            "sasl": [{"mechanism": "SCRAM-SHA-256", "username": "u", "password": "p"}],
            "tls": {"enabled": True, "skip_cert_verify": True},
        }
    )
    assert conf["addresses"] == ["rp-1:9092,rp-2:9092"]
    assert conf["topics"] == ["press.telemetry", "press.events:0-1"]
    assert conf["consumer_group"] == "line4" and conf["start_from_oldest"] is False
    assert conf["sasl"] == {"mechanism": "SCRAM-SHA-256", "user": "u", "password": "p"}
    assert conf["tls"]["enabled"] is True and conf["client_id"] == "gw"
    regexp = kafka_input_conf(
        {"seed_brokers": ["a"], "regexp_topics_include": ["x.*"], "regexp_topics_exclude": ["y"]}
    )
    assert (regexp["topics"], regexp["topic_patterns"], regexp["topic_excludes"]) == (
        [],
        ["x.*"],
        ["y"],
    )
    with pytest.raises(ValueError, match="at least one topic is needed"):
        kafka_input_conf({"seed_brokers": ["a"], "topics": []})


def test_redpanda_output_translation() -> None:
    conf = kafka_output_conf(
        {
            "seed_brokers": ["rp:9092"],
            "topic": "out",
            "key": "${! @id }",
            "partitioner": "least_backup",
            "metadata": {"include_prefixes": ["asset_"]},
            "max_in_flight": 10,
            "idempotent_write": False,
        }
    )
    assert conf["partitioner"] == "random" and conf["max_in_flight"] == 10
    assert conf["idempotent_write"] is False and conf["key"] == "${! @id }"
    assert conf["metadata"]["include_prefixes"] == ["asset_"]
    with pytest.raises(ValueError, match="timestamp_ms"):
        kafka_output_conf({"seed_brokers": ["rp:9092"], "topic": "t", "timestamp_ms": "${! 1 }"})


def test_documented_shapes_lint(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          uns:
            umh_topics:
              - "umh\\\\.v1\\\\.acme\\\\.berlin\\\\..+"
              - "umh\\\\.v1\\\\.acme\\\\.munich\\\\..+"
            broker_address: "edge-redpanda:9092"
            consumer_group: "analytics_reader"
        output:
          broker:
            outputs:
              - uns:
                  umh_topic: '${! meta("umh_topic") }'
                  bridged_by: "line4-gateway"
              - redpanda:
                  seed_brokers: [ "localhost:9092" ]
                  topic: press.curated
                  key: '${! @umh_topic }'
                  metadata:
                    include_prefixes: [ "umh_" ]
                  max_in_flight: 64
                  batching:
                    count: 50
                    period: 100ms
        """,
    )
    assert problems == []
    problems = lint(
        tmp_path,
        """\
        input:
          redpanda:
            seed_brokers: [ "localhost:9092" ]
            topics: [ press.telemetry ]
            consumer_group: line4
            start_offset: committed
            fetch_max_bytes: 50MiB
            session_timeout: 1m
        output:
          uns: {}
        """,
    )
    assert problems == []


def test_lint_refuses_what_cannot_work(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          redpanda:
            seed_brokers: [ "localhost:9092" ]
            topics: [ a ]
            start_offset: newest
        output:
          redpanda:
            seed_brokers: [ "localhost:9092" ]
            topic: b
            partitioner: sticky
        """,
    )
    assert any(p.startswith("s.yaml:5:") and "start_offset" in p for p in problems)
    assert any(p.startswith("s.yaml:10:") and "partitioner" in p for p in problems)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("input", "uns"),
        ("output", "uns"),
        ("input", "redpanda"),
        ("output", "redpanda"),
        ("processor", "nodered_js"),
        ("processor", "tag_processor"),
        ("processor", "downsampler"),
    ],
)
def test_spec_examples_lint(tmp_path: Path, kind: str, name: str) -> None:
    import yaml

    from streamforge.plugin import registry

    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None and spec.examples
    for example in spec.examples:
        component = yaml.safe_load(example)
        stream: dict[str, object] = {
            "input": {"generate": {"count": 1, "interval": "", "mapping": "root = 1"}},
            "output": {"drop": {}},
        }
        if kind == "processor":
            stream["pipeline"] = {"processors": [component]}
        else:
            stream[kind] = component
        path = tmp_path / f"{kind}-{name}.yaml"
        path.write_text(yaml.safe_dump(stream))
        assert lint_paths([str(path)]) == []
