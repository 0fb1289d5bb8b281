"""What the Redis inputs and outputs share beyond the connection: the input's reader started on
open, the outputs' field layout and config checks, and metadata as Redis field values.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from streamforge.connectors.redis import (
    RedisSettings,
    RedisThreadReader,
    connection_fields,
    max_in_flight_field,
    write_timeout_field,
)
from streamforge.plugin import BuildContext, Field, Input, InputReader
from streamforge.plugin.batching import BatchPolicy, batching_field

__all__ = [
    "RedisInput",
    "RedisInputReader",
    "metadata_value",
    "output_fields",
    "output_settings",
    "require",
    "target_field",
]


class RedisInput(Input):
    """Base of the Redis inputs: the checked settings, `auto_replay_nacks`, and a reader of
    the class `reader` on its own thread, started on open."""

    reader: ClassVar[type[RedisInputReader]]

    def __init__(
        self, settings: RedisSettings, conf: dict[str, Any], ctx: BuildContext | None
    ) -> None:
        self.settings = settings
        self.replay_nacks = bool(conf.get("auto_replay_nacks", True))
        self.ctx = ctx

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        reader = self.reader(self)
        reader.start()
        return reader


class RedisInputReader(RedisThreadReader):
    """The reader of a `RedisInput`; `logger` is the component's."""

    logger: ClassVar[logging.Logger]

    def __init__(self, source: Any) -> None:
        super().__init__(
            source.settings,
            component="input",
            ctx=source.ctx,
            logger=self.logger,
            replay_nacks=source.replay_nacks,
        )
        self.source = source


def require(conf: dict[str, Any], name: str, what: str) -> None:
    """A required string field: `name: the <what> is required` when empty."""
    if not str(conf.get(name) or ""):
        raise ValueError(f"{name}: the {what} is required")


def output_settings(conf: dict[str, Any]) -> RedisSettings:
    """The checks every Redis output ends with: `batching`, then the connection."""
    BatchPolicy.from_conf(conf.get("batching"))
    return RedisSettings.from_conf(conf)


def target_field(name: str, what: str, examples: tuple[str, ...]) -> Field:
    """The key, channel or stream an output writes to, interpolated per message."""
    return Field(
        name,
        "string",
        interpolable=True,
        description=f"The {what}; interpolated per message.",
        examples=examples,
    )


def output_fields(
    head: list[Field],
    *,
    tail: tuple[Field, ...] = (),
    batching: bool = True,
    after_batching: tuple[Field, ...] = (),
) -> list[Field]:
    """A Redis output's fields in the order Benthos lists them: the connection, `head`,
    `max_in_flight`, `tail`, `batching`, `after_batching`, then `write_timeout`."""
    return [
        *connection_fields(),
        *head,
        max_in_flight_field(),
        *tail,
        *([batching_field()] if batching else []),
        *after_batching,
        write_timeout_field(),
    ]


def metadata_value(value: Any) -> bytes | str | int | float:
    """A metadata value as a Redis field value (structured values as JSON)."""
    if isinstance(value, (bytes, str)) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    ):
        return value
    import orjson

    return orjson.dumps(value)
