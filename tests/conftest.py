"""A licence for the whole test session, so streams with licensed components run.

An Ed25519 key pair is generated once; a licence granting every binding, processor, security
method and storage feature is put in STREAMFORGE_LICENSE (subprocess runs inherit it). Tests
about gating replace or remove it with monkeypatch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from streamforge.license import state
from streamforge.license.catalog import BINDINGS, SECURITY_RULES, registered_features
from streamforge.license.settings import ENV_LICENSE, ENV_LICENSE_FILE, ENV_PUBLIC_KEY_FILE
from streamforge.license.token import issue_token
from streamforge.plugin import load_builtins, registry

#: the subject of the session licence
SESSION_SUBJECT = "streamforge-tests"


def every_feature() -> dict[str, object]:
    """Features granting every known binding, processor, security method and storage."""
    load_builtins()
    declared: dict[str, set[str]] = {"bindings": set(), "processors": set(), "storage": set()}
    for features in registered_features().values():
        for category, name in features:
            declared.setdefault(category, set()).add(name)
    return {
        "bindings": sorted(set(BINDINGS.values()) | declared["bindings"]),
        "processors": sorted(
            {spec.name for spec in registry.specs("processor")} | declared["processors"]
        ),
        "security": sorted(SECURITY_RULES),
        "storage": sorted({"parquet"} | declared["storage"]),
        "capabilities": {"max_things": 10_000, "max_streams": 10_000, "max_users": 1_000},
    }


@pytest.fixture(scope="session", autouse=True)
def session_license(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Install the session licence in the environment; returns the token."""
    directory = tmp_path_factory.mktemp("session-licence")
    private_key = ed25519.Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_file = directory / "licensing.pub.pem"
    public_file.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = issue_token(
        private_pem,
        subject=SESSION_SUBJECT,
        features=every_feature(),
        expires=datetime.now(timezone.utc) + timedelta(days=3650),
        customer={"name": "StreamForge tests"},
    )
    names = (ENV_LICENSE, ENV_LICENSE_FILE, ENV_PUBLIC_KEY_FILE)
    saved = {name: os.environ.get(name) for name in names}
    os.environ.pop(ENV_LICENSE_FILE, None)
    os.environ[ENV_LICENSE] = token
    os.environ[ENV_PUBLIC_KEY_FILE] = str(public_file)
    state.install(None)
    yield token
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    state.install(None)


#: every environment variable that can bring a licence or policies into a test
LICENCE_ENV = (
    "STREAMFORGE_LICENSE",
    "STREAMFORGE_LICENSE_FILE",
    "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE",
    "STREAMFORGE_POLICY_DIR",
    "STREAMFORGE_OPA_URL",
)


@pytest.fixture
def no_license(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No licence or policy settings in the environment (the session licence is set aside);
    the process-wide licence state is rebuilt before and after. Yields the monkeypatch."""
    for name in LICENCE_ENV:
        monkeypatch.delenv(name, raising=False)
    state.install(None)
    yield monkeypatch
    state.install(None)
