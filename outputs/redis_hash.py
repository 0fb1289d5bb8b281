"""`redis_hash` output: sets fields of a Redis hash per message (HSET), as Benthos.

The fields come, in this order (later ones win): the message's metadata (`walk_metadata`),
the top-level fields of its JSON object (`walk_json_object`), then `fields`, each value
interpolated per message.
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
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, register_output
from streamforge.plugin.spec import offline_check

__all__ = ["RedisHashOutput"]

log = logging.getLogger("streamforge.outputs.redis_hash")

register_feature("output", "redis_hash", "bindings", "redis")


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisSettings:
    require(conf, "key", "hash to set")
    fields = conf.get("fields") or {}
    if not isinstance(fields, dict):
        raise ValueError("fields: must be a map of field names to (interpolated) values")
    if not (fields or conf.get("walk_metadata") or conf.get("walk_json_object")):
        raise ValueError("fields: set at least one field, or walk_metadata or walk_json_object")
    return output_settings(conf)


@register_output(
    "redis_hash",
    fields=output_fields(
        [
            target_field("key", "hash to set", ("asset-${! @asset_id }", '${! json("id") }')),
            Field(
                "walk_metadata",
                "bool",
                default=False,
                description="Set every metadata key of the message as a field.",
            ),
            Field(
                "walk_json_object",
                "bool",
                default=False,
                description="Set every top-level field of the message's JSON object as a field.",
            ),
            Field(
                "fields",
                "map",
                default={},
                description="Fields to set, each value interpolated per message.",
                examples=({"temperature": '${! json("temp") }', "seen": "${! now() }"},),
            ),
        ],
        batching=False,
    ),
    summary="Sets fields of a Redis hash per message (HSET).",
    examples=(
        "redis_hash:\n  url: redis://localhost:6379\n  key: asset-${! @asset_id }\n"
        "  walk_json_object: true",
    ),
)
@offline_check(_check)
class RedisHashOutput(RedisOutput):
    """Sets fields of a Redis hash per message."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        _check(conf)
        super().__init__(conf, ctx, log, "redis_hash output")
        self.key = InterpolatedString(str(conf["key"]))
        self.walk_metadata = bool(conf.get("walk_metadata"))
        self.walk_json = bool(conf.get("walk_json_object"))
        self.fields = {
            str(k): InterpolatedString(str(v)) for k, v in (conf.get("fields") or {}).items()
        }

    def command(self, msg: Message, batch: list[Message], index: int) -> Command:
        key = self.key.render(msg, batch, index)
        if not key:
            raise ValueError("key: the interpolated key is empty")
        mapping: dict[str, Any] = {}
        if self.walk_metadata:
            mapping.update((k, metadata_value(v)) for k, v in msg.metadata.items())
        if self.walk_json:
            try:
                doc = msg.value
            except PayloadError as exc:
                raise ValueError(f"walk_json_object: the payload is not JSON ({exc})") from exc
            if not isinstance(doc, dict):
                raise ValueError("walk_json_object: the payload is not a JSON object")
            mapping.update((str(k), metadata_value(v)) for k, v in doc.items())
        for name, value in self.fields.items():
            mapping[name] = value.render(msg, batch, index)
        if not mapping:
            raise ValueError("no fields to set")
        return lambda pipe: pipe.hset(key, mapping=mapping)
