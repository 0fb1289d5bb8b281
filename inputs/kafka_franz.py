"""`kafka_franz` input (Redpanda Connect): the `redpanda` input under its older franz-go names.

`seed_brokers`, `topics`, `consumer_group`, `client_id`, `start_from_oldest` (or the newer
`start_offset`), `tls`, the first `sasl` entry and `batching` map onto the `kafka` input, which
reads, keeps offsets in recovery state and commits to the group once the outputs wrote.
Metadata is the kafka input's (`kafka_key`, `kafka_topic`, `kafka_partition`, `kafka_offset`,
`kafka_timestamp_unix`, ... and every header).
"""

from __future__ import annotations

from typing import Any

from streamforge.connectors.redpanda import client_fields
from streamforge.connectors.redpanda_common import common_input_conf
from streamforge.inputs.kafka import KafkaInput
from streamforge.inputs.redpanda import (
    START_OFFSETS,
    kafka_input_conf,
    regexp_topic_fields,
    regexp_topics_field,
)
from streamforge.license.catalog import register_feature
from streamforge.plugin import BuildContext, Field, Input, ParsedField, register_input
from streamforge.plugin.batching import batching_field
from streamforge.plugin.spec import offline_check

__all__ = ["build_kafka_franz_input", "franz_input_conf"]

#: franz-go consumer tuning, accepted so configs port, left to librdkafka: (name, type, default)
_ACCEPTED: tuple[tuple[str, str, Any], ...] = (
    ("rack_id", "string", ""),
    ("instance_id", "string", ""),
    ("auto_replay_nacks", "bool", True),
    ("commit_period", "duration", "5s"),
    ("session_timeout", "duration", "45s"),
    ("heartbeat_period", "duration", "3s"),
    ("heartbeat_interval", "duration", "3s"),
    ("rebalance_timeout", "duration", "60s"),
    ("transaction_isolation_level", "string", "read_uncommitted"),
    ("fetch_max_bytes", "any", "50MiB"),
    ("fetch_max_wait", "duration", "5s"),
    ("fetch_min_bytes", "any", "1B"),
    ("fetch_max_partition_bytes", "any", "1MiB"),
    ("timely_nacks_maximum_wait", "any", None),
    ("topic_lag_refresh_period", "duration", "5s"),
    ("metadata_max_age", "duration", "5m"),
    ("request_timeout_overhead", "duration", "10s"),
    ("conn_idle_timeout", "duration", "20s"),
    ("tcp", "map", {}),
)

register_feature("input", "kafka_franz", "bindings", "kafka")


def _no_multi_header(value: Any) -> Any:
    if value:
        raise ValueError(
            "decoding headers into lists is not supported: a header repeated in a record "
            "keeps its last value"
        )
    return value


def _topic_item(value: Any) -> Any:
    for part in str(value).split(","):
        if part.count(":") > 1:
            raise ValueError(
                f"{part.strip()!r}: starting at an explicit offset is not supported; "
                "name the topic or topic:partition"
            )
    return value


def _checkpoint_limit(value: Any) -> Any:
    if int(value) < 1:
        raise ValueError("must be at least 1")
    return value


def franz_input_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The `kafka` input config of a `kafka_franz` input config (checked)."""
    try:
        _no_multi_header(conf.get("multi_header"))
    except ValueError as exc:
        raise ValueError(f"multi_header: {exc}") from None
    topics = [] if conf.get("regexp_topics") else list(conf.get("topics") or [])
    for item in topics:
        try:
            _topic_item(item)
        except ValueError as exc:
            raise ValueError(f"topics: {exc}") from None
    if str(conf.get("consumer_group") or "") and any(":" in str(t) for t in topics):
        raise ValueError(
            "consumer_group: a consumer group cannot be used with explicit topic partitions "
            "(topic:partition)"
        )
    out = kafka_input_conf(common_input_conf({}, conf))
    out["client_id"] = str(conf.get("client_id") or "benthos")
    out["batching"] = conf.get("batching") or {}
    return out


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    KafkaInput(franz_input_conf(conf), ctx)


#: `seed_brokers`, then `client_id`, `tls` and `sasl` as the redpanda components declare them
_SEED_BROKERS, *_CLIENT = client_fields(default_client_id="benthos")


@register_input(
    "kafka_franz",
    fields=[
        _SEED_BROKERS,
        Field(
            "topics",
            "array",
            default=[],
            item=ParsedField("topic", "string", parser=_topic_item),
            description="Topics to consume; an item may list several, comma separated. "
            "`foo:0` reads partition 0 of `foo` and `foo:0-3` partitions 0 to 3 (without a "
            "consumer group).",
            examples=(["plant.telemetry"], ["foo:0", "bar:0-3"]),
        ),
        regexp_topics_field(),
        *regexp_topic_fields(),
        Field(
            "consumer_group",
            "string",
            default="",
            description="A consumer group to commit offsets to once the outputs wrote them; "
            "without a recovery snapshot, partitions start from its committed offsets.",
        ),
        *_CLIENT,
        ParsedField(
            "checkpoint_limit",
            "int",
            default=1024,
            advanced=True,
            parser=_checkpoint_limit,
            description="Accepted: offsets are committed once the outputs wrote a batch, and "
            "never past a batch that failed.",
        ),
        Field(
            "start_from_oldest",
            "bool",
            default=True,
            advanced=True,
            description="Where a partition without a committed offset (or recovery state) "
            "starts: the oldest record (true) or only new ones (false).",
        ),
        Field(
            "start_offset",
            "string",
            default="earliest",
            options=START_OFFSETS,
            advanced=True,
            description="The newer form of `start_from_oldest`: `earliest`, `latest`, or "
            "`committed` (the group's offsets, else the earliest).",
        ),
        ParsedField(
            "multi_header",
            "bool",
            default=False,
            advanced=True,
            parser=_no_multi_header,
            description="Not supported: a header repeated in a record keeps its last value.",
        ),
        batching_field(),
        *(
            Field(name, type_, default=default, advanced=True, description="Accepted; not used.")
            for name, type_, default in _ACCEPTED
        ),
    ],
    summary="Consumes Kafka/Redpanda topics (Redpanda Connect's kafka_franz input).",
    description=(
        "A thin adapter over the `kafka` input: partitions spread over workers, offsets in "
        "recovery state, commits after the outputs wrote, the kafka input's metadata."
    ),
    examples=(
        "kafka_franz:\n  seed_brokers: [ localhost:9092 ]\n  topics: [ plant.telemetry ]\n"
        "  consumer_group: streamforge\n  start_from_oldest: true",
    ),
)
@offline_check(_check)
def build_kafka_franz_input(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Consumes Kafka/Redpanda topics."""
    return KafkaInput(franz_input_conf(conf), ctx)
