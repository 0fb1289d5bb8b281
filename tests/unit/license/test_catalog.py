"""The catalog: which licence features a component and the security methods in its config need."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamforge.config.loader import load_stream
from streamforge.license import catalog
from streamforge.license.catalog import feature_of, register_feature
from streamforge.license.gate import feature_uses


def _stream(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return load_stream(path)


def _features(tmp_path: Path, text: str) -> list[tuple[str, str, str, str]]:
    """(kind, name, category, feature) for every use in a stream, in walk order."""
    stream = _stream(tmp_path, text)
    return [(u.kind, u.name, u.category, u.feature) for u in feature_uses(stream)]


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("input", "mqtt", [("bindings", "mqtt")]),
        ("output", "mqtt", [("bindings", "mqtt")]),
        ("input", "http_server", [("bindings", "http")]),
        ("output", "http_client", [("bindings", "http")]),
        ("input", "kafka", [("bindings", "kafka")]),
        ("output", "kafka", [("bindings", "kafka")]),
        ("input", "modbus", [("bindings", "modbus")]),
        ("input", "opcua", [("bindings", "opcua")]),
        ("processor", "alarm", [("processors", "alarm")]),
        ("processor", "mapping", [("processors", "mapping")]),
        ("processor", "parquet_encode", [("storage", "parquet")]),
        ("processor", "parquet_decode", [("storage", "parquet")]),
    ],
)
def test_bindings_processors_and_storage(
    kind: str, name: str, expected: list[tuple[str, str]]
) -> None:
    assert feature_of(kind, name, {}) == expected


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("input", "generate"),
        ("input", "file"),
        ("input", "stdin"),
        ("output", "stdout"),
        ("output", "file"),
        ("output", "drop"),
        ("output", "broker"),
        ("output", "switch"),
        ("output", "fallback"),
        ("output", "reject_errored"),
        ("input", "some_plugin_input"),
        ("cache", "memory"),
        ("input", "resource"),
    ],
)
def test_core_components_need_nothing(kind: str, name: str) -> None:
    assert feature_of(kind, name, {}) == []


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"tls": {"enabled": False}}, []),
        ({"tls": {"enabled": True, "client_certs": []}}, ["tls"]),
        ({"tls": {"enabled": True, "client_certs": [{"cert_file": "c.pem"}]}}, ["mtls"]),
        ({"tls": {"enabled": True, "client_certs": [{"cert": "---PEM---"}]}}, ["mtls"]),
        ({"basic_auth": {"enabled": True, "username": "u"}}, ["basic_auth"]),
        ({"basic_auth": {"enabled": False, "username": "u"}}, []),
        ({"user": "bob", "password": "x"}, ["basic_auth"]),
        ({"user": "", "password": ""}, []),
        ({"username": "op", "password": "x"}, ["basic_auth"]),
        ({"mqtt": {"credentials": {"username": "edge", "password": "x"}}}, ["basic_auth"]),
        ({"credentials": {"id": "AKIA", "secret": "x"}}, []),
        ({"sasl": {"mechanism": "none", "user": "u"}}, []),
        ({"sasl": {"mechanism": "PLAIN", "user": "u"}}, ["sasl_plain"]),
        # amqp_1 writes its mechanisms in lower case
        ({"sasl": {"mechanism": "plain", "user": "u", "password": "x"}}, ["sasl_plain"]),
        ({"sasl": {"mechanism": "SCRAM-SHA-256"}}, ["sasl_scram"]),
        ({"sasl": {"mechanism": "SCRAM-SHA-512"}}, ["sasl_scram"]),
        ({"securityMode": "None"}, []),
        ({"securityMode": "Sign"}, ["opcua_certificate"]),
        ({"securityMode": "SignAndEncrypt"}, ["opcua_certificate"]),
        ({"jwt": {"enabled": True}}, ["bearer_token"]),
        ({"bearer_token": "abc"}, ["bearer_token"]),
        # nested blocks count: the validate processor's schema_registry
        ({"schema_registry": {"basic_auth": {"enabled": True}}}, ["basic_auth"]),
    ],
)
def test_security_methods_from_config(conf: dict[str, Any], expected: list[str]) -> None:
    assert catalog.security_methods(conf) == expected
    assert [f for c, f in feature_of("output", "stdout", conf) if c == "security"] == expected


def test_real_component_configs(tmp_path: Path) -> None:
    """Configs as users write them, validated with defaults filled in."""
    uses = _features(
        tmp_path,
        """
        input:
          kafka:
            addresses: [localhost:9092]
            topics: [t]
            consumer_group: g
            tls:
              enabled: true
              client_certs:
                - cert_file: client.pem
                  key_file: client.key
            sasl:
              mechanism: SCRAM-SHA-256
              user: u
              password: p
        output:
          mqtt: {urls: ["tcp://h:1883"], topic: t, user: u}
        """,
    )
    assert uses == [
        ("input", "kafka", "bindings", "kafka"),
        ("input", "kafka", "security", "mtls"),
        ("input", "kafka", "security", "sasl_scram"),
        ("output", "mqtt", "bindings", "mqtt"),
        ("output", "mqtt", "security", "basic_auth"),
    ]


def test_redpanda_sasl_lists_and_the_shared_redpanda_section(tmp_path: Path) -> None:
    """Redpanda Connect writes `sasl` as a list; redpanda_common connects with the security
    of the top-level `redpanda:` section, which counts as the component's."""
    uses = _features(
        tmp_path,
        """
        redpanda:
          seed_brokers: [localhost:9092]
          tls: {enabled: true}
          sasl:
            - mechanism: SCRAM-SHA-512
              username: gateway
              password: secret
        input:
          redpanda_common:
            topics: [readings]
            consumer_group: g
        output:
          redpanda:
            seed_brokers: [localhost:9092]
            topic: out
            sasl: [{mechanism: PLAIN, username: u, password: p}]
        """,
    )
    assert uses == [
        ("input", "redpanda_common", "bindings", "kafka"),
        ("input", "redpanda_common", "security", "tls"),
        ("input", "redpanda_common", "security", "sasl_scram"),
        ("output", "redpanda", "bindings", "kafka"),
        ("output", "redpanda", "security", "sasl_plain"),
    ]
    # a redpanda output naming no brokers connects as the section says
    shared = _features(
        tmp_path,
        """
        redpanda:
          seed_brokers: [localhost:9092]
          tls: {enabled: true}
        input:
          generate: {mapping: 'root = 1', count: 1}
        output:
          redpanda: {topic: out}
        """,
    )
    assert ("output", "redpanda", "security", "tls") in shared


