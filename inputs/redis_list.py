"""`redis_list` input: pops messages from a Redis list (BLPOP or BRPOP), as Benthos does.

A pop removes the element from Redis, so what the output fails is replayed from memory
(`auto_replay_nacks`); elements popped but not yet written are lost if the process dies.
`max_in_flight` caps the messages popped and not yet written.
"""

from __future__ import annotations

import logging
from typing import Any

from streamforge.connectors.acked_reader import Payload, replay_nacks_field
from streamforge.connectors.redis import RedisSettings, connection_fields
from streamforge.connectors.redis_components import RedisInput, RedisInputReader
from streamforge.durations import parse_duration
from streamforge.license.catalog import register_feature
from streamforge.plugin import BuildContext, Field, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["RedisListInput"]

log = logging.getLogger("streamforge.inputs.redis_list")

register_feature("input", "redis_list", "bindings", "redis")


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisSettings:
    if not str(conf.get("key") or ""):
        raise ValueError("key: the list to pop from is required")
    if str(conf.get("command") or "blpop") not in ("blpop", "brpop"):
        raise ValueError("command: must be blpop or brpop")
    if parse_duration(conf.get("timeout") or "5s") < 0:
        raise ValueError("timeout: must not be negative")
    return RedisSettings.from_conf(conf)


@register_input(
    "redis_list",
    fields=[
        *connection_fields(),
        Field("key", "string", description="The list to pop messages from.", examples=("queue",)),
        replay_nacks_field(),
        Field(
            "max_in_flight",
            "int",
            default=0,
            description=(
                "Most messages popped and not yet written at a time; 0 or less: no limit."
            ),
        ),
        Field(
            "timeout",
            "duration",
            default="5s",
            description="How long one blocking pop waits for an element before trying again.",
            advanced=True,
        ),
        Field(
            "command",
            "string",
            default="blpop",
            options=("blpop", "brpop"),
            description="Pop from the head (blpop) or the tail (brpop) of the list.",
            advanced=True,
        ),
    ],
    summary="Pops messages from a Redis list.",
    description=(
        "Each element becomes one message. Popping removes it from Redis: a message the output "
        "fails is replayed from memory, and what is popped but not yet written is lost if the "
        "process is killed."
    ),
    examples=("redis_list:\n  url: redis://localhost:6379\n  key: plant-events",),
)
@offline_check(_check)
class RedisListInput(RedisInput):
    """Pops messages from a Redis list."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        super().__init__(_check(conf), conf, ctx)
        self.key = str(conf["key"])
        self.command = str(conf.get("command") or "blpop")
        self.max_in_flight = int(conf.get("max_in_flight") or 0)
        self.timeout = parse_duration(conf.get("timeout") or "5s")


class _ListReader(RedisInputReader):
    logger = log

    def __init__(self, source: RedisListInput) -> None:
        super().__init__(source)
        self.source: RedisListInput = source
        self.block_seconds = min(source.timeout, 1.0) if source.timeout > 0 else 1.0

    def poll(self, client: Any) -> None:
        src = self.source
        room = self.read_batch
        if src.max_in_flight > 0:
            room = min(room, src.max_in_flight - self.outstanding())
            if room <= 0:
                self._halt.wait(0.01)
                return
        left = src.command == "blpop"
        popped = (client.blpop if left else client.brpop)([src.key], timeout=self.block_seconds)
        if popped is None:
            return
        values = [popped[1]]
        if room > 1:
            more = (client.lpop if left else client.rpop)(src.key, room - 1)
            if more:
                values.extend(more)
        self.put([Payload(bytes(v)) for v in values])


RedisListInput.reader = _ListReader
