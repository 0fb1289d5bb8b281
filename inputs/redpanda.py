"""`redpanda` input (Redpanda Connect): the `kafka` input under Redpanda Connect's field names.

`seed_brokers`, `topics` (with `topic:partition` forms), `consumer_group`, `start_offset`,
`tls` and the first `sasl` entry map onto the `kafka` input, which reads, keeps offsets in
recovery state and commits to the group after the outputs wrote. Metadata is the kafka
input's (`kafka_key`, `kafka_topic`, `kafka_partition`, `kafka_offset`, `kafka_timestamp_ms`,
... and every header).
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.redpanda import client_fields, kafka_client_conf, tuning_fields
from streamforge.connectors.redpanda_common import brokers_here_or_shared
from streamforge.inputs.kafka import KafkaInput
from streamforge.license.catalog import register_feature, register_section_user
from streamforge.plugin import BuildContext, Field, Input, register_input
from streamforge.plugin.spec import offline_check

__all__ = [
    "build_redpanda_input",
    "consumer_fields",
    "kafka_input_conf",
    "regexp_topic_fields",
    "regexp_topics_field",
]

START_OFFSETS = ("earliest", "latest", "committed")

#: consumer tuning of Redpanda Connect, accepted so configs port, left to librdkafka
_ACCEPTED = (
    "transaction_isolation_level",
    "auto_replay_nacks",
    "rack_id",
    "instance_id",
    "rebalance_timeout",
    "session_timeout",
    "heartbeat_interval",
    "fetch_max_bytes",
    "fetch_max_wait",
    "fetch_min_bytes",
    "fetch_max_partition_bytes",
    "commit_period",
    "partition_buffer_bytes",
    "topic_lag_refresh_period",
    "max_yield_batch_bytes",
)

register_feature("input", "redpanda", "bindings", "kafka")
register_section_user("input", "redpanda", "redpanda", lambda conf: not conf.get("seed_brokers"))


def kafka_input_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The `kafka` input config of a `redpanda` input config (checked)."""
    include = [str(p) for p in conf.get("regexp_topics_include") or []]
    exclude = [str(p) for p in conf.get("regexp_topics_exclude") or []]
    topics = list(conf.get("topics") or [])
    if not topics and not include:
        raise ValueError("topics: at least one topic is needed (or regexp_topics_include)")
    start = str(conf.get("start_offset") or "earliest")
    if start not in START_OFFSETS:
        raise ValueError(f"start_offset {start!r}: expected one of {', '.join(START_OFFSETS)}")
    out = kafka_client_conf(conf)
    out.update(
        {
            "topics": topics,
            "consumer_group": str(conf.get("consumer_group") or ""),
            "start_from_oldest": start != "latest",
            "topic_patterns": include,
            "topic_excludes": exclude,
        }
    )
    return out


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    KafkaInput(kafka_input_conf(brokers_here_or_shared(ctx, conf)), ctx)


def regexp_topics_field() -> Field:
    """`regexp_topics` (kafka_franz, redpanda_common): the `topics` are regular expressions."""
    return Field(
        "regexp_topics",
        "bool",
        default=False,
        description="Treat each item of `topics` as a regular expression found in topic "
        "names (as `regexp_topics_include`); matched when the stream starts.",
    )


def regexp_topic_fields() -> list[Field]:
    """`regexp_topics_include` and `regexp_topics_exclude` (Redpanda Connect)."""
    return [
        Field(
            "regexp_topics_include",
            "array",
            default=[],
            item=Field("pattern", "string"),
            description="Also read every topic of the cluster (not internal `__` ones) a "
            "regular expression finds in its name; matched when the stream starts.",
            examples=(["^plant\\.line-[0-9]+\\.telemetry$"],),
        ),
        Field(
            "regexp_topics_exclude",
            "array",
            default=[],
            item=Field("pattern", "string"),
            description="Leave out topics a regular expression finds in the name of.",
        ),
    ]


def consumer_fields(*, regexp_topics: bool = False) -> list[Field]:
    """`topics` (with `regexp_topics` when asked), the regexp fields, `consumer_group` and
    `start_offset`, as the Redpanda Connect consumers declare them."""
    return [
        Field(
            "topics",
            "array",
            default=[],
            item=Field("topic", "string"),
            description="Topics to consume; `foo:0` and `foo:0-3` read only those partitions.",
            examples=(["plant.telemetry"],),
        ),
        *([regexp_topics_field()] if regexp_topics else []),
        *regexp_topic_fields(),
        Field(
            "consumer_group",
            "string",
            default="",
            description="A consumer group to commit offsets to once the outputs wrote them.",
        ),
        Field(
            "start_offset",
            "string",
            default="earliest",
            options=START_OFFSETS,
            description=(
                "Where a partition without a committed offset (or recovery state) starts: "
                "`earliest` or `latest`; `committed` starts from the group's offsets, else "
                "the earliest."
            ),
        ),
    ]


@register_input(
    "redpanda",
    fields=[
        *client_fields(),
        *consumer_fields(),
        *tuning_fields(),
        *(
            Field(name, "any", default=None, advanced=True, description="Accepted; not used.")
            for name in _ACCEPTED
        ),
    ],
    summary="Consumes Kafka/Redpanda topics (Redpanda Connect's redpanda input).",
    description=(
        "A thin adapter over the `kafka` input: the same partitions over workers, recovery "
        "state, commits after the outputs wrote, and metadata."
    ),
    examples=(
        "redpanda:\n  seed_brokers: [ localhost:9092 ]\n  topics: [ plant.telemetry ]\n"
        "  consumer_group: streamforge\n  start_offset: earliest",
    ),
)
@offline_check(_check)
def build_redpanda_input(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Consumes Kafka/Redpanda topics."""
    return KafkaInput(kafka_input_conf(brokers_here_or_shared(ctx, conf)), ctx)
