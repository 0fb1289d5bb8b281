"""`catch` processor: runs processors only on messages flagged with an error, then clears it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.ordering import Keyed, in_order, key_results

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig

__all__ = ["CatchProcessor"]


@register_processor(
    "catch",
    config=Field(
        "catch",
        "array",
        item=Field("processor", "processor"),
        description="Processors run on failed messages; `error()` still returns the reason.",
    ),
    summary="Handles failed messages: runs processors on them, then clears their error flag.",
    description=(
        "Healthy messages pass by untouched. The child processors see the failed messages "
        "with their error still set (so `error()` and `${! error() }` work); afterwards "
        "the flag is cleared. An empty list simply clears the errors."
    ),
    examples=(
        "catch:\n  - log:\n      level: ERROR\n"
        '      message: "processing failed: ${! error() }"\n'
        "  - mapping: root = deleted()",
    ),
)
class CatchProcessor(Processor):
    """Handles failed messages: runs processors on them, then clears their error flag."""

    handles_errors = True

    def __init__(self, conf: list[ComponentConfig], ctx: BuildContext) -> None:
        self.processors = ctx.build_processors(list(conf or []))
        self.batch_aware = any(p.batch_aware for p in self.processors)

    def process_batch(self, batch: list[Message]) -> list[Message]:
        caught: list[Keyed] = []
        kept: list[Keyed] = []
        for i, m in enumerate(batch):
            (caught if m.error is not None else kept).append((float(i), m))
        if not caught:
            return batch
        msgs = [m for _, m in caught]
        for proc in self.processors:
            if not msgs:
                break
            try:
                msgs = proc.process_batch(msgs)
            except Exception as exc:  # noqa: BLE001 - a failing handler must not kill the flow
                reason = f"{type(proc).__name__}: {exc}"
                for m in msgs:
                    m.error = reason
        for m in msgs:
            m.error = None
            m.error_source = None
        if not kept:
            return msgs
        return in_order(kept + key_results(caught, msgs))

    def close(self) -> None:
        for proc in self.processors:
            proc.close()
