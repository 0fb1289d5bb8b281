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
