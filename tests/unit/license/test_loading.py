"""Loading the deployment's licence: where it came from, and why the defaults apply if not."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from license_helpers import FEATURES, KeyPair

from streamforge.license.loading import LicenseStatus, load_license
from streamforge.license.settings import LicenseSettings
from streamforge.license.token import issue_token

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
LOGGER = "streamforge.license"


@pytest.fixture
def pair(key_pairs: dict[str, KeyPair]) -> KeyPair:
    return key_pairs["ES256"]


def _token(pair: KeyPair, expires: datetime = NOW + timedelta(days=30)) -> str:
    return issue_token(pair.private_pem, subject="acme-001", features=FEATURES, expires=expires)


def _load(
    settings: LicenseSettings, caplog: pytest.LogCaptureFixture
) -> tuple[LicenseStatus, list[logging.LogRecord]]:
    caplog.set_level(logging.INFO, logger=LOGGER)
    caplog.clear()
    status = load_license(settings, now=NOW)
    return status, [r for r in caplog.records if r.name == LOGGER]


def test_token_from_the_environment(pair: KeyPair, caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "STREAMFORGE_LICENSE": _token(pair),
        "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": str(pair.public_file),
    }
    status, records = _load(LicenseSettings.from_config(None, env=env), caplog)
    assert status.license is not None and status.license.subject == "acme-001"
    assert status.license.features.bindings == {"kafka", "modbus", "opcua"}
    assert status.source == "STREAMFORGE_LICENSE"
    assert status.reason is None
    assert not status.defaults_apply
    assert status.checked_at == NOW
    assert [r.levelno for r in records] == [logging.INFO]
    assert "acme-001" in records[0].getMessage()


def test_file_from_the_environment(
    pair: KeyPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    license_file = tmp_path / "licence.jwt"
    license_file.write_text(_token(pair) + "\n")
    env = {
        "STREAMFORGE_LICENSE_FILE": str(license_file),
        "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": str(pair.public_file),
    }
    status, _ = _load(LicenseSettings.from_config(None, env=env), caplog)
    assert status.license is not None and status.license.subject == "acme-001"
    assert status.source == f"file {license_file}"


def test_environment_token_is_used_before_the_environment_file(
    pair: KeyPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "STREAMFORGE_LICENSE": _token(pair),
        "STREAMFORGE_LICENSE_FILE": str(tmp_path / "missing.jwt"),
        "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": str(pair.public_file),
    }
    status, _ = _load(LicenseSettings.from_config(None, env=env), caplog)
    assert status.license is not None
    assert status.source == "STREAMFORGE_LICENSE"


def test_file_from_the_config_relative_to_it(
    pair: KeyPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "licence.jwt").write_text(_token(pair))
    (tmp_path / "vendor.pem").write_bytes(pair.public_pem)
    env = {"STREAMFORGE_LICENSE": "not.a.token", "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": "/nope"}
    settings = LicenseSettings.from_config(
        {"file": "licence.jwt", "public_key_file": "vendor.pem"}, env=env, base_dir=tmp_path
    )
    status, _ = _load(settings, caplog)
    assert status.license is not None and status.license.subject == "acme-001"
    assert status.source == f"file {tmp_path / 'licence.jwt'}"


def test_missing_file_falls_back_with_one_warning(
    pair: KeyPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "gone.jwt"
    settings = LicenseSettings(file=str(missing), public_key_file=str(pair.public_file))
    status, records = _load(settings, caplog)
    assert status.defaults_apply and status.license is None
    assert status.source == f"file {missing}"
    assert status.reason == f"licence file {missing}: not found"
    assert [r.levelno for r in records] == [logging.WARNING]
    message = records[0].getMessage()
    assert f"file {missing}" in message and "not found" in message


def test_empty_file(pair: KeyPair, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "empty.jwt"
    empty.write_text("\n")
    status, _ = _load(
        LicenseSettings(file=str(empty), public_key_file=str(pair.public_file)), caplog
    )
    assert status.reason == f"licence file {empty}: empty"


def test_no_public_key_configured(pair: KeyPair, caplog: pytest.LogCaptureFixture) -> None:
    status, records = _load(LicenseSettings(token=_token(pair)), caplog)
    assert status.defaults_apply
    assert status.reason == (
        "no public key configured (license.public_key_file or STREAMFORGE_LICENSE_PUBLIC_KEY_FILE)"
    )
    assert [r.levelno for r in records] == [logging.WARNING]


def test_public_key_file_missing(
    pair: KeyPair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = tmp_path / "vendor.pem"
    status, _ = _load(LicenseSettings(token=_token(pair), public_key_file=str(key)), caplog)
    assert status.reason == f"public key file {key}: not found"


def test_expired_license_names_the_expiry(pair: KeyPair, caplog: pytest.LogCaptureFixture) -> None:
    token = _token(pair, expires=datetime(2026, 6, 1, 11, 58, tzinfo=timezone.utc))
    settings = LicenseSettings(token=token, public_key_file=str(pair.public_file), leeway=60)
    status, records = _load(settings, caplog)
    assert status.reason == "expired at 2026-06-01T11:58:00Z"
    assert "STREAMFORGE_LICENSE" in records[0].getMessage()
    assert "expired at 2026-06-01T11:58:00Z" in records[0].getMessage()


def test_leeway_from_the_settings_is_applied(
    pair: KeyPair, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token(pair, expires=NOW - timedelta(seconds=30))
    lenient = LicenseSettings(token=token, public_key_file=str(pair.public_file), leeway=60)
    strict = LicenseSettings(token=token, public_key_file=str(pair.public_file), leeway=0)
    assert not _load(lenient, caplog)[0].defaults_apply
    assert _load(strict, caplog)[0].defaults_apply


def test_license_signed_by_another_key(
    pair: KeyPair, other_key_pairs: dict[str, KeyPair], caplog: pytest.LogCaptureFixture
) -> None:
    token = _token(other_key_pairs["ES256"])
    status, _ = _load(LicenseSettings(token=token, public_key_file=str(pair.public_file)), caplog)
    assert status.reason == "signature does not match the public key"


def test_configured_issuer_is_checked(pair: KeyPair, caplog: pytest.LogCaptureFixture) -> None:
    settings = LicenseSettings(
        token=_token(pair), public_key_file=str(pair.public_file), issuer="acme-licensing"
    )
    status, _ = _load(settings, caplog)
    assert status.reason == "issuer 'streamforge-licensing' is not 'acme-licensing'"


def test_nothing_configured(caplog: pytest.LogCaptureFixture) -> None:
    status, records = _load(LicenseSettings.from_config(None, env={}), caplog)
    assert status.defaults_apply
    assert (status.source, status.reason) == ("none", "no licence configured")
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "no licence: base features apply")
    ]
