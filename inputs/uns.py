"""`uns` input (benthos-umh): reads the unified namespace, `umh.messages`, filtered by UMH topic.

A thin layer over the `kafka` input: the records of `kafka_topic` (default `umh.messages`)
whose key, the UMH topic, matches one of the `umh_topic`/`umh_topics` regular expressions
(searched, as Go's regexp does) become messages with metadata `umh_topic` and `kafka_msg_key`
(the key) beside the kafka input's and the record headers. Filtered-out records are
acknowledged at once; the others when the outputs wrote them, so the consumer group's offset
never passes an unwritten record.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from streamforge.connectors.uns import (
    DEFAULT_BROKER,
    DEFAULT_CONSUMER_GROUP,
    UNS_TOPIC,
    broker_address_field,
    old_topic_field,
)
from streamforge.inputs.kafka import KafkaInput
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["UnsInput", "topic_filter"]

register_feature("input", "uns", "bindings", "kafka")


def topic_filter(conf: dict[str, Any]) -> list[re.Pattern[str]]:
    """The compiled UMH topic patterns (`umh_topic`, `umh_topics`, or the older `topic`)."""
    single = str(conf.get("umh_topic") or "")
    many = [str(p) for p in conf.get("umh_topics") or []]
    old = str(conf.get("topic") or "")
    if single and many:
        raise ValueError("umh_topic and umh_topics cannot be used together")
    patterns = many or [single or old or ".*"]
    out: list[re.Pattern[str]] = []
    for p in patterns:
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise ValueError(f"umh_topic {p!r}: not a regular expression: {exc}") from None
    return out


def _kafka_conf(conf: dict[str, Any]) -> dict[str, Any]:
    return {
        "addresses": [str(conf.get("broker_address") or DEFAULT_BROKER)],
        "topics": [str(conf.get("kafka_topic") or UNS_TOPIC)],
        "consumer_group": str(conf.get("consumer_group") or DEFAULT_CONSUMER_GROUP),
        "client_id": "streamforge-uns",
        "start_from_oldest": True,
        "tls": {"enabled": False},
        "sasl": {"mechanism": "none"},
    }


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    topic_filter(conf)
    KafkaInput(_kafka_conf(conf), ctx)


@register_input(
    "uns",
    fields=[
        Field(
            "umh_topic",
            "string",
            default="",
            description="A regular expression the UMH topic (the record key) must match.",
            examples=(r"umh\.v1\.acme\.berlin\..+",),
        ),
        Field(
            "umh_topics",
            "array",
            default=[],
            item=Field("pattern", "string"),
            description="Several such expressions; a record matching any is read.",
        ),
        old_topic_field(),
        Field(
            "kafka_topic",
            "string",
            default=UNS_TOPIC,
            advanced=True,
            description="The Kafka topic holding the namespace.",
        ),
        broker_address_field(),
        Field(
            "consumer_group",
            "string",
            default=DEFAULT_CONSUMER_GROUP,
            description="The consumer group whose offsets are committed after the outputs wrote.",
        ),
    ],
    summary="Reads the UMH unified namespace from Kafka (benthos-umh uns input).",
    examples=("uns:\n  umh_topic: 'umh\\.v1\\.acme\\..+'\n  broker_address: localhost:9092",),
)
@offline_check(_check)
class UnsInput(Input):
    """Reads the UMH unified namespace, filtered by UMH topic."""

    replays_from_snapshot = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.patterns = topic_filter(conf)
        self.match_all = [p.pattern for p in self.patterns] == [".*"]
        self.kafka = KafkaInput(_kafka_conf(conf), ctx)

    def partitions(self) -> list[str]:
        return self.kafka.partitions()

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _UnsReader(self, self.kafka.open(partition, resume_state))

    def wanted(self, key: str) -> bool:
        return self.match_all or any(p.search(key) for p in self.patterns)


class _UnsReader(InputReader):
    """Filters and annotates the batches of a kafka reader; acknowledges them through it."""

    def __init__(self, owner: UnsInput, inner: InputReader) -> None:
        self.owner = owner
        self.inner = inner
        self._lock = threading.Lock()
        self._sources: dict[int, list[Message]] = {}

    def read(self) -> list[Message] | None:
        batch = self.inner.read()
        if not batch:
            return batch
        out: list[Message] = []
        for msg in batch:
            key = str(msg.metadata.get("kafka_key") or "")
            if not self.owner.wanted(key):
                continue
            msg.metadata["umh_topic"] = key
            msg.metadata["kafka_msg_key"] = key
            out.append(msg)
        if not out:
            self.inner.ack(batch, None)  # nothing to write: done with these records
            return []
        with self._lock:
            self._sources[id(out)] = batch
        return out

    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            source = self._sources.pop(id(batch), None)
        if source is not None:
            self.inner.ack(source, error)

    def next_awake(self) -> Any:
        return self.inner.next_awake()

    def snapshot(self) -> Any:
        return self.inner.snapshot()

    def close(self) -> None:
        self.inner.close()
