"""`redpanda` output (Redpanda Connect): the `kafka` output under Redpanda Connect's field names.

`seed_brokers`, `topic`, `key`, `partition`, `partitioner`, `metadata`, `max_in_flight`,
`idempotent_write`, `compression`, `timeout`, `max_message_bytes`, `tls`, the first `sasl`
entry and `batching` map onto the `kafka` output, which waits for every delivery report and
returns failed records as errors.
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.redpanda import client_fields, kafka_client_conf, tuning_fields
from streamforge.connectors.redpanda_common import brokers_here_or_shared
from streamforge.license.catalog import register_feature, register_section_user
from streamforge.metadata_filter import metadata_filter_field
from streamforge.outputs.kafka.kafka import build_kafka_output, check_kafka_output
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import batching_field
from streamforge.plugin.spec import offline_check

__all__ = [
    "build_redpanda_output",
    "delivery_fields",
    "idempotent_write_field",
    "kafka_output_conf",
    "partitioner_field",
    "record_fields",
]

#: Redpanda Connect partitioners -> the kafka output's
PARTITIONERS = {
    "murmur2_hash": "murmur2_hash",
    "round_robin": "round_robin",
    "least_backup": "random",
    "manual": "manual",
}
COMPRESSIONS = ("none", "snappy", "lz4", "gzip", "zstd")

register_feature("output", "redpanda", "bindings", "kafka")
register_section_user("output", "redpanda", "redpanda", lambda conf: not conf.get("seed_brokers"))


def kafka_output_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The `kafka` output config of a `redpanda` output config (checked)."""
    if str(conf.get("timestamp_ms") or ""):
        raise ValueError("timestamp_ms: setting the record time is not supported")
    partitioner = str(conf.get("partitioner") or "murmur2_hash")
    if partitioner not in PARTITIONERS:
        raise ValueError(f"partitioner {partitioner!r}: expected one of {', '.join(PARTITIONERS)}")
    out = kafka_client_conf(conf)
    metadata = dict(conf.get("metadata") or {})
    out.update(
        {
            "topic": str(conf["topic"]),
            "key": str(conf.get("key") or ""),
            "partition": str(conf.get("partition") or ""),
            "partitioner": PARTITIONERS[partitioner],
            "compression": str(conf.get("compression") or "none"),
            "max_in_flight": int(conf.get("max_in_flight") or 256),
            "idempotent_write": bool(conf.get("idempotent_write", True)),
            "ack_replicas": bool(conf.get("idempotent_write", True)),
            "timeout": str(conf.get("timeout") or "10s"),
            "max_msg_bytes": int(conf.get("max_message_bytes") or 1_000_000),
            "metadata": {
                "include_prefixes": list(metadata.get("include_prefixes") or []),
                "include_patterns": list(metadata.get("include_patterns") or []),
                "exclude_prefixes": [],
            },
            "batching": conf.get("batching") or {},
        }
    )
    return out


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    check_kafka_output(kafka_output_conf(brokers_here_or_shared(ctx, conf)), ctx)


def delivery_fields() -> list[Field]:
    """`compression` and `timeout` of Redpanda Connect's producers."""
    return [
        Field(
            "compression",
            "string",
            default="none",
            options=COMPRESSIONS,
            advanced=True,
            description="Compression of produced batches.",
        ),
        Field(
            "timeout",
            "duration",
            default="10s",
            advanced=True,
            description="How long a record may take to be delivered before it fails.",
        ),
    ]


def partitioner_field(description: str) -> Field:
    """`partitioner`, one of PARTITIONERS (`kafka_output_conf` maps it onto the kafka
    output's); each producer words what the choices mean."""
    return Field(
        "partitioner",
        "string",
        default="murmur2_hash",
        options=tuple(PARTITIONERS),
        advanced=True,
        description=description,
    )


def idempotent_write_field() -> Field:
    """`idempotent_write` of Redpanda Connect's producers."""
    return Field(
        "idempotent_write",
        "bool",
        default=True,
        advanced=True,
        description="Kafka's idempotent producer (waits for all in-sync replicas).",
    )


def record_fields() -> list[Field]:
    """`topic`, `key` and `partition` of a produced record, as Redpanda Connect's producers
    declare them."""
    return [
        Field(
            "topic",
            "string",
            interpolable=True,
            description="The topic to publish to; interpolated per message.",
            examples=("plant.telemetry", "${! @site }.telemetry"),
        ),
        Field("key", "string", default="", interpolable=True, description="The record key."),
        Field(
            "partition",
            "string",
            default="",
            interpolable=True,
            description="An explicit partition (with `partitioner: manual`).",
        ),
    ]


@register_output(
    "redpanda",
    fields=[
        *client_fields(),
        *record_fields(),
        partitioner_field("How a partition is chosen (least_backup picks one at random)."),
        metadata_filter_field("metadata", "Which metadata is sent as record headers."),
        Field(
            "timestamp_ms",
            "string",
            default="",
            interpolable=True,
            advanced=True,
            description="Not supported: records carry the time they were produced.",
        ),
        Field("max_in_flight", "int", default=256, description="Most requests in flight."),
        idempotent_write_field(),
        *delivery_fields(),
        Field(
            "max_message_bytes",
            "int",
            default=1_000_000,
            advanced=True,
            description="The largest record in bytes.",
        ),
        Field(
            "broker_write_max_bytes",
            "any",
            default=None,
            advanced=True,
            description="Accepted; not used.",
        ),
        *tuning_fields(),
        batching_field(),
    ],
    summary="Produces to Kafka/Redpanda and waits for delivery (Redpanda Connect's redpanda).",
    description="A thin adapter over the `kafka` output; failed records are errors.",
    examples=(
        "redpanda:\n  seed_brokers: [ localhost:9092 ]\n  topic: plant.telemetry\n"
        "  key: ${! @asset_id }",
    ),
)
@offline_check(_check)
def build_redpanda_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Produces to Kafka/Redpanda and waits for delivery."""
    return build_kafka_output(kafka_output_conf(brokers_here_or_shared(ctx, conf)), ctx)
