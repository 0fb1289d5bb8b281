"""`reject_errored` output: healthy messages go to the child output, errored ones fail.

With `fallback` this is the dead-letter pattern: messages that failed processing are
rejected by the first output and land in the next one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig

__all__ = ["RejectErroredOutput"]


@register_output(
    "reject_errored",
    config=Field(
        "reject_errored",
        "output",
        description="The output that receives messages which did not fail processing.",
    ),
    summary="Writes healthy messages to a child output and rejects those flagged with an error.",
    examples=(
        "fallback:\n  - reject_errored:\n      file: { path: ./ok.jsonl }\n"
        "  - file: { path: ./dead_letter.jsonl }",
    ),
)
class RejectErroredOutput(Output):
    """Writes healthy messages to a child output and rejects those flagged with an error."""

    def __init__(self, conf: ComponentConfig, ctx: BuildContext) -> None:
        self.output = ctx.build_output(conf)

    @classmethod
    def wrapping(cls, output: Output) -> RejectErroredOutput:
        """Wrap an already built output."""
        self = cls.__new__(cls)
        self.output = output
        return self

    def write_batch(self, batch: list[Message]) -> list[Message]:
        healthy = [m for m in batch if m.error is None]
        if len(healthy) == len(batch):
            return self.output.write_batch(batch)
        rejected = [m for m in batch if m.error is not None]
        failed = self.output.write_batch(healthy) if healthy else []
        return rejected + failed

    def flush(self) -> list[Message]:
        return self.output.flush()

    def buffered(self) -> int:
        return self.output.buffered()

    def take_failures(self) -> list[Message]:
        return self.output.take_failures()

    def close(self) -> None:
        self.output.close()
