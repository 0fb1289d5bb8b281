"""Secrets of a stream config: hidden when it is shown, kept when it comes back edited."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamforge.config import lint_paths, stream_schema
from streamforge.config.secrets import REDACTED, redact, redact_yaml, restore, secret_paths
from streamforge.config.sections import sections
from streamforge.docs_gen import builtin_specs, render_components_markdown
from streamforge.plugin import KINDS, Field, load_builtins

STREAM = """
# a plant gateway with credentials in many places
input:
  mqtt:
    urls: [tcp://broker:1883]
    topics: [plant/#]
    user: gateway
    password: mqtt-in-secret
    tls:
      enabled: true
      client_certs:
        - cert: "-----BEGIN CERTIFICATE-----"
          key: "-----BEGIN PRIVATE KEY-----"
          password: key-secret
  processors:
    - schema_registry_decode:
        url: http://registry:8081
        basic_auth: {enabled: true, username: reader, password: registry-in-secret}
pipeline:
  processors:
    - switch:
        - check: this.kind == "avro"
          processors:
            - branch:
                processors:
                  - schema_registry_encode:
                      url: http://registry:8081
                      subject: readings
                      basic_auth: {enabled: true, username: writer, password: nested-secret}
    - try:
        - mapping: root = this
output:
  fallback:
    - kafka:
        addresses: [kafka:9092]
        topic: readings
        sasl: {mechanism: PLAIN, user: producer, password: sasl-secret}
    - http_client:
        url: http://collector/ingest
        basic_auth: {enabled: true, username: collector, password: http-secret}
    - resource: spare
  processors:
    - mapping: root = this
output_resources:
  - label: spare
    mqtt:
      urls: [tcp://spare:1883]
      topic: spare
      password: ${SPARE_PASSWORD}
resources:
  input_resources:
    - label: plc
      opcua:
        endpoint: opc.tcp://plc:4840
        nodeIDs: [ns=2;s=Temp]
        username: operator
        password: ${OPCUA_PASSWORD:opcua-default-secret}
  output_resources:
    - label: spare_broker
      mqtt:
        urls: [tcp://spare:1883]
        topic: spare
        password: ""
"""

#: every secret in STREAM that is shown as the placeholder, by path
HIDDEN: dict[tuple[str | int, ...], str] = {
    ("input", "mqtt", "password"): "mqtt-in-secret",
    ("input", "mqtt", "tls", "client_certs", 0, "key"): "-----BEGIN PRIVATE KEY-----",
    ("input", "mqtt", "tls", "client_certs", 0, "password"): "key-secret",
    ("input", "processors", 0, "schema_registry_decode", "basic_auth", "password"): (
        "registry-in-secret"
    ),
    (
        "pipeline", "processors", 0, "switch", 0, "processors", 0, "branch", "processors", 0,
        "schema_registry_encode", "basic_auth", "password",
    ): "nested-secret",
    ("output", "fallback", 0, "kafka", "sasl", "password"): "sasl-secret",
    ("output", "fallback", 1, "http_client", "basic_auth", "password"): "http-secret",
    ("resources", "input_resources", 0, "opcua", "password"): (
        "${OPCUA_PASSWORD:opcua-default-secret}"
    ),
}  # fmt: skip

#: secret fields whose values stay as they are: an environment reference, an unset value
SHOWN = {
    ("output_resources", 0, "mqtt", "password"): "${SPARE_PASSWORD}",
    ("resources", "output_resources", 0, "mqtt", "password"): "",
}


def stream() -> dict[str, Any]:
    data = yaml.safe_load(STREAM)
    assert isinstance(data, dict)
    return data


def at(data: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def without(data: dict[str, Any], paths: list[tuple[str | int, ...]]) -> dict[str, Any]:
    """`data` with the values at `paths` set to None, to compare everything else."""
    out = copy.deepcopy(data)
    for path in paths:
        parent = at(out, path[:-1])
        parent[path[-1]] = None
    return out


def test_the_example_is_a_valid_stream(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(textwrap.dedent(STREAM), encoding="utf-8")
    assert lint_paths([str(path)], environ={"SPARE_PASSWORD": "x"}) == []


def test_secret_paths_finds_every_secret_field_set_in_the_stream() -> None:
    assert sorted(map(str, secret_paths(stream()))) == sorted(map(str, {**HIDDEN, **SHOWN}))


def test_redact_hides_each_secret_and_nothing_else() -> None:
    original = stream()
    shown = redact(original)
    for path in HIDDEN:
        assert at(shown, path) == REDACTED, path
    for path, value in SHOWN.items():
        assert at(shown, path) == value, path
    assert without(shown, list(HIDDEN)) == without(original, list(HIDDEN))
    assert original == stream(), "redact must not change its argument"
    text = yaml.safe_dump(shown)
    assert not [secret for secret in HIDDEN.values() if secret in text]


def test_restore_puts_the_stored_secrets_back() -> None:
    stored = stream()
    edited = redact(stored)
    edited["output"]["fallback"][0]["kafka"]["topic"] = "readings-v2"
    restored = restore(edited, stored)
    for path, value in HIDDEN.items():
        assert at(restored, path) == value, path
    assert restored["output"]["fallback"][0]["kafka"]["topic"] == "readings-v2"
    assert at(edited, next(iter(HIDDEN))) == REDACTED, "restore must not change its argument"


def test_a_secret_sent_in_clear_replaces_the_stored_one() -> None:
    stored = stream()
    edited = redact(stored)
    edited["input"]["mqtt"]["password"] = "rotated"
    assert restore(edited, stored)["input"]["mqtt"]["password"] == "rotated"


@pytest.mark.parametrize("stored", [None, {"output": {"mqtt": {"password": ""}}}])
def test_the_placeholder_without_a_stored_secret_names_the_path(stored: Any) -> None:
    new = {"output": {"mqtt": {"urls": ["tcp://b:1883"], "topic": "t", "password": REDACTED}}}
    with pytest.raises(ValueError) as caught:
        restore(new, stored)
    assert str(caught.value) == (
        f"output.mqtt.password: the placeholder {REDACTED} keeps a stored secret, "
        "but this stream has none there"
    )


def test_the_placeholder_in_a_list_names_its_index() -> None:
    """Secrets are kept by path: an output moved to another place needs its secret again."""
    stored = stream()
    new = redact(stored)
    new["output"]["fallback"].insert(0, copy.deepcopy(new["output"]["fallback"][1]))
    with pytest.raises(ValueError, match=r"^output\.fallback\.0\.http_client\.basic_auth"):
        restore(new, stored)


def test_redact_yaml_hides_secrets_and_keeps_text_without_any() -> None:
    text = textwrap.dedent(STREAM)
    shown = redact_yaml(text)
    assert yaml.safe_load(shown) == redact(stream())
    assert "mqtt-in-secret" not in shown and "sasl-secret" not in shown
    plain = "# comment kept\ninput:\n  mqtt:\n    topics: [a]\n    password: ${PW}\n"
    assert redact_yaml(plain) == plain


def test_secret_fields_say_so_in_the_schema_and_the_docs() -> None:
    mqtt = stream_schema()["$defs"]["output"]["properties"]["mqtt"]["properties"]
    assert mqtt["password"]["writeOnly"] is True
    assert "writeOnly" not in mqtt["user"]
    docs = render_components_markdown()
    row = next(line for line in docs.splitlines() if line.startswith("| `sasl.password` |"))
    assert "Secret:" in row


def _fields(f: Field, path: str) -> Iterator[tuple[str, Field]]:
    yield path, f
    for child in f.fields:
        yield from _fields(child, f"{path}.{child.name}")
    if f.item is not None:
        yield from _fields(f.item, f"{path}[]")


def _builtin_fields() -> Iterator[tuple[str, Field]]:
    load_builtins()
    for kind in KINDS:
        for spec in builtin_specs(kind):
            yield from _fields(spec.config, f"{kind}.{spec.name}")
    for name, section in sections().items():
        yield from _fields(section.field, name)


def test_every_password_or_token_field_of_a_builtin_is_secret() -> None:
    """A new component with a password or token field cannot forget to mark it."""
    words = ("password", "passwd", "token", "secret", "private_key")
    names = [
        path
        for path, f in _builtin_fields()
        if any(w in f.name.lower() for w in words)
        and not f.name.endswith(("_file", "_url"))  # where a secret is, not the secret
        and not f.secret
    ]
    assert names == []


def test_no_file_path_or_user_name_is_marked_secret() -> None:
    marked = sorted(path for path, f in _builtin_fields() if f.secret)
    assert marked, "the built-ins have secrets"
    assert not [p for p in marked if p.endswith(("_file", ".user", ".username", ".cert"))]


def test_template_fields_marked_secret_are_redacted_too() -> None:
    from streamforge.config.templates import load_shipped_templates

    assert load_shipped_templates() == []
    config = {
        "input": {
            "td_mqtt": {
                "broker": "mqtt://broker.plant:1883",
                "topics": ["plant/line1/#"],
                "username": "reader",
                "password": "td-pa55",
            }
        },
        "output": {"drop": {}},
    }
    shown = redact(config)
    assert shown["input"]["td_mqtt"]["password"] == REDACTED
    assert shown["input"]["td_mqtt"]["username"] == "reader"
    assert restore(shown, config) == config
