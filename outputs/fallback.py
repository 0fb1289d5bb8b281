"""`fallback` output: each child output gets what the previous one failed to write.

Messages passed on carry the failure reason in the metadata key `fallback_error`;
their own processing error (if any) is left as it was so later outputs can still see it.
What the last output fails is returned as failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.delivery import FALLBACK_ERROR, OutputGroup

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig

__all__ = ["FallbackOutput"]


@register_output(
    "fallback",
    config=Field(
        "fallback",
        "array",
        item=Field("output", "output"),
        description="Outputs tried in order; each receives the messages the previous one failed.",
    ),
    summary="Tries each child output in turn: the next one gets what the previous failed to write.",
    examples=(
        "fallback:\n  - reject_errored:\n      file: { path: ./ok.jsonl }\n"
        "  - file: { path: ./dead_letter.jsonl }",
    ),
)
class FallbackOutput(OutputGroup):
    """Tries each child output in turn: the next one gets what the previous failed to write."""

    def __init__(self, conf: list[ComponentConfig], ctx: BuildContext) -> None:
        if not conf:
            raise ValueError("fallback needs at least one output")
        self.outputs = [ctx.build_output(c) for c in conf]

    @classmethod
    def of(cls, outputs: list[Output]) -> FallbackOutput:
        """A fallback over already built outputs."""
        self = cls.__new__(cls)
        self.outputs = list(outputs)
        return self

    def write_batch(self, batch: list[Message]) -> list[Message]:
        return self._cascade(batch, 0)

    def confirm_later(self, progress: Callable[[], None]) -> None:
        # the first output sees every message, so what it holds counts as the sink counts
        self.outputs[0].confirm_later(progress)

    def _cascade(self, batch: list[Message], start: int) -> list[Message]:
        last = len(self.outputs) - 1
        for i in range(start, last + 1):
            if not batch:
                return []
            own_errors = {id(m): m.error for m in batch}
            failed = self.outputs[i].write_batch(batch)
            if not failed or i == last:
                return failed
            for m in failed:
                m.metadata[FALLBACK_ERROR] = m.error or "output failed"
                if id(m) in own_errors:
                    m.error = own_errors[id(m)]
            batch = failed
        return []

    def take_failures(self) -> list[Message]:
        failed: list[Message] = []
        for i, out in enumerate(self.outputs):
            lost = out.take_failures()
            if lost and i < len(self.outputs) - 1:
                for m in lost:
                    m.metadata[FALLBACK_ERROR] = m.error or "output failed"
                lost = self._cascade(lost, i + 1)
            failed.extend(lost)
        return failed

    def flush(self) -> list[Message]:
        failed: list[Message] = []
        for i, out in enumerate(self.outputs):
            lost = out.flush()
            if lost and i < len(self.outputs) - 1:
                for m in lost:
                    m.metadata[FALLBACK_ERROR] = m.error or "output failed"
                lost = self._cascade(lost, i + 1)
            failed.extend(lost)
        return failed
