"""An input over messages a benchmark built beforehand, so only the stream itself is timed."""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.plugin import Field, Input, InputReader, register_input

__all__ = ["register_prebuilt_input"]


class _PrebuiltReader(InputReader):
    def __init__(self, messages: list[Message], batch_size: int, start: int) -> None:
        self.messages = messages
        self.batch_size = batch_size
        self.pos = start

    def read(self) -> list[Message] | None:
        pos = self.pos
        if pos >= len(self.messages):
            return None
        self.pos = pos + self.batch_size
        return self.messages[pos : self.pos]

    def snapshot(self) -> int:
        return self.pos


def register_prebuilt_input(name: str, messages: list[Message]) -> None:
    """Register input `name`: the list `messages` (filled in later, in place), `batch_size`
    per batch, resumable by position."""

    @register_input(name, fields=[Field("batch_size", "int", default=1000)])
    class PrebuiltInput(Input):
        """Emits the benchmark's prebuilt messages, `batch_size` per batch."""

        def __init__(self, conf: dict[str, Any], ctx: Any) -> None:
            self.batch_size = int(conf["batch_size"])

        def open(self, partition: str, resume_state: Any | None) -> InputReader:
            return _PrebuiltReader(messages, self.batch_size, int(resume_state or 0))
