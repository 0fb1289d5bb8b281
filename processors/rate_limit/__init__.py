"""`rate_limit` processor: holds each message until a rate limit resource lets it pass.

The rate limit types (`local`, under `rate_limit_resources`) live beside it in this package.
"""

from __future__ import annotations

import threading
from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, RateLimit, register_processor
from streamforge.plugin.errors import describe_error
from streamforge.processors.rate_limit import local as _local  # noqa: F401 - registers `local`

__all__ = ["RateLimitProcessor"]

#: how long to wait before asking a rate limit that failed again (as Benthos)
FAILURE_WAIT = 1.0


@register_processor(
    "rate_limit",
    fields=[
        Field(
            "resource",
            "string",
            references="rate_limit",
            description="The label of the rate limit resource (under `rate_limit_resources`).",
            examples=("slow",),
        ),
    ],
    summary="Throttles the pipeline to what a rate limit resource allows, message by message.",
    description=(
        "Each message takes one access from the rate limit; while the limit says wait, the "
        "processor waits, which holds back the input (back-pressure) rather than dropping "
        "anything. Rate limits are resources shared by every processor and worker that "
        "names them. A rate limit that fails is logged and asked again a second later."
    ),
    examples=(
        "rate_limit_resources:\n"
        "  - label: ten_per_second\n"
        "    local:\n"
        "      count: 10\n"
        "      interval: 1s\n"
        "pipeline:\n"
        "  processors:\n"
        "    - rate_limit:\n"
        "        resource: ten_per_second",
    ),
)
class RateLimitProcessor(Processor):
    """Throttles the pipeline to what a rate limit resource allows, message by message."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.resource = str(conf.get("resource") or "")
        if not self.resource:
            raise ValueError("resource: expected the label of a rate limit resource")
        self.limit: RateLimit = ctx.rate_limit(self.resource)
        self.log = ctx.logger
        self._closed = threading.Event()

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for _ in batch:
            self._wait_turn()
        return batch

    def _wait_turn(self) -> None:
        while not self._closed.is_set():
            try:
                wait = self.limit.access()
            except Exception as exc:  # noqa: BLE001 - logged, then asked again
                self.log.error(
                    "failed to access rate limit %s: %s", self.resource, describe_error(exc)
                )
                wait = FAILURE_WAIT
            if wait <= 0:
                return
            self._closed.wait(wait)

    def close(self) -> None:
        self._closed.set()
