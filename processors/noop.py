"""`noop` processor: passes messages on unchanged."""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor

__all__ = ["NoopProcessor"]


@register_processor(
    "noop",
    config=Field("noop", "object", default={}, description="Takes no fields."),
    summary="Does nothing; messages pass on unchanged.",
    examples=("noop: {}",),
)
class NoopProcessor(Processor):
    """Does nothing; messages pass on unchanged."""

    def __init__(self, conf: Any = None, ctx: BuildContext | None = None) -> None:
        pass

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return batch
