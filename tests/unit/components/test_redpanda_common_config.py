"""The top-level `redpanda:` section and the `redpanda_common` input and output: translation to
the kafka components, the section's checks, and lint of configs with and without the section."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from streamforge.config import lint_paths
from streamforge.config.dump import stream_to_dict
from streamforge.config.loader import load_stream
from streamforge.connectors.redpanda_common import (
    byte_size,
    common_input_conf,
    common_output_conf,
    shared_section,
)
from streamforge.engine.instantiate import build_problems
from streamforge.inputs.redpanda import kafka_input_conf
from streamforge.outputs.redpanda import kafka_output_conf
from streamforge.plugin import registry
from streamforge.plugin.testing import PluginTestContext

SECTION = {
    "seed_brokers": ["rp-1:9092,rp-2:9092"],
    "client_id": "line4",
    "tls": {"enabled": True, "skip_cert_verify": True},
    "sasl": [{"mechanism": "SCRAM-SHA-512", "username": "gw", "password": "pw"}],
    "partitioner": "least_backup",
    "compression": "zstd",
    "idempotent_write": False,
    "timeout": "3s",
    "max_message_bytes": "2MiB",
}


def lint(tmp_path: Path, text: str) -> list[str]:
    """What `streamforge lint` reports: config problems, then what building refuses."""
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    found = lint_paths([str(path)])
    if not found:
        found = build_problems(load_stream(path))
    return [str(p).replace(str(tmp_path) + "/", "") for p in found]


def test_the_input_connects_with_the_sections_brokers_tls_and_sasl() -> None:
    conf = kafka_input_conf(
        common_input_conf(SECTION, {"topics": ["press.telemetry"], "consumer_group": "g"})
    )
    assert conf["addresses"] == ["rp-1:9092,rp-2:9092"] and conf["client_id"] == "line4"
    assert conf["tls"]["enabled"] is True
    assert conf["sasl"] == {"mechanism": "SCRAM-SHA-512", "user": "gw", "password": "pw"}
    assert conf["topics"] == ["press.telemetry"] and conf["consumer_group"] == "g"
    assert conf["start_from_oldest"] is True


def test_start_from_oldest_false_starts_at_the_latest_offset() -> None:
    old = kafka_input_conf(
        common_input_conf(SECTION, {"topics": ["t"], "start_from_oldest": False})
    )
    assert old["start_from_oldest"] is False
    committed = common_input_conf(
        SECTION, {"topics": ["t"], "start_from_oldest": False, "start_offset": "committed"}
    )
    assert committed["start_offset"] == "committed"
    regexp = common_input_conf(SECTION, {"topics": ["t.*"], "regexp_topics": True})
    assert (regexp["topics"], regexp["regexp_topics_include"]) == ([], ["t.*"])


def test_the_output_produces_with_the_sections_producer_settings() -> None:
    conf = kafka_output_conf(
        common_output_conf(SECTION, {"topic": "out", "key": "${! @id }", "max_in_flight": 10})
    )
    assert conf["addresses"] == ["rp-1:9092,rp-2:9092"] and conf["client_id"] == "line4"
    assert conf["partitioner"] == "random" and conf["compression"] == "zstd"
    assert conf["idempotent_write"] is False and conf["timeout"] == "3s"
    assert conf["max_msg_bytes"] == 2 * 1024 * 1024
    assert conf["topic"] == "out" and conf["key"] == "${! @id }" and conf["max_in_flight"] == 10
    plain = kafka_output_conf(common_output_conf({"seed_brokers": ["rp:9092"]}, {"topic": "t"}))
    assert plain["partitioner"] == "murmur2_hash" and plain["compression"] == "none"
    assert plain["idempotent_write"] is True and plain["max_msg_bytes"] == 1_000_000


def test_sizes_as_redpanda_connect_writes_them() -> None:
    assert byte_size("1MB", "x") == 1_000_000 and byte_size("50MiB", "x") == 50 * 2**20
    assert byte_size("1B", "x") == 1 and byte_size(4096, "x") == 4096
    with pytest.raises(ValueError, match="max_message_bytes: 'huge' is not a size"):
        byte_size("huge", "max_message_bytes")


def test_a_component_without_the_section_names_it() -> None:
    with pytest.raises(ValueError, match=r"top-level `redpanda:` section, and this config has"):
        shared_section(PluginTestContext(), "the redpanda_common input")
    ctx = PluginTestContext(sections={"redpanda": {"seed_brokers": ["rp:9092"]}})
    assert shared_section(ctx, "x") == {"seed_brokers": ["rp:9092"]}


def test_a_config_sharing_one_section_lints_and_keeps_it(tmp_path: Path) -> None:
    text = """\
        redpanda:
          seed_brokers: [ "localhost:9092" ]
          client_id: line4
          tls: { enabled: true, skip_cert_verify: true }
          sasl:
            - mechanism: SCRAM-SHA-256
              username: gateway
              password: secret
          metadata_max_age: 5m
          pipeline_id: line4-gateway
          partitioner: round_robin
          compression: lz4
          max_message_bytes: 5MiB
          allow_auto_topic_creation: false
        input:
          redpanda_common:
            topics: [ press.telemetry ]
            consumer_group: line4
            start_from_oldest: false
            commit_period: 1s
            auto_replay_nacks: true
        output:
          broker:
            outputs:
              - redpanda_common:
                  topic: press.curated
                  key: '${! @asset_id }'
                  metadata:
                    include_prefixes: [ "asset_" ]
                  max_in_flight: 20
                  batching: { count: 50, period: 100ms }
              - redpanda_common:
                  topic: press.audit
        """
    assert lint(tmp_path, text) == []
    stream = load_stream(tmp_path / "s.yaml")
    assert stream.sections["redpanda"]["client_id"] == "line4"
    assert stream.sections["redpanda"]["request_timeout_overhead"] == "10s"
    # `streamforge echo` writes the section back, so the echoed config runs the same
    echoed = stream_to_dict(stream)
    assert echoed["redpanda"]["sasl"][0]["username"] == "gateway"
    assert lint(tmp_path, yaml.safe_dump(echoed)) == []


def test_components_without_the_section_are_lint_errors_at_their_place(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """\
        input:
          redpanda_common:
            topics: [ a ]
        output:
          fallback:
            - redpanda_common:
                topic: b
            - drop: {}
        """,
    )
    assert len(problems) == 2, problems
    assert problems[0].startswith("s.yaml:2:3:") and "redpanda_common input" in problems[0]
    assert problems[1].startswith("s.yaml:6:7:") and "redpanda_common output" in problems[1]
    assert all("top-level `redpanda:` section" in p for p in problems)


def test_the_section_refuses_what_cannot_work(tmp_path: Path) -> None:
    base = "input:\n  redpanda_common:\n    topics: [ a ]\noutput:\n  drop: {}\n"
    cases = {
        "  logs_topic: __redpanda.connect.logs\n": ("s.yaml:3:15:", "logs_topic"),
        "  status_topic: __redpanda.connect.status\n": ("s.yaml:3:17:", "status_topic"),
        "  max_message_bytes: lots\n": ("s.yaml:3:22:", "not a size"),
        "  compression: brotli\n": ("s.yaml:3:16:", "compression"),
        "  sasl: [ { mechanism: OAUTHBEARER } ]\n": ("s.yaml:3:", "mechanism"),
        "  tls: { enabled: true, root_cas_file: ./no-ca.pem }\n": ("s.yaml:3:8:", "no-ca.pem"),
    }
    for line, (place, words) in cases.items():
        text = "redpanda:\n  seed_brokers: [ localhost:9092 ]\n" + line + base
        problems = lint(tmp_path, text)
        assert len(problems) == 1 and problems[0].startswith(place), (line, problems)
        assert words in problems[0], problems
    problems = lint(tmp_path, "redpanda:\n  client_id: x\n" + base)
    assert len(problems) == 1 and "redpanda.seed_brokers" in problems[0], problems


@pytest.mark.parametrize("kind", ["input", "output"])
def test_spec_examples_lint_beside_a_section(tmp_path: Path, kind: str) -> None:
    spec = registry.get(kind, "redpanda_common")  # type: ignore[arg-type]
    assert spec is not None and spec.examples
    for example in spec.examples:
        stream: dict[str, object] = {
            "redpanda": {"seed_brokers": ["localhost:9092"]},
            "input": {"generate": {"count": 1, "interval": "", "mapping": "root = 1"}},
            "output": {"drop": {}},
        }
        stream[kind] = yaml.safe_load(example)
        assert lint(tmp_path, yaml.safe_dump(stream)) == []
