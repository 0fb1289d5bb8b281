"""`for_each` processor: child processors run on each message as a batch of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.chain import ProcessorChain

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig

__all__ = ["ForEachProcessor"]


@register_processor(
    "for_each",
    config=Field(
        "for_each",
        "array",
        item=Field("processor", "processor"),
        description="Processors run on each message as a batch of one.",
    ),
    summary="Runs processors on each message of a batch as though it were a batch of its own.",
    description=(
        "Makes batch-wide processors and functions (`archive`, `batch_size()`, `from_all()`) "
        "work on single messages. The results form one batch again, in order."
    ),
    examples=("for_each:\n  - mapping: 'root.size = batch_size()'",),
)
class ForEachProcessor(Processor):
    """Runs processors on each message of a batch as though it were a batch of its own."""

    def __init__(self, conf: list[ComponentConfig], ctx: BuildContext) -> None:
        self.chain = ProcessorChain(ctx.build_processors(list(conf or [])))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if len(batch) == 1:
            return list(self.chain.process_batch(batch))
        run = self.chain.process_batch
        return [out for m in batch for out in run([m])]

    def close(self) -> None:
        self.chain.close()
