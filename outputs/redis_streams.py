"""`redis_streams` output: appends each message to a Redis stream (XADD), as Benthos.

The payload goes under `body_key`; metadata becomes the entry's other fields (the body wins a
clash), except keys starting with an excluded prefix. `max_length` caps the stream
(approximately, as Redis trims whole macro nodes). A message counts as written once the
server answered its XADD.
"""

from __future__ import annotations

import logging
from typing import Any

from streamforge.connectors.redis import Command, RedisOutput, RedisSettings
from streamforge.connectors.redis_components import (
    metadata_value,
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

__all__ = ["RedisStreamsOutput", "metadata_value"]

log = logging.getLogger("streamforge.outputs.redis_streams")

register_feature("output", "redis_streams", "bindings", "redis")


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisSettings:
    require(conf, "stream", "stream to append to")
    if not str(conf.get("body_key", "body") or ""):
        raise ValueError("body_key: the field to hold the payload is required")
    if int(conf.get("max_length") or 0) < 0:
        raise ValueError("max_length: must not be negative")
    return output_settings(conf)


class RedisStreamsOutput(RedisOutput):
    """Appends each message to a Redis stream."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        _check(conf)
        super().__init__(conf, ctx, log, "redis_streams output")
        self.stream = InterpolatedString(str(conf["stream"]))
        self.body_key = str(conf.get("body_key") or "body")
        self.max_length = int(conf.get("max_length") or 0)
        meta = conf.get("metadata") or {}
        self.excluded = tuple(str(p) for p in meta.get("exclude_prefixes") or ())

    def command(self, msg: Message, batch: list[Message], index: int) -> Command:
        stream = self.stream.render(msg, batch, index)
        if not stream:
            raise ValueError("stream: the interpolated stream is empty")
        excluded = self.excluded
        fields: dict[Any, Any] = {
            k: metadata_value(v)
            for k, v in msg.metadata.items()
            if not (excluded and k.startswith(excluded))
        }
        fields[self.body_key] = msg.payload
        maxlen = self.max_length or None
        return lambda pipe: pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)


@register_output(
    "redis_streams",
    fields=output_fields(
        [
            target_field(
                "stream", "stream to append to", ("plant-events", "events-${! @asset_id }")
            ),
            Field(
                "body_key",
                "string",
                default="body",
                description="The entry field that holds the payload.",
            ),
            Field(
                "max_length",
                "int",
                default=0,
                description="Cap the stream at about this many entries; 0: no cap.",
            ),
        ],
        tail=(
            Field(
                "metadata",
                "object",
                default={"exclude_prefixes": []},
                description="Which metadata becomes entry fields: all but excluded prefixes.",
                fields=(
                    Field(
                        "exclude_prefixes",
                        "array",
                        default=[],
                        item=Field("prefix", "string"),
                        description="Metadata keys starting with one of these are not written.",
                    ),
                ),
            ),
        ),
    ),
    summary="Appends messages to a Redis stream (XADD).",
    examples=(
        "redis_streams:\n  url: redis://localhost:6379\n  stream: plant-events\n"
        "  body_key: body\n  max_length: 100000",
    ),
)
@offline_check(_check)
def redis_streams_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    return with_batching(RedisStreamsOutput(conf, ctx), conf.get("batching"), ctx)
