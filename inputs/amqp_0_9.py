"""`amqp_0_9` input: consumes an AMQP 0.9.1 queue (RabbitMQ), as Benthos does.

Unless `auto_ack`, a message is acknowledged only after the output wrote it, and negatively
acknowledged when writing failed: requeued for redelivery, or rejected (dead-lettered by the
broker, if the queue has a dead-letter exchange) when the error matches
`nack_reject_patterns`. At most `prefetch_count` messages are unacknowledged at a time. After a
lost connection the input connects again, declares and binds what it is told to, and consumes
again; the broker redelivers what was not acknowledged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from streamforge.connectors.acked_reader import AckedReader
from streamforge.connectors.amqp import (
    AmqpClient,
    AmqpSettings,
    amqp_tls_field,
    connection_fields,
    describe_error,
)
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import offline_check
from streamforge.regexp import compile_regexp

__all__ = ["AmqpInput"]

log = logging.getLogger("streamforge.inputs.amqp_0_9")

register_feature("input", "amqp_0_9", "bindings", "amqp")


def _header_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class _Delivery:
    __slots__ = ("body", "generation", "meta", "raw")

    def __init__(self, raw: Any, generation: int) -> None:
        self.raw = raw
        self.generation = generation
        self.body = bytes(raw.body)
        meta: dict[str, Any] = {k: _header_value(v) for k, v in (raw.headers or {}).items()}
        props = {
            "amqp_content_type": raw.content_type,
            "amqp_content_encoding": raw.content_encoding,
            "amqp_delivery_mode": int(raw.delivery_mode) if raw.delivery_mode else None,
            "amqp_priority": raw.priority,
            "amqp_correlation_id": raw.correlation_id,
            "amqp_reply_to": raw.reply_to,
            "amqp_expiration": raw.expiration,
            "amqp_message_id": raw.message_id,
            "amqp_timestamp": int(raw.timestamp.timestamp()) if raw.timestamp else None,
            "amqp_type": raw.type,
            "amqp_user_id": raw.user_id,
            "amqp_app_id": raw.app_id,
            "amqp_consumer_tag": raw.consumer_tag,
            "amqp_delivery_tag": raw.delivery_tag,
            "amqp_redelivered": bool(raw.redelivered),
            "amqp_exchange": raw.exchange,
            "amqp_routing_key": raw.routing_key,
        }
        meta.update((k, v) for k, v in props.items() if v is not None)
        self.meta = meta

    def message(self) -> Message:
        return Message(self.body, dict(self.meta))


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> AmqpSettings:
    if not str(conf.get("queue") or ""):
        raise ValueError("queue: the queue to consume is required")
    for i, binding in enumerate(conf.get("bindings_declare") or []):
        if not str((binding or {}).get("exchange") or ""):
            raise ValueError(f"bindings_declare.{i}.exchange: an exchange is required")
    if int(conf.get("prefetch_count", 10)) < 0 or int(conf.get("prefetch_size", 0)) < 0:
        raise ValueError("prefetch_count and prefetch_size must not be negative")
    for pattern in conf.get("nack_reject_patterns") or []:
        compile_regexp(str(pattern))
    return AmqpSettings.from_conf(conf)


@register_input(
    "amqp_0_9",
    fields=[
        *connection_fields(),
        Field("queue", "string", description="The queue to consume.", examples=("telemetry",)),
        Field(
            "queue_declare",
            "object",
            default={"enabled": False, "durable": True, "auto_delete": False, "arguments": {}},
            description="Declare the queue (otherwise it must exist).",
            advanced=True,
            fields=(
                Field("enabled", "bool", default=False, description="Declare the queue."),
                Field("durable", "bool", default=True, description="Survives broker restarts."),
                Field(
                    "auto_delete",
                    "bool",
                    default=False,
                    description="Deleted once its last consumer goes.",
                ),
                Field(
                    "arguments",
                    "map",
                    default={},
                    description="Optional queue arguments (`x-queue-type`, `x-max-length` ...).",
                    examples=({"x-queue-type": "quorum"},),
                ),
            ),
        ),
        Field(
            "bindings_declare",
            "array",
            default=[],
            description="Bindings of the queue to declare.",
            advanced=True,
            item=Field(
                "binding",
                "object",
                fields=(
                    Field("exchange", "string", description="The exchange to bind to."),
                    Field("key", "string", default="", description="The routing key."),
                ),
            ),
            examples=([{"exchange": "plant", "key": "line1.#"}],),
        ),
        Field(
            "consumer_tag",
            "string",
            default="",
            description="The consumer's tag (the broker makes one up when empty).",
        ),
        Field(
            "auto_ack",
            "bool",
            default=False,
            description=(
                "Let the broker count messages as acknowledged on delivery (faster, and lost "
                "if the stream stops before writing them)."
            ),
            advanced=True,
        ),
        Field(
            "nack_reject_patterns",
            "array",
            default=[],
            item=Field("pattern", "string"),
            description=(
                "Regular expressions: a message whose write failed with a matching error is "
                "rejected (dead-lettered) instead of requeued."
            ),
            examples=(["^reject me please:.+$"],),
            advanced=True,
        ),
        Field(
            "prefetch_count",
            "int",
            default=10,
            description="Most unacknowledged messages the broker sends at a time.",
        ),
        Field(
            "prefetch_size",
            "int",
            default=0,
            description="Most unacknowledged bytes the broker sends at a time (0: no limit).",
            advanced=True,
        ),
        amqp_tls_field(),
    ],
    summary="Consumes an AMQP 0.9.1 queue; acknowledges after the write.",
    description=(
        "Metadata: `amqp_content_type`, `amqp_content_encoding`, `amqp_delivery_mode`, "
        "`amqp_priority`, `amqp_correlation_id`, `amqp_reply_to`, `amqp_expiration`, "
        "`amqp_message_id`, `amqp_timestamp`, `amqp_type`, `amqp_user_id`, `amqp_app_id`, "
        "`amqp_consumer_tag`, `amqp_delivery_tag`, `amqp_redelivered`, `amqp_exchange`, "
        "`amqp_routing_key`, and the message's headers."
    ),
    examples=(
        "amqp_0_9:\n  urls: [ amqp://guest:guest@localhost:5672/ ]\n  queue: telemetry\n"
        "  prefetch_count: 100",
    ),
)
@offline_check(_check)
class AmqpInput(Input):
    """Consumes an AMQP 0.9.1 queue."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = _check(conf)
        self.queue = str(conf["queue"])
        declare = conf.get("queue_declare") or {}
        self.declare = bool(declare.get("enabled"))
        self.durable = bool(declare.get("durable", True))
        self.auto_delete = bool(declare.get("auto_delete", False))
        self.arguments = dict(declare.get("arguments") or {})
        self.bindings = [
            (str(b["exchange"]), str(b.get("key") or ""))
            for b in conf.get("bindings_declare") or []
        ]
        self.consumer_tag = str(conf.get("consumer_tag") or "")
        self.auto_ack = bool(conf.get("auto_ack", False))
        self.reject = [re.compile(str(p)) for p in conf.get("nack_reject_patterns") or []]
        self.prefetch_count = int(conf.get("prefetch_count", 10))
        self.prefetch_size = int(conf.get("prefetch_size", 0))
        self.ctx = ctx

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _AmqpReader(self)


