"""`mqtt` input/output configuration: specs, lint and validation, without a network."""

from __future__ import annotations

import ssl
import textwrap
from pathlib import Path
from typing import Any

import pytest
from component_helpers import Ctx

from streamforge.config import lint_paths
from streamforge.connectors.mqtt import MqttSettings, build_ssl_context, parse_url
from streamforge.inputs.mqtt import MqttInput
from streamforge.outputs.mqtt import MqttOutput, parse_retained
from streamforge.plugin import registry


def lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def field_names(kind: str) -> set[str]:
    spec = registry.get(kind, "mqtt")  # type: ignore[arg-type]
    assert spec is not None
    return {f.name for f in spec.fields}


def test_specs_use_benthos_field_names() -> None:
    shared = {
        "urls", "client_id", "dynamic_client_id_suffix", "connect_timeout", "keepalive",
        "user", "password", "tls", "will",
    }  # fmt: skip
    assert shared | {"topics", "qos", "clean_session"} <= field_names("input")
    assert shared | {"topic", "qos", "retained", "write_timeout", "max_in_flight"} <= field_names(
        "output"
    )


def test_full_config_lints_clean(tmp_path: Path) -> None:
    assert (
        lint(
            tmp_path,
            """
            input:
              mqtt:
                urls: [ ssl://broker:8883 ]
                client_id: gw-1
                connect_timeout: 5s
                keepalive: 10
                user: u
                password: p
                topics: [ plant/+/data, plant/line1/# ]
                qos: 2
                clean_session: false
                tls:
                  enabled: true
                  root_cas_file: ./ca.pem
                  skip_cert_verify: false
                  client_certs: [ { cert_file: c.pem, key_file: k.pem } ]
                will: { enabled: true, qos: 1, retained: true, topic: gw/status, payload: gone }
            output:
              mqtt:
                urls: [ tcp://broker:1883 ]
                dynamic_client_id_suffix: nanoid
                topic: 'out/${! @mqtt_topic }'
                qos: 0
                retained: true
                write_timeout: 2s
                max_in_flight: 10
            """,
        )
        == []
    )


def test_misspelt_field_gets_a_did_you_mean(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        input:
          mqtt:
            urls: [ tcp://b:1883 ]
            topic: [ a ]
        """,
    )
    assert problems == [
        's.yaml:2:3: input mqtt: missing required field "topics"',
        's.yaml:4:5: unknown field "topic" in input mqtt, did you mean "topics"?',
    ]


def test_bad_interpolation_in_topic_is_a_lint_problem(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        output:
          mqtt:
            urls: [ tcp://b:1883 ]
            topic: 'out/${! this.( }'
        """,
    )
    assert len(problems) == 1 and problems[0].startswith("s.yaml:4:")


def make_input(**conf: Any) -> MqttInput:
    base: dict[str, Any] = {"urls": ["tcp://localhost:1883"], "topics": ["a/b"]}
    return MqttInput({**base, **conf}, Ctx())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("conf", "error"),
    [
        ({"qos": 3}, "qos: must be 0, 1 or 2"),
        ({"urls": ["http://x"]}, "scheme 'http' is not supported"),
        ({"urls": ["tcp://localhost:port"]}, "the port is not a number"),
        ({"urls": []}, "at least one broker URL"),
        ({"urls": ["tcp://a:1883", "ssl://b:8883"]}, "same kind of scheme"),
        ({"topics": []}, "at least one topic"),
        ({"topics": ["a/#/b"]}, "'#' must be the whole last level"),
        ({"topics": ["a/b+"]}, "'+' must be a whole level"),
        ({"clean_session": False}, "needs a fixed client_id"),
        (
            {"clean_session": False, "client_id": "x", "dynamic_client_id_suffix": "nanoid"},
            "needs a fixed client_id",
        ),
        ({"dynamic_client_id_suffix": "uuid"}, "not supported (nanoid)"),
        ({"will": {"enabled": True}}, "will.topic is required"),
        ({"will": {"enabled": True, "topic": "t", "qos": 5}}, "will.qos"),
        ({"tls": {"enabled": True, "root_cas_file": "/nonexistent/ca.pem"}}, "cannot load"),
        ({"tls": {"client_certs": [{"cert_file": "c.pem"}]}}, "tls.client_certs.0"),
        ({"connect_timeout": "0s"}, "connect_timeout must be positive"),
    ],
)
def test_invalid_input_configs_are_refused_with_the_reason(
    conf: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError) as info:
        make_input(**conf)
    assert error in str(info.value)


