"""`streamforge license status`: the licence in effect, where it came from, what it allows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from gate_helpers import write, write_license
from license_helpers import KeyPair

from streamforge.cli import main

FEATURES = {
    "bindings": ["kafka", "opcua"],
    "processors": ["alarm"],
    "security": ["mtls"],
    "storage": ["parquet"],
    "capabilities": {"max_things": 100, "max_streams": 20},
}


pytestmark = pytest.mark.usefixtures("no_license")


@pytest.fixture
def ed(key_pairs: dict[str, KeyPair]) -> KeyPair:
    return key_pairs["EdDSA"]


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["license", "status", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _rows(text: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def test_without_a_license(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _status(capsys)
    assert code == 0
    rows = _rows(out)
    assert rows["subject"] == "none"
    assert rows["expires"] == "-"
    assert rows["source"] == "none"
    assert rows["defaults"] == "yes: no licence configured"
    assert rows["bindings"] == "http, mqtt"
    assert rows["security"] == "basic_auth"
    assert rows["storage"] == "-"
    processors = rows["processors"].split(", ")
    assert "mapping" in processors and "window" in processors
    assert "alarm" not in processors and "parquet_encode" not in processors
    assert rows["capabilities"] == (
        "audit_logging=false, max_streams=5, max_things=10, max_users=2, multi_tenancy=false"
    )


def test_with_a_license_from_the_environment(
    tmp_path: Path, ed: KeyPair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=12, hours=2)
    license_file = write_license(ed, tmp_path / "l.jwt", FEATURES, expires=expires)
    monkeypatch.setenv("STREAMFORGE_LICENSE_FILE", str(license_file))
    monkeypatch.setenv("STREAMFORGE_LICENSE_PUBLIC_KEY_FILE", str(ed.public_file))
    code, out, _ = _status(capsys)
    assert code == 0
    rows = _rows(out)
    assert rows["subject"] == "acme-001"
    assert rows["customer"] == "ACME Corp <ops@acme.test>"
    assert rows["issuer"] == "streamforge-licensing"
    assert out.count("\nexpires:") == 1
    assert f"expires:      {expires.strftime('%Y-%m-%dT%H:%M:%SZ')} (expires in 12 days)" in out
    assert rows["source"] == f"file {license_file}"
    assert rows["defaults"] == "no"
    assert rows["bindings"] == "http, kafka, mqtt, opcua"
    assert rows["security"] == "basic_auth, mtls"
    assert rows["storage"] == "parquet"
    processors = rows["processors"].split(", ")
    assert "alarm" in processors and "parquet_encode" in processors
    assert "downsample" not in processors
    assert "max_streams=20, max_things=100" in rows["capabilities"]

    code, out, _ = _status(capsys, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["subject"] == "acme-001"
    assert doc["customer"] == {"name": "ACME Corp", "contact": "ops@acme.test"}
    assert doc["defaults_apply"] is False
    assert doc["reason"] is None
    assert doc["expired"] is False
    assert 12 * 86400 < doc["expires_in_seconds"] <= 12 * 86400 + 7200
    assert datetime.fromisoformat(doc["expires_at"]) == expires
    assert doc["features"]["bindings"] == ["http", "kafka", "mqtt", "opcua"]
    assert doc["capabilities"]["max_streams"] == 20


def test_an_expired_license(
    tmp_path: Path, ed: KeyPair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expires = datetime(2024, 1, 31, tzinfo=timezone.utc)
    license_file = write_license(ed, tmp_path / "l.jwt", FEATURES, expires=expires)
    monkeypatch.setenv("STREAMFORGE_LICENSE_FILE", str(license_file))
    monkeypatch.setenv("STREAMFORGE_LICENSE_PUBLIC_KEY_FILE", str(ed.public_file))
    code, out, _ = _status(capsys)
    assert code == 0
    rows = _rows(out)
    assert rows["subject"] == "none"
    assert "expires:      2024-01-31T00:00:00Z (expired)" in out
    assert rows["defaults"] == "yes: expired at 2024-01-31T00:00:00Z"
    assert rows["bindings"] == "http, mqtt"
    code, out, _ = _status(capsys, "--format", "json")
    doc = json.loads(out)
    assert doc["expired"] is True
    assert doc["defaults_apply"] is True


def test_license_section_of_a_config(
    tmp_path: Path, ed: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conf").mkdir()
    write_license(ed, tmp_path / "conf" / "l.jwt", FEATURES)
    (tmp_path / "conf" / "pub.pem").write_bytes(ed.public_pem)
    config = write(
        tmp_path / "conf" / "plant.yaml",
        "input:\n  stdin: {}\nlicense:\n  file: l.jwt\n  public_key_file: pub.pem\n",
    )
    code, out, _ = _status(capsys, "--config", str(config))
    assert code == 0
    rows = _rows(out)
    assert rows["subject"] == "acme-001"
    assert rows["source"] == f"file {tmp_path / 'conf' / 'l.jwt'}"


def test_bad_license_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "plant.yaml", "license:\n  leeway: soon\n")
    code, out, err = _status(capsys, "--config", str(config))
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"{config}:2:11: license.leeway: invalid duration 'soon': expected a number with a "
        "unit such as 500ms, 1s, 1m30s"
    ]
