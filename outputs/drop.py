"""`drop` output: discards every message (benchmarks, and routing cases that keep nothing)."""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output

__all__ = ["DropOutput"]


@register_output(
    "drop",
    config=Field("drop", "object", default={}, description="Takes no fields."),
    summary="Drops every message it receives.",
    examples=("drop: {}",),
)
class DropOutput(Output):
    """Drops every message it receives."""

    def __init__(self, conf: Any = None, ctx: BuildContext | None = None) -> None:
        pass

    def write_batch(self, batch: list[Message]) -> list[Message]:
        return []
