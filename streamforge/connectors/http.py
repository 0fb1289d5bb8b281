"""Settings every HTTP client component shares (URL, verb, headers, retries, statuses,
authentication, TLS), as Benthos spells them."""

from __future__ import annotations

import difflib
import ssl
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

from streamforge.connectors.http_auth import (
    basic_auth_credentials,
    basic_auth_field,
    client_auth,
    http_auth_fields,
)
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.durations import parse_duration
from streamforge.interpolation import has_interpolation
from streamforge.plugin import Field
from streamforge.plugin.spec import ParsedField

__all__ = [
    "HTTP_CLIENT_CERT",
    "VERBS",
    "RetrySettings",
    "StatusRules",
    "basic_auth_credentials",
    "basic_auth_field",
    "check_http_url",
    "describe_transport_error",
    "http_client_fields",
    "http_client_tls_field",
    "open_client",
    "parse_address",
    "parse_verb",
    "retry_fields",
    "retry_settings",
    "ssl_context",
    "status_list_field",
    "url_field",
    "verb_field",
]

#: request methods an HTTP client component may use
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


#: a client certificate of an HTTP client (`tls.client_certs`): both files are required
HTTP_CLIENT_CERT = Field(
    "cert",
    "object",
    fields=(
        Field("cert_file", "string", description="PEM certificate file."),
        Field("key_file", "string", description="PEM key file."),
    ),
)


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


def check_http_url(value: Any) -> str:
    """A URL without interpolations must be http(s)://host...; ValueError when it is not."""
    url = str(value or "")
    if has_interpolation(url):
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url {url!r}: expected an http:// or https:// URL")
    return url


def url_field(description: str, examples: tuple[str, ...]) -> Field:
    """The required, interpolable `url` field; lint checks a static one is http(s)."""
    return ParsedField(
        "url",
        "string",
        interpolable=True,
        description=description,
        examples=examples,
        parser=check_http_url,
    )


def parse_verb(value: Any) -> str:
    """A request method in upper case; ValueError naming the known ones when it is not one."""
    verb = str(value or "").strip().upper()
    if verb not in VERBS:
        close = difflib.get_close_matches(verb, VERBS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown verb {value!r}; expected one of {', '.join(VERBS)}{hint}")
    return verb


def verb_field(default: str, examples: tuple[str, ...]) -> Field:
    """The `verb` field, checked by lint against VERBS (case does not matter)."""
    return ParsedField(
        "verb",
        "string",
        default=default,
        description=f"The HTTP method of each request: {', '.join(VERBS)}.",
        examples=examples,
        parser=parse_verb,
    )


def status_list_field(name: str, default: list[int], description: str) -> Field:
    """An advanced list of HTTP statuses (`backoff_on`, `drop_on`, `successful_on`)."""
    return Field(name, "array", default=default, item=Field("status", "int"),
                 description=description, advanced=True)  # fmt: skip


def retry_fields(retries: str, retry_period: str, backoff_on: str) -> tuple[Field, ...]:
    """`retries`, `retry_period`, `max_retry_backoff` and `backoff_on`, as Benthos names them.

    Each component says in its own words what a retry means for it.
    """
    return (
        Field("retries", "int", default=3, description=retries),
        Field("retry_period", "duration", default="1s", description=retry_period),
        Field(
            "max_retry_backoff",
            "duration",
            default="300s",
            description="The longest pause between two retries.",
            advanced=True,
        ),
        status_list_field("backoff_on", [429], backoff_on),
    )


class RetrySettings(NamedTuple):
    """The parsed retry fields: count, first pause and longest pause (seconds)."""

    retries: int
    period: float
    max_backoff: float


def retry_settings(conf: dict[str, Any], *, min_period: float = 0.001) -> RetrySettings:
    """The retry fields of `conf`, with the first pause at least `min_period`."""
    period = max(parse_duration(conf.get("retry_period", "1s")), min_period)
    longest = max(parse_duration(conf.get("max_retry_backoff", "300s")), period)
    return RetrySettings(max(int(conf.get("retries", 3)), 0), period, longest)


def http_client_tls_field(description: str) -> Field:
    """The `tls` object of an HTTP client: no inline CAs, client certificates as file pairs."""
    return tls_field(
        description,
        default={
            "enabled": False,
            "skip_cert_verify": False,
            "root_cas_file": "",
            "client_certs": [],
        },
        peer="server",
        inline_cas=False,
        enabled="Apply the settings below.",
        client_cert=HTTP_CLIENT_CERT,
        advanced=False,
    )


@dataclass(frozen=True)
class StatusRules:
    """Which response statuses succeed: 2xx and `successful_on`, unless in backoff_on/drop_on."""

    backoff_on: frozenset[int] = frozenset({429})
    drop_on: frozenset[int] = frozenset()
    successful_on: frozenset[int] = frozenset()

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> StatusRules:
        return cls(
            frozenset(int(s) for s in conf.get("backoff_on", [429]) or ()),
            frozenset(int(s) for s in conf.get("drop_on") or ()),
            frozenset(int(s) for s in conf.get("successful_on") or ()),
        )

    def successful(self, status: int) -> bool:
        if status in self.backoff_on or status in self.drop_on:
            return False
        return 200 <= status < 300 or status in self.successful_on


def describe_transport_error(exc: BaseException) -> str:
    """The innermost cause of a transport error, e.g. "[Errno 111] Connection refused"."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        nxt = inner.__cause__ or inner.__context__
        assert nxt is not None
        inner = nxt
    return str(inner) or str(exc) or type(exc).__name__


def open_client(
    conf: dict[str, Any],
    *,
    timeout: float,
    connections: int = 10,
    follow_redirects: bool = True,
    connect: bool = True,
) -> httpx.Client | None:
    """An httpx client with the component's authentication and `tls`; certificate and key
    files are checked first (ValueError naming the field). `connect=False` only checks: None."""
    tls = conf.get("tls") or {}
    if tls.get("enabled"):
        check_tls_files(tls)
    verify = ssl_context(tls)
    auth = client_auth(conf, verify)
    if not connect:
        return None
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        verify=verify,
        auth=auth,
        follow_redirects=follow_redirects,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def http_client_fields(
    *,
    url: tuple[str, tuple[str, ...]],
    verb: tuple[str, tuple[str, ...]],
    headers: str,
    retries: str,
    retry_period: str,
    backoff_on: str,
    drop_on: str,
    successful_on: str,
    timeout: str = "How long one request may take.",
    header_examples: tuple[dict[str, str], ...] = (
        {"Content-Type": "application/json", "X-Asset": "${! @asset_id }"},
    ),
) -> tuple[Field, ...]:
    """The fields every HTTP client component (the `http_client` input and output, the `http`
    processor) has, in Benthos' names: url, verb, headers, timeout, the retry fields, drop_on,
    successful_on, basic_auth, oauth, oauth2, jwt and tls. Each component words what a field
    means for it: `url` and `verb` are (description or default, examples)."""
    return (
        url_field(*url),
        verb_field(*verb),
        Field(
            "headers",
            "map",
            default={},
            item=Field("value", "string", interpolable=True),
            description=headers,
            examples=header_examples,
        ),
        Field("timeout", "duration", default="5s", description=timeout),
        *retry_fields(retries=retries, retry_period=retry_period, backoff_on=backoff_on),
        status_list_field("drop_on", [], drop_on),
        status_list_field("successful_on", [], successful_on),
        *http_auth_fields(),
        http_client_tls_field(
            "TLS settings for https URLs (https works without them, using the system's CAs)."
        ),
    )
