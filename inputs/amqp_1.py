"""`amqp_1` input: receives messages from an AMQP 1.0 source (a queue of RabbitMQ's AMQP 1.0
plugin, ActiveMQ Artemis, Azure Service Bus ...), as Benthos does.

A delivery is settled only after the output wrote its message: accepted once written, and
modified as failed (so the broker delivers it again) when writing failed. The broker sends at
most `credit` deliveries that are not settled yet; each settlement grants credit for one
more. After a lost connection the input connects and attaches again; the broker delivers
again what was not settled on the old connection.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import orjson

from streamforge.connectors.acked_reader import AckedReader
from streamforge.connectors.amqp1 import (
    Amqp1Client,
    Amqp1Settings,
    Capabilities,
    amqp1_tls_field,
    capabilities_field,
    connection_fields,
    refuses_modified,
    sasl_field,
)
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["Amqp1Input"]

log = logging.getLogger("streamforge.inputs.amqp_1")

register_feature("input", "amqp_1", "bindings", "amqp")


def _plain(value: Any) -> Any:
    """A Proton value as a plain Python value (symbols as str, ulong as int ...)."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None:
        return None
    return str(value)


def payload_of(body: Any) -> bytes:
    """The message payload: a data section's bytes, a string value's UTF-8, any other AMQP
    value as JSON."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return orjson.dumps(_plain(body))


def _symbol(value: Any) -> str | None:
    """A symbol property; Proton reads an absent one as the text 'None'."""
    text = str(value) if value is not None else ""
    return None if text in ("", "None") else text


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata_of(message: Any, read_header: bool) -> dict[str, Any]:
    """Application properties, message annotations (`-` in names becomes `_`), then the
    `amqp_*` properties (and header fields, with `read_header`)."""
    meta: dict[str, Any] = {}
    for key, value in (message.properties or {}).items():
        if value is not None:
            meta[str(key)] = _plain(value)
    for key, value in (message.annotations or {}).items():
        if isinstance(key, str) and value is not None and not isinstance(value, (dict, list)):
            meta[str(key).replace("-", "_")] = _plain(value)
    props = {
        "amqp_content_type": _symbol(message.content_type),
        "amqp_content_encoding": _symbol(message.content_encoding),
        "amqp_message_id": message.id,
        "amqp_correlation_id": message.correlation_id,
        "amqp_subject": message.subject,
        "amqp_to": message.address,
        "amqp_reply_to": message.reply_to,
        "amqp_group_id": message.group_id,
        "amqp_reply_to_group_id": message.reply_to_group_id,
        "amqp_user_id": message.user_id,
    }
    for key, value in props.items():
        if value is not None and value != "" and value != b"":
            meta[key] = _plain(value)
    if message.creation_time:
        meta["amqp_creation_time"] = _rfc3339(float(message.creation_time))
    if message.group_sequence:
        meta["amqp_group_sequence"] = int(message.group_sequence)
    if read_header:
        meta["amqp_durable"] = bool(message.durable)
        meta["amqp_priority"] = int(message.priority)
        if message.ttl:
            meta["amqp_ttl"] = round(float(message.ttl) * 1000)
        meta["amqp_first_acquirer"] = bool(message.first_acquirer)
        meta["amqp_delivery_count"] = int(message.delivery_count)
    return meta


class _Delivery:
    __slots__ = ("body", "delivery", "generation", "meta")

    def __init__(self, delivery: Any, body: bytes, meta: dict[str, Any], generation: int) -> None:
        self.delivery = delivery
        self.generation = generation
        self.body = body
        self.meta = meta

    def message(self) -> Message:
        return Message(self.body, dict(self.meta))


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> Amqp1Settings:
    if not str(conf.get("source_address") or ""):
        raise ValueError("source_address: the address to receive from is required")
    if int(conf.get("credit", 64)) < 1:
        raise ValueError("credit: must be at least 1")
    return Amqp1Settings.from_conf(conf)


@register_input(
    "amqp_1",
    fields=[
        *connection_fields(),
        Field(
            "source_address",
            "string",
            description="The address to receive from (RabbitMQ 3: `/amq/queue/<name>` for an "
            "existing queue, `/queue/<name>` declares a non-durable one).",
            examples=("/foo", "queue:/bar", "/amq/queue/telemetry"),
        ),
        Field(
            "azure_renew_lock",
            "bool",
            default=False,
            description="Accepted for Benthos compatibility; Azure Service Bus locks are not "
            "renewed (a message held longer than the lock may be delivered again).",
            advanced=True,
        ),
        Field(
            "read_header",
            "bool",
            default=False,
            description="Add the header fields as metadata: `amqp_durable`, `amqp_priority`, "
            "`amqp_ttl` (milliseconds), `amqp_first_acquirer`, `amqp_delivery_count`.",
            advanced=True,
        ),
        Field(
            "credit",
            "int",
            default=64,
            description="Most deliveries the broker sends that are not settled yet (the "
            "messages in flight through the stream).",
            advanced=True,
        ),
        amqp1_tls_field(),
        capabilities_field("source_capabilities", "receiver"),
        sasl_field(),
    ],
    summary="Receives messages from an AMQP 1.0 source; settles each after the write.",
    description=(
        "Metadata: `amqp_content_type`, `amqp_content_encoding`, `amqp_creation_time`, "
        "`amqp_message_id`, `amqp_correlation_id`, `amqp_subject`, `amqp_to`, "
        "`amqp_reply_to`, `amqp_group_id`, `amqp_group_sequence`, `amqp_reply_to_group_id`, "
        "`amqp_user_id`, the message annotations (`-` in names as `_`), the application "
        "properties, and with `read_header` the header fields."
    ),
    examples=(
        "amqp_1:\n  urls: [ amqp://guest:guest@localhost:5672/ ]\n"
        "  source_address: /amq/queue/telemetry\n  credit: 100",
    ),
)
@offline_check(_check)
class Amqp1Input(Input):
    """Receives messages from an AMQP 1.0 source."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = _check(conf)
        self.source_address = str(conf["source_address"])
        self.read_header = bool(conf.get("read_header"))
        self.credit = int(conf.get("credit", 64))
        self.capabilities = [str(c) for c in conf.get("source_capabilities") or []]
        self.ctx = ctx
        if conf.get("azure_renew_lock"):
            log.warning(
                "amqp_1 input: azure_renew_lock is not supported; messages held longer than "
                "the broker's lock may be delivered again"
            )

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        return _Amqp1Reader(self)


