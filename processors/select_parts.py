"""`select_parts` processor: keeps the messages of a batch at the listed indexes, as Benthos.

Indexes count from 0; negative ones count from the end (-1 is the last message). The new
batch holds the selected messages in the order listed, an index listed twice gives two
copies, and an index past either end selects nothing. With no indexes every message stays.
"""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor

__all__ = ["SelectPartsProcessor"]


@register_processor(
    "select_parts",
    fields=[
        Field(
            "parts",
            "array",
            default=[],
            item=Field("index", "int"),
            description="The indexes of the messages to keep; negative from the end. Empty "
            "keeps the batch as it is.",
            examples=([0], [0, -1]),
        ),
    ],
    summary="Keeps the messages of a batch at the listed indexes (negative: from the end).",
    examples=("select_parts:\n  parts: [ 0, -1 ]",),
)
class SelectPartsProcessor(Processor):
    """Keeps the messages of a batch at the listed indexes."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.parts = [int(i) for i in conf.get("parts") or []]

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if not self.parts or not batch:
            return batch
        size = len(batch)
        picked: list[Message] = []
        seen: set[int] = set()
        for index in self.parts:
            at = index + size if index < 0 else index
            if 0 <= at < size:
                msg = batch[at]
                picked.append(msg.copy() if at in seen else msg)
                seen.add(at)
        return picked
