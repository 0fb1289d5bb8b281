"""benthos-umh's unified namespace over Kafka: one topic, `umh.messages`, keyed by the UMH topic.

Shared by the `uns` input and output: the record key is the UMH topic (`umh.v1.<...>`) with
characters outside `[a-zA-Z0-9._-]` replaced by `_`; metadata travels as record headers.
"""

from __future__ import annotations

import re

__all__ = [
    "DEFAULT_BRIDGED_BY",
    "DEFAULT_BROKER",
    "DEFAULT_CONSUMER_GROUP",
    "UNS_TOPIC",
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
