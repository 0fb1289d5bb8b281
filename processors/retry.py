"""`retry` processor (Benthos): runs child processors on a copy of each message, again after a
backoff while any message they return is errored.

Each attempt starts from the message as it reached `retry`: what a failed attempt changed is
thrown away. When the attempts run out (`max_retries`, or the next wait would end past
`backoff.max_elapsed_time`), the last attempt's messages go on with their errors, for `catch`
or an output to route. Every resulting message carries `retry_count` (the failed attempts)
and `backoff_duration` (the time waited, as a Go duration such as `1.5s`).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.batches import parts_of
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.retrying import (
    RetrySettings,
    backoff_field,
    go_duration,
    max_retries_field,
)

__all__ = ["RetryProcessor"]

log = logging.getLogger("streamforge.processors.retry")

#: Benthos' defaults for the retry processor: initial_interval, max_interval, max_elapsed_time
DEFAULTS = ("500ms", "10s", "1m")
#: the most messages retried at once with `parallel: true`
LANES = 16


@register_processor(
    "retry",
    fields=[
        backoff_field(
            *DEFAULTS,
            elapsed_doc="How long after a message's first attempt began its retries may go "
            "on; past it the message goes on errored (0s: no limit).",
        ),
        Field(
            "processors",
            "array",
            item=Field("processor", "processor"),
            description="Processors run on a copy of each message, as a batch of one.",
        ),
        Field(
            "parallel",
            "bool",
            default=False,
            description=f"Retry the messages of a batch at the same time (up to {LANES}) "
            "instead of one after the other.",
        ),
        max_retries_field(
            "The most attempts per message, the first one included, as Benthos counts them "
            "(0: no limit; `backoff.max_elapsed_time` still applies)."
        ),
    ],
    summary="Runs child processors on each message again, after a backoff, until no result "
    "is errored.",
    description=(
        "For calls to a peer that fail now and then (`http`, `sql`, caches). Each message is "
        "processed on its own, so an error belongs to the message it came from; messages that "
        "arrive errored pass by, as with every processor. A batch-aware call can be retried "
        "as a whole by archiving the batch into one message first."
    ),
    examples=(
        "retry:\n  backoff:\n    initial_interval: 100ms\n    max_interval: 5s\n"
        "    max_elapsed_time: 30s\n  max_retries: 5\n  processors:\n    - http:\n"
        "        url: http://localhost:8080/enrich\n        verb: POST",
    ),
)
class RetryProcessor(Processor):
    """Runs child processors on each message again, after a backoff, until none errors."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self._confs = list(conf.get("processors") or [])
        if not self._confs:
            raise ValueError("processors: at least one child processor is needed")
        self.settings = RetrySettings.from_conf(conf, DEFAULTS)
        self.parallel = bool(conf.get("parallel", False))
        self._ctx = ctx
        self.label = ctx.label
        self.chains = [ProcessorChain(ctx.build_processors(self._confs))]
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def process_batch(self, batch: list[Message]) -> list[Message]:
        if not self.parallel or len(batch) <= 1:
            chain = self.chains[0]
            return [m for msg in batch for m in self._attempts(chain, msg)]
        lanes = self._lanes(min(len(batch), LANES))
        n = len(lanes)

        def run(lane: int) -> list[list[Message]]:
            return [self._attempts(lanes[lane], msg) for msg in batch[lane::n]]

        assert self._pool is not None
        results = list(self._pool.map(run, range(n)))
        return [m for i in range(len(batch)) for m in results[i % n][i // n]]

    def _lanes(self, wanted: int) -> list[ProcessorChain]:
        """`wanted` chains, each used by one thread at a time; built on first need."""
        with self._lock:
            while len(self.chains) < wanted:
                self.chains.append(ProcessorChain(self._ctx.build_processors(self._confs)))
            if self._pool is None:
                self._pool = ThreadPoolExecutor(LANES, thread_name_prefix="streamforge-retry")
            return self.chains[:wanted]

    def _attempts(self, chain: ProcessorChain, msg: Message) -> list[Message]:
        """Run `chain` on copies of `msg` until no result is errored or the attempts run out."""
        s = self.settings
        backoff = s.backoff()
        failures = 0
        waited = 0.0
        while True:
            out = [m for part in parts_of(chain.process_batch([msg.copy()])) for m in part]
            errored = next((m for m in out if m.error is not None), None)
            if errored is None:
                break
            failures += 1
            if s.max_retries and failures >= s.max_retries:
                break
            delay = backoff.next_delay()
            if delay is None:
                break
            log.debug("%s: attempt %d failed: %s; retrying in %.2fs",
                      self.label, failures, errored.error, delay)  # fmt: skip
            if self._closed.wait(delay):
                break
            waited += delay
        for m in out:
            m.metadata["retry_count"] = failures
            m.metadata["backoff_duration"] = go_duration(waited)
        return out

    def close(self) -> None:
        self._closed.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for chain in self.chains:
            chain.close()
