"""OPC UA security: modes and policies, the client certificate kept on disk, fingerprint pinning.

The client certificate and key are generated once under `certificateDir` and reused on every
start, so a server administrator trusts them once. A pinned `serverCertificateFingerprint`
(SHA-1 or SHA-256 hex) is compared with the certificate the server presents for the chosen
endpoint before any secure channel is opened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncua import Client, ua
    from asyncua.crypto.security_policies import SecurityPolicy
    from cryptography import x509

__all__ = [
    "APPLICATION_URI",
    "MODES",
    "POLICIES",
    "CertificateMismatch",
    "ClientCertificate",
    "InlineCertificate",
    "UserCertificate",
    "check_security",
    "default_certificate_dir",
    "fingerprints",
    "parse_client_certificate",
    "parse_fingerprint",
    "parse_user_certificate",
    "secure",
]

APPLICATION_URI = "urn:streamforge:opcua:client"

#: `securityMode` values (asyncua's enum members: `_ua_mode`)
MODES = ("None", "Sign", "SignAndEncrypt")
#: `securityPolicy` values (asyncua's classes: `_policy_class`)
POLICIES = ("None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")

_HEX = re.compile(r"^[0-9a-f]+$")


def _ua_mode(mode: str) -> ua.MessageSecurityMode:
    """asyncua's message security mode named `mode` (one of MODES)."""
    from asyncua import ua

    return {
        "None": ua.MessageSecurityMode.None_,
        "Sign": ua.MessageSecurityMode.Sign,
        "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt,
    }[mode]


def _policy_class(policy: str) -> type[SecurityPolicy] | None:
    """asyncua's security policy class named `policy` (one of POLICIES); None for "None"."""
    from asyncua.crypto import security_policies

    return {
        "None": None,
        "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
        "Aes128_Sha256_RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
        "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
    }[policy]


class CertificateMismatch(Exception):
    """The server's certificate is not the pinned one (or it presents none)."""


def default_certificate_dir() -> Path:
    """`$STREAMFORGE_HOME/opcua` or `~/.streamforge/opcua`."""
    home = os.environ.get("STREAMFORGE_HOME")
    base = Path(home) if home else Path.home() / ".streamforge"
    return base / "opcua"


def parse_fingerprint(text: str | None) -> str:
    """Normalise a pinned fingerprint to lower-case hex (colons/spaces dropped); "" for none."""
    raw = "" if text is None else str(text)
    hexed = re.sub(r"[\s:]", "", raw).lower()
    if hexed.startswith("sha256") or hexed.startswith("sha1"):
        hexed = hexed.split("=", 1)[-1] if "=" in hexed else hexed
    if not hexed:
        return ""
    if not _HEX.match(hexed) or len(hexed) not in _DIGESTS:
        raise ValueError(
            f"serverCertificateFingerprint {raw!r}: expected the SHA-1 (40 hex digits), SHA-256 "
            "(64) or SHA3-512 (128, as benthos-umh prints it) fingerprint of the server "
            "certificate"
        )
    return hexed


#: fingerprint length in hex digits -> (digest name in `fingerprints`, how it is shown)
_DIGESTS = {40: ("sha1", "SHA-1"), 64: ("sha256", "SHA-256"), 128: ("sha3_512", "SHA3-512")}


def fingerprints(der: bytes) -> dict[str, str]:
    """SHA-1, SHA-256 and SHA3-512 fingerprints (lower-case hex) of a DER certificate."""
    return {
        "sha1": hashlib.sha1(der).hexdigest(),
        "sha256": hashlib.sha256(der).hexdigest(),
        "sha3_512": hashlib.sha3_512(der).hexdigest(),
    }


