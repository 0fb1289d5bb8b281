"""Signing key pairs (RSA 2048, EC P-256, Ed25519), generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from license_helpers import KeyPair

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _write(directory: Path, algorithm: str, private_key: PrivateKey) -> KeyPair:
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_file = directory / f"{algorithm}.key.pem"
    public_file = directory / f"{algorithm}.pub.pem"
    private_file.write_bytes(private_pem)
    public_file.write_bytes(public_pem)
    return KeyPair(algorithm, private_pem, public_pem, private_file, public_file)


@pytest.fixture(scope="session")
def key_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """One key pair per supported algorithm, as PEM text and files."""
    directory = tmp_path_factory.mktemp("licence-keys")
    return {
        "RS256": _write(directory, "RS256", rsa.generate_private_key(65537, 2048)),
        "ES256": _write(directory, "ES256", ec.generate_private_key(ec.SECP256R1())),
        "EdDSA": _write(directory, "EdDSA", ed25519.Ed25519PrivateKey.generate()),
    }


@pytest.fixture(params=["RS256", "ES256", "EdDSA"])
def key_pair(request: pytest.FixtureRequest, key_pairs: dict[str, KeyPair]) -> KeyPair:
    """Each supported key pair in turn."""
    return key_pairs[request.param]


@pytest.fixture(scope="session")
def other_key_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """A second key pair per algorithm: a key that did not sign the tokens under test."""
    directory = tmp_path_factory.mktemp("other-keys")
    return {
        "RS256": _write(directory, "RS256", rsa.generate_private_key(65537, 2048)),
        "ES256": _write(directory, "ES256", ec.generate_private_key(ec.SECP256R1())),
        "EdDSA": _write(directory, "EdDSA", ed25519.Ed25519PrivateKey.generate()),
    }
