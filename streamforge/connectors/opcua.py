"""What the `opcua` input and output share: connection fields, endpoint and node id parsing,
the asyncua client they connect with, and the words for status codes and failures.

asyncua is imported when a node id is parsed or a client is made, not to register the
components. Security (modes, policies, certificates, pinning) lives in `opcua_security`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from streamforge.connectors.opcua_security import (
    APPLICATION_URI,
    MODES,
    POLICIES,
    CertificateMismatch,
    ClientCertificate,
    InlineCertificate,
    UserCertificate,
    check_security,
    default_certificate_dir,
    parse_client_certificate,
    parse_fingerprint,
    parse_user_certificate,
    secure,
)
from streamforge.durations import parse_duration
from streamforge.plugin import Field, ParsedField

if TYPE_CHECKING:
    from asyncua import Client, ua

__all__ = [
    "ConnectionSettings",
    "connect",
    "connection_fields",
    "datatype_name",
    "describe_error",
    "display_endpoint",
    "endpoint_field",
    "new_client",
    "parse_connection",
    "parse_endpoint",
    "parse_node_id",
    "quiet_asyncua",
    "status_name",
    "status_text",
]

_USER_ERRORS = frozenset(
    {"BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid"}
)
_CERT_ERRORS = frozenset(
    {
        "BadSecurityChecksFailed", "BadCertificateUntrusted", "BadCertificateInvalid",
        "BadCertificateUriInvalid", "BadCertificateTimeInvalid", "BadCertificateUseNotAllowed",
        "BadCertificateHostNameInvalid", "BadCertificateRevoked", "BadSecurityPolicyRejected",
        "BadNoValidCertificates",
    }
)  # fmt: skip


# -- parsing ------------------------------------------------------------------------------------


def parse_endpoint(text: Any) -> str:
    """`opc.tcp://host[:port][/path]`; ValueError naming the field otherwise."""
    raw = str(text or "").strip()
    parts = urlsplit(raw)
    if parts.scheme.lower() != "opc.tcp" or not parts.hostname:
        raise ValueError(f"endpoint {raw!r}: expected opc.tcp://host:port[/path]")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"endpoint {raw!r}: the port is not a number in 1-65535") from None
    return raw


def parse_node_id(text: Any) -> ua.NodeId:
    """A node id in the OPC UA string form (`ns=2;s=Plant.Temp`, `i=2258`, `nsu=<uri>;s=x`)."""
    from asyncua import ua

    raw = str(text).strip()
    if not raw:
        raise ValueError("node id is empty")
    try:
        node = ua.NodeId.from_string(raw)
    except (ua.UaStringParsingError, ValueError) as exc:
        raise ValueError(
            f"{raw!r} is not a node id; expected e.g. ns=2;s=Plant.Temperature, ns=3;i=1001, "
            f"i=85 or nsu=urn:plant;s=Temperature ({exc.args[0] if exc.args else exc})"
        ) from None
    if isinstance(node, ua.ExpandedNodeId) and node.ServerIndex:
        raise ValueError(f"{raw!r}: node ids on other servers (srv=) are not supported")
    return node


def display_endpoint(url: str) -> str:
    """The endpoint without credentials (for metadata and logs)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def quiet_asyncua() -> None:
    """asyncua logs every handshake and, on a lost server, tracebacks of its own tasks; the
    components report connection problems themselves, so those show only at DEBUG."""
    library = logging.getLogger("asyncua")
    if library.level == logging.NOTSET and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        library.setLevel(logging.CRITICAL)


# -- status codes ---------------------------------------------------------------------------------


def status_name(code: ua.StatusCode | int) -> str:
    """The symbolic name of a status code (info bits ignored), e.g. `BadNodeIdUnknown`."""
    from asyncua import ua

    value = code.value if isinstance(code, ua.StatusCode) else int(code)
    name, _ = ua.status_codes.get_name_and_doc(value & 0xFFFF0000)
    return str(name)


def status_text(code: ua.StatusCode | int) -> str:
    """`Name (description)` of a status code, for error messages."""
    from asyncua import ua

    value = code.value if isinstance(code, ua.StatusCode) else int(code)
    name, doc = ua.status_codes.get_name_and_doc(value & 0xFFFF0000)
    return f"{name} ({doc.rstrip('.')})" if doc else str(name)


def datatype_name(nodeid: ua.NodeId) -> str:
    """The name of a standard data type (ns=0), else the node id as a string."""
    from asyncua import ua

    if nodeid.NamespaceIndex == 0 and isinstance(nodeid.Identifier, int):
        return str(ua.ObjectIdNames.get(nodeid.Identifier, nodeid.to_string()))
    return str(nodeid.to_string())


