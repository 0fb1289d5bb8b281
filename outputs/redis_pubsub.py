"""`redis_pubsub` output: publishes each message to a Redis channel (PUBLISH), as Benthos.

A message counts as written once the server answered its PUBLISH; Redis Pub/Sub keeps
nothing, so subscribers that are away miss it.
"""

from __future__ import annotations

import logging
from typing import Any

from streamforge.connectors.redis import Command, RedisOutput, RedisSettings
from streamforge.connectors.redis_components import (
    output_fields,
    output_settings,
    require,
    target_field,
)
from streamforge.interpolation import InterpolatedString
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Output, register_output
from streamforge.plugin.batching import with_batching
from streamforge.plugin.spec import offline_check

__all__ = ["RedisPubsubOutput"]

log = logging.getLogger("streamforge.outputs.redis_pubsub")

register_feature("output", "redis_pubsub", "bindings", "redis")


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisSettings:
    require(conf, "channel", "channel to publish to")
    return output_settings(conf)


class RedisPubsubOutput(RedisOutput):
    """Publishes each message to a Redis channel."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        _check(conf)
        super().__init__(conf, ctx, log, "redis_pubsub output")
        self.channel = InterpolatedString(str(conf["channel"]))

    def command(self, msg: Message, batch: list[Message], index: int) -> Command:
        channel = self.channel.render(msg, batch, index)
        if not channel:
            raise ValueError("channel: the interpolated channel is empty")
        payload = msg.payload
        return lambda pipe: pipe.publish(channel, payload)


@register_output(
    "redis_pubsub",
    fields=output_fields(
        [
            target_field(
                "channel", "channel to publish to", ("plant.events", "plant.${! @asset_id }")
            )
        ]
    ),
    summary="Publishes messages to a Redis Pub/Sub channel.",
    examples=("redis_pubsub:\n  url: redis://localhost:6379\n  channel: plant.events",),
)
@offline_check(_check)
def redis_pubsub_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    return with_batching(RedisPubsubOutput(conf, ctx), conf.get("batching"), ctx)
