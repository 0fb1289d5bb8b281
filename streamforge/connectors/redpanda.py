"""Redpanda Connect's Kafka settings (`seed_brokers`, a `sasl` list, `tls`) as the kafka settings.

The `redpanda` input and output are thin adapters over the `kafka` input and output; this module
declares the fields they share and translates a config into the kafka components' shape.
Settings of the franz-go client that librdkafka tunes by itself (timeouts, TCP keep-alive,
metadata age) are accepted so configs port unchanged, and not used.
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.kafka import tls_field
from streamforge.plugin import Field

__all__ = ["client_fields", "kafka_client_conf", "tuning_fields"]

#: SASL mechanisms the kafka client speaks; others are refused at lint
SASL = ("none", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def client_fields(default_client_id: str = "redpanda-connect") -> list[Field]:
    """`seed_brokers`, `client_id`, `tls`, `sasl` as Redpanda Connect declares them."""
    return [
        Field(
            "seed_brokers",
            "array",
            default=[],
            item=Field("broker", "string"),
            description="Brokers to connect to first; an item may list several, comma "
            "separated. Without any, the `redpanda` input and output connect as the top-level "
            "`redpanda:` section says.",
            examples=(["localhost:9092"],),
        ),
        Field(
            "client_id",
            "string",
            default=default_client_id,
            advanced=True,
            description="An identifier for the client connection.",
        ),
        tls_field(),
        Field(
            "sasl",
            "array",
            default=[],
            advanced=True,
            description="SASL authentication; the first entry is used (PLAIN or SCRAM).",
            item=Field(
                "mechanism",
                "object",
                fields=(
                    Field("mechanism", "string", options=SASL, description="The mechanism."),
                    Field("username", "string", default="", description="User name."),
                    Field("password", "string", default="", secret=True, description="Password."),
                ),
            ),
        ),
    ]


def tuning_fields() -> list[Field]:
    """Client tuning of Redpanda Connect, accepted and left to librdkafka."""
    durations = {
        "metadata_max_age": "1m",
        "request_timeout_overhead": "10s",
        "conn_idle_timeout": "20s",
    }
    out = [
        Field(name, "duration", default=value, advanced=True, description="Accepted; not used.")
        for name, value in durations.items()
    ]
    out.append(Field("tcp", "map", default={}, advanced=True, description="Accepted; not used."))
    return out


def kafka_client_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The kafka components' `addresses`, `client_id`, `tls` and `sasl` from a redpanda config."""
    sasl_list = list(conf.get("sasl") or [])
    sasl: dict[str, Any] = {"mechanism": "none"}
    if sasl_list:
        first = sasl_list[0] or {}
        mechanism = str(first.get("mechanism") or "none")
        if mechanism not in SASL:
            raise ValueError(f"sasl: mechanism {mechanism!r} is not one of {', '.join(SASL)}")
        sasl = {
            "mechanism": mechanism,
            "user": str(first.get("username") or ""),
            "password": str(first.get("password") or ""),
        }
    return {
        "addresses": list(conf.get("seed_brokers") or []),
        "client_id": str(conf.get("client_id") or "redpanda-connect"),
        "tls": dict(conf.get("tls") or {"enabled": False}),
        "sasl": sasl,
    }
