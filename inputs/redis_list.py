"""`redis_list` input: pops messages from a Redis list (BLPOP or BRPOP), as Benthos does.

A pop removes the element from Redis, so what the output fails is replayed from memory
(`auto_replay_nacks`); elements popped but not yet written are lost if the process dies.
`max_in_flight` caps the messages popped and not yet written.
"""

from __future__ import annotations

import logging
from typing import Any

from streamforge.connectors.redis import RedisSettings, RedisThreadReader, connection_fields
from streamforge.durations import parse_duration
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["RedisListInput"]

log = logging.getLogger("streamforge.inputs.redis_list")

register_feature("input", "redis_list", "bindings", "redis")


class _Popped:
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def message(self) -> Message:
        return Message(self.payload)


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
        Field(
            "auto_replay_nacks",
            "bool",
            default=True,
            description=(
                "Replay messages the output failed to write (with backoff) until they are "
                "written. With false they are dropped, with a warning."
            ),
        ),
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
class RedisListInput(Input):
    """Pops messages from a Redis list."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = _check(conf)
        self.key = str(conf["key"])
        self.command = str(conf.get("command") or "blpop")
        self.max_in_flight = int(conf.get("max_in_flight") or 0)
        self.timeout = parse_duration(conf.get("timeout") or "5s")
        self.replay_nacks = bool(conf.get("auto_replay_nacks", True))
        self.ctx = ctx

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        reader = _ListReader(self)
        reader.start()
        return reader


class _ListReader(RedisThreadReader):
    def __init__(self, source: RedisListInput) -> None:
        super().__init__(
            source.settings,
            component="input",
            ctx=source.ctx,
            logger=log,
            replay_nacks=source.replay_nacks,
        )
        self.source = source
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
        self.put([_Popped(bytes(v)) for v in values])
