"""`split` processor: breaks a batch into smaller batches, by count and by bytes."""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.batches import Batches

__all__ = ["SplitProcessor"]


@register_processor(
    "split",
    fields=[
        Field(
            "size",
            "int",
            default=1,
            description="The most messages in each resulting batch (0: no count limit).",
        ),
        Field(
            "byte_size",
            "int",
            default=0,
            description="The most payload bytes in each resulting batch (0: no byte limit); "
            "a message larger than this is a batch of its own.",
        ),
    ],
    summary="Breaks a batch into smaller batches of at most `size` messages or `byte_size` bytes.",
    description=(
        "Whichever limit is reached first ends a batch; what remains is a last, smaller "
        "batch. A batch of 95 messages with `size: 10` becomes nine batches of 10 and one of "
        "5. Processors after it run on each batch separately, and the input batch is "
        "acknowledged once all of them are written. To break one message into many, use "
        "`unarchive`."
    ),
    examples=("split:\n  size: 10", "split:\n  size: 0\n  byte_size: 1048576"),
)
class SplitProcessor(Processor):
    """Breaks a batch into smaller batches of at most `size` messages or `byte_size` bytes."""

    batch_aware = True
    #: moves messages without touching them, failed ones included
    handles_errors = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.size = int(conf.get("size", 1))
        self.byte_size = int(conf.get("byte_size", 0))
        if self.size < 0 or self.byte_size < 0:
            raise ValueError("size and byte_size must not be negative")
        if self.size == 0 and self.byte_size == 0:
            self.size = 1

    def process_batch(self, batch: list[Message]) -> list[Message]:
        size, byte_size = self.size, self.byte_size
        if byte_size == 0:
            if len(batch) <= size:
                return batch
            return Batches(batch[i : i + size] for i in range(0, len(batch), size))
        parts: list[list[Message]] = []
        current: list[Message] = []
        used = 0
        for m in batch:
            n = len(m.payload)
            if current and (used + n > byte_size or (size and len(current) >= size)):
                parts.append(current)
                current, used = [], 0
            current.append(m)
            used += n
        if current:
            parts.append(current)
        return batch if len(parts) <= 1 else Batches(parts)
