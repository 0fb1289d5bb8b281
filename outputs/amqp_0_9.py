"""`amqp_0_9` output: publishes each message to an AMQP 0.9.1 exchange (RabbitMQ), as Benthos.

Publishes are confirmed by the broker (publisher confirms): a message counts as written once
the broker took responsibility for it. Up to `max_in_flight` await confirmation at a time.
While the broker is away the output connects again (declaring the exchange if told to) and
tries the batch again with backoff, up to `write_timeout`; then the messages fail. Metadata
becomes message headers, but for keys starting with an excluded prefix.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from streamforge.connectors.amqp import (
    AmqpClient,
    AmqpSettings,
    amqp_tls_field,
    connection_fields,
    describe_error,
    transient_errors,
)
from streamforge.connectors.peer import fail_each, prepare_each, write_timeout_field
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.spec import offline_check

__all__ = ["AmqpOutput"]

log = logging.getLogger("streamforge.outputs.amqp_0_9")

register_feature("output", "amqp_0_9", "bindings", "amqp")

EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers", "x-custom")
#: the message properties given as (interpolated) strings, as Benthos names them
PROPERTIES = (
    "type",
    "content_type",
    "content_encoding",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "user_id",
    "app_id",
    "priority",
)


def _header(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool, bytes)) or value is None:
        return value
    import orjson

    return orjson.dumps(value).decode()


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> AmqpSettings:
    declare = conf.get("exchange_declare") or {}
    kind = str(declare.get("type") or "direct")
    if declare.get("enabled") and kind not in EXCHANGE_TYPES:
        raise ValueError(
            f"exchange_declare.type: {kind!r} is not one of {', '.join(EXCHANGE_TYPES)}"
        )
    if declare.get("enabled") and not InterpolatedString(str(conf.get("exchange") or "")).is_static:
        raise ValueError("exchange_declare: only a fixed exchange name can be declared")
    if int(conf.get("max_in_flight") or 1) < 1:
        raise ValueError("max_in_flight: must be at least 1")
    for name in ("timeout", "write_timeout"):
        text = str(conf.get(name) or "")
        if text and parse_duration(text) <= 0:
            raise ValueError(f"{name}: must be positive")
    return AmqpSettings.from_conf(conf)


def _string_field(name: str, description: str, default: str = "", **kw: Any) -> Field:
    return Field(name, "string", default=default, interpolable=True, description=description, **kw)


@register_output(
    "amqp_0_9",
    fields=[
        *connection_fields(),
        Field(
            "exchange",
            "string",
            interpolable=True,
            description="The exchange to publish to; interpolated per message ('' is the "
            "default exchange, which routes by queue name).",
            examples=("plant", "plant-${! @site }"),
        ),
        Field(
            "exchange_declare",
            "object",
            default={"enabled": False, "type": "direct", "durable": True, "arguments": {}},
            description="Declare the exchange when connecting.",
            advanced=True,
            fields=(
                Field("enabled", "bool", default=False, description="Declare the exchange."),
                Field(
                    "type",
                    "string",
                    default="direct",
                    options=EXCHANGE_TYPES,
                    description="The exchange type.",
                ),
                Field("durable", "bool", default=True, description="Survives broker restarts."),
                Field(
                    "arguments",
                    "map",
                    default={},
                    description="Optional exchange arguments (`alternate-exchange` ...).",
                ),
            ),
        ),
        _string_field(
            "key",
            "The routing key; interpolated per message.",
            examples=("line1.${! @asset_id }",),
        ),
        _string_field("type", "The message type property; interpolated per message."),
        _string_field(
            "content_type",
            "The content type property; interpolated per message.",
            default="application/octet-stream",
            advanced=True,
        ),
        _string_field("content_encoding", "The content encoding property.", advanced=True),
        _string_field("correlation_id", "The correlation ID property.", advanced=True),
        _string_field("reply_to", "The reply-to property.", advanced=True),
        _string_field("expiration", "Per-message TTL in milliseconds.", advanced=True),
        _string_field("message_id", "The message ID property.", advanced=True),
        _string_field("user_id", "The user ID property.", advanced=True),
        _string_field("app_id", "The application ID property.", advanced=True),
        Field(
            "metadata",
            "object",
            default={"exclude_prefixes": []},
            description="Which metadata becomes headers: all but excluded prefixes.",
            fields=(
                Field(
                    "exclude_prefixes",
                    "array",
                    default=[],
                    item=Field("prefix", "string"),
                    description="Metadata keys starting with one of these are not sent.",
                ),
            ),
        ),
        _string_field("priority", "Message priority (0-9); interpolated.", advanced=True),
        Field(
            "max_in_flight",
            "int",
            default=64,
            description="Most publishes awaiting the broker's confirmation at a time.",
        ),
        Field(
            "persistent",
            "bool",
            default=False,
            description="Publish persistent messages (delivery mode 2): kept on disk by "
            "durable queues.",
        ),
        Field(
            "mandatory",
            "bool",
            default=False,
            description="Fail a message no queue is bound to take (instead of dropping it).",
            advanced=True,
        ),
        Field(
            "immediate",
            "bool",
            default=False,
            description="Accepted for Benthos compatibility; RabbitMQ does not support it.",
            advanced=True,
        ),
        Field(
            "timeout",
            "duration",
            default="",
            description="How long one publish waits for its confirmation (default: write_timeout).",
            advanced=True,
        ),
        amqp_tls_field(),
        write_timeout_field("broker"),
    ],
    summary="Publishes messages to an AMQP 0.9.1 exchange; written once the broker confirmed.",
    examples=(
        "amqp_0_9:\n  urls: [ amqp://guest:guest@localhost:5672/ ]\n  exchange: plant\n"
        "  key: line1.${! @asset_id }\n  persistent: true",
    ),
)
@offline_check(_check)
class AmqpOutput(Output):
    """Publishes messages to an AMQP 0.9.1 exchange."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        settings = _check(conf)
        self.exchange = InterpolatedString(str(conf.get("exchange") or ""))
        self.key = InterpolatedString(str(conf.get("key") or ""))
        self.properties = {
            name: InterpolatedString(str(conf.get(name) or ""))
            for name in PROPERTIES
            if str(conf.get(name) or "")
        }
        declare = conf.get("exchange_declare") or {}
        self.declare = bool(declare.get("enabled"))
        self.exchange_type = str(declare.get("type") or "direct")
        self.durable = bool(declare.get("durable", True))
        self.arguments = dict(declare.get("arguments") or {})
        meta = conf.get("metadata") or {}
        self.excluded = tuple(str(p) for p in meta.get("exclude_prefixes") or ())
        self.max_in_flight = int(conf.get("max_in_flight") or 64)
        self.persistent = bool(conf.get("persistent"))
        self.mandatory = bool(conf.get("mandatory"))
        self.write_timeout = parse_duration(conf.get("write_timeout") or "10s")
        timeout = str(conf.get("timeout") or "")
        self.publish_timeout = parse_duration(timeout) if timeout else self.write_timeout
        self._channel: Any = None
        self._exchanges: dict[str, Any] = {}
        self._transient = transient_errors()
        self.client = AmqpClient(settings, kind="output", ctx=ctx, logger=log, setup=self._open)
        self.name = f"amqp_0_9 output {self.client.link.label}"

    # -- on the loop -------------------------------------------------------------------------

    async def _open(self, connection: Any) -> None:
        channel = await connection.channel(publisher_confirms=True)
        channel.close_callbacks.add(lambda *_: self.client.lose())
        self._exchanges = {}
        if self.declare:
            name = self.exchange.render(Message(b""))
            self._exchanges[name] = await channel.declare_exchange(
                name,
                self.exchange_type,
                durable=self.durable,
                arguments=self.arguments or None,
            )
        self._channel = channel

    async def _exchange(self, name: str) -> Any:
        exchange = self._exchanges.get(name)
        if exchange is None:
            channel = self._channel
            exchange = (
                channel.default_exchange
                if name == ""
                else await channel.get_exchange(name, ensure=False)
            )
            self._exchanges[name] = exchange
        return exchange

    async def _publish_all(
        self, items: list[tuple[Message, str, str, Any]], deadline: float
    ) -> list[str | None]:
        from pamqp.commands import Basic

        limit = asyncio.Semaphore(self.max_in_flight)
        link = self.client.link

        async def publish(i: int) -> BaseException | str | None:
            _, exchange_name, key, message = items[i]
            async with limit:
                try:
                    exchange = await self._exchange(exchange_name)
                    timeout = max(min(deadline - time.monotonic(), self.publish_timeout), 0.5)
                    confirm = await exchange.publish(
                        message, key, mandatory=self.mandatory, timeout=timeout
                    )
                except Exception as exc:  # noqa: BLE001 - sorted out by retry_each
                    return exc
            if isinstance(confirm, Basic.Ack) or confirm is None:
                return None
            if isinstance(confirm, Basic.Nack):
                return "the broker refused the message (nack)"
            return "no queue took the message (returned as unroutable)"

        async def ready() -> str | None:
            if await self.client.wait_ready(deadline - time.monotonic()):
                return None
            return f"not connected to {link.peer} ({link.last_error or 'not connected'})"

        return await link.retry_each(
            len(items),
            publish,
            transient=self._transient,
            describe=describe_error,
            deadline=deadline,
            ready=ready,
            lost=self.client.lose,
        )

    # -- the worker --------------------------------------------------------------------------

    def _prepare(self, msg: Message, batch: list[Message], i: int) -> tuple[str, str, Any]:
        import aio_pika

        exchange = self.exchange.render(msg, batch, i)
        key = self.key.render(msg, batch, i)
        excluded = self.excluded
        headers = {
            k: _header(v)
            for k, v in msg.metadata.items()
            if not (excluded and k.startswith(excluded))
        }
        props: dict[str, Any] = {}
        for name, value in self.properties.items():
            text = value.render(msg, batch, i)
            if not text:
                continue
            if name == "priority":
                priority = int(text)
                if not 0 <= priority <= 255:
                    raise ValueError(f"priority {priority} is not between 0 and 255")
                props["priority"] = priority
            elif name == "expiration":
                props["expiration"] = int(text) / 1000.0
            else:
                props[name] = text
        message = aio_pika.Message(
            msg.payload,
            headers=headers or None,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT if self.persistent else None,
            **props,
        )
        return exchange, key, message

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        items = [
            (m, *made)
            for m, made in prepare_each(
                self.name, batch, lambda m, i: self._prepare(m, batch, i), failed
            )
        ]
        if not items:
            return failed
        deadline = time.monotonic() + self.write_timeout
        try:
            results = self.client.loop.run(
                self._publish_all(items, deadline), self.write_timeout + 10.0
            )
        except Exception as exc:  # noqa: BLE001 - the loop is gone (closing)
            results = [describe_error(exc)] * len(items)
        return fail_each(self.name, (m for m, _, _, _ in items), results, failed)

    def close(self) -> None:
        self.client.close()
