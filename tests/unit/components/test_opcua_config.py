"""The `opcua` input's config without a server: fields, lint and build-time errors."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamforge.config import lint_paths
from streamforge.connectors.opcua_security import check_security, parse_fingerprint
from streamforge.inputs.opcua.opcua import (
    OpcuaInput,
    parse_endpoint,
    parse_interval_ms,
    parse_node_id,
)
from streamforge.plugin import load_builtins, registry

load_builtins()

ENDPOINT = "opc.tcp://127.0.0.1:4840"


def lint(tmp_path: Path, opcua: str) -> list[str]:
    path = tmp_path / "s.yaml"
    body = textwrap.indent(textwrap.dedent(opcua).strip(), " " * 4)
    path.write_text(f"input:\n  opcua:\n{body}\noutput:\n  drop: {{}}\n")
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def build(**conf: Any) -> OpcuaInput:
    return OpcuaInput({"endpoint": ENDPOINT, "nodeIDs": ["ns=2;s=Plant"], **conf})


def test_benthos_umh_field_names() -> None:
    spec = registry.get("input", "opcua")
    assert spec is not None
    names = {f.name for f in spec.fields}
    assert {
        "endpoint", "nodeIDs", "subscribeEnabled", "samplingInterval", "pollInterval",
        "username", "password", "securityMode", "securityPolicy", "certificateDir",
        "serverCertificateFingerprint",
    } <= names  # fmt: skip
    assert "opcua_attr_statuscode" in spec.description
    assert all(f.description for f in spec.fields)


def test_defaults() -> None:
    s = build().settings
    assert not s.subscribe and s.poll_seconds == 1.0 and s.sampling_ms == 1000.0
    assert s.mode == "None" and s.policy == "None" and s.fingerprint == ""
    assert s.certificate.directory.name == "opcua"


@pytest.mark.parametrize(
    "text",
    ["ns=2;s=Plant.Boiler.Temperature", "i=85", "ns=3;i=1001", "ns=1;s=a;b=c",
     "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a", "nsu=urn:plant;s=Temp"],
)  # fmt: skip
def test_node_id_forms(text: str) -> None:
    parse_node_id(text)


@pytest.mark.parametrize("text", ["", "Plant.Temperature", "ns=x;s=a", "ns=2", "srv=1;i=5"])
def test_bad_node_ids(text: str) -> None:
    with pytest.raises(ValueError):
        parse_node_id(text)


def test_bad_node_id_names_its_position() -> None:
    with pytest.raises(ValueError, match=r"nodeIDs\[1\]: 'Plant.Temp' is not a node id"):
        build(nodeIDs=["ns=2;s=Plant", "Plant.Temp"])


def test_endpoint_must_be_opc_tcp() -> None:
    assert parse_endpoint("opc.tcp://plc:4840/path") == "opc.tcp://plc:4840/path"
    for bad in ("tcp://plc:4840", "plc:4840", "opc.tcp://", "opc.tcp://plc:99999"):
        with pytest.raises(ValueError, match="endpoint"):
            parse_endpoint(bad)


def test_intervals_take_durations_or_milliseconds() -> None:
    assert parse_interval_ms("250ms") == 250.0
    assert parse_interval_ms(500) == 500.0
    assert parse_interval_ms("2s") == 2000.0
    with pytest.raises(ValueError):
        build(pollInterval="0s")


def test_security_combinations() -> None:
    check_security("SignAndEncrypt", "Basic256Sha256", "")
    with pytest.raises(ValueError, match="securityPolicy Basic256Sha256: needs securityMode"):
        check_security("None", "Basic256Sha256", "")
    with pytest.raises(ValueError, match="securityMode Sign: needs a securityPolicy"):
        check_security("Sign", "None", "")
    with pytest.raises(ValueError, match="pinning needs a secure channel"):
        check_security("None", "None", "ab" * 20)
    with pytest.raises(ValueError, match="password: set username too"):
        build(password="x")


def test_fingerprints() -> None:
    sha1 = "AB:" * 19 + "AB"
    assert parse_fingerprint(sha1) == "ab" * 20
    assert parse_fingerprint("cd" * 32) == "cd" * 32
    assert parse_fingerprint("") == ""
    for bad in ("abc", "zz" * 20, "ab" * 30):
        with pytest.raises(ValueError, match="serverCertificateFingerprint"):
            parse_fingerprint(bad)


def test_credentials_stay_out_of_the_endpoint_metadata() -> None:
    s = build(endpoint="opc.tcp://user:pw@plc:4840/x").settings
    assert s.endpoint == "opc.tcp://plc:4840/x" and "pw" in s.url


def test_lint_reports_unknown_security_mode(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        f"""
        endpoint: {ENDPOINT}
        nodeIDs: [ "ns=2;s=Plant" ]
        securityMode: SignAndEncrpyt
        """,
    )
    assert len(problems) == 1
    assert problems[0].startswith("s.yaml:5:19: field securityMode")
    assert "SignAndEncrypt" in problems[0]


def test_lint_reports_bad_node_id_and_endpoint(tmp_path: Path) -> None:
    """Needs the validator to run ParsedField parsers of string fields (as for durations)."""
    problems = lint(
        tmp_path,
        """
        endpoint: tcp://plc:4840
        nodeIDs: [ "ns=2;s=Plant", "Plant.Temperature" ]
        """,
    )
    assert any(p.startswith("s.yaml:3:") and "endpoint" in p for p in problems), problems
    assert any(p.startswith("s.yaml:4:") and "Plant.Temperature" in p for p in problems), problems
