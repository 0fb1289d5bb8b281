"""The `amqp_1` input and output without a broker: Benthos field names, lint of Benthos-shaped
configs, what building refuses, connection settings, and how AMQP 1.0 messages read."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from proton import Message as AmqpMessage
from proton import symbol, ulong

from streamforge.config import lint_paths
from streamforge.connectors.amqp1 import Amqp1Settings
from streamforge.inputs.amqp_1 import metadata_of, payload_of
from streamforge.license.catalog import feature_of
from streamforge.plugin import registry
from streamforge.plugin.spec import offline_check_of


def lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def field_names(kind: str, name: str) -> set[str]:
    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None, name
    return {f.name for f in spec.fields}


def test_specs_use_benthos_field_names() -> None:
    assert field_names("input", "amqp_1") >= {
        "url", "urls", "source_address", "azure_renew_lock", "read_header", "credit", "tls",
        "sasl", "source_capabilities",
    }  # fmt: skip
    assert field_names("output", "amqp_1") >= {
        "url", "urls", "target_address", "max_in_flight", "tls", "application_properties_map",
        "sasl", "metadata", "content_type", "persistent", "target_capabilities",
        "message_properties_to", "message_properties_message_id",
        "message_properties_correlation_id", "message_properties_subject",
        "message_properties_reply_to", "message_properties_group_id",
        "message_properties_group_sequence", "message_properties_reply_to_group_id",
        "message_properties_user_id", "message_properties_content_type",
        "message_properties_content_encoding",
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["input", "output"])
def test_each_side_needs_the_amqp_binding(kind: str) -> None:
    assert ("bindings", "amqp") in feature_of(kind, "amqp_1", {})


def test_benthos_shaped_configs_lint_clean(tmp_path: Path) -> None:
    text = """
    input:
      amqp_1:
        url: amqp://guest:guest@localhost:5672/
        source_address: /foo
        azure_renew_lock: false
        read_header: true
        credit: 64
        sasl:
          mechanism: plain
          user: ${AMQP_USER:guest}
          password: ${AMQP_PASSWORD:guest}
    output:
      amqp_1:
        urls: [ "amqp://127.0.0.1:5672/,amqp://127.0.0.2:5672/" ]
        target_address: queue:/bar
        max_in_flight: 64
        application_properties_map: |
          root.site = @site
          root.kind = this.kind
        metadata:
          exclude_prefixes: [ kafka_ ]
        content_type: string
        persistent: true
        target_capabilities: [ queue ]
        message_properties_message_id: ${! uuid_v4() }
        message_properties_content_type: application/json
    """
    assert lint(tmp_path, text) == []


def test_bad_urls_are_reported_where_they_are(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        input:
          amqp_1:
            urls:
              - amqp://127.0.0.1:5672/
              - http://127.0.0.1:5672/
            source_address: /amq/queue/telemetry
        output:
          amqp_1:
            url: amqp://127.0.0.1:99999/
            target_address: /amq/queue/out
        """,
    )
    assert problems == [
        "s.yaml:5:9: field urls.1: 'http://127.0.0.1:5672/' is not an amqp:// or amqps:// URL",
        "s.yaml:9:10: field url: bad port in 'amqp://127.0.0.1:99999/': Port out of range 0-65535",
    ]


