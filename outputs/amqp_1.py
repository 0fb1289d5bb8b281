"""`amqp_1` output: sends each message to an AMQP 1.0 target (a queue of RabbitMQ's AMQP 1.0
plugin, ActiveMQ Artemis, Azure Service Bus ...), as Benthos does.

Messages are sent unsettled: one counts as written once the broker accepted it (RabbitMQ
accepts after it took responsibility: on disk for a persistent message in a durable queue).
Up to `max_in_flight` wait for the broker's outcome at a time. While the broker is away the
output connects again and sends the batch's unaccepted messages again with backoff, up to
`write_timeout`; a message the broker rejects fails at once. Metadata goes as message
annotations, but for keys starting with an excluded prefix.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import time
import uuid
from collections import deque
from functools import partial
from typing import Any, cast

import orjson

from streamforge.connectors.amqp1 import (
    Amqp1Client,
    Amqp1Settings,
    Capabilities,
    ConnectionLost,
    amqp1_tls_field,
    capabilities_field,
    connection_fields,
    sasl_field,
    wait_all,
)
from streamforge.connectors.peer import fail_each, prepare_each, write_timeout_field
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.connection import Backoff
from streamforge.plugin.spec import offline_check

__all__ = ["Amqp1Output"]

log = logging.getLogger("streamforge.outputs.amqp_1")

register_feature("output", "amqp_1", "bindings", "amqp")

CONTENT_TYPES = ("opaque_binary", "string")
#: the interpolated message properties, by the suffix of their `message_properties_` field
PROPERTIES = (
    "to",
    "message_id",
    "correlation_id",
    "subject",
    "reply_to",
    "group_id",
    "group_sequence",
    "reply_to_group_id",
    "user_id",
    "content_type",
    "content_encoding",
)
_PROPERTY_DOCS = {
    "to": "The node the message is meant for (with an empty `target_address`, where it goes).",
    "message_id": "The message-id: a UUID, a number (sent as ulong) or a string.",
    "correlation_id": "The correlation-id: a UUID, a number (sent as ulong) or a string.",
    "subject": "The subject property.",
    "reply_to": "The reply-to property.",
    "group_id": "The group-id property.",
    "group_sequence": "The group-sequence property (an unsigned 32-bit number).",
    "reply_to_group_id": "The reply-to-group-id property.",
    "user_id": "The user-id property (RabbitMQ checks it is the logged-in user).",
    "content_type": "The content-type property, e.g. `application/json`.",
    "content_encoding": "The content-encoding property.",
}


def _scalar(value: Any) -> Any:
    """An application property or annotation value: AMQP simple types as they are, anything
    else as JSON text."""
    if value is None or isinstance(value, (str, bool, float, bytes)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    return orjson.dumps(value, default=str).decode()


def _amqp_id(text: str) -> Any:
    """A message-id or correlation-id: a UUID, an unsigned number, else the string."""
    from proton import ulong

    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    if text.isdigit() and int(text) < 2**64:
        return ulong(int(text))
    return text


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> Amqp1Settings:
    kind = str(conf.get("content_type") or "opaque_binary")
    if kind not in CONTENT_TYPES:
        raise ValueError(f"content_type: {kind!r} is not one of {', '.join(CONTENT_TYPES)}")
    if not str(conf.get("target_address") or "") and not str(
        conf.get("message_properties_to") or ""
    ):
        raise ValueError(
            "target_address: with an empty target address, message_properties_to must name "
            "each message's destination"
        )
    if int(conf.get("max_in_flight", 64)) < 1:
        raise ValueError("max_in_flight: must be at least 1")
    text = str(conf.get("write_timeout") or "")
    if text and parse_duration(text) <= 0:
        raise ValueError("write_timeout: must be positive")
    mapping = str(conf.get("application_properties_map") or "").strip()
    if mapping:
        from streamforge.bloblang import parse

        try:
            parse(mapping)
        except Exception as exc:  # noqa: BLE001 - a parse error, worded by the parser
            raise ValueError(f"application_properties_map: {exc}") from None
    return Amqp1Settings.from_conf(conf)


def _property_field(name: str) -> Field:
    return Field(
        f"message_properties_{name}",
        "string",
        default="",
        interpolable=True,
        description=_PROPERTY_DOCS[name] + " Interpolated per message; empty: not set.",
        advanced=True,
    )


@register_output(
    "amqp_1",
    fields=[
        *connection_fields(),
        Field(
            "target_address",
            "string",
            default="",
            description="The address to send to (RabbitMQ 3: `/amq/queue/<name>` for an "
            "existing queue, `/exchange/<name>/<key>` for an exchange). Empty: each message "
            "goes where its `message_properties_to` says (the anonymous terminus).",
            examples=("/foo", "queue:/bar", "/amq/queue/telemetry"),
        ),
        Field(
            "max_in_flight",
            "int",
            default=64,
            description="Most messages waiting for the broker's outcome at a time.",
        ),
        amqp1_tls_field(),
        Field(
            "application_properties_map",
            "mapping",
            default="",
            description="A Bloblang mapping whose result object becomes the message's "
            "application properties.",
            examples=("root.site = @site\nroot.line = this.line",),
            advanced=True,
        ),
        sasl_field(),
        Field(
            "metadata",
            "object",
            default={"exclude_prefixes": []},
            description="Which metadata becomes message annotations: all but excluded prefixes.",
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
        Field(
            "content_type",
            "string",
            default="opaque_binary",
            options=CONTENT_TYPES,
            description="How the payload is sent: `opaque_binary` as a data section, "
            "`string` as an AMQP string value (UTF-8 text such as JSON).",
            advanced=True,
        ),
        Field(
            "persistent",
            "bool",
            default=False,
            description="Mark messages durable: a broker keeps them across restarts.",
            advanced=True,
        ),
        capabilities_field("target_capabilities", "sender"),
        *(_property_field(name) for name in PROPERTIES),
        write_timeout_field("broker"),
    ],
    summary="Sends messages to an AMQP 1.0 target; written once the broker accepted them.",
    examples=(
        "amqp_1:\n  urls: [ amqp://guest:guest@localhost:5672/ ]\n"
        "  target_address: /amq/queue/telemetry\n  persistent: true\n"
        "  message_properties_content_type: application/json\n"
        "  application_properties_map: |\n    root.site = @site",
    ),
)
@offline_check(_check)
class Amqp1Output(Output):
    """Sends messages to an AMQP 1.0 target."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        settings = _check(conf)
        self.target_address = str(conf.get("target_address") or "")
        self.max_in_flight = int(conf.get("max_in_flight", 64))
        self.string_body = str(conf.get("content_type") or "opaque_binary") == "string"
        self.persistent = bool(conf.get("persistent"))
        self.capabilities = [str(c) for c in conf.get("target_capabilities") or []]
        meta = conf.get("metadata") or {}
        self.excluded = tuple(str(p) for p in meta.get("exclude_prefixes") or ())
        self.properties = {
            name: InterpolatedString(str(conf.get(f"message_properties_{name}") or ""))
            for name in PROPERTIES
            if str(conf.get(f"message_properties_{name}") or "")
        }
        mapping = str(conf.get("application_properties_map") or "").strip()
        self.app_properties: Any = None
        if mapping:
            from streamforge.bloblang import parse

            self.app_properties = parse(mapping)
        self.write_timeout = parse_duration(conf.get("write_timeout") or "10s")
        # on the reactor thread
        self.sender: Any = None
        self._outbox: deque[tuple[Any, concurrent.futures.Future[Any]]] = deque()
        self._unsettled: dict[Any, concurrent.futures.Future[Any]] = {}
        self.client = Amqp1Client(settings, kind="output", ctx=ctx, logger=log, handler=self)
        self.name = f"amqp_1 output {self.client.link.label}"

    # -- on the reactor thread ---------------------------------------------------------------

    def attach(self, connection: Any) -> None:
        from proton.reactor import AtLeastOnce

        options: list[Any] = [AtLeastOnce()]
        if self.capabilities:
            options.append(Capabilities(self.capabilities))
        self.sender = self.client.container.create_sender(
            connection, self.target_address or None, options=options
        )

    def link_opened(self, link: Any) -> None:
        if self.sender is not None and link == self.sender:
            self.client.opened()
            self.sendable()

    def received(self, delivery: Any, message: Any, generation: int) -> None:
        pass

    def sendable(self) -> None:
        sender = self.sender
        if sender is None:
            return
        while self._outbox and sender.credit > 0 and len(self._unsettled) < self.max_in_flight:
            message, future = self._outbox.popleft()
            if future.done():
                continue  # given up on by the worker
            delivery = sender.send(message)
            self._unsettled[delivery] = future

    def outcome(self, delivery: Any, result: Any) -> None:
        future = self._unsettled.pop(delivery, None)
        if future is not None:
            _resolve(future, result)
        self.sendable()

    def on_lost(self) -> None:
        self.sender = None
        lost = ConnectionLost("the connection to the broker was lost")
        for future in self._unsettled.values():
            _resolve(future, lost)
        for _, future in self._outbox:
            _resolve(future, lost)
        self._unsettled.clear()
        self._outbox.clear()

    def _submit(self, messages: list[Any]) -> list[concurrent.futures.Future[Any]]:
        futures: list[concurrent.futures.Future[Any]] = []
        for message in messages:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            if self.sender is None:
                future.set_result(ConnectionLost("not connected"))
            else:
                self._outbox.append((message, future))
            futures.append(future)
        self.sendable()
        return futures

    # -- the worker --------------------------------------------------------------------------

    def _prepare(self, msg: Message, batch: list[Message], i: int) -> Any:
        from proton import Message as AmqpMessage
        from proton import symbol

        out = AmqpMessage()
        if self.string_body:
            try:
                out.body = msg.payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("content_type string needs a UTF-8 payload") from None
        else:
            out.body = bytes(msg.payload)
            out.inferred = True
        if self.persistent:
            out.durable = True
        for name, value in self.properties.items():
            text = value.render(msg, batch, i)
            if text:
                _set_property(out, name, text)
        if self.app_properties is not None:
            res = self.app_properties.apply_message(msg, batch, i, mutate=False)
            props = res.value if res is not None and res.has_value else None
            if props is not None:
                if not isinstance(props, dict):
                    kind = type(props).__name__
                    raise ValueError(f"application_properties_map gave {kind}, not an object")
                out.properties = cast(Any, {str(k): _scalar(v) for k, v in props.items()})
        excluded = self.excluded
        annotations: dict[Any, Any] = {
            symbol(k): _scalar(v)
            for k, v in msg.metadata.items()
            if not (excluded and k.startswith(excluded))
        }
        if annotations:
            out.annotations = annotations
        return out

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        items = prepare_each(self.name, batch, lambda m, i: self._prepare(m, batch, i), failed)
        if not items:
            return failed
        results = self._send(items)
        return fail_each(self.name, (m for m, _ in items), results, failed)

    def _send(self, items: list[tuple[Message, Any]]) -> list[str | None]:
        """Send until each message is accepted, refused, or `write_timeout` passed."""
        deadline = time.monotonic() + self.write_timeout
        link = self.client.link
        results: list[str | None] = [None] * len(items)
        todo = list(range(len(items)))
        backoff = Backoff(initial=0.1, maximum=2.0)
        while todo:
            if not self.client.wait_ready(deadline - time.monotonic()):
                why = f"not connected to {link.peer} ({link.last_error or 'not connected'})"
                for i in todo:
                    results[i] = why
                break
            messages = [items[i][1] for i in todo]
            try:
                futures = self.client.run(partial(self._submit, messages), 10.0)
            except Exception as exc:  # noqa: BLE001 - the client is closing
                for i in todo:
                    results[i] = f"not sent: {exc or type(exc).__name__}"
                break
            outcomes = wait_all(futures, deadline)
            for future in futures:
                future.cancel()
            again = []
            for i, outcome in zip(todo, outcomes):
                if outcome is None or isinstance(outcome, str):
                    results[i] = outcome
                else:
                    results[i] = str(outcome) or type(outcome).__name__
                    if isinstance(outcome, (ConnectionLost, TimeoutError)):
                        again.append(i)
            if again:
                delay = backoff.next_delay()
                if time.monotonic() + delay > deadline:
                    break
                time.sleep(delay)
            todo = again
        return results

    def close(self) -> None:
        self.client.close()


def _resolve(future: concurrent.futures.Future[Any], result: Any) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # the worker gave up
        future.set_result(result)


def _set_property(out: Any, name: str, text: str) -> None:
    from proton import symbol

    if name == "to":
        out.address = text
    elif name == "message_id":
        out.id = _amqp_id(text)
    elif name == "correlation_id":
        out.correlation_id = _amqp_id(text)
    elif name == "group_sequence":
        number = int(text)
        if not 0 <= number < 2**32:
            raise ValueError(f"message_properties_group_sequence {text!r} is not a uint32")
        out.group_sequence = number
    elif name == "user_id":
        out.user_id = text.encode("utf-8")
    elif name in ("content_type", "content_encoding"):
        setattr(out, name, symbol(text))
    else:
        setattr(out, name, text)
