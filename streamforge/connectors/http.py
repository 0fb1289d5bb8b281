"""Settings every HTTP client component shares: basic auth and TLS, as Benthos spells them."""

from __future__ import annotations

import ssl
from typing import Any

from streamforge.plugin import Field

__all__ = [
    "HTTP_CLIENT_CERT",
    "parse_address",
    "basic_auth_credentials",
    "basic_auth_field",
    "ssl_context",
]


#: a client certificate of an HTTP client (`tls.client_certs`): both files are required
HTTP_CLIENT_CERT = Field(
    "cert",
    "object",
    fields=(
        Field("cert_file", "string", description="PEM certificate file."),
        Field("key_file", "string", description="PEM key file."),
    ),
)


def basic_auth_field(description: str = "HTTP basic authentication.", **options: Any) -> Field:
    """The `basic_auth: {enabled, username, password}` object field."""
    return Field(
        "basic_auth",
        "object",
        default={"enabled": False, "username": "", "password": ""},
        description=description,
        fields=(
            Field("enabled", "bool", default=False, description="Send basic auth."),
            Field("username", "string", default="", description="The user name."),
            Field("password", "string", default="", description="The password.", secret=True),
        ),
        **options,
    )


def basic_auth_credentials(conf: dict[str, Any]) -> tuple[str, str] | None:
    """(username, password) when the component's `basic_auth` is enabled, else None."""
    auth = conf.get("basic_auth") or {}
    if not auth.get("enabled"):
        return None
    return str(auth.get("username") or ""), str(auth.get("password") or "")


def ssl_context(tls: dict[str, Any]) -> ssl.SSLContext | bool:
    """What httpx's `verify` takes for a `tls` object; True (system CAs) when not enabled."""
    if not tls.get("enabled"):
        return True
    context = ssl.create_default_context(cafile=str(tls.get("root_cas_file") or "") or None)
    if tls.get("skip_cert_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    for pair in tls.get("client_certs") or []:
        context.load_cert_chain(str(pair["cert_file"]), str(pair["key_file"]))
    return context


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` (host may be empty or a bracketed IPv6 address) -> (host, port)."""
    host, sep, port = str(address).rpartition(":")
    if not sep:
        raise ValueError(f"invalid http address {address!r}: expected host:port")
    try:
        port_no = int(port)
    except ValueError:
        raise ValueError(f"invalid port in http address {address!r}") from None
    if not 0 <= port_no <= 65535:
        raise ValueError(f"port out of range in http address {address!r}")
    return host.strip("[]") or "0.0.0.0", port_no
