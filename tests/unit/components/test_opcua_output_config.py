"""The `opcua` output without a server: its fields, lint errors at their place, the licence
feature it needs, and how JSON values become OPC UA variants."""

from __future__ import annotations

import math
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from asyncua import ua

from streamforge.config import lint_paths
from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.license.catalog import feature_of
from streamforge.outputs._opcua_values import Unconvertible, infer_type, same_value, to_variant
from streamforge.plugin import load_builtins, registry

load_builtins()

ENDPOINT = "opc.tcp://127.0.0.1:4840"
V = ua.VariantType


def lint(tmp_path: Path, opcua: str) -> list[str]:
    """What `streamforge lint` reports: config problems, else what building refuses."""
    path = tmp_path / "s.yaml"
    body = textwrap.indent(textwrap.dedent(opcua).strip(), " " * 4)
    head = "input:\n  generate: { mapping: 'root = {}' }\noutput:\n  opcua:\n"
    path.write_text(head + body + "\n")
    problems = [str(p) for p in lint_paths([str(path)])]
    if not problems:
        problems = [str(p) for p in build_problems(load_stream(path))]
    return [p.replace(str(tmp_path) + "/", "") for p in problems]


def test_fields_follow_benthos_umh() -> None:
    spec = registry.get("output", "opcua")
    assert spec is not None
    fields = {f.name: f for f in spec.fields}
    for name in (
        "endpoint", "nodeMappings", "forcedDataTypes", "handshake", "username", "password",
        "securityMode", "securityPolicy", "serverCertificateFingerprint", "clientCertificate",
        "userCertificate", "userPrivateKey", "certificateDir", "insecure", "write_timeout",
    ):  # fmt: skip
        assert name in fields and fields[name].description, name
    mapping = fields["nodeMappings"].item
    assert mapping is not None
    assert [f.name for f in mapping.fields] == ["nodeId", "valueFrom", "dataType"]
    assert fields["nodeMappings"].required and mapping.child("valueFrom").required  # type: ignore[union-attr]
    assert fields["handshake"].default == {
        "enabled": True, "readbackTimeoutMs": 2000, "maxWriteAttempts": 1,
        "timeBetweenRetriesMs": 1000,
    }  # fmt: skip
    assert fields["password"].secret and fields["userPrivateKey"].secret


def test_lint_names_bad_node_ids_and_missing_fields_at_their_place(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        f"""
        endpoint: {ENDPOINT}
        nodeMappings:
          - nodeId: "Plant.Setpoint"
            valueFrom: setpoint
          - nodeId: "ns=2;s=Line1.Enable"
          - nodeId: "ns=2;s=${{! @tag }}"
            valueFrom: ""
            dataType: Int33
        handshake:
          maxWriteAttempts: 0
        """,
    )
    assert len(problems) == 5, problems
    assert problems[0].startswith("s.yaml:7:17: field nodeMappings.0.nodeId: 'Plant.Setpoint'")
    assert "is not a node id; expected e.g. ns=2;s=Plant.Temperature" in problems[0]
    assert (
        problems[1] == 's.yaml:9:9: output opcua: missing required field "nodeMappings.1.valueFrom"'
    )
    assert problems[2].startswith("s.yaml:11:20: field nodeMappings.2.valueFrom: name the")
    assert problems[3].startswith("s.yaml:12:19: field nodeMappings.2.dataType: 'Int33' is not")
    assert "Int32" in problems[3]
    assert problems[4] == (
        "s.yaml:14:25: field handshake.maxWriteAttempts: expected a whole number >= 1, got 0"
    )


def test_lint_checks_forced_data_types_and_needs_mappings(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        f"""
        endpoint: {ENDPOINT}
        nodeMappings: []
        forcedDataTypes:
          "ns=2;s=A": Quaternion
        """,
    )
    assert problems[0].startswith("s.yaml:6:19: field nodeMappings: at least one mapping")
    assert problems[1].startswith("s.yaml:8:19: field forcedDataTypes.ns=2;s=A: 'Quaternion'")
    problems = lint(
        tmp_path,
        f"""
        endpoint: {ENDPOINT}
        nodeMappings: [ {{ nodeId: "ns=2;s=A", valueFrom: v }} ]
        forcedDataTypes: {{ "X.Y": Double }}
        """,
    )
    assert len(problems) == 1
    assert problems[0].startswith("s.yaml:7:22: field forcedDataTypes: key 'X.Y' is not a node id")
    problems = lint(tmp_path, f"endpoint: {ENDPOINT}")
    assert problems == ['s.yaml:4:3: output opcua: missing required field "nodeMappings"']


def test_a_good_config_lints_clean_without_a_server(tmp_path: Path) -> None:
    # port 1: lint connects to nothing
    assert (
        lint(
            tmp_path,
            """
        endpoint: opc.tcp://127.0.0.1:1
        nodeMappings:
          - { nodeId: "ns=2;s=${! @tag }", valueFrom: data.value, dataType: "${! @type }" }
          - { nodeId: "nsu=urn:plant;s=Enable", valueFrom: enable }
        forcedDataTypes: { "ns=2;s=Line1.Speed": float }
        handshake: { enabled: false }
        securityMode: SignAndEncrypt
        securityPolicy: Basic256Sha256
        """,
        )
        == []
    )


