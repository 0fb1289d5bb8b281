"""`redis_pubsub` input: subscribes to Redis channels (or patterns), as Benthos does.

Pub/Sub keeps nothing: what is published while the input is away is not delivered. After a
lost connection the input subscribes again (with backoff). Messages the output fails are
replayed from memory (`auto_replay_nacks`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from streamforge.connectors.acked_reader import Payload, replay_nacks_field
from streamforge.connectors.redis import RedisSettings, connection_fields
from streamforge.connectors.redis_components import RedisInput, RedisInputReader
from streamforge.license.catalog import register_feature
from streamforge.plugin import BuildContext, Field, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["RedisPubsubInput"]

log = logging.getLogger("streamforge.inputs.redis_pubsub")

register_feature("input", "redis_pubsub", "bindings", "redis")


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisSettings:
    channels = [str(c) for c in conf.get("channels") or [] if str(c)]
    if not channels:
        raise ValueError("channels: at least one channel is required")
    return RedisSettings.from_conf(conf)


@register_input(
    "redis_pubsub",
    fields=[
        *connection_fields(),
        Field(
            "channels",
            "array",
            item=Field("channel", "string"),
            description="Channels (or, with `use_patterns`, glob patterns) to subscribe to.",
            examples=(["plant.events"], ["plant.*"]),
        ),
        Field(
            "use_patterns",
            "bool",
            default=False,
            description="Treat the channels as glob patterns (PSUBSCRIBE).",
        ),
        replay_nacks_field(),
    ],
    summary="Subscribes to Redis Pub/Sub channels.",
    description=(
        "At most once: Redis keeps no Pub/Sub messages, so what is published while the input "
        "is not subscribed is lost."
    ),
    examples=(
        "redis_pubsub:\n  url: redis://localhost:6379\n  channels: [ plant.* ]\n"
        "  use_patterns: true",
    ),
)
@offline_check(_check)
class RedisPubsubInput(RedisInput):
    """Subscribes to Redis Pub/Sub channels."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        super().__init__(_check(conf), conf, ctx)
        self.channels = [str(c) for c in conf["channels"] if str(c)]
        self.use_patterns = bool(conf.get("use_patterns", False))


class _PubsubReader(RedisInputReader):
    logger = log

    def __init__(self, source: RedisPubsubInput) -> None:
        super().__init__(source)
        self.source: RedisPubsubInput = source
        self._pubsub: Any = None

    def connected(self, client: Any) -> None:
        self._close_pubsub()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        if self.source.use_patterns:
            pubsub.psubscribe(*self.source.channels)
        else:
            pubsub.subscribe(*self.source.channels)
        self._pubsub = pubsub

    def poll(self, client: Any) -> None:
        pubsub = self._pubsub
        msg = pubsub.get_message(timeout=self.block_seconds)
        if msg is None:
            return
        records = [Payload(bytes(msg["data"]))]
        while len(records) < self.read_batch:
            more = pubsub.get_message(timeout=0.0)
            if more is None:
                break
            records.append(Payload(bytes(more["data"])))
        self.put(records)

    def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                self._pubsub.close()
            self._pubsub = None

    def finish(self, client: Any) -> None:
        self._close_pubsub()


RedisPubsubInput.reader = _PubsubReader
