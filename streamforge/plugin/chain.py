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
from streamforge.plugin.batches import Batches, parts_of

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
    if not errored:
        return out
    if type(out) is Batches:  # the batches it made, then the errored messages as one more
        return Batches([*out.parts, errored])
    return _in_batch_order(batch, healthy, errored, out)


def _in_batch_order(
    batch: list[Message], healthy: list[Message], errored: list[Message], out: list[Message]
) -> list[Message]:
    """A processor's results and the errored messages that skipped it, in batch order."""
    from streamforge.plugin.ordering import in_order, key_results

    position = {id(m): float(i) for i, m in enumerate(batch)}
    done = key_results([(position[id(m)], m) for m in healthy], out)
    return in_order(done + [(position[id(m)], m) for m in errored])


class ProcessorChain(Processor):
    """Consecutive stateless processors fused into one batch function.

    When a processor breaks the batch into several (`Batches`), the processors after it run
    once per batch and the chain returns `Batches`; `on_part(batch)` is called before each.
    """

    def __init__(
        self,
        processors: Sequence[Processor],
        hook: ProcessorHook | None = None,
        *,
        skip_errored: bool = True,
        on_part: Callable[[list[Message]], None] | None = None,
    ) -> None:
        self.processors = list(processors)
        self.hook = hook
        self.on_part = on_part
        self.skip_errored = skip_errored
        self.handles_errors = not skip_errored or any(p.handles_errors for p in self.processors)
        self.batch_aware = any(p.batch_aware for p in self.processors)

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return self._run(batch, 0)

    def _run(self, batch: list[Message], start: int) -> list[Message]:
        hook = self.hook
        procs = self.processors
        last = len(procs) - 1
        for i in range(start, last + 1):
            if not batch:
                return batch
            proc = procs[i]
            out = run_processor(proc, batch, skip_errored=self.skip_errored)
            if hook is not None:
                hook(i, proc, batch, out)
            if i < last and type(out) is Batches and len(out.parts) > 1:
                results: list[list[Message]] = []
                for part in out.parts:
                    if self.on_part is not None:
                        self.on_part(part)
                    results.extend(parts_of(self._run(part, i + 1)))
                return Batches(results)
            batch = out
        return batch

    def close(self) -> None:
        for proc in self.processors:
            proc.close()
