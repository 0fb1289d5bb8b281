"""`parallel` processor: child processors run on each message of a batch at the same time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.chain import ProcessorChain

__all__ = ["ParallelProcessor"]

#: how many messages run at once when `cap` is 0
UNCAPPED = 16


@register_processor(
    "parallel",
    fields=[
        Field(
            "cap",
            "int",
            default=0,
            description=f"The most messages processed at once (0: up to {UNCAPPED}).",
        ),
        Field(
            "processors",
            "array",
            item=Field("processor", "processor"),
            description="Processors run on each message as a batch of one.",
        ),
    ],
    summary="Runs processors on each message of a batch as a batch of one, several at once.",
    description=(
        "Like `for_each`, but messages are processed concurrently, which pays off when the "
        "processors wait on the network (`http`, caches). Each concurrent lane has its own "
        "instances of the processors. The results form one batch again, in order."
    ),
    examples=(
        "parallel:\n  cap: 8\n  processors:\n    - http:\n        url: http://localhost:4195/enrich\n"
        "        verb: POST",
    ),
)
class ParallelProcessor(Processor):
    """Runs processors on each message of a batch as a batch of one, several at once."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        cap = int(conf.get("cap", 0))
        if cap < 0:
            raise ValueError("cap must not be negative")
        self.lanes_max = cap or UNCAPPED
        self._confs = list(conf.get("processors") or [])
        self._ctx = ctx
        self.chains: list[ProcessorChain] = [ProcessorChain(ctx.build_processors(self._confs))]
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _lanes(self, wanted: int) -> list[ProcessorChain]:
        """`wanted` chains, each used by one thread at a time; built on first need."""
        with self._lock:
            while len(self.chains) < wanted:
                self.chains.append(ProcessorChain(self._ctx.build_processors(self._confs)))
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.lanes_max, thread_name_prefix="streamforge-parallel"
                )
            return self.chains[:wanted]

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if len(batch) <= 1:
            return list(self.chains[0].process_batch(batch))
        lanes = self._lanes(min(len(batch), self.lanes_max))
        n = len(lanes)

        def run(lane: int) -> list[list[Message]]:
            chain = lanes[lane]
            return [list(chain.process_batch([m])) for m in batch[lane::n]]

        assert self._pool is not None
        results = list(self._pool.map(run, range(n)))
        out: list[Message] = []
        for i in range(len(batch)):
            out.extend(results[i % n][i // n])
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for chain in self.chains:
            chain.close()
