"""`redpanda_common` output (Redpanda Connect): a `redpanda` output whose brokers, TLS, SASL and
producer settings (partitioner, compression, idempotence, timeout, largest record) come from the
stream's top-level `redpanda:` section.

The component sets `topic`, `key`, `partition`, `metadata`, `max_in_flight` and `batching`;
delivery is the `kafka` output's: each batch waits for its delivery reports, failed records
come back as errors.
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.redpanda_common import common_output_conf, shared_section
from streamforge.license.catalog import register_feature, register_section_user
from streamforge.metadata_filter import metadata_filter_field
from streamforge.outputs.kafka.kafka import build_kafka_output, check_kafka_output
from streamforge.outputs.redpanda import kafka_output_conf, record_fields
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import batching_field
from streamforge.plugin.spec import offline_check

__all__ = ["build_redpanda_common_output"]

register_feature("output", "redpanda_common", "bindings", "kafka")
register_section_user("output", "redpanda_common", "redpanda")


def kafka_conf(conf: dict[str, Any], ctx: BuildContext | None) -> dict[str, Any]:
    """The `kafka` output config of a `redpanda_common` output in its stream (checked)."""
    section = shared_section(ctx, "the redpanda_common output")
    return kafka_output_conf(common_output_conf(section, conf))


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    check_kafka_output(kafka_conf(conf, ctx), ctx)


@register_output(
    "redpanda_common",
    fields=[
        *record_fields(),
        metadata_filter_field("metadata", "Which metadata is sent as record headers."),
        Field(
            "timestamp_ms",
            "string",
            default="",
            interpolable=True,
            advanced=True,
            description="Not supported: records carry the time they were produced.",
        ),
        Field("max_in_flight", "int", default=10, description="Most requests in flight."),
        batching_field(),
    ],
    summary="Produces to the Kafka/Redpanda cluster in the top-level `redpanda:` section and "
    "waits for delivery (Redpanda Connect's redpanda_common output).",
    description=(
        "The `redpanda` output with the connection and producer settings of the stream's "
        "`redpanda:` section; a config without that section is refused."
    ),
    examples=("redpanda_common:\n  topic: plant.telemetry\n  key: ${! @asset_id }",),
)
@offline_check(_check)
def build_redpanda_common_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Produces to the cluster in the top-level `redpanda:` section and waits for delivery."""
    return build_kafka_output(kafka_conf(conf, ctx), ctx)
