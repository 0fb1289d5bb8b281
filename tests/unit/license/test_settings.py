"""Licence settings: the config section wins over the environment; paths follow the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamforge.license.settings import (
    LICENSE_FIELDS,
    LicenseSettings,
    LicenseSettingsError,
)
from streamforge.plugin import Field

ENV = {
    "STREAMFORGE_LICENSE": "env.token.value",
    "STREAMFORGE_LICENSE_FILE": "/env/licence.jwt",
    "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": "/env/key.pem",
    "STREAMFORGE_POLICY_DIR": "/env/policies",
    "STREAMFORGE_OPA_URL": "http://opa.env:8181",
}


def test_nothing_configured() -> None:
    settings = LicenseSettings.from_config(None, env={})
    assert settings == LicenseSettings(issuer="streamforge-licensing", leeway=60.0)
    assert settings.file is None and settings.token is None
    assert settings.public_key_file is None


def test_environment_alone() -> None:
    settings = LicenseSettings.from_config(None, env=ENV)
    assert settings.token == "env.token.value"
    assert settings.file == "/env/licence.jwt"
    assert settings.public_key_file == "/env/key.pem"
    assert settings.policy_dir == "/env/policies"
    assert settings.opa_url == "http://opa.env:8181"


def test_config_wins_over_environment() -> None:
    section = {
        "file": "/conf/licence.jwt",
        "public_key_file": "/conf/key.pem",
        "policy_dir": "/conf/policies",
        "opa_url": "https://opa.conf/",
        "issuer": "acme-licensing",
        "leeway": "5m",
    }
    settings = LicenseSettings.from_config(section, env=ENV)
    assert settings.file == "/conf/licence.jwt"
    assert settings.token is None  # a licence file in the config replaces the env token too
    assert settings.public_key_file == "/conf/key.pem"
    assert settings.policy_dir == "/conf/policies"
    assert settings.opa_url == "https://opa.conf"
    assert settings.issuer == "acme-licensing"
    assert settings.leeway == 300.0


def test_empty_config_values_fall_back_to_environment() -> None:
    """A lint pass fills defaults ("" for paths); those must not hide the environment."""
    section = {"file": "", "public_key_file": "", "policy_dir": "", "opa_url": "", "leeway": "60s"}
    settings = LicenseSettings.from_config(section, env=ENV)
    assert settings.token == "env.token.value"
    assert settings.file == "/env/licence.jwt"
    assert settings.public_key_file == "/env/key.pem"
    assert settings.policy_dir == "/env/policies"


def test_empty_environment_values_are_unset() -> None:
    settings = LicenseSettings.from_config({}, env={k: " " for k in ENV})
    assert (settings.token, settings.file, settings.public_key_file) == (None, None, None)
    assert (settings.policy_dir, settings.opa_url) == (None, None)


def test_relative_config_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    section = {"file": "licence.jwt", "public_key_file": "keys/vendor.pem", "policy_dir": "rego"}
    settings = LicenseSettings.from_config(section, env={}, base_dir=tmp_path)
    assert settings.file == str(tmp_path / "licence.jwt")
    assert settings.public_key_file == str(tmp_path / "keys/vendor.pem")
    assert settings.policy_dir == str(tmp_path / "rego")
    assert settings.base_dir == tmp_path


def test_absolute_config_paths_and_environment_paths_stay_as_written(tmp_path: Path) -> None:
    settings = LicenseSettings.from_config(
        {"file": "/abs/licence.jwt"},
        env={"STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": "relative/key.pem"},
        base_dir=tmp_path,
    )
    assert settings.file == "/abs/licence.jwt"
    assert settings.public_key_file == "relative/key.pem"


@pytest.mark.parametrize(("value", "seconds"), [(30, 30.0), (1.5, 1.5), ("2m", 120.0), ("0", 0.0)])
def test_leeway_as_number_or_duration(value: Any, seconds: float) -> None:
    assert LicenseSettings.from_config({"leeway": value}, env={}).leeway == seconds


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ({"fiel": "x"}, "fiel", 'license.fiel: unknown field, did you mean "file"?'),
        ({"colour": "x"}, "colour", "license.colour: unknown field (known: file, "),
        ({"file": 3}, "file", "license.file: expected a string, got int"),
        (
            {"public_key_file": ["a"]},
            "public_key_file",
            "license.public_key_file: expected a string",
        ),
        ({"issuer": True}, "issuer", "license.issuer: expected a string, got bool"),
        ({"leeway": "soon"}, "leeway", "license.leeway: invalid duration 'soon'"),
        ({"leeway": [1]}, "leeway", "license.leeway: expected a duration such as 60s"),
        ({"leeway": "-1s"}, "leeway", "license.leeway: must not be negative"),
        ({"opa_url": "opa:8181"}, "opa_url", "license.opa_url: expected an http:// or https://"),
    ],
)
def test_bad_sections_name_the_key(section: dict, key: str, message: str) -> None:
    with pytest.raises(LicenseSettingsError) as caught:
        LicenseSettings.from_config(section, env={})
    assert caught.value.key == key
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_section_that_is_not_an_object() -> None:
    with pytest.raises(ValueError, match="license: expected an object, got array"):
        LicenseSettings.from_config(["file"], env={})  # type: ignore[arg-type]


def test_bad_opa_url_from_environment_names_the_variable() -> None:
    with pytest.raises(LicenseSettingsError) as caught:
        LicenseSettings.from_config({}, env={"STREAMFORGE_OPA_URL": "localhost:8181"})
    assert caught.value.key == "STREAMFORGE_OPA_URL"
    assert str(caught.value) == (
        "STREAMFORGE_OPA_URL: expected an http:// or https:// URL, got 'localhost:8181'"
    )


def test_fields_describe_every_key_the_section_accepts() -> None:
    assert all(isinstance(f, Field) for f in LICENSE_FIELDS)
    names = [f.name for f in LICENSE_FIELDS]
    assert names == ["file", "public_key_file", "issuer", "policy_dir", "opa_url", "leeway"]
    defaults = {f.name: f.default for f in LICENSE_FIELDS}
    # the defaults a lint pass fills in read back as the built-in settings
    assert LicenseSettings.from_config(defaults, env={}) == LicenseSettings()
    assert all(not f.required for f in LICENSE_FIELDS)
