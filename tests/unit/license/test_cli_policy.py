"""`streamforge policy eval` end to end through its main(): output, stderr and exit codes."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from license_helpers import KeyPair

from streamforge.commands import policy as policy_command
from streamforge.license.token import issue_token

KAFKA = 'data.streamforge.features.binding_allowed["kafka"]'


pytestmark = pytest.mark.usefixtures("no_license")


def _eval(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="streamforge")
    commands = parser.add_subparsers(dest="command")
    policy_command.add_parser(commands, "policy")
    capsys.readouterr()
    code = policy_command.main(parser.parse_args(["policy", "eval", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


def _license_file(
    pair: KeyPair, directory: Path, expires: datetime = datetime(2099, 1, 31, tzinfo=timezone.utc)
) -> Path:
    token = issue_token(
        pair.private_pem,
        subject="acme-001",
        features={"bindings": ["kafka"], "capabilities": {"max_streams": 20}},
        expires=expires,
    )
    path = directory / "licence.jwt"
    path.write_text(token + "\n")
    return path


@pytest.fixture
def rsa(key_pairs: dict[str, KeyPair]) -> KeyPair:
    return key_pairs["RS256"]


def test_without_license_kafka_is_undefined(capsys: pytest.CaptureFixture[str]) -> None:
    assert _eval([KAFKA], capsys) == (1, "undefined\n", "")


def test_base_binding_prints_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert _eval(['data.streamforge.features.binding_allowed["mqtt"]'], capsys) == (
        0,
        '"mqtt"\n',
        "",
    )


def test_false_is_a_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert _eval(["data.streamforge.features.licensed"], capsys) == (0, "false\n", "")


def test_license_grants_kafka(
    rsa: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    license = _license_file(rsa, tmp_path)
    args = ["--license", str(license), "--public-key", str(rsa.public_file)]
    assert _eval([KAFKA, *args], capsys) == (0, '"kafka"\n', "")
    code, out, _ = _eval(["data.streamforge.limits.max_streams", *args], capsys)
    assert (code, json.loads(out)) == (0, 20)


def test_license_and_key_from_the_environment(
    rsa: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("STREAMFORGE_LICENSE_FILE", str(_license_file(rsa, tmp_path)))
    monkeypatch.setenv("STREAMFORGE_LICENSE_PUBLIC_KEY_FILE", str(rsa.public_file))
    assert _eval([KAFKA], capsys) == (0, '"kafka"\n', "")


def test_license_signed_by_another_key_falls_back_to_defaults(
    rsa: KeyPair, other_key_pairs: dict[str, KeyPair], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    license = _license_file(other_key_pairs["RS256"], tmp_path)
    code, out, err = _eval(
        [KAFKA, "--license", str(license), "--public-key", str(rsa.public_file)], capsys
    )
    assert (code, out) == (1, "undefined\n")
    assert err == (
        f"streamforge: licence {license}: signature does not match the public key; "
        "the defaults apply\n"
    )


def test_expired_license_falls_back_to_defaults(
    rsa: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    license = _license_file(rsa, tmp_path, datetime(2020, 1, 1, tzinfo=timezone.utc))
    code, out, err = _eval(
        ["data.streamforge.features.licensed", "--license", str(license),
         "--public-key", str(rsa.public_file)],
        capsys,
    )  # fmt: skip
    assert (code, out) == (0, "false\n")
    assert "expired at 2020-01-01T00:00:00Z; the defaults apply" in err


def test_license_without_public_key(
    rsa: KeyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _eval([KAFKA, "--license", str(_license_file(rsa, tmp_path))], capsys)
    assert (code, out) == (1, "undefined\n")
    assert "no public key" in err


def test_objects_print_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _eval(["data.streamforge.features.allowed_features"], capsys)
    assert (code, err) == (0, "")
    assert json.loads(out)["bindings"] == ["http", "mqtt"]


def test_input_is_merged_and_processors_are_known(capsys: pytest.CaptureFixture[str]) -> None:
    request = '{"request": {"category": "processors", "feature": "alarm"}}'
    assert _eval(["data.streamforge.features.allow", "--input", request], capsys) == (
        0,
        "false\n",
        "",
    )
    code, out, _ = _eval(["data.streamforge.features.processor_allowed"], capsys)
    allowed = json.loads(out)
    assert "window" in allowed
    assert "alarm" not in allowed


def test_input_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "request.json"
    request.write_text('{"request": {"category": "bindings", "feature": "http"}}')
    assert _eval(["data.streamforge.features.allow", "--input", f"@{request}"], capsys) == (
        0,
        "true\n",
        "",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [("{not json", "--input: not JSON"), ("[1, 2]", "--input: expected a JSON object")],
)
def test_bad_input(value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _eval(["data", "--input", value], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"streamforge: {message}")


def test_queries_other_than_references_print_bindings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _eval(["data.streamforge.features.binding_allowed[name]"], capsys)
    assert code == 0
    assert sorted(s["name"] for s in json.loads(out)) == ["http", "mqtt"]
    code, out, _ = _eval(['data.streamforge.security.method_allowed("basic_auth")'], capsys)
    assert (code, json.loads(out)) == (0, [{}])


def test_malformed_query(capsys: pytest.CaptureFixture[str]) -> None:
    assert _eval(["data.streamforge.features["], capsys) == (
        1,
        "",
        "query:1:26: this is unclosed\n",
    )


def test_user_policy_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site.rego").write_text(
        "package streamforge.features\n\nimport rego.v1\n\n"
        'deny contains "not on this site" if input.request.feature == "http"\n'
    )
    request = '{"request": {"category": "bindings", "feature": "http"}}'
    assert _eval(
        ["data.streamforge.features.reason", "--policy-dir", str(tmp_path), "--input", request],
        capsys,
    ) == (0, '"not on this site"\n', "")


def test_user_policy_with_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.rego"
    bad.write_text("package site\n\nx := [1,\n")
    code, out, err = _eval(["data.site.x", "--policy-dir", str(tmp_path)], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{bad}:3:6: this is unclosed\n")


def test_bad_opa_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _eval([KAFKA, "--opa-url", "localhost:8181"], capsys)
    assert code == 1
    assert err == (
        "streamforge: --opa-url: expected an http:// or https:// URL, got 'localhost:8181'\n"
    )


def test_bad_opa_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMFORGE_OPA_URL", "opa:8181")
    code, _, err = _eval([KAFKA], capsys)
    assert code == 1
    assert err.startswith("streamforge: STREAMFORGE_OPA_URL: expected an http:// or https://")
