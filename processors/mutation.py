"""`mutation` processor: a Bloblang mapping edits each message in place."""

from __future__ import annotations

from streamforge.plugin import Field, register_processor
from streamforge.processors.mapping import MappingProcessor

__all__ = ["MutationProcessor"]


@register_processor(
    "mutation",
    config=Field(
        "mutation",
        "mapping",
        description="A Bloblang mapping; `root` starts as the incoming document and is edited.",
        examples=("root.total = this.a + this.b", 'meta source = "plant-1"'),
    ),
    summary="Edits each message in place with a Bloblang mapping.",
    description=(
        "Unlike `mapping`, the document and metadata are modified where they are: fields "
        "not assigned are kept. `root = deleted()` drops the message; a failing mapping "
        "flags the message with the error."
    ),
    examples=("mutation: |\n  root.received_at = now()",),
)
class MutationProcessor(MappingProcessor):
    """Edits each message in place with a Bloblang mapping."""

    mutate = True
