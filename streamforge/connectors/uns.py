"""benthos-umh's unified namespace over Kafka: one topic, `umh.messages`, keyed by the UMH topic.

Shared by the `uns` input and output: the record key is the UMH topic (`umh.v1.<...>`) with
characters outside `[a-zA-Z0-9._-]` replaced by `_`; metadata travels as record headers.
"""

from __future__ import annotations

import re

from streamforge.plugin import Field

__all__ = [
    "DEFAULT_BRIDGED_BY",
    "DEFAULT_BROKER",
    "DEFAULT_CONSUMER_GROUP",
    "UNS_TOPIC",
    "broker_address_field",
    "old_topic_field",
    "sanitize_key",
]

UNS_TOPIC = "umh.messages"
DEFAULT_BROKER = "localhost:9092"
DEFAULT_CONSUMER_GROUP = "uns_plugin"
DEFAULT_BRIDGED_BY = "umh-core"

_ILLEGAL = re.compile(r"[^a-zA-Z0-9._\-]")


def sanitize_key(topic: str) -> str:
    """The record key of a UMH topic: characters Kafka keys of the UNS may not hold become `_`."""
    return _ILLEGAL.sub("_", topic)


def broker_address_field() -> Field:
    """`broker_address` of the `uns` input and output."""
    return Field(
        "broker_address",
        "string",
        default=DEFAULT_BROKER,
        description="Broker addresses, comma separated.",
    )


def old_topic_field(*, interpolable: bool = False) -> Field:
    """`topic`, the older name of `umh_topic`, of the `uns` input and output."""
    return Field(
        "topic",
        "string",
        default="",
        interpolable=interpolable,
        advanced=True,
        description="Older name of umh_topic.",
    )
