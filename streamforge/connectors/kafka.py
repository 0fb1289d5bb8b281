"""Settings shared by the Kafka input and output: brokers, TLS, SASL, and connection health.

Both components talk to Kafka through confluent-kafka (librdkafka), which reconnects by itself;
`ClientHealth` turns librdkafka's error and statistics callbacks into the component's
connection state (metrics, /ready) and clear, rate-limited log lines.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

from streamforge.connectors.tls import tls_field as broker_tls_field
from streamforge.plugin import Field
from streamforge.plugin.connection import Connection, connection

__all__ = [
    "SASL_MECHANISMS",
    "ClientHealth",
    "addresses_field",
    "client_config",
    "client_id_field",
    "sasl_field",
    "split_addresses",
    "tls_field",
]

log = logging.getLogger("streamforge.kafka")
client_log = logging.getLogger("streamforge.kafka.librdkafka")

SASL_MECHANISMS = ("none", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

#: librdkafka statistics (broker states) arrive this often; they drive the "up" state
STATS_INTERVAL_MS = 1000
#: librdkafka reconnects with exponential backoff and jitter, waiting at most this long
RECONNECT_BACKOFF_MAX_MS = 2000
#: the same cause is logged again at most this often while it persists
LOG_REPEAT_SECONDS = 30.0
#: reasons that only say a broker is unreachable; the last specific cause is appended to them
GENERIC_REASONS = ("Broker transport failure", "brokers are down", "Message timed out")
#: how long a specific cause (TLS, SASL, refused connection) explains generic reasons
CAUSE_SECONDS = 60.0
#: librdkafka's per-attempt suffix, which would defeat the rate limit on repeated causes
_ATTEMPT_SUFFIX = re.compile(
    r" \(after \d+ms in state \w+(?:, \d+ identical error\(s\) suppressed)?\)"
)


def addresses_field() -> Field:
    """The `addresses` field (Benthos): broker addresses, each possibly comma separated."""
    return Field(
        "addresses",
        "array",
        item=Field("address", "string"),
        description="Broker addresses to connect to; an item may list several, comma separated.",
        examples=(["localhost:9092"], ["broker-1:9092,broker-2:9092"]),
    )


def client_id_field() -> Field:
    """The `client_id` field, as Kafka logs and quotas identify this client."""
    return Field(
        "client_id",
        "string",
        default="streamforge",
        description="An identifier for the client connection.",
        advanced=True,
    )


def tls_field() -> Field:
    """The `tls` object, as in Benthos."""
    return broker_tls_field("Custom TLS settings.", default={"enabled": False})


def sasl_field() -> Field:
    """The `sasl` object, as in Benthos."""
    return Field(
        "sasl",
        "object",
        default={"mechanism": "none"},
        description="SASL authentication.",
        advanced=True,
        fields=(
            Field(
                "mechanism",
                "string",
                default="none",
                options=SASL_MECHANISMS,
                description="The SASL mechanism; none disables SASL.",
            ),
            Field("user", "string", default="", description="User name."),
            Field("password", "string", default="", description="Password.", secret=True),
        ),
    )


def split_addresses(addresses: Any) -> list[str]:
    """Broker addresses from a list whose items may be comma separated."""
    items = [addresses] if isinstance(addresses, str) else list(addresses or [])
    out = [a.strip() for item in items for a in str(item).split(",") if a.strip()]
    if not out:
        raise ValueError("addresses: at least one broker address is needed")
    return out


def version_and_rack_fields() -> list[Field]:
    """Benthos' `target_version` (librdkafka negotiates the protocol version itself) and
    `rack_id` (consumers fetch from a replica in the same rack)."""
    return [
        Field(
            "target_version",
            "string",
            default="",
            advanced=True,
            description="Accepted for Benthos compatibility: the client negotiates the "
            "protocol version with the brokers.",
        ),
        Field(
            "rack_id",
            "string",
            default="",
            advanced=True,
            description="The rack this client runs in; consumers fetch from a replica in the "
            "same rack when the brokers allow it (`client.rack`).",
        ),
    ]


def client_config(conf: dict[str, Any]) -> dict[str, Any]:
    """librdkafka settings for brokers, client id, TLS and SASL from a component config."""
    out: dict[str, Any] = {
        "bootstrap.servers": ",".join(split_addresses(conf.get("addresses"))),
        "client.id": str(conf.get("client_id") or "streamforge"),
        "statistics.interval.ms": STATS_INTERVAL_MS,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
        # librdkafka's own log lines repeat what error_cb reports; only critical ones remain
        "logger": client_log,
        "log_level": 2,
    }
    if str(conf.get("rack_id") or ""):
        out["client.rack"] = str(conf["rack_id"])
    tls = conf.get("tls") or {}
    sasl = conf.get("sasl") or {}
    mechanism = str(sasl.get("mechanism") or "none")
    if mechanism not in SASL_MECHANISMS:
        choices = ", ".join(SASL_MECHANISMS)
        raise ValueError(f"sasl.mechanism {mechanism!r}: expected one of {choices}")
    use_tls = bool(tls.get("enabled"))
    use_sasl = mechanism != "none"
    out["security.protocol"] = {
        (False, False): "plaintext",
        (True, False): "ssl",
        (False, True): "sasl_plaintext",
        (True, True): "sasl_ssl",
    }[(use_tls, use_sasl)]
    if use_tls:
        if tls.get("skip_cert_verify"):
            out["enable.ssl.certificate.verification"] = False
            out["ssl.endpoint.identification.algorithm"] = "none"
        if tls.get("root_cas"):
            out["ssl.ca.pem"] = str(tls["root_cas"])
        if tls.get("root_cas_file"):
            out["ssl.ca.location"] = str(tls["root_cas_file"])
        certs = tls.get("client_certs") or []
        if certs:
            cert = certs[0] or {}
            if cert.get("cert_file"):
                out["ssl.certificate.location"] = str(cert["cert_file"])
            if cert.get("key_file"):
                out["ssl.key.location"] = str(cert["key_file"])
            if cert.get("cert"):
                out["ssl.certificate.pem"] = str(cert["cert"])
            if cert.get("key"):
                out["ssl.key.pem"] = str(cert["key"])
            if cert.get("password"):
                out["ssl.key.password"] = str(cert["password"])
    if use_sasl:
        out["sasl.mechanism"] = mechanism
        out["sasl.username"] = str(sasl.get("user") or "")
        out["sasl.password"] = str(sasl.get("password") or "")
    return out


class ClientHealth:
    """Connection state of one Kafka client, fed by librdkafka's callbacks.

    `error_cb` marks the connection down with librdkafka's reason (connection refused,
    authentication or TLS failures, all brokers down); the statistics callback marks it up
    again once a broker connection is established. Transitions are logged once, and a
    persisting cause again every LOG_REPEAT_SECONDS.
    """

    def __init__(self, what: str, stream: str, label: str, peer: str) -> None:
        self.what = what
        self.label = label
        self.conn: Connection = connection(stream, label, peer)
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}
        self._cause: tuple[str, float] | None = None
        self._fields = {"fields": {"stream": stream, "component": label}}

    # -- librdkafka callbacks ----------------------------------------------------------------
    def error_cb(self, err: Any) -> None:
        """librdkafka reports a client-level error (it keeps retrying by itself)."""
        reason = _describe(err)
        fatal = bool(getattr(err, "fatal", lambda: False)())
        if not any(g in reason for g in GENERIC_REASONS):
            with self._lock:
                self._cause = (reason, time.monotonic())
        self.down(reason if not fatal else f"fatal: {reason}")

    def stats_cb(self, stats_json: str) -> None:
        """librdkafka statistics: any broker in state UP means the client is connected."""
        try:
            brokers = json.loads(stats_json).get("brokers") or {}
        except ValueError:
            return
        if any(b.get("state") == "UP" and b.get("nodeid", -1) >= 0 for b in brokers.values()):
            self.up()

    # -- state -------------------------------------------------------------------------------
    def up(self) -> None:
        """A broker answered."""
        if self.conn.connected:
            return
        was_down = bool(self.conn.last_error)
        self.conn.up()
        with self._lock:
            self._logged.clear()
            self._cause = None
        if was_down:
            log.info(
                "%s %s: connected to %s again",
                self.what,
                self.label,
                self.conn.peer,
                extra=self._fields,
            )

    def down(self, reason: str) -> None:
        """The broker is unreachable or refused us; log the cause (rate-limited)."""
        reason = self.explain(reason)
        self.conn.down(reason)
        now = time.monotonic()
        with self._lock:
            last = self._logged.get(reason)
            if last is not None and now - last < LOG_REPEAT_SECONDS:
                return
            self._logged[reason] = now
        log.error(
            "%s %s: %s: %s", self.what, self.label, self.conn.peer, reason, extra=self._fields
        )

    def explain(self, reason: str) -> str:
        """`reason`, with the last specific cause appended when it only says "unreachable"."""
        if not any(g in reason for g in GENERIC_REASONS):
            return reason
        with self._lock:
            cause = self._cause
        if cause is None or time.monotonic() - cause[1] > CAUSE_SECONDS:
            return reason
        return f"{reason} (last cause: {cause[0]})"

    def warn(self, reason: str) -> None:
        """Log a problem that is not a lost connection (rate-limited like `down`)."""
        now = time.monotonic()
        with self._lock:
            last = self._logged.get(reason)
            if last is not None and now - last < LOG_REPEAT_SECONDS:
                return
            self._logged[reason] = now
        log.error("%s %s: %s", self.what, self.label, reason, extra=self._fields)

    def close(self) -> None:
        """Forget the connection (the component stopped)."""
        self.conn.close()


def _describe(err: Any) -> str:
    """librdkafka's error as one readable line."""
    text = _ATTEMPT_SUFFIX.sub("", err.str() if hasattr(err, "str") else str(err))
    name = err.name() if hasattr(err, "name") else ""
    return f"{text} ({name})" if name and name not in text else text
