"""`mapping` processor: a Bloblang mapping builds a new document from each message."""

from __future__ import annotations

from typing import Any

from streamforge.bloblang.error_calls import asks_about_errors
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor

__all__ = ["MAPPING_CONFIG", "MappingProcessor"]


MAPPING_CONFIG = Field(
    "mapping",
    "mapping",
    description="A Bloblang mapping; `root` is the new document, `this` the incoming one.",
    examples=("root.id = this.id\nroot.value = this.value * 2", "root = deleted()"),
)


@register_processor(
    "mapping",
    config=MAPPING_CONFIG,
    summary="Builds a new document for each message with a Bloblang mapping.",
    description=(
        "The mapping starts from an empty document and a copy of the input metadata. "
        "`root = deleted()` drops the message; a failing mapping flags the message with "
        "the error and passes it on unchanged. Messages that failed earlier skip the "
        "mapping unless it calls `errored()` or `error()` (e.g. "
        "`root = if errored() { deleted() }` drops failed messages)."
    ),
    examples=("mapping: |\n  root.asset = this.id.uppercase()\n  root.value = this.v * 2",),
)
class MappingProcessor(Processor):
    """Builds a new document for each message with a Bloblang mapping."""

    mutate = False

    def __init__(self, conf: str, ctx: BuildContext | None = None) -> None:
        from streamforge.bloblang import parse

        self.executor: Any = parse(str(conf))
        self.handles_errors = asks_about_errors(str(conf))
        self.batch_aware = bool(getattr(self.executor, "batch_aware", False))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return self.executor.map_batch(batch, mutate=self.mutate)  # type: ignore[no-any-return]
