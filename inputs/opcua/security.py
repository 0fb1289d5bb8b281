"""OPC UA security: modes and policies, the client certificate kept on disk, fingerprint pinning.

The client certificate and key are generated once under `certificateDir` and reused on every
start, so a server administrator trusts them once. A pinned `serverCertificateFingerprint`
(SHA-1 or SHA-256 hex) is compared with the certificate the server presents for the chosen
endpoint before any secure channel is opened.
"""

from __future__ import annotations

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

__all__ = [
    "APPLICATION_URI",
    "MODES",
    "POLICIES",
    "CertificateMismatch",
    "ClientCertificate",
    "check_security",
    "default_certificate_dir",
    "fingerprints",
    "parse_fingerprint",
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
    if not _HEX.match(hexed) or len(hexed) not in (40, 64):
        raise ValueError(
            f"serverCertificateFingerprint {raw!r}: expected the SHA-1 (40 hex digits) or SHA-256 "
            "(64 hex digits) fingerprint of the server certificate"
        )
    return hexed


def fingerprints(der: bytes) -> dict[str, str]:
    """SHA-1 and SHA-256 fingerprints (lower-case hex) of a DER certificate."""
    return {"sha1": hashlib.sha1(der).hexdigest(), "sha256": hashlib.sha256(der).hexdigest()}


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
    certificate: ClientCertificate,
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
        actual = fingerprints(der)["sha1" if len(fingerprint) == 40 else "sha256"]
        if actual != fingerprint:
            kind = "SHA-1" if len(fingerprint) == 40 else "SHA-256"
            raise CertificateMismatch(
                f"server certificate {kind} fingerprint {actual} does not match "
                f"serverCertificateFingerprint {fingerprint}; refusing to connect"
            )
    await certificate.ensure()
    await client.set_security(
        policy_class,
        str(certificate.cert_path),
        str(certificate.key_path),
        server_certificate=der,
        mode=ua_mode,
    )