def check_security(mode: str, policy: str, fingerprint: str) -> None:
    """Reject combinations that cannot work; ValueError naming the fields."""
    if mode not in MODES:
        raise ValueError(f"securityMode {mode!r}: expected one of {', '.join(MODES)}")
    if policy not in POLICIES:
        raise ValueError(f"securityPolicy {policy!r}: expected one of {', '.join(POLICIES)}")
    if mode == "None" and policy != "None":
        raise ValueError(
            f"securityPolicy {policy}: needs securityMode Sign or SignAndEncrypt (it is None)"
        )
    if mode != "None" and policy == "None":
        raise ValueError(f"securityMode {mode}: needs a securityPolicy, e.g. Basic256Sha256")
    if fingerprint and mode == "None":
        raise ValueError(
            "serverCertificateFingerprint: pinning needs a secure channel; set securityMode to "
            "Sign or SignAndEncrypt"
        )


@dataclass(frozen=True)
class ClientCertificate:
    """This client's certificate (DER) and private key (PEM) under one directory."""

    directory: Path

    @property
    def cert_path(self) -> Path:
        return self.directory / "client_cert.der"

    @property
    def key_path(self) -> Path:
        return self.directory / "client_key.pem"

    async def ensure(self) -> None:
        """Generate the pair when missing or no longer valid; otherwise keep it as it is."""
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            await setup_self_signed_certificate(
                self.key_path,
                self.cert_path,
                APPLICATION_URI,
                socket.gethostname(),
                [ExtendedKeyUsageOID.CLIENT_AUTH],
                {"commonName": "StreamForge OPC UA client", "organizationName": "StreamForge"},
            )
        except OSError as exc:
            raise OSError(
                f"certificateDir {self.directory}: cannot keep the client certificate there "
                f"({exc.strerror or exc})"
            ) from exc
        if os.name == "posix":
            self.key_path.chmod(0o600)


@dataclass(frozen=True)
class InlineCertificate:
    """`clientCertificate`: this client's certificate (DER) and RSA key (PKCS#8 DER), given in
    the config; `uri` is the application URI the certificate names (its SAN URI), if any."""

    cert_der: bytes
    key_der: bytes
    uri: str
    fingerprint: str

    @property
    def cert_path(self) -> str:
        """How error messages name it."""
        return f"clientCertificate (SHA-256 {self.fingerprint})"


@dataclass(frozen=True)
class UserCertificate:
    """`userCertificate` + `userPrivateKey`: an X.509 user identity (DER) and its key (DER)."""

    cert_der: bytes
    key_der: bytes
    subject: str


