"""Helpers for the acknowledgement tests: an input reader of numbered batches, and streams of
test components compiled and run to their end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bytewax.testing import run_main

from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.message import Message
from streamforge.plugin import InputReader


class NumberedReader(InputReader):
    """`batches` batches of `size` messages, numbered from 0 (`message` makes each), then ends."""

    def __init__(self, name: str, batches: int, size: int) -> None:
        self.name, self.batches, self.size, self.sent = name, batches, size, 0

    def message(self, n: int) -> Message:
        raise NotImplementedError

    def read(self) -> list[Message] | None:
        if self.sent >= self.batches:
            return None
        start = self.sent * self.size
        self.sent += 1
        return [self.message(n) for n in range(start, start + self.size)]


def stream_of(
    name: str,
    source: tuple[str, dict[str, Any]],
    processors: list[ComponentConfig],
    output: ComponentConfig,
) -> StreamConfig:
    """A stream `name` reading the input `source` (type, config) through `processors`."""
    loc = Location(f"{name}.yaml", 1, 1)
    return StreamConfig(
        name=name,
        path=Path(f"{name}.yaml"),
        input=ComponentConfig("input", source[0], source[1], "input", loc),
        processors=processors,
        output=output,
    )


def run_to_end(stream: StreamConfig) -> None:
    """Compile `stream` and run it until its input ends."""
    compiled = compile_streams([stream])
    try:
        run_main(compiled.flow)
    finally:
        compiled.close()