class _Amqp1Reader(AckedReader):
    peer_redelivers = True

    def __init__(self, source: Amqp1Input) -> None:
        self.source = source
        super().__init__("amqp_1 input", log)
        self.queue_limit = max(source.credit, 1)
        self.receiver: Any = None
        #: settle failed deliveries as released instead of modified (RabbitMQ 3)
        self.release_failed = False
        self.client = Amqp1Client(
            source.settings, kind="input", ctx=source.ctx, logger=log, handler=self
        )
        self.name = f"amqp_1 input {self.client.link.label}"

    # -- on the reactor thread ---------------------------------------------------------------

    def attach(self, connection: Any) -> None:
        from proton.reactor import AtLeastOnce

        options: list[Any] = [AtLeastOnce()]
        if self.source.capabilities:
            options.append(Capabilities(self.source.capabilities))
        self.receiver = self.client.container.create_receiver(
            connection, self.source.source_address, options=options
        )
        self.receiver.flow(self.source.credit)
        self.release_failed = refuses_modified(connection)

    def link_opened(self, link: Any) -> None:
        if self.receiver is not None and link == self.receiver:
            self.client.opened()

    def received(self, delivery: Any, message: Any, generation: int) -> None:
        record = _Delivery(
            delivery,
            payload_of(message.body),
            metadata_of(message, self.source.read_header),
            generation,
        )
        self.offer([record])

    def on_lost(self) -> None:
        self.receiver = None
        # deliveries of the lost connection come again from the broker: drop the queued ones
        self.drop_queued(lambda r: False)

    def sendable(self) -> None:
        pass

    def outcome(self, delivery: Any, result: Any) -> None:
        pass

    def _settle(self, records: list[Any], error: str | None) -> None:
        from proton import Delivery

        current = self.client.generation
        settled = 0
        for r in records:
            if r.generation != current or self.receiver is None:
                continue  # its connection is gone: the broker delivers it again
            delivery = r.delivery
            if error is None:
                delivery.update(Delivery.ACCEPTED)
            elif self.release_failed:
                delivery.update(Delivery.RELEASED)
            else:
                delivery.local.failed = True
                delivery.local.undeliverable = False
                delivery.update(Delivery.MODIFIED)
            delivery.settle()
            settled += 1
        if settled and self.receiver is not None:
            self.receiver.flow(settled)

    # -- the worker --------------------------------------------------------------------------

    def settle(self, records: list[Any], error: str | None) -> None:
        self.client.call(lambda: self._settle(records, error))

    def shutdown(self) -> None:
        self.client.close()
