"""The `tls` config object shared by broker clients (MQTT, Kafka), as Benthos spells it."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import partial
from typing import Any

from streamforge.plugin import Field

__all__ = ["check_tls_files", "tls_field"]

CLIENT_CERT = Field(
    "client_cert",
    "object",
    fields=(
        Field("cert_file", "string", default="", description="PEM certificate file."),
        Field("key_file", "string", default="", description="PEM private key file."),
        Field("cert", "string", default="", description="Inline PEM certificate."),
        Field("key", "string", default="", description="Inline PEM private key.", secret=True),
        Field(
            "password",
            "string",
            default="",
            description="Password of the private key.",
            secret=True,
        ),
    ),
)


def tls_field(
    description: str,
    *,
    default: dict[str, Any],
    peer: str = "broker",
    extra: tuple[Field, ...] = (),
    inline_cas: bool = True,
    client_cert: Field | None = CLIENT_CERT,
    advanced: bool = True,
    enabled: str = "Connect with TLS.",
) -> Field:
    """The `tls` object: enabled, skip_cert_verify, (+ `extra`), root_cas, root_cas_file and
    client_certs; HTTP clients leave out the inline CAs or (a registry) the client certs."""
    fields = [
        Field("enabled", "bool", default=False, description=enabled),
        Field(
            "skip_cert_verify",
            "bool",
            default=False,
            description=f"Do not verify the {peer}'s certificate chain nor its host name.",
        ),
        *extra,
    ]
    if inline_cas:
        fields.append(
            Field(
                "root_cas",
                "string",
                default="",
                description="PEM certificates of the authorities to trust, inline.",
            )
        )
    fields.append(
        Field(
            "root_cas_file",
            "string",
            default="",
            description="A PEM file of the certificate authorities to trust.",
        )
    )
    if client_cert is not None:
        fields.append(
            Field(
                "client_certs",
                "array",
                default=[],
                description="Client certificates for mutual TLS.",
                item=client_cert,
            )
        )
    return Field(
        "tls",
        "object",
        default=default,
        description=description,
        advanced=advanced,
        fields=tuple(fields),
    )


def check_tls_files(tls: dict[str, Any]) -> None:
    """Load the certificate files a `tls` object names, as the client will when it connects.

    Raises ValueError naming the field and the file, e.g. `tls.root_cas_file: cannot load
    './ca.pem': No such file or directory`.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca_file = str(tls.get("root_cas_file") or "")
    if ca_file:
        _load("tls.root_cas_file", ca_file, partial(context.load_verify_locations, ca_file))
    for i, cert in enumerate(tls.get("client_certs") or []):
        cert = cert or {}
        files = {
            f"tls.client_certs.{i}.{key}": str(cert.get(key) or "")
            for key in ("cert_file", "key_file")
        }
        for name, path in files.items():
            if path:
                _load(name, path, partial(_readable, path))
        cert_file, key_file = files.values()
        if cert_file:
            password = str(cert.get("password") or "") or None
            load = partial(context.load_cert_chain, cert_file, key_file or None, password)
            _load(f"tls.client_certs.{i}.cert_file", cert_file, load)


def _readable(path: str) -> None:
    with open(path, "rb"):
        pass


def _load(name: str, path: str, load: Callable[[], object]) -> None:
    try:
        load()
    except OSError as exc:
        if isinstance(exc, ssl.SSLError):
            reason = str(exc.reason or "not PEM data").lower().replace("_", " ")
            raise ValueError(f"{name}: cannot load {path!r}: {reason}") from None
        raise ValueError(f"{name}: cannot load {path!r}: {exc.strerror or exc}") from None
