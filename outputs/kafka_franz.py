"""`kafka_franz` output (Redpanda Connect): the `redpanda` output under its older franz-go names.

`seed_brokers`, `topic`, `key`, `partition`, `partitioner`, `metadata`, `max_in_flight`,
`idempotent_write`, `acks`, `compression`, `timeout`, `max_message_bytes` (bytes or a size
such as `1MiB`), `tls`, the first `sasl` entry and `batching` map onto the `kafka` output,
which waits for every delivery report and returns failed records as errors.
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.redpanda import client_fields
from streamforge.connectors.redpanda_common import byte_size
from streamforge.license.catalog import register_feature
from streamforge.metadata_filter import metadata_filter_field
from streamforge.outputs.kafka.kafka import build_kafka_output, check_kafka_output
from streamforge.outputs.redpanda import (
    delivery_fields,
    idempotent_write_field,
    kafka_output_conf,
    partitioner_field,
    record_fields,
)
from streamforge.plugin import BuildContext, Field, Output, ParsedField, register_output
from streamforge.plugin.batching import batching_field
from streamforge.plugin.spec import offline_check

__all__ = ["build_kafka_franz_output", "franz_output_conf"]

ACKS = ("all", "leader", "none")

#: franz-go producer tuning, accepted so configs port, left to librdkafka: (name, type, default)
_ACCEPTED: tuple[tuple[str, str, Any], ...] = (
    ("rack_id", "string", ""),
    ("broker_write_max_bytes", "any", "100MiB"),
    ("max_buffered_records", "int", 10_000),
    ("max_buffered_bytes", "any", "0"),
    ("max_in_flight_requests", "int", 1),
    ("record_delivery_timeout", "duration", "0s"),
    ("record_retries", "int", 0),
    ("allow_auto_topic_creation", "bool", True),
    ("metadata_max_age", "duration", "5m"),
    ("request_timeout_overhead", "duration", "10s"),
    ("conn_idle_timeout", "duration", "20s"),
    ("tcp", "map", {}),
)

register_feature("output", "kafka_franz", "bindings", "kafka")


def _size(value: Any) -> Any:
    byte_size(value, "max_message_bytes")
    return value


def _no_timestamp(value: Any) -> Any:
    if str(value or ""):
        raise ValueError("setting the record time is not supported: records carry the time "
                         "they were produced")  # fmt: skip
    return value


def franz_output_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The `kafka` output config of a `kafka_franz` output config (checked)."""
    for name in ("timestamp", "timestamp_ms"):
        try:
            _no_timestamp(conf.get(name))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    idempotent = bool(conf.get("idempotent_write", True))
    acks = str(conf.get("acks") or "all")
    if acks not in ACKS:
        raise ValueError(f"acks {acks!r}: expected one of {', '.join(ACKS)}")
    if acks == "none":
        raise ValueError("acks: `none` is not supported: every write waits for the broker")
    if acks != "all" and idempotent:
        raise ValueError("acks: the idempotent producer needs `all`; set idempotent_write: false")
    redpanda = dict(conf)
    redpanda["partitioner"] = str(conf.get("partitioner") or "murmur2_hash")
    redpanda["compression"] = str(conf.get("compression") or "none")
    redpanda["max_in_flight"] = int(conf.get("max_in_flight") or 10)
    redpanda["max_message_bytes"] = byte_size(
        conf.get("max_message_bytes") or "1MiB", "max_message_bytes"
    )
    redpanda["timestamp_ms"] = ""
    redpanda.setdefault("client_id", "benthos")
    out = kafka_output_conf(redpanda)
    out["ack_replicas"] = acks == "all"
    return out


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    check_kafka_output(franz_output_conf(conf), ctx)


@register_output(
    "kafka_franz",
    fields=[
        *client_fields(default_client_id="benthos"),
        *record_fields(),
        partitioner_field(
            "How a partition is chosen: murmur2_hash hashes the key, round_robin, least_backup "
            "(a partition at random) or manual (`partition`)."
        ),
        metadata_filter_field("metadata", "Which metadata is sent as record headers."),
        ParsedField(
            "timestamp_ms",
            "string",
            default="",
            interpolable=True,
            advanced=True,
            parser=_no_timestamp,
            description="Not supported: records carry the time they were produced.",
        ),
        ParsedField(
            "timestamp",
            "string",
            default="",
            interpolable=True,
            advanced=True,
            parser=_no_timestamp,
            description="The older name of `timestamp_ms`; not supported.",
        ),
        Field("max_in_flight", "int", default=10, description="Most requests in flight."),
        idempotent_write_field(),
        Field(
            "acks",
            "string",
            default="all",
            options=ACKS,
            advanced=True,
            description="Acknowledgements a write waits for: `all` in-sync replicas or the "
            "`leader` (with idempotent_write: false); `none` is not supported.",
        ),
        *delivery_fields(),
        ParsedField(
            "max_message_bytes",
            "any",
            default="1MiB",
            advanced=True,
            parser=_size,
            description="The largest record: bytes, or a size such as 1MB or 1MiB.",
            examples=("1MiB", "100MB"),
        ),
        batching_field(),
        *(
            Field(name, type_, default=default, advanced=True, description="Accepted; not used.")
            for name, type_, default in _ACCEPTED
        ),
    ],
    summary="Produces to Kafka/Redpanda and waits for delivery (Redpanda Connect's kafka_franz).",
    description="A thin adapter over the `kafka` output; failed records are errors.",
    examples=(
        "kafka_franz:\n  seed_brokers: [ localhost:9092 ]\n  topic: plant.telemetry\n"
        "  key: ${! @asset_id }\n  max_in_flight: 10",
    ),
)
@offline_check(_check)
def build_kafka_franz_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Produces to Kafka/Redpanda and waits for delivery."""
    return build_kafka_output(franz_output_conf(conf), ctx)
