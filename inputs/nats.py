"""`nats` input: subscribes to a NATS subject (optionally in a queue group), as Benthos does.

Core NATS keeps nothing: what arrives while the input is away is lost, and a subscriber that
falls behind by more than `prefetch_count` messages loses the excess (a slow consumer). The
client reconnects by itself and renews the subscription. Messages the output fails are
replayed from memory (`auto_replay_nacks`).
"""

from __future__ import annotations

import logging
from typing import Any

from streamforge.connectors.acked_reader import AckedReader, replay_nacks_field
from streamforge.connectors.nats import (
    NatsClient,
    NatsSettings,
    connection_fields,
    headers_of,
    security_fields,
)
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["NatsInput"]

log = logging.getLogger("streamforge.inputs.nats")

register_feature("input", "nats", "bindings", "nats")


class _Received:
    __slots__ = ("data", "headers", "reply", "subject")

    def __init__(self, msg: Any) -> None:
        self.subject = msg.subject
        self.reply = msg.reply
        self.data = bytes(msg.data)
        self.headers = headers_of(msg)

    def message(self) -> Message:
        meta: dict[str, Any] = dict(self.headers)
        meta["nats_subject"] = self.subject
        if self.reply:
            meta["nats_reply_subject"] = self.reply
        return Message(self.data, meta)


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> NatsSettings:
    if not str(conf.get("subject") or ""):
        raise ValueError("subject: the subject to subscribe to is required")
    if int(conf.get("prefetch_count", 524288)) < 1:
        raise ValueError("prefetch_count: must be at least 1")
    return NatsSettings.from_conf(conf)


@register_input(
    "nats",
    fields=[
        *connection_fields(),
        Field(
            "subject",
            "string",
            description="The subject to subscribe to; wildcards `*` and `>` are allowed.",
            examples=("plant.*.telemetry", "plant.>"),
        ),
        Field(
            "queue",
            "string",
            default="",
            description="A queue group: each message goes to one member of the group.",
            examples=("gateways",),
        ),
        replay_nacks_field(),
        Field(
            "nak_delay",
            "duration",
            default="",
            description="Accepted for Benthos compatibility (core NATS has no redelivery).",
            advanced=True,
        ),
        Field(
            "prefetch_count",
            "int",
            default=524288,
            description="Messages the client holds for the stream before it drops (slow consumer).",
            advanced=True,
        ),
        *security_fields(),
    ],
    summary="Subscribes to a NATS subject.",
    description=(
        "At most once. Metadata: `nats_subject`, `nats_reply_subject` (when set) and the "
        "message's headers."
    ),
    examples=(
        "nats:\n  urls: [ nats://127.0.0.1:4222 ]\n  subject: plant.*.telemetry\n  queue: gateways",
    ),
)
@offline_check(_check)
class NatsInput(Input):
    """Subscribes to a NATS subject."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = _check(conf)
        self.subject = str(conf["subject"])
        self.queue = str(conf.get("queue") or "")
        self.prefetch = int(conf.get("prefetch_count", 524288))
        self.replay_nacks = bool(conf.get("auto_replay_nacks", True))
        self.ctx = ctx

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _NatsReader(self)


class _NatsReader(AckedReader):
    def __init__(self, source: NatsInput) -> None:
        self.source = source
        super().__init__("nats input", log, replay_nacks=source.replay_nacks)
        self.client = NatsClient(
            source.settings, kind="input", ctx=source.ctx, logger=log, setup=self._subscribe
        )
        self.name = f"nats input {self.client.link.label}"

    async def _subscribe(self, nc: Any) -> None:
        src = self.source
        await nc.subscribe(
            src.subject, queue=src.queue, cb=self._received, pending_msgs_limit=src.prefetch
        )

    async def _received(self, msg: Any) -> None:
        await self.offer_when_room([_Received(msg)])

    def shutdown(self) -> None:
        self.client.close()