# -- config ---------------------------------------------------------------------------------------


def endpoint_field() -> ParsedField:
    """`endpoint`: the server's opc.tcp URL."""
    return ParsedField(
        "endpoint",
        "string",
        parser=parse_endpoint,
        description="The server's endpoint URL.",
        examples=("opc.tcp://localhost:4840", "opc.tcp://plc1.plant.local:4840/server"),
    )


def connection_fields() -> list[Field]:
    """Login, security, timeouts and reconnection: the fields after a component's own."""
    return [
        Field("username", "string", default="", description="User name; empty: anonymous."),
        Field("password", "string", default="", description="Password of `username`.", secret=True),
        Field(
            "securityMode",
            "string",
            default="None",
            options=tuple(MODES),
            description="Message security: None, Sign or SignAndEncrypt.",
        ),
        Field(
            "securityPolicy",
            "string",
            default="None",
            options=tuple(POLICIES),
            description=(
                "Security policy of the channel; None with securityMode None, otherwise one of "
                "Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss."
            ),
        ),
        Field(
            "certificateDir",
            "string",
            default="",
            description=(
                "Where the client certificate (client_cert.der) and key (client_key.pem) are "
                "generated on first use and kept for later starts, so the server trusts them "
                "once. Empty: `$STREAMFORGE_HOME/opcua`, else `~/.streamforge/opcua`."
            ),
            examples=("/var/lib/streamforge/opcua",),
        ),
        Field(
            "insecure",
            "bool",
            default=False,
            description=(
                "Connect without security (securityMode and securityPolicy None), as benthos-umh's "
                "deprecated flag does; contradicting securityMode/securityPolicy is an error."
            ),
        ),
        Field(
            "clientCertificate",
            "string",
            default="",
            secret=True,
            description=(
                "The client's own certificate and RSA private key, one PEM bundle, base64-encoded "
                "(as benthos-umh prints it) or as PEM text. Used for Sign/SignAndEncrypt instead "
                "of the pair kept in `certificateDir`; the application URI is taken from it."
            ),
        ),
        Field(
            "userCertificate",
            "string",
            default="",
            description=(
                "User certificate authentication: the X.509 user certificate, base64 of PEM or "
                "DER (or PEM text). Needs `userPrivateKey`; excludes `username`."
            ),
        ),
        Field(
            "userPrivateKey",
            "string",
            default="",
            secret=True,
            description=(
                "The RSA private key of `userCertificate`: base64 of PEM (or PEM text). It signs "
                "the session challenge; it never leaves the client."
            ),
        ),
        ParsedField(
            "serverCertificateFingerprint",
            "string",
            default="",
            parser=parse_fingerprint,
            description=(
                "Pin the server certificate: its SHA-1 (40 hex digits) or SHA-256 (64) "
                "fingerprint, colons allowed. Another certificate is refused before any secure "
                "channel is opened. Needs securityMode Sign or SignAndEncrypt."
            ),
            examples=("3f:a1:...:9c (SHA-256, 32 bytes)",),
        ),
        Field(
            "timeout",
            "duration",
            default="10s",
            description="How long a request (and connecting) may take before it counts as failed.",
            advanced=True,
        ),
        Field(
            "autoReconnect",
            "bool",
            default=False,
            advanced=True,
            description="Accepted for benthos-umh compatibility: StreamForge always connects "
            "again after losing the server (with backoff up to `maxReconnectDelay`).",
        ),
        Field(
            "reconnectIntervalInSeconds",
            "int",
            default=0,
            advanced=True,
            description="The first wait, in seconds, before connecting again after losing "
            "the server; later waits double up to `maxReconnectDelay`. 0: 0.2 s.",
            examples=(5,),
        ),
        Field(
            "maxReconnectDelay",
            "duration",
            default="30s",
            description="Longest wait between reconnection attempts (exponential backoff).",
            advanced=True,
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """How to reach and log in to one server, parsed from a component's config."""

    url: str
    endpoint: str
    username: str
    password: str
    mode: str
    policy: str
    certificate: ClientCertificate | InlineCertificate
    fingerprint: str
    timeout: float
    max_reconnect_delay: float
    #: `userCertificate` + `userPrivateKey`: log in with an X.509 user identity
    user_certificate: UserCertificate | None = None
    #: `reconnectIntervalInSeconds`: the first wait before connecting again
    first_reconnect_delay: float = 0.2

    def connection_kwargs(self) -> dict[str, Any]:
        """These settings as keyword arguments (for settings classes that extend them)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ConnectionSettings)}


def _security(conf: dict[str, Any]) -> tuple[str, str]:
    """(securityMode, securityPolicy), `insecure` applied."""
    mode = str(conf.get("securityMode") or "None")
    policy = str(conf.get("securityPolicy") or "None")
    if conf.get("insecure") and (mode != "None" or policy != "None"):
        raise ValueError(
            f"insecure: true connects without security; it contradicts securityMode {mode} "
            f"/ securityPolicy {policy}"
        )
    return mode, policy


def parse_connection(conf: dict[str, Any]) -> ConnectionSettings:
    """The connection fields of a config; ValueError naming the field for what cannot work."""
    url = parse_endpoint(conf.get("endpoint"))
    mode, policy = _security(conf)
    fingerprint = parse_fingerprint(conf.get("serverCertificateFingerprint"))
    check_security(mode, policy, fingerprint)
    password = str(conf.get("password") or "")
    username = str(conf.get("username") or "")
    if password and not username:
        raise ValueError("password: set username too")
    user_cert = parse_user_certificate(conf.get("userCertificate"), conf.get("userPrivateKey"))
    if user_cert is not None and username:
        raise ValueError("userCertificate: choose one login, username or userCertificate")
    inline = parse_client_certificate(conf.get("clientCertificate"))
    if inline is not None and mode == "None":
        raise ValueError(
            "clientCertificate: it identifies the client on a secure channel; set "
            "securityMode Sign or SignAndEncrypt and a securityPolicy"
        )
    cert_dir = str(conf.get("certificateDir") or "")
    directory = Path(cert_dir).expanduser() if cert_dir else default_certificate_dir()
    return ConnectionSettings(
        url=url,
        endpoint=display_endpoint(url),
        username=username,
        password=password,
        mode=mode,
        policy=policy,
        certificate=inline or ClientCertificate(directory),
        fingerprint=fingerprint,
        timeout=max(parse_duration(conf.get("timeout", "10s")), 0.1),
        max_reconnect_delay=parse_duration(conf.get("maxReconnectDelay", "30s")),
        user_certificate=user_cert,
        first_reconnect_delay=float(conf.get("reconnectIntervalInSeconds") or 0) or 0.2,
    )


# -- the client -----------------------------------------------------------------------------------


def new_client(settings: ConnectionSettings) -> Client:
    """An asyncua client for `settings`, not connected yet."""
    from asyncua import Client

    s = settings
    client = Client(s.url, timeout=s.timeout, watchdog_intervall=1.0)
    client.application_uri = APPLICATION_URI
    client.name = client.description = "StreamForge"
    client.product_uri = "urn:streamforge"
    if isinstance(s.certificate, InlineCertificate) and s.certificate.uri:
        client.application_uri = s.certificate.uri
    if s.username:
        client.set_user(s.username)
        client.set_password(s.password)
    if s.user_certificate is not None:
        from asyncua.crypto import uacrypto
        from cryptography.hazmat.primitives import serialization

        client.user_certificate = uacrypto.x509_from_der(s.user_certificate.cert_der)
        client.user_private_key = serialization.load_der_private_key(  # type: ignore[assignment]
            s.user_certificate.key_der, password=None
        )
    return client


async def connect(client: Client, settings: ConnectionSettings) -> None:
    """Secure the channel (pinning checked) and open a session, each within twice `timeout`."""
    s = settings
    await asyncio.wait_for(
        secure(client, s.mode, s.policy, s.certificate, s.fingerprint), s.timeout * 2
    )
    await asyncio.wait_for(client.connect(), s.timeout * 2)


def describe_error(exc: BaseException, settings: ConnectionSettings) -> str:
    """A sentence naming the cause of a connection failure, with what to check."""
    from asyncua import ua

    if isinstance(exc, CertificateMismatch):
        return str(exc)
    if isinstance(exc, ua.UaStatusCodeError):
        name = status_name(exc.code)
        if name in _USER_ERRORS:
            if settings.user_certificate is not None:
                return (
                    f"the server rejected the user certificate "
                    f"{settings.user_certificate.subject!r} ({name}): let the server trust it"
                )
            if settings.username:
                return (
                    f"the server rejected user {settings.username!r} ({name}): "
                    "check username and password"
                )
            return f"the server refuses anonymous sessions ({name}): set username and password"
        if name in _CERT_ERRORS:
            return (
                f"the server rejected the client certificate {settings.certificate.cert_path} "
                f"({name}): trust it on the server"
            )
        return status_text(exc.code)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {settings.timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        return f"cannot reach the server: {exc.strerror or exc}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ConnectionError) else f"{type(exc).__name__}: {text}"