def _pem_or_base64(text: str, field: str) -> bytes:
    """The bytes of a PEM text given as it is or base64-encoded (benthos-umh takes base64)."""
    raw = text.strip()
    if raw.startswith("-----BEGIN"):
        return raw.encode()
    try:
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{field}: neither PEM text nor base64") from None


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(label, whole block) of each PEM block in `data`."""
    text = data.decode("ascii", "replace")
    return [
        (m.group(1), m.group(0).encode())
        for m in re.finditer(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", text, re.S)
    ]


def _certificate(data: bytes, field: str) -> x509.Certificate:
    from cryptography import x509 as x509_

    try:
        if b"-----BEGIN" in data:
            certs = [b for label, b in _pem_blocks(data) if label == "CERTIFICATE"]
            if not certs:
                raise ValueError("no CERTIFICATE block")
            return x509_.load_pem_x509_certificate(certs[0])
        return x509_.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"{field}: not an X.509 certificate ({exc})") from None


def _rsa_key_der(data: bytes, field: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    keys = [b for label, b in _pem_blocks(data) if label.endswith("PRIVATE KEY")]
    if not keys:
        raise ValueError(f"{field}: no PEM PRIVATE KEY block")
    if "ENCRYPTED" in keys[0].split(b"\n", 1)[0].decode():
        raise ValueError(f"{field}: encrypted private keys are not supported")
    try:
        key = serialization.load_pem_private_key(keys[0], password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{field}: cannot read the private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{field}: the private key is not RSA (OPC UA needs RSA)")
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _matching(cert: x509.Certificate, key_der: bytes, field: str) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_private_key(key_der, password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise ValueError(f"{field}: the private key does not belong to the certificate")


def parse_client_certificate(text: str | None) -> InlineCertificate | None:
    """`clientCertificate`: a PEM bundle (certificate and RSA private key), base64 or as it is."""
    if not text or not str(text).strip():
        return None
    field = "clientCertificate"
    data = _pem_or_base64(str(text), field)
    if b"-----BEGIN" not in data:
        raise ValueError(f"{field}: expected a PEM bundle of a CERTIFICATE and its PRIVATE KEY")
    cert = _certificate(data, field)
    key_der = _rsa_key_der(data, field)
    _matching(cert, key_der, field)
    from cryptography import x509 as x509_
    from cryptography.hazmat.primitives import serialization

    cert_der = cert.public_bytes(serialization.Encoding.DER)
    try:
        san = cert.extensions.get_extension_for_class(x509_.SubjectAlternativeName)
        uris = san.value.get_values_for_type(x509_.UniformResourceIdentifier)
    except x509_.ExtensionNotFound:
        uris = []
    return InlineCertificate(
        cert_der, key_der, uris[0] if uris else "", hashlib.sha256(cert_der).hexdigest()
    )


def parse_user_certificate(cert_text: str | None, key_text: str | None) -> UserCertificate | None:
    """`userCertificate` (PEM or DER, base64; PEM also as it is) and `userPrivateKey` (PEM)."""
    cert_text = str(cert_text or "").strip()
    key_text = str(key_text or "").strip()
    if not cert_text and not key_text:
        return None
    if not cert_text:
        raise ValueError("userPrivateKey: set userCertificate too")
    if not key_text:
        raise ValueError("userCertificate: set userPrivateKey too")
    cert = _certificate(_pem_or_base64(cert_text, "userCertificate"), "userCertificate")
    key_data = _pem_or_base64(key_text, "userPrivateKey")
    key_der = _rsa_key_der(key_data, "userPrivateKey")
    _matching(cert, key_der, "userPrivateKey")
    from cryptography.hazmat.primitives import serialization

    return UserCertificate(
        cert.public_bytes(serialization.Encoding.DER), key_der, cert.subject.rfc4514_string()
    )


def _first_certificate(der: bytes) -> bytes:
    """The leaf certificate of a DER chain (servers may send a chain)."""
    if len(der) < 4 or der[0] != 0x30 or der[1] != 0x82:
        return der
    return der[: int.from_bytes(der[2:4], "big") + 4]


def _describe(endpoints: list[ua.EndpointDescription]) -> str:
    offered = sorted(
        {
            f"{e.SecurityPolicyUri.rsplit('#', 1)[-1]}/{e.SecurityMode.name.rstrip('_')}"
            for e in endpoints
        }
    )
    return ", ".join(offered) or "none"


async def secure(
    client: Client,
    mode: str,
    policy: str,
    certificate: ClientCertificate | InlineCertificate,
    fingerprint: str,
) -> None:
    """Choose the server endpoint for `mode`/`policy`, check the pin, and set up the channel."""
    policy_class = _policy_class(policy)
    if policy_class is None:
        return
    ua_mode = _ua_mode(mode)
    endpoints = await client.connect_and_get_server_endpoints()
    chosen = next(
        (
            e
            for e in endpoints
            if e.SecurityMode == ua_mode and e.SecurityPolicyUri == policy_class.URI
        ),
        None,
    )
    if chosen is None:
        raise CertificateMismatch(
            f"the server offers no endpoint with securityPolicy {policy} and securityMode "
            f"{mode} (it offers {_describe(endpoints)})"
        )
    der = _first_certificate(bytes(chosen.ServerCertificate or b""))
    if fingerprint:
        if not der:
            raise CertificateMismatch("the server presents no certificate to check the pin on")
        digest, kind = _DIGESTS[len(fingerprint)]
        actual = fingerprints(der)[digest]
        if actual != fingerprint:
            raise CertificateMismatch(
                f"server certificate {kind} fingerprint {actual} does not match "
                f"serverCertificateFingerprint {fingerprint}; refusing to connect"
            )
    if isinstance(certificate, InlineCertificate):
        cert: str | bytes = certificate.cert_der
        key: str | bytes = certificate.key_der
    else:
        await certificate.ensure()
        cert, key = str(certificate.cert_path), str(certificate.key_path)
    await client.set_security(policy_class, cert, key, server_certificate=der, mode=ua_mode)
