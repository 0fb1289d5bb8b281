"""`streamforge license issue|verify` end to end: what a vendor and a user see, and exit codes."""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from pathlib import Path

import pytest
from license_helpers import FEATURES, KeyPair, b64url

from streamforge.commands import license as license_command

pytestmark = pytest.mark.usefixtures("no_license")


@pytest.fixture
def features_file(tmp_path: Path) -> Path:
    path = tmp_path / "features.json"
    path.write_text(json.dumps(FEATURES))
    return path


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="streamforge")
    commands = parser.add_subparsers(dest="command")
    license_command.add_parser(commands, "license")
    capsys.readouterr()
    code = license_command.main(parser.parse_args(["license", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


def _issue_args(pair: KeyPair, features: Path, expires: str, *extra: str) -> list[str]:
    """`license issue` arguments signing `features` for acme-001 with the pair's private key."""
    return [
        "issue",
        "--private-key", str(pair.private_file),
        "--subject", "acme-001",
        "--features", str(features),
        "--expires", expires,
        *extra,
    ]  # fmt: skip


def _issue(pair: KeyPair, features: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code, out, err = _cli(_issue_args(pair, features, "2099-01-31", *extra), capsys)
    assert (code, err) == (0, "")
    return out.strip()


def test_issue_then_verify(
    key_pair: KeyPair, features_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _issue(
        key_pair,
        features_file,
        capsys,
        "--customer-name", "ACME Corp",
        "--customer-contact", "ops@acme.example",
    )  # fmt: skip
    license_file = tmp_path / "licence.jwt"
    license_file.write_text(token + "\n")

    code, out, err = _cli(
        ["verify", str(license_file), "--public-key", str(key_pair.public_file)], capsys
    )

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"{license_file}: valid licence"
    fields = dict(line.split(":", 1) for line in lines[1:])
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["subject"] == "acme-001"
    assert fields["customer"] == "ACME Corp <ops@acme.example>"
    assert fields["issuer"] == "streamforge-licensing"
    assert fields["expires"] == "2099-01-31T00:00:00Z"
    assert fields["bindings"] == "kafka, modbus, opcua"
    assert fields["processors"] == "alarm, window"
    assert fields["security"] == "basic_auth, mtls"
    assert fields["storage"] == "parquet"
    assert fields["capabilities"] == "max_streams=20, max_things=100, multi_tenancy=true"


def test_issue_to_a_file_and_verify_with_the_key_from_the_environment(
    key_pairs: dict[str, KeyPair],
    features_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = key_pairs["EdDSA"]
    license_file = tmp_path / "out.jwt"
    code, out, err = _cli(
        [
            "issue",
            "--private-key", str(pair.private_file),
            "--subject", "plant-7",
            "--features", str(features_file),
            "--expires", "365d",
            "--output", str(license_file),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0 and out == ""
    assert f"to {license_file}" in err
    monkeypatch.setenv("STREAMFORGE_LICENSE_PUBLIC_KEY_FILE", str(pair.public_file))

    code, out, _ = _cli(["verify", str(license_file)], capsys)

    assert code == 0
    assert "subject:      plant-7" in out.splitlines()


def test_verify_reads_stdin(
    key_pairs: dict[str, KeyPair],
    features_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = key_pairs["RS256"]
    token = _issue(pair, features_file, capsys)
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))
    code, out, _ = _cli(["verify", "-", "--public-key", str(pair.public_file)], capsys)
    assert code == 0
    assert out.startswith("-: valid licence")


def test_verify_a_tampered_license(
    key_pairs: dict[str, KeyPair],
    features_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pair = key_pairs["ES256"]
    header, payload, signature = _issue(pair, features_file, capsys).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["features"]["capabilities"]["max_things"] = 100000
    forged_payload = b64url(json.dumps(claims).encode())
    license_file = tmp_path / "forged.jwt"
    license_file.write_text(f"{header}.{forged_payload}.{signature}")

    code, out, err = _cli(
        ["verify", str(license_file), "--public-key", str(pair.public_file)], capsys
    )

    assert (code, out) == (1, "")
    assert err == f"{license_file}: invalid licence: signature does not match the public key\n"


def test_verify_an_expired_license(
    key_pairs: dict[str, KeyPair],
    features_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pair = key_pairs["RS256"]
    code, token, _ = _cli(_issue_args(pair, features_file, "2020-01-01"), capsys)
    assert code == 0
    license_file = tmp_path / "old.jwt"
    license_file.write_text(token)
    code, _, err = _cli(
        ["verify", str(license_file), "--public-key", str(pair.public_file)], capsys
    )
    assert code == 1
    assert err == f"{license_file}: invalid licence: expired at 2020-01-01T00:00:00Z\n"


def test_verify_a_license_not_yet_valid(
    key_pairs: dict[str, KeyPair],
    features_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pair = key_pairs["ES256"]
    token = _issue(pair, features_file, capsys, "--not-before", "2098-01-01T00:00:00Z")
    license_file = tmp_path / "later.jwt"
    license_file.write_text(token)
    code, _, err = _cli(
        ["verify", str(license_file), "--public-key", str(pair.public_file)], capsys
    )
    assert code == 1
    assert err.endswith("invalid licence: not valid before 2098-01-01T00:00:00Z\n")


def test_verify_with_a_custom_issuer(
    key_pairs: dict[str, KeyPair],
    features_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pair = key_pairs["EdDSA"]
    license_file = tmp_path / "acme.jwt"
    license_file.write_text(_issue(pair, features_file, capsys, "--issuer", "acme-licensing"))
    key = ["--public-key", str(pair.public_file)]

    code, out, _ = _cli(["verify", str(license_file), *key, "--issuer", "acme-licensing"], capsys)
    assert code == 0 and "issuer:       acme-licensing" in out.splitlines()

    code, _, err = _cli(["verify", str(license_file), *key], capsys)
    assert code == 1
    assert "invalid licence: issuer 'acme-licensing' is not 'streamforge-licensing'" in err


def test_verify_a_missing_file(
    key_pairs: dict[str, KeyPair], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jwt"
    code, _, err = _cli(
        ["verify", str(missing), "--public-key", str(key_pairs["RS256"].public_file)], capsys
    )
    assert code == 1
    assert err == f"{missing}: invalid licence: not found\n"


def test_verify_garbage(
    key_pairs: dict[str, KeyPair], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.jwt"
    garbage.write_text("hello world")
    code, _, err = _cli(
        ["verify", str(garbage), "--public-key", str(key_pairs["RS256"].public_file)], capsys
    )
    assert code == 1
    assert err.startswith(f"{garbage}: invalid licence: malformed token (not a JWT: ")


def test_verify_without_a_public_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    license_file = tmp_path / "licence.jwt"
    license_file.write_text("a.b.c")
    code, out, err = _cli(["verify", str(license_file)], capsys)
    assert (code, out) == (1, "")
    assert "no public key: pass --public-key PEM or set STREAMFORGE_LICENSE_PUBLIC_KEY_FILE" in err


def test_verify_with_a_missing_public_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    license_file = tmp_path / "licence.jwt"
    license_file.write_text("a.b.c")
    key = tmp_path / "vendor.pem"
    code, _, err = _cli(["verify", str(license_file), "--public-key", str(key)], capsys)
    assert code == 1
    assert f"public key file {key}: not found" in err


def test_issue_with_features_that_are_not_json(
    key_pairs: dict[str, KeyPair], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = tmp_path / "features.json"
    features.write_text('{"bindings": ["kafka",]}')
    code, out, err = _cli(_issue_args(key_pairs["RS256"], features, "30d"), capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{features}: invalid JSON: ")
    assert "line 1" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"processors": "alarm"}', "features.processors: expected a list of names"),
        ('{"capabilities": {"max_things": "lots"}}', "features.capabilities.max_things: expected"),
        ('["kafka"]', "expected a JSON object of features, got list"),
    ],
)
def test_issue_with_features_of_the_wrong_shape(
    content: str,
    message: str,
    key_pairs: dict[str, KeyPair],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    features = tmp_path / "features.json"
    features.write_text(content)
    code, out, err = _cli(_issue_args(key_pairs["ES256"], features, "30d"), capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{features}: {message}")


def test_issue_with_a_missing_features_file(
    key_pairs: dict[str, KeyPair], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = tmp_path / "absent.json"
    code, _, err = _cli(_issue_args(key_pairs["ES256"], features, "30d"), capsys)
    assert code == 1
    assert err == f"{features}: not found\n"


def test_issue_with_a_bad_expiry(
    key_pairs: dict[str, KeyPair], features_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(_issue_args(key_pairs["ES256"], features_file, "next year"), capsys)
    assert (code, out) == (1, "")
    assert err.startswith("streamforge license issue: --expires: invalid time 'next year'")


def test_issue_with_a_public_key_instead_of_a_private_one(
    key_pairs: dict[str, KeyPair], features_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(
        [
            "issue",
            "--private-key", str(key_pairs["RS256"].public_file),
            "--subject", "acme-001",
            "--features", str(features_file),
            "--expires", "30d",
        ],
        capsys,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert "private key: not a PEM private key" in err


def test_no_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli([], capsys)
    assert code == 2
    assert "verify" in out and "issue" in out
