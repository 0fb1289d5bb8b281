"""`redis_list` output: pushes each message onto a Redis list (RPUSH or LPUSH), as Benthos.

A batch is one pipeline; a message counts as written once the server answered its push.
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
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import with_batching
from streamforge.plugin.spec import offline_check

__all__ = ["RedisListOutput"]

log = logging.getLogger("streamforge.outputs.redis_list")

register_feature("output", "redis_list", "bindings", "redis")


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisSettings:
    require(conf, "key", "list to push to")
    if str(conf.get("command") or "rpush") not in ("rpush", "lpush"):
        raise ValueError("command: must be rpush or lpush")
    return output_settings(conf)


class RedisListOutput(RedisOutput):
    """Pushes each message onto a Redis list."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        _check(conf)
        super().__init__(conf, ctx, log, "redis_list output")
        self.key = InterpolatedString(str(conf["key"]))
        self.left = str(conf.get("command") or "rpush") == "lpush"

    def command(self, msg: Message, batch: list[Message], index: int) -> Command:
        key = self.key.render(msg, batch, index)
        if not key:
            raise ValueError("key: the interpolated key is empty")
        payload = msg.payload
        if self.left:
            return lambda pipe: pipe.lpush(key, payload)
        return lambda pipe: pipe.rpush(key, payload)


@register_output(
    "redis_list",
    fields=output_fields(
        [target_field("key", "list to push to", ("plant-events", "events-${! @asset_id }"))],
        after_batching=(
            Field(
                "command",
                "string",
                default="rpush",
                options=("rpush", "lpush"),
                description="Push onto the tail (rpush) or the head (lpush) of the list.",
                advanced=True,
            ),
        ),
    ),
    summary="Pushes messages onto a Redis list.",
    examples=("redis_list:\n  url: redis://localhost:6379\n  key: plant-events",),
)
@offline_check(_check)
def redis_list_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    return with_batching(RedisListOutput(conf, ctx), conf.get("batching"), ctx)