def test_bad_choices_get_a_did_you_mean(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        input:
          amqp_1:
            urls: [ amqp://localhost:5672/ ]
            source_address: /foo
            sasl: { mechanism: plian }
        output:
          amqp_1:
            urls: [ amqp://localhost:5672/ ]
            target_address: /bar
            content_type: strng
        """,
    )
    assert any(p.startswith("s.yaml:5:") and '"plain"' in p for p in problems), problems
    assert any(p.startswith("s.yaml:10:") and '"string"' in p for p in problems), problems


@pytest.mark.parametrize(
    ("kind", "conf", "error"),
    [
        ("input", {"urls": ["amqp://h"]}, "source_address"),
        ("input", {"source_address": "/q"}, "at least one broker URL"),
        ("input", {"urls": ["amqp://h"], "source_address": "/q", "credit": 0}, "at least 1"),
        ("input", {"urls": ["amqp://h"], "source_address": "/q",
                   "sasl": {"mechanism": "plain"}}, "needs a user"),
        ("input", {"urls": ["amqps://h"], "source_address": "/q",
                   "tls": {"enabled": True, "root_cas_file": "/nonexistent"}}, "cannot load"),
        ("output", {"urls": ["amqp://h"]}, "message_properties_to must name"),
        ("output", {"urls": ["amqp://h"], "target_address": "/q", "max_in_flight": 0},
         "at least 1"),
        ("output", {"urls": ["amqp://h"], "target_address": "/q",
                    "application_properties_map": "root = ("}, "application_properties_map"),
    ],
)  # fmt: skip
def test_bad_configs_are_refused_before_connecting(
    kind: str, conf: dict[str, Any], error: str
) -> None:
    spec = registry.get(kind, "amqp_1")  # type: ignore[arg-type]
    assert spec is not None
    check = offline_check_of(spec.factory)
    assert check is not None
    with pytest.raises(ValueError, match=error):
        check(conf, None)  # type: ignore[arg-type]


def test_connection_settings() -> None:
    s = Amqp1Settings.from_conf({"urls": ["amqp://u%40x:p%3Aw@h:5673/, amqps://h2"]})
    assert s.urls == ["amqp://u%40x:p%3Aw@h:5673/", "amqps://h2"]
    assert s.display == "amqp://h:5673,amqps://h2"
    plain = s.connect_options(s.urls[0], None)
    assert plain["url"] == "amqp://h:5673"
    assert (plain["user"], plain["password"], plain["allowed_mechs"]) == ("u@x", "p:w", "PLAIN")
    secure = s.connect_options(s.urls[1], "domain")
    assert (secure["url"], secure["ssl_domain"]) == ("amqps://h2:5671", "domain")
    assert secure["allowed_mechs"] == "ANONYMOUS"
    sasl = Amqp1Settings.from_conf(
        {"url": "amqp://h", "sasl": {"mechanism": "plain", "user": "a", "password": "b"}}
    )
    assert sasl.urls == ["amqp://h"]
    assert sasl.connect_options("amqp://h", None)["user"] == "a"
    tls = Amqp1Settings.from_conf({"urls": ["amqp://h:5671"], "tls": {"enabled": True}})
    assert tls.connect_options("amqp://h:5671", "d")["url"] == "amqps://h:5671"


def test_received_messages_become_payload_and_metadata() -> None:
    msg = AmqpMessage(
        body=b"\x00raw",
        inferred=True,
        content_type=symbol("application/octet-stream"),
        subject="reading",
        id=ulong(7),
        correlation_id=uuid.UUID(int=1),
        properties={"site": "hamburg", "line": 2, "ok": True},
        annotations={symbol("x-opt-origin"): "plc-4", symbol("x-opt-count"): 3},
        durable=True,
        creation_time=1_700_000_000.0,
    )
    assert payload_of(msg.body) == b"\x00raw"
    assert payload_of("text") == b"text"
    assert payload_of({"a": [1, symbol("s")]}) == b'{"a":[1,"s"]}'
    assert payload_of(None) == b""
    meta = metadata_of(msg, read_header=False)
    assert meta == {
        "site": "hamburg",
        "line": 2,
        "ok": True,
        "x_opt_origin": "plc-4",
        "x_opt_count": 3,
        "amqp_content_type": "application/octet-stream",
        "amqp_subject": "reading",
        "amqp_message_id": 7,
        "amqp_correlation_id": "00000000-0000-0000-0000-000000000001",
        "amqp_creation_time": "2023-11-14T22:13:20Z",
    }
    header = metadata_of(msg, read_header=True)
    assert header["amqp_durable"] is True
    assert header["amqp_delivery_count"] == 0
    assert header["amqp_first_acquirer"] is False
