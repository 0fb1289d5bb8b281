"""`nats_jetstream` input: consumes a JetStream stream through a push consumer, as Benthos.

Messages are acknowledged only after the output wrote them, and negatively acknowledged
(redelivered by the server) when it failed; the server holds at most `max_ack_pending`
unacknowledged. With a `durable` consumer, what was delivered and not acknowledged is
delivered again after `ack_wait`, also across restarts of the server or of the stream.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streamforge.connectors.acked_reader import AckedReader
from streamforge.connectors.nats import (
    NatsClient,
    NatsSettings,
    connection_fields,
    describe_error,
    headers_of,
    security_fields,
)
from streamforge.durations import parse_duration
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["NatsJetStreamInput"]

log = logging.getLogger("streamforge.inputs.nats_jetstream")

register_feature("input", "nats_jetstream", "bindings", "nats")

DELIVER = ("all", "last", "last_per_subject", "new")


class _Delivered:
    __slots__ = ("data", "headers", "msg", "subject")

    def __init__(self, msg: Any) -> None:
        self.msg = msg
        self.subject = msg.subject
        self.data = bytes(msg.data)
        self.headers = headers_of(msg)

    def message(self) -> Message:
        meta: dict[str, Any] = dict(self.headers)
        meta["nats_subject"] = self.subject
        try:
            md = self.msg.metadata
        except Exception:  # noqa: BLE001 - not a JetStream delivery: no sequence metadata
            md = None
        if md is not None:
            meta["nats_sequence_stream"] = md.sequence.stream
            meta["nats_sequence_consumer"] = md.sequence.consumer
            meta["nats_num_delivered"] = md.num_delivered
            meta["nats_num_pending"] = md.num_pending
            meta["nats_domain"] = md.domain or ""
            meta["nats_timestamp_unix_nano"] = int(md.timestamp.timestamp() * 1_000_000_000)
        return Message(self.data, meta)


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> NatsSettings:
    subject = str(conf.get("subject") or "")
    stream = str(conf.get("stream") or "")
    if not subject and not stream:
        raise ValueError("subject: a subject or a stream is required")
    if conf.get("bind") and not (stream and str(conf.get("durable") or "")):
        raise ValueError("bind: binding to an existing consumer needs stream and durable")
    deliver = str(conf.get("deliver") or "all")
    if deliver not in DELIVER:
        raise ValueError(f"deliver: {deliver!r} is not one of {', '.join(DELIVER)}")
    if parse_duration(conf.get("ack_wait") or "30s") <= 0:
        raise ValueError("ack_wait: must be positive")
    if int(conf.get("max_ack_pending", 1024)) < 1:
        raise ValueError("max_ack_pending: must be at least 1")
    return NatsSettings.from_conf(conf)


@register_input(
    "nats_jetstream",
    fields=[
        *connection_fields(),
        Field(
            "queue",
            "string",
            default="",
            description="A queue group: each message goes to one member of the group.",
        ),
        Field(
            "subject",
            "string",
            default="",
            description="The subject to consume (wildcards allowed); or give a stream.",
            examples=("plant.*.telemetry",),
        ),
        Field(
            "durable",
            "string",
            default="",
            description="A durable consumer name: the server keeps its position and what it "
            "has not acknowledged.",
            examples=("gateway",),
        ),
        Field(
            "stream",
            "string",
            default="",
            description="The stream to consume (found from the subject when empty).",
        ),
        Field(
            "bind",
            "bool",
            default=False,
            description="Bind to an existing consumer (`durable` on `stream`) without creating it.",
            advanced=True,
        ),
        Field(
            "deliver",
            "string",
            default="all",
            options=DELIVER,
            description="Where a new consumer starts: all, last, last_per_subject or new.",
        ),
        Field(
            "ack_wait",
            "duration",
            default="30s",
            description="How long the server waits for an acknowledgement before redelivering.",
            advanced=True,
        ),
        Field(
            "max_ack_pending",
            "int",
            default=1024,
            description="Most messages delivered and not yet acknowledged at a time.",
            advanced=True,
        ),
        *security_fields(),
    ],
    summary="Consumes a NATS JetStream stream; acknowledges after the write.",
    description=(
        "At least once. Metadata: `nats_subject`, `nats_sequence_stream`, "
        "`nats_sequence_consumer`, `nats_num_delivered`, `nats_num_pending`, `nats_domain`, "
        "`nats_timestamp_unix_nano` and the message's headers."
    ),
    examples=(
        "nats_jetstream:\n  urls: [ nats://127.0.0.1:4222 ]\n  subject: plant.>\n"
        "  durable: gateway\n  deliver: all",
    ),
)
@offline_check(_check)
class NatsJetStreamInput(Input):
    """Consumes a NATS JetStream stream."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = _check(conf)
        self.subject = str(conf.get("subject") or "")
        self.queue = str(conf.get("queue") or "")
        self.durable = str(conf.get("durable") or "")
        self.stream = str(conf.get("stream") or "")
        self.bind = bool(conf.get("bind"))
        self.deliver = str(conf.get("deliver") or "all")
        self.ack_wait = parse_duration(conf.get("ack_wait") or "30s")
        self.max_ack_pending = int(conf.get("max_ack_pending", 1024))
        self.ctx = ctx

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _JetStreamReader(self)


class _JetStreamReader(AckedReader):
    peer_redelivers = True

    def __init__(self, source: NatsJetStreamInput) -> None:
        self.source = source
        super().__init__("nats_jetstream input", log)
        self.queue_limit = max(source.max_ack_pending, 1)
        self.client = NatsClient(
            source.settings,
            kind="input",
            ctx=source.ctx,
            logger=log,
            setup=self._subscribe,
            protocol="nats_jetstream",
        )
        self.name = f"nats_jetstream input {self.client.link.label}"

    async def _subscribe(self, nc: Any) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        src = self.source
        js = nc.jetstream()
        limit = max(src.max_ack_pending * 2, 1024)
        if src.bind:
            info = await js.consumer_info(src.stream, src.durable)
            await js.subscribe_bind(
                src.stream,
                info.config,
                src.durable,
                cb=self._received,
                manual_ack=True,
                pending_msgs_limit=limit,
            )
            return
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy(src.deliver),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=src.ack_wait,
            max_ack_pending=src.max_ack_pending,
        )
        await js.subscribe(
            src.subject,
            queue=src.queue or None,
            durable=src.durable or None,
            stream=src.stream or None,
            cb=self._received,
            manual_ack=True,
            config=config,
            pending_msgs_limit=limit,
        )

    async def _received(self, msg: Any) -> None:
        while self.full() and not self.stopping.is_set():
            await asyncio.sleep(0.01)
        self.offer([_Delivered(msg)])

    def settle(self, records: list[Any], error: str | None) -> None:
        self.client.loop.submit(self._settle([r.msg for r in records], error))

    async def _settle(self, msgs: list[Any], error: str | None) -> None:
        for m in msgs:
            try:
                await (m.nak() if error is not None else m.ack())
            except Exception as exc:  # noqa: BLE001 - the server redelivers after ack_wait
                log.debug("%s: acknowledging failed: %s", self.name, describe_error(exc))
                return

    def shutdown(self) -> None:
        self.client.close()
