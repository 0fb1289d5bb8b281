"""`redpanda_common` input (Redpanda Connect): a `redpanda` input whose brokers, client id, TLS
and SASL come from the stream's top-level `redpanda:` section.

The consumer settings are the component's own (`topics`, `consumer_group`, `start_offset`, the
older `start_from_oldest` ...); reading, offsets in recovery state and commits after the outputs
wrote are the `kafka` input's.
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.redpanda_common import common_input_conf, shared_section
from streamforge.inputs.kafka import KafkaInput
from streamforge.inputs.redpanda import consumer_fields, kafka_input_conf
from streamforge.license.catalog import register_feature, register_section_user
from streamforge.plugin import BuildContext, Field, Input, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["build_redpanda_common_input"]

#: consumer tuning of Redpanda Connect, accepted so configs port, left to librdkafka
_ACCEPTED = (
    "transaction_isolation_level",
    "auto_replay_nacks",
    "commit_period",
    "rack_id",
    "instance_id",
    "rebalance_timeout",
    "session_timeout",
    "heartbeat_interval",
    "fetch_max_bytes",
    "fetch_max_wait",
    "fetch_min_bytes",
    "fetch_max_partition_bytes",
    "partition_buffer_bytes",
    "topic_lag_refresh_period",
    "max_yield_batch_bytes",
)

register_feature("input", "redpanda_common", "bindings", "kafka")
register_section_user("input", "redpanda_common", "redpanda")


def kafka_conf(conf: dict[str, Any], ctx: BuildContext | None) -> dict[str, Any]:
    """The `kafka` input config of a `redpanda_common` input in its stream (checked)."""
    section = shared_section(ctx, "the redpanda_common input")
    return kafka_input_conf(common_input_conf(section, conf))


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    KafkaInput(kafka_conf(conf, ctx), ctx)


@register_input(
    "redpanda_common",
    fields=[
        *consumer_fields(regexp_topics=True),
        Field(
            "start_from_oldest",
            "bool",
            default=None,
            advanced=True,
            description="The older form of `start_offset`: `false` starts from the latest "
            "offset when `start_offset` is left at `earliest`.",
        ),
        *(
            Field(name, "any", default=None, advanced=True, description="Accepted; not used.")
            for name in _ACCEPTED
        ),
    ],
    summary="Consumes Kafka/Redpanda topics of the cluster in the top-level `redpanda:` "
    "section (Redpanda Connect's redpanda_common input).",
    description=(
        "The `redpanda` input with the connection of the stream's `redpanda:` section; a "
        "config without that section is refused. Metadata is the kafka input's."
    ),
    examples=(
        "redpanda_common:\n  topics: [ plant.telemetry ]\n  consumer_group: streamforge\n"
        "  start_offset: earliest",
    ),
)
@offline_check(_check)
def build_redpanda_common_input(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Consumes topics of the cluster in the top-level `redpanda:` section."""
    return KafkaInput(kafka_conf(conf, ctx), ctx)
