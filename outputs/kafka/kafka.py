"""`kafka` output: produces each batch and waits for every delivery report before returning.

A message whose delivery failed (broker away past `timeout`, message too large, unknown
partition ...) comes back failed with the reason, so `fallback` or `switch` can route it;
nothing is dropped silently. librdkafka reconnects by itself; its error callback and
statistics drive the output's connection state (metrics and /ready). The producer lives in
`_kafka_writer`, imported when the output is built.
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.kafka import (
    addresses_field,
    client_config,
    client_id_field,
    sasl_field,
    tls_field,
    version_and_rack_fields,
)
from streamforge.connectors.tls import check_tls_files
from streamforge.durations import parse_duration
from streamforge.metadata_filter import MetadataFilter, metadata_filter_field
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import BatchPolicy, batching_field, with_batching
from streamforge.plugin.spec import ParsedField, offline_check

__all__ = ["PARTITIONERS", "check_kafka_output", "header_filter"]

#: Benthos partitioner names -> librdkafka's (round_robin and manual pick partitions here)
PARTITIONERS = {
    "fnv1a_hash": "fnv1a_random",
    "murmur2_hash": "murmur2_random",
    "random": "random",
    "round_robin": "random",
    "manual": "random",
}
COMPRESSIONS = ("none", "snappy", "lz4", "gzip", "zstd")
#: librdkafka allows at most this many in-flight requests with idempotence
IDEMPOTENT_MAX_IN_FLIGHT = 5


def check_kafka_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> dict[str, Any]:
    """Every check building the output makes, without connecting; its client settings.

    librdkafka loads the TLS files when the producer is created, so they are loaded here.
    """
    partitioner = str(conf.get("partitioner") or "fnv1a_hash")
    if partitioner not in PARTITIONERS:
        raise ValueError(f"partitioner {partitioner!r}: expected one of {', '.join(PARTITIONERS)}")
    if partitioner == "manual" and not str(conf.get("partition") or ""):
        raise ValueError("partitioner manual needs a partition")
    compression = str(conf.get("compression") or "none")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    if parse_duration(conf.get("timeout") or "5s") <= 0:
        raise ValueError("timeout must be positive")
    header_filter(conf.get("metadata"))
    settings = client_config(conf)
    tls = conf.get("tls") or {}
    if tls.get("enabled"):
        check_tls_files(tls)
    if ctx is not None:
        batching = conf.get("batching") or {}
        BatchPolicy.from_conf(batching)
        for proc in ctx.build_processors(list(batching.get("processors") or [])):
            proc.close()
    return settings


def _check_topic_creation(value: Any) -> Any:
    if isinstance(value, dict) and value.get("enabled"):
        raise ValueError(
            "custom_topic_creation: creating topics is not supported; create them "
            "beforehand or let the brokers create them on first use"
        )
    return value


def _benthos_producer_fields() -> list[Field]:
    """Benthos' producer fields that the client here handles its own way."""
    return [
        ParsedField(
            "custom_topic_creation",
            "object",
            default={},
            advanced=True,
            parser=_check_topic_creation,
            description="Only disabled: topics are not created by the output.",
            fields=(
                Field("enabled", "bool", default=False),
                Field("partitions", "int", default=-1),
                Field("replication_factor", "int", default=-1),
            ),
        ),
        Field(
            "inject_tracing_map",
            "string",
            default="",
            advanced=True,
            description="Accepted for Benthos compatibility; trace context is not written "
            "to records.",
        ),
        Field(
            "retry_as_batch",
            "bool",
            default=False,
            advanced=True,
            description="Accepted for Benthos compatibility: undelivered records are returned "
            "as errors one by one.",
        ),
        Field(
            "max_retries",
            "int",
            default=0,
            advanced=True,
            description="Accepted for Benthos compatibility: the client retries sends until "
            "`timeout`.",
        ),
        Field(
            "backoff",
            "object",
            default={},
            advanced=True,
            description="Accepted for Benthos compatibility: the client retries sends until "
            "`timeout`.",
            fields=(
                Field("initial_interval", "duration", default="3s"),
                Field("max_interval", "duration", default="10s"),
                Field("max_elapsed_time", "duration", default="30s"),
            ),
        ),
    ]


@register_output(
    "kafka",
    fields=[
        addresses_field(),
        Field(
            "topic",
            "string",
            interpolable=True,
            description="The topic to publish to; interpolated per message.",
            examples=("plant.telemetry", "${! @asset_id }.readings"),
        ),
        Field(
            "key",
            "string",
            default="",
            interpolable=True,
            description="The record key; empty sends no key.",
            examples=("${! @asset_id }", '${! json("id") }'),
        ),
        Field(
            "partition",
            "string",
            default="",
            interpolable=True,
            description="An explicit partition (an integer); empty lets the partitioner choose.",
            examples=('${! meta("kafka_partition") }',),
        ),
        Field(
            "partitioner",
            "string",
            default="fnv1a_hash",
            options=tuple(PARTITIONERS),
            description=(
                "How a partition is chosen when `partition` is empty: a hash of the key "
                "(records without a key go to a random partition), random, or round_robin. "
                "manual requires `partition`."
            ),
        ),
        Field(
            "compression",
            "string",
            default="none",
            options=COMPRESSIONS,
            description="Compression of produced batches.",
        ),
        Field(
            "max_in_flight",
            "int",
            default=64,
            description="Most produce requests in flight per broker connection.",
        ),
        Field(
            "idempotent_write",
            "bool",
            default=False,
            description=(
                "No duplicates from the producer's own retries (Kafka's idempotent "
                "producer); a restarted stream still writes again what it wrote after its "
                f"last recovery snapshot. Limits max_in_flight to {IDEMPOTENT_MAX_IN_FLIGHT} "
                "and waits for all replicas."
            ),
        ),
        Field(
            "ack_replicas",
            "bool",
            default=False,
            description="Wait until every in-sync replica has the record, not just the leader.",
        ),
        Field(
            "timeout",
            "duration",
            default="5s",
            description=(
                "How long a record may take to be delivered (retries included) before it "
                "fails; failed records are returned as errors."
            ),
        ),
        Field(
            "max_msg_bytes",
            "int",
            default=1_000_000,
            description="The largest record in bytes; larger ones fail without being sent.",
            advanced=True,
        ),
        metadata_filter_field(
            "metadata",
            "Which metadata is sent as record headers: keys matching an include prefix or "
            "pattern, minus keys with an excluded prefix. Nothing by default.",
            exclude=True,
        ),
        Field(
            "static_headers",
            "map",
            default={},
            description="Headers every record carries (before those from `metadata`).",
            examples=({"source": "plant-gateway"},),
        ),
        client_id_field(),
        tls_field(),
        sasl_field(),
        batching_field(),
        *version_and_rack_fields(),
        *_benthos_producer_fields(),
    ],
    summary="Produces messages to Kafka and waits for delivery; failed records are errors.",
    examples=(
        "kafka:\n  addresses: [ localhost:9092 ]\n  topic: plant.telemetry\n"
        "  key: ${! @asset_id }\n  metadata:\n    include_patterns: [ '^asset_' ]",
    ),
)
@offline_check(check_kafka_output)
def build_kafka_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Produces messages to Kafka and waits for delivery; failed records are errors."""
    from streamforge.outputs.kafka.writer import KafkaWriter

    return with_batching(KafkaWriter(conf, ctx), conf.get("batching"), ctx)


def header_filter(conf: dict[str, Any] | None) -> MetadataFilter | None:
    """The filter choosing which metadata keys become headers (None when none can)."""
    wanted = MetadataFilter(conf)
    return wanted if wanted.active else None