def test_opcua_modes_and_http_client_basic_auth(tmp_path: Path) -> None:
    uses = _features(
        tmp_path,
        """
        input:
          opcua:
            endpoint: opc.tcp://localhost:4840
            nodeIDs: ["ns=2;s=x"]
            securityMode: SignAndEncrypt
            securityPolicy: Basic256Sha256
        output:
          http_client:
            url: https://example.test/in
            basic_auth: {enabled: true, username: u, password: p}
            tls: {enabled: true}
        """,
    )
    assert uses == [
        ("input", "opcua", "bindings", "opcua"),
        ("input", "opcua", "security", "opcua_certificate"),
        ("output", "http_client", "bindings", "http"),
        ("output", "http_client", "security", "basic_auth"),
        ("output", "http_client", "security", "tls"),
    ]


def test_nested_components_and_resources(tmp_path: Path) -> None:
    """Switch cases, try/catch/branch, broker/fallback/switch/reject_errored outputs, output
    batching processors and resources are all walked."""
    uses = _features(
        tmp_path,
        """
        input:
          generate: {mapping: root = 1, count: 1}
        pipeline:
          processors:
            - switch:
                - check: this.a == 1
                  processors:
                    - alarm: {rules: []}
            - try:
                - downsample: {method: deadband, deadband: {absolute: 1}}
            - catch:
                - schema_registry_decode: {url: http://registry}
            - branch:
                request_map: root = this
                processors:
                  - parquet_decode: {}
            - resource: encoder
        output:
          broker:
            outputs:
              - fallback:
                  - reject_errored:
                      kafka: {addresses: [k:9092], topic: t}
                  - switch:
                      cases:
                        - check: "true"
                          output:
                            mqtt: {urls: ["tcp://h:1883"], topic: t}
              - file:
                  path: out.txt
                  batching:
                    count: 10
                    processors:
                      - schema_registry_encode: {url: http://registry, subject: s}
        processor_resources:
          - label: encoder
            parquet_encode:
              schema: [{name: a, type: INT32}]
        output_resources:
          - label: spare
            http_client: {url: http://x}
        """,
    )
    assert uses == [
        ("processor", "switch", "processors", "switch"),
        ("processor", "alarm", "processors", "alarm"),
        ("processor", "try", "processors", "try"),
        ("processor", "downsample", "processors", "downsample"),
        ("processor", "catch", "processors", "catch"),
        ("processor", "schema_registry_decode", "processors", "schema_registry_decode"),
        ("processor", "branch", "processors", "branch"),
        ("processor", "parquet_decode", "storage", "parquet"),
        ("output", "kafka", "bindings", "kafka"),
        ("output", "mqtt", "bindings", "mqtt"),
        ("processor", "schema_registry_encode", "processors", "schema_registry_encode"),
        ("processor", "parquet_encode", "storage", "parquet"),
        ("output", "http_client", "bindings", "http"),
    ]


@pytest.fixture
def clean_registrations() -> Iterator[None]:
    saved = catalog.registered_features()
    yield
    with catalog._lock:
        catalog._registered.clear()
        catalog._registered.update(saved)


@pytest.mark.usefixtures("clean_registrations")
def test_plugins_declare_their_own_features() -> None:
    assert feature_of("input", "profinet", {}) == []
    register_feature("input", "profinet", "bindings", "profinet")
    register_feature("input", "profinet", "security", "mtls")
    register_feature("input", "profinet", "bindings", "profinet")  # again: no duplicate
    assert feature_of("input", "profinet", {}) == [
        ("bindings", "profinet"),
        ("security", "mtls"),
    ]
    register_feature("processor", "forecast", "storage", "timeseries")
    assert feature_of("processor", "forecast", {}) == [("storage", "timeseries")]


@pytest.mark.usefixtures("clean_registrations")
def test_register_feature_refuses_an_unknown_category() -> None:
    with pytest.raises(ValueError, match="unknown feature category 'binding'"):
        register_feature("input", "profinet", "binding", "profinet")
    with pytest.raises(ValueError, match="must not be empty"):
        register_feature("input", "profinet", "bindings", "")
