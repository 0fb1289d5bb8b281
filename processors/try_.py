"""`try` processor: runs processors in order; a message that fails skips the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.chain import ProcessorChain

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig

__all__ = ["TryProcessor"]


@register_processor(
    "try",
    config=Field(
        "try",
        "array",
        item=Field("processor", "processor"),
        description="Processors run in order; a message stops at the first one that fails it.",
    ),
    summary="Runs processors in order until one fails a message; that message skips the rest.",
    examples=(
        "try:\n  - mapping: root = this.payload.parse_json()\n"
        "  - mapping: root.total = this.a + this.b",
    ),
)
class TryProcessor(Processor):
    """Runs processors in order until one fails a message; that message skips the rest."""

    def __init__(self, conf: list[ComponentConfig], ctx: BuildContext) -> None:
        self.chain = ProcessorChain(ctx.build_processors(list(conf or [])))
        self.batch_aware = self.chain.batch_aware

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return self.chain.process_batch(batch)

    def close(self) -> None:
        self.chain.close()
