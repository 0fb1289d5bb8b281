"""`uns` output (benthos-umh): publishes to the unified namespace, `umh.messages`, keyed by topic.

A thin layer over the `kafka` output: every message goes to `umh.messages` with the UMH topic
(`umh_topic`, by default the message's `umh_topic` metadata) as the record key, characters
outside `[a-zA-Z0-9._-]` replaced by `_`. Every metadata key except `kafka_*` travels as a
record header, with `bridged_by`. A message without a UMH topic fails with an error; the
others are written as the kafka output writes (delivery confirmed before acknowledging).
The topic is created (one partition) when it does not exist yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from streamforge.connectors.uns import (
    DEFAULT_BRIDGED_BY,
    DEFAULT_BROKER,
    UNS_TOPIC,
    broker_address_field,
    old_topic_field,
    sanitize_key,
)
from streamforge.interpolation import InterpolatedString
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.outputs.kafka.kafka import build_kafka_output, check_kafka_output
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.spec import offline_check

__all__ = ["UnsOutput", "kafka_output_conf"]

log = logging.getLogger("streamforge.outputs.uns")

DEFAULT_UMH_TOPIC = '${! meta("umh_topic") }'
#: the metadata key the record key travels in to the kafka output (never a header)
KEY_META = "kafka_key"
#: how long creating the namespace topic may take at start
CREATE_TIMEOUT = 5.0

register_feature("output", "uns", "bindings", "kafka")


def kafka_output_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The `kafka` output config the `uns` output writes through."""
    return {
        "addresses": [str(conf.get("broker_address") or DEFAULT_BROKER)],
        "topic": UNS_TOPIC,
        "key": "${! @" + KEY_META + " }",
        "partition": "",
        "partitioner": "fnv1a_hash",
        "compression": "none",
        "max_in_flight": 64,
        "idempotent_write": False,
        "ack_replicas": False,
        "timeout": "5s",
        "max_msg_bytes": 1_000_000,
        "metadata": {
            "include_prefixes": [""],
            "include_patterns": [],
            "exclude_prefixes": ["kafka_"],
        },
        "client_id": "umh_core",
        "tls": {"enabled": False},
        "sasl": {"mechanism": "none"},
        "batching": {},
    }


def _key_text(conf: dict[str, Any]) -> str:
    return str(conf.get("umh_topic") or conf.get("topic") or DEFAULT_UMH_TOPIC)


def _check(conf: dict[str, Any], ctx: BuildContext) -> None:
    InterpolatedString(_key_text(conf))
    check_kafka_output(kafka_output_conf(conf), ctx)


@register_output(
    "uns",
    fields=[
        Field(
            "umh_topic",
            "string",
            default="",
            interpolable=True,
            description=(
                "The UMH topic, the record key (`umh.v1.<...>`); empty reads the "
                "`umh_topic` metadata the tag_processor sets."
            ),
            examples=(DEFAULT_UMH_TOPIC, "umh.v1.acme.berlin.packaging._historian.temperature"),
        ),
        old_topic_field(interpolable=True),
        broker_address_field(),
        Field(
            "bridged_by",
            "string",
            default=DEFAULT_BRIDGED_BY,
            description="The `bridged_by` header on every record (traceability).",
        ),
    ],
    summary="Publishes to the UMH unified namespace on Kafka (benthos-umh uns output).",
    examples=("uns:\n  broker_address: localhost:9092\n  bridged_by: line4-gateway",),
)
@offline_check(_check)
class UnsOutput(Output):
    """Publishes to the UMH unified namespace, keyed by UMH topic."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.key = InterpolatedString(_key_text(conf))
        self.bridged_by = str(conf.get("bridged_by") or DEFAULT_BRIDGED_BY)
        self.label = ctx.label if ctx is not None else "uns"
        settings = kafka_output_conf(conf)
        threading.Thread(
            target=_create_topic, args=(settings["addresses"],), name="streamforge-uns", daemon=True
        ).start()
        self.inner = build_kafka_output(settings, ctx)

    def write_batch(self, batch: list[Message]) -> list[Message]:
        bad: list[Message] = []
        for i, msg in enumerate(batch):
            try:
                topic = self.key.render(msg, batch, i).strip()
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails that message
                msg.error = f"uns output {self.label}: umh_topic: {exc}"
                bad.append(msg)
                continue
            if not topic or topic == "null":
                msg.error = (
                    f"uns output {self.label}: the message has no UMH topic "
                    "(set metadata umh_topic, e.g. with tag_processor)"
                )
                bad.append(msg)
                continue
            msg.metadata[KEY_META] = sanitize_key(topic)
            msg.metadata["bridged_by"] = self.bridged_by
        if not bad:
            return self.inner.write_batch(batch)
        # rare (a pipeline that sets no topic): settle everything so counts stay exact
        good = [m for m in batch if m.error is None]
        failed = self.inner.flush()
        if good:
            failed.extend(self.inner.write_batch(good))
            failed.extend(self.inner.flush())
        return failed + bad

    def flush(self) -> list[Message]:
        return self.inner.flush()

    def buffered(self) -> int:
        return self.inner.buffered()

    def take_failures(self) -> list[Message]:
        return self.inner.take_failures()

    def confirm_later(self, progress: Callable[[], None]) -> None:
        self.inner.confirm_later(progress)

    def close(self) -> None:
        self.inner.close()


def _create_topic(addresses: list[str]) -> None:
    """Create `umh.messages` with one partition when it is missing (as benthos-umh does)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    try:
        admin = AdminClient({"bootstrap.servers": ",".join(addresses), "log_level": 2})
        meta = admin.list_topics(timeout=CREATE_TIMEOUT)
        if UNS_TOPIC in meta.topics and meta.topics[UNS_TOPIC].error is None:
            return
        for fut in admin.create_topics([NewTopic(UNS_TOPIC, 1, 1)]).values():
            fut.result(timeout=CREATE_TIMEOUT)
        log.info("uns output: created topic %s", UNS_TOPIC)
    except KafkaException as exc:
        log.debug("uns output: creating topic %s: %s", UNS_TOPIC, exc)