class _AmqpReader(AckedReader):
    peer_redelivers = True

    def __init__(self, source: AmqpInput) -> None:
        self.source = source
        super().__init__("amqp_0_9 input", log)
        if source.prefetch_count:
            self.queue_limit = max(source.prefetch_count, 1)
        self.client = AmqpClient(
            source.settings, kind="input", ctx=source.ctx, logger=log, setup=self._consume
        )
        self.name = f"amqp_0_9 input {self.client.link.label}"

    async def _consume(self, connection: Any) -> None:
        src = self.source
        generation = self.client.generation
        # deliveries of the previous connection are redelivered by the broker: drop them
        self.drop_queued(lambda r: r.generation == generation)
        channel = await connection.channel()
        channel.close_callbacks.add(lambda *_: self.client.lose())
        await channel.set_qos(prefetch_count=src.prefetch_count, prefetch_size=src.prefetch_size)
        if src.declare:
            queue = await channel.declare_queue(
                src.queue,
                durable=src.durable,
                auto_delete=src.auto_delete,
                arguments=src.arguments or None,
            )
        else:
            queue = await channel.get_queue(src.queue, ensure=True)
        for exchange, key in src.bindings:
            await queue.bind(exchange, routing_key=key)

        async def received(raw: Any) -> None:
            await self.offer_when_room([_Delivery(raw, generation)])

        await queue.consume(received, no_ack=src.auto_ack, consumer_tag=src.consumer_tag or None)

    def settle(self, records: list[Any], error: str | None) -> None:
        if self.source.auto_ack:
            return
        self.client.loop.submit(self._settle(records, error))

    async def _settle(self, records: list[Any], error: str | None) -> None:
        current = self.client.generation
        reject = error is not None and any(p.search(error) for p in self.source.reject)
        for r in records:
            if r.generation != current:
                continue  # its channel is gone: the broker delivers it again
            try:
                if error is None:
                    await r.raw.ack()
                elif reject:
                    await r.raw.reject(requeue=False)
                else:
                    await r.raw.nack(requeue=True)
            except Exception as exc:  # noqa: BLE001 - the broker redelivers it
                log.debug("%s: acknowledging failed: %s", self.name, describe_error(exc))
                return

    def shutdown(self) -> None:
        self.client.close()