def test_secure_settings_are_checked_as_the_input_checks_them(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        f"""
        endpoint: {ENDPOINT}
        nodeMappings: [ {{ nodeId: "ns=2;s=A", valueFrom: v }} ]
        securityMode: Sign
        """,
    )
    assert problems == [
        "s.yaml:4:3: output 'opcua' (output): securityMode Sign: needs a securityPolicy, "
        "e.g. Basic256Sha256"
    ]


def test_licence_features() -> None:
    conf = {"endpoint": ENDPOINT, "securityMode": "Sign", "username": "gateway"}
    features = feature_of("output", "opcua", conf)
    assert ("bindings", "opcua") in features
    assert ("security", "opcua_certificate") in features
    assert ("security", "basic_auth") in features


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name", "expected", "vtype"),
    [
        (True, "Boolean", True, V.Boolean),
        ("false", "Boolean", False, V.Boolean),
        (1, "Boolean", True, V.Boolean),
        (-128, "SByte", -128, V.SByte),
        ("255", "Byte", 255, V.Byte),
        (4.0, "Int16", 4, V.Int16),
        (65535, "UInt16", 65535, V.UInt16),
        (-(2**31), "Int32", -(2**31), V.Int32),
        (2**32 - 1, "UInt32", 2**32 - 1, V.UInt32),
        ("-9000000000", "Int64", -9000000000, V.Int64),
        (2**64 - 1, "UInt64", 2**64 - 1, V.UInt64),
        (0.1, "Float", 0.10000000149011612, V.Float),
        ("2.5", "Double", 2.5, V.Double),
        (3, "Double", 3.0, V.Double),
        (7, "String", "7", V.String),
        (2.0, "String", "2", V.String),
        (False, "String", "false", V.String),
        ({"a": [1, 2]}, "String", '{"a":[1,2]}', V.String),
        ("AAH/", "ByteString", b"\x00\x01\xff", V.ByteString),
        ([1, 2, 3], "Int32", [1, 2, 3], V.Int32),
        ([1, 2], "String", "[1,2]", V.String),
    ],
)
def test_to_variant(value: object, name: str, expected: object, vtype: ua.VariantType) -> None:
    variant = to_variant(value, name)
    assert variant.VariantType == vtype
    assert variant.Value == expected and type(variant.Value) is type(expected)


def test_datetime_from_rfc3339_or_unix_milliseconds() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=timezone.utc)
    assert to_variant("2024-05-06T07:08:09.5Z", "DateTime").Value == when
    assert to_variant("2024-05-06T09:08:09.5+02:00", "DateTime").Value == when
    assert to_variant(1714979289500, "DateTime").Value == when
    with pytest.raises(Unconvertible, match="not a DateTime"):
        to_variant("yesterday", "DateTime")


@pytest.mark.parametrize(
    ("value", "name", "error"),
    [
        (128, "SByte", "128 is outside the range of SByte (-128..127)"),
        (-1, "UInt64", "outside the range of UInt64"),
        (1.5, "Int32", "1.5 is not a whole number for Int32"),
        (True, "Int32", "true is not a number for Int32"),
        ("x", "Double", '"x" is not a number for Double'),
        (1e39, "Float", "outside the range of Float"),
        ("maybe", "Boolean", '"maybe" is not a Boolean'),
        ("!!", "ByteString", "not base64"),
        (None, "Int32", "null cannot be written as Int32"),
    ],
)
def test_values_that_do_not_convert(value: object, name: str, error: str) -> None:
    with pytest.raises(Unconvertible) as caught:
        to_variant(value, name)
    assert error in str(caught.value)


def test_inferred_types_for_abstract_nodes() -> None:
    values = (True, 3, 2.5, "x", [1.5], {"a": 1})
    assert [infer_type(v) for v in values] == [
        "Boolean", "Int64", "Double", "String", "Double", "String",
    ]  # fmt: skip


def test_same_value_compares_type_and_value() -> None:
    written = to_variant(0.1, "Float")
    assert same_value(ua.Variant(0.10000000149011612, V.Float), written)
    assert not same_value(ua.Variant(0.1, V.Double), written)
    assert not same_value(ua.Variant(1, V.Int32), to_variant(True, "Boolean"))
    assert same_value(ua.Variant(math.nan, V.Double), to_variant(math.nan, "Double"))
    when = to_variant("2024-05-06T07:08:09Z", "DateTime")
    assert same_value(ua.Variant(datetime(2024, 5, 6, 7, 8, 9), V.DateTime), when)
    assert same_value(ua.Variant([1, 2], V.Int32), to_variant([1, 2], "Int32"))
    assert not same_value(ua.Variant([1, 3], V.Int32), to_variant([1, 2], "Int32"))
    assert not same_value(None, written)
