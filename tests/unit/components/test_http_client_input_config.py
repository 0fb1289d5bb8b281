"""The `http_client` input and `http` processor without a network: specs, lint, licence."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamforge.config import load_stream
from streamforge.config.model import ConfigError
from streamforge.connectors.http import StatusRules, parse_verb
from streamforge.inputs.http_client import parse_interval, parse_stream_codec
from streamforge.license.catalog import feature_of


def stream(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_stream(stream(tmp_path, text))
    return str(err.value).splitlines()


def test_input_defaults_follow_benthos(tmp_path: Path) -> None:
    text = """
    input:
      http_client:
        url: http://plc:8080/properties/temperature
    output:
      drop: {}
    """
    conf = load_stream(stream(tmp_path, text)).input.conf
    assert conf["verb"] == "GET"
    assert (conf["timeout"], conf["retry_period"], conf["max_retry_backoff"]) == (
        "5s",
        "1s",
        "300s",
    )
    assert conf["retries"] == 3
    assert conf["backoff_on"] == [429] and conf["drop_on"] == [] and conf["successful_on"] == []
    assert conf["interval"] == "1s"
    assert conf["stream"] == {
        "enabled": False,
        "reconnect": True,
        "codec": "lines",
        "max_buffer": 1_000_000,
    }
    assert conf["extract_headers"]["include_patterns"] == [".*"]
    assert conf["basic_auth"]["enabled"] is False


def test_processor_defaults_follow_benthos(tmp_path: Path) -> None:
    text = """
    input:
      stdin: {}
    pipeline:
      processors:
        - http:
            url: http://enricher/lookup
    output:
      drop: {}
    """
    conf = load_stream(stream(tmp_path, text)).processors[0].conf
    assert conf["verb"] == "POST"
    assert conf["parallel"] is False and conf["batch_as_multipart"] is False
    assert conf["retries"] == 3 and conf["timeout"] == "5s"
    assert conf["extract_headers"] == {"include_prefixes": [], "include_patterns": []}


def test_lint_names_bad_fields_at_their_place(tmp_path: Path) -> None:
    text = """
    input:
      http_client:
        url: "http://plc/${! this.( }"
        verb: GTE
        interval: -1s
        stream:
          codec: json
    pipeline:
      processors:
        - http:
            url: ftp://enricher/lookup
            verb: FETCH
    output:
      drop: {}
    """
    lines = problems(tmp_path, text)
    path = str(tmp_path / "s.yaml")
    expect = [
        (3, "field url: bad interpolation"),
        (4, "field verb: unknown verb 'GTE'"),
        (5, "field interval:"),
        (7, "field stream.codec: unknown codec 'json'"),
        (11, "field url: url 'ftp://enricher/lookup': expected an http:// or https:// URL"),
        (12, "field verb: unknown verb 'FETCH'"),
    ]
    for line_no, text_part in expect:
        assert any(line.startswith(f"{path}:{line_no}:") and text_part in line for line in lines), (
            line_no,
            text_part,
            lines,
        )
    assert any("did you mean GET?" in line for line in lines)


def test_verbs_are_case_insensitive() -> None:
    assert parse_verb("get") == "GET"
    assert parse_verb(" Post ") == "POST"


def test_interval_and_stream_codec() -> None:
    assert parse_interval("500ms") == 0.5
    assert parse_interval("0s") == 0 and parse_interval("") == 0
    with pytest.raises(ValueError, match="negative"):
        parse_interval("-1s")
    assert parse_stream_codec("sse") == ("sse", None)
    assert parse_stream_codec("lines") == ("lines", b"\n")
    with pytest.raises(ValueError, match="sse"):
        parse_stream_codec("json")


def test_status_rules() -> None:
    rules = StatusRules(frozenset({429}), frozenset({404}), frozenset({304}))
    assert rules.successful(200) and rules.successful(204) and rules.successful(304)
    assert not rules.successful(404) and not rules.successful(429) and not rules.successful(500)


def test_both_need_the_http_binding() -> None:
    assert feature_of("input", "http_client", {}) == [("bindings", "http")]
    assert feature_of("processor", "http", {}) == [("bindings", "http")]
    with_auth = {"basic_auth": {"enabled": True, "username": "u", "password": "p"}}
    assert ("security", "basic_auth") in feature_of("processor", "http", with_auth)


def test_the_basic_auth_password_is_secret() -> None:
    from streamforge.plugin import registry

    for kind, name in (("input", "http_client"), ("processor", "http")):
        spec = registry.get(kind, name)  # type: ignore[arg-type]
        assert spec is not None
        auth = spec.config.child("basic_auth")
        assert auth is not None
        password = auth.child("password")
        assert password is not None and password.secret
