"""A fused chain of processors run over whole batches.

Healthy messages flow through every processor; messages flagged with an error skip the
processors that do not handle errors (only `catch`-like processors see them, and those
that ask about errors, e.g. a mapping calling `errored()`). Output-level chains are built
with `skip_errored=False`: every processor there sees every message, so a dead-letter
output can record `error()`. A processor that raises flags the messages it was given
instead of killing the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streamforge.message import Message
from streamforge.plugin import Processor

__all__ = ["ProcessorChain", "run_processor"]

#: called as hook(processor_index, processor, batch_in, batch_out) after each processor
ProcessorHook = Callable[[int, Processor, list[Message], list[Message]], None]


def run_processor(
    proc: Processor, batch: list[Message], *, skip_errored: bool = True
) -> list[Message]:
    """Run one processor with the skip-errored rule; exceptions flag the batch."""
    if proc.handles_errors or not skip_errored:
        healthy, errored = batch, []  # type: list[Message], list[Message]
    else:
        healthy = [m for m in batch if m.error is None]
        if len(healthy) == len(batch):
            errored = []
        else:
            errored = [m for m in batch if m.error is not None]
            if not healthy:
                return errored
    try:
        out = proc.process_batch(healthy)
    except Exception as exc:  # noqa: BLE001 - a buggy processor flags, never kills the flow
        reason = f"{type(proc).__name__}: {exc}"
        for m in healthy:
            m.error = reason
        out = healthy
    return _in_batch_order(batch, healthy, errored, out) if errored else out


def _in_batch_order(
    batch: list[Message], healthy: list[Message], errored: list[Message], out: list[Message]
) -> list[Message]:
    """A processor's results and the errored messages that skipped it, in batch order."""
    from streamforge.plugin.ordering import in_order, key_results

    position = {id(m): float(i) for i, m in enumerate(batch)}
    done = key_results([(position[id(m)], m) for m in healthy], out)
    return in_order(done + [(position[id(m)], m) for m in errored])


class ProcessorChain(Processor):
    """Consecutive stateless processors fused into one batch function."""

    def __init__(
        self,
        processors: Sequence[Processor],
        hook: ProcessorHook | None = None,
        *,
        skip_errored: bool = True,
    ) -> None:
        self.processors = list(processors)
        self.hook = hook
        self.skip_errored = skip_errored
        self.handles_errors = not skip_errored or any(p.handles_errors for p in self.processors)
        self.batch_aware = any(p.batch_aware for p in self.processors)

    def process_batch(self, batch: list[Message]) -> list[Message]:
        hook = self.hook
        for i, proc in enumerate(self.processors):
            if not batch:
                return batch
            out = run_processor(proc, batch, skip_errored=self.skip_errored)
            if hook is not None:
                hook(i, proc, batch, out)
            batch = out
        return batch

    def close(self) -> None:
        for proc in self.processors:
            proc.close()