@pytest.mark.parametrize(
    ("conf", "error"),
    [
        ({"topic": ""}, "topic: a topic is required"),
        ({"qos": -1}, "qos: must be 0, 1 or 2"),
        ({"write_timeout": "0s"}, "write_timeout must be positive"),
        ({"max_in_flight": 0}, "max_in_flight must be between 1 and 65535"),
        ({"max_in_flight": 70000}, "max_in_flight must be between 1 and 65535"),
        ({"retained": "maybe"}, "is not a boolean"),
    ],
)
def test_invalid_output_configs_are_refused_with_the_reason(
    conf: dict[str, Any], error: str
) -> None:
    base: dict[str, Any] = {"urls": ["tcp://127.0.0.1:1"], "topic": "t"}
    with pytest.raises(ValueError) as info:
        MqttOutput({**base, **conf}, Ctx())  # type: ignore[arg-type]
    assert error in str(info.value)


def test_urls_schemes_ports_and_websocket_paths() -> None:
    tcp = parse_url("tcp://broker")
    assert (tcp.host, tcp.port, tcp.transport, tcp.tls) == ("broker", 1883, "tcp", False)
    tls = parse_url("ssl://broker")
    assert (tls.port, tls.tls) == (8883, True)
    ws = parse_url("ws://broker:8080")
    assert (ws.port, ws.transport, ws.path) == (8080, "websockets", "/mqtt")
    wss = parse_url("wss://broker/custom")
    assert (wss.port, wss.tls, wss.path) == (443, True, "/custom")
    with pytest.raises(ValueError, match="port"):
        parse_url("tcp://broker:99999")


def test_comma_separated_urls_expand() -> None:
    s = MqttSettings.from_conf({"urls": ["tcp://a:1,tcp://b:2"], "topics": ["t"]})
    assert [(u.host, u.port) for u in s.urls] == [("a", 1), ("b", 2)]


def test_client_ids_fixed_random_and_nanoid_suffix() -> None:
    fixed = MqttSettings.from_conf({"urls": ["tcp://a"], "client_id": "gw"})
    assert fixed.client_id == "gw"
    one = MqttSettings.from_conf(
        {"urls": ["tcp://a"], "client_id": "gw-", "dynamic_client_id_suffix": "nanoid"}
    )
    two = MqttSettings.from_conf(
        {"urls": ["tcp://a"], "client_id": "gw-", "dynamic_client_id_suffix": "nanoid"}
    )
    assert one.client_id.startswith("gw-") and len(one.client_id) == 3 + 21
    assert one.client_id != two.client_id
    anonymous = MqttSettings.from_conf({"urls": ["tcp://a"]})
    assert anonymous.client_id.startswith("streamforge-")


def test_tls_enabled_by_scheme_or_flag_and_skip_verify() -> None:
    assert MqttSettings.from_conf({"urls": ["tcp://a"]}).ssl_context() is None
    assert MqttSettings.from_conf({"urls": ["ssl://a"]}).ssl_context() is not None
    flagged = MqttSettings.from_conf({"urls": ["tcp://a"], "tls": {"enabled": True}})
    ctx = flagged.ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED
    insecure = build_ssl_context({"skip_cert_verify": True})
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("false", False), ("1", True), ("0", False), (" TRUE ", True), ("", False)],
)
def test_retained_values(text: str, value: bool) -> None:
    assert parse_retained(text) is value


def test_output_client_ids_differ_between_workers_and_cluster_processes() -> None:
    from streamforge.outputs.mqtt import _unique_client_id
    from streamforge.plugin.cluster import set_process

    assert [_unique_client_id("gw-ids") for _ in range(2)] == ["gw-ids", "gw-ids-2"]
    set_process(1)
    try:
        assert [_unique_client_id("gw-ids") for _ in range(2)] == ["gw-ids-p1", "gw-ids-p1-2"]
    finally:
        set_process(0)


def test_an_address_without_a_scheme_is_plain_tcp_as_in_benthos() -> None:
    from streamforge.connectors.mqtt import parse_url

    url = parse_url("broker.plant.local:1884")
    assert (url.host, url.port, url.transport, url.tls) == (
        "broker.plant.local",
        1884,
        "tcp",
        False,
    )
    assert parse_url("localhost").port == 1883
    assert make_input(urls=["localhost:1883"]).settings.urls[0].url == "tcp://localhost:1883"
