"""The `tls` config object shared by broker clients (MQTT, Kafka), as Benthos spells it."""

from __future__ import annotations

from typing import Any

from streamforge.plugin import Field

__all__ = ["tls_field"]

CLIENT_CERT = Field(
    "client_cert",
    "object",
    fields=(
        Field("cert_file", "string", default="", description="PEM certificate file."),
        Field("key_file", "string", default="", description="PEM private key file."),
        Field("cert", "string", default="", description="Inline PEM certificate."),
        Field("key", "string", default="", description="Inline PEM private key."),
        Field("password", "string", default="", description="Password of the private key."),
    ),
)


def tls_field(description: str, *, default: dict[str, Any], extra: tuple[Field, ...] = ()) -> Field:
    """The `tls` object: enabled, skip_cert_verify, root_cas(_file), client_certs (+ `extra`)."""
    return Field(
        "tls",
        "object",
        default=default,
        description=description,
        advanced=True,
        fields=(
            Field("enabled", "bool", default=False, description="Connect with TLS."),
            Field(
                "skip_cert_verify",
                "bool",
                default=False,
                description="Do not verify the broker's certificate chain nor its host name.",
            ),
            *extra,
            Field(
                "root_cas",
                "string",
                default="",
                description="PEM certificates of the authorities to trust, inline.",
            ),
            Field(
                "root_cas_file",
                "string",
                default="",
                description="A PEM file of the certificate authorities to trust.",
            ),
            Field(
                "client_certs",
                "array",
                default=[],
                description="Client certificates for mutual TLS.",
                item=CLIENT_CERT,
            ),
        ),
    )
