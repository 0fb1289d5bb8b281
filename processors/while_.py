"""`while` processor: runs child processors on a batch for as long as a check passes."""

from __future__ import annotations

import logging
from typing import Any

from streamforge.bloblang.error_calls import asks_about_errors
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.batches import Batches
from streamforge.plugin.chain import ProcessorChain

__all__ = ["WhileProcessor"]

log = logging.getLogger("streamforge.processors.while")


@register_processor(
    "while",
    fields=[
        Field(
            "at_least_once",
            "bool",
            default=False,
            description="Run the processors once before the first check (a do-while loop).",
        ),
        Field(
            "max_loops",
            "int",
            default=0,
            advanced=True,
            description="The most loops per batch (0: no limit); guards against endless loops.",
        ),
        Field(
            "check",
            "query",
            default="",
            description="A Bloblang query returning a bool: whether to loop again. It is "
            "evaluated against the first message of the batch, in the batch's context.",
            examples=("errored()", "this.urls.unprocessed.length() > 0"),
        ),
        Field(
            "processors",
            "array",
            item=Field("processor", "processor"),
            description="Processors run on each loop.",
        ),
    ],
    summary="Runs processors on a batch again and again for as long as a check passes.",
    description=(
        "The loop ends when the check does not return true (a check that fails counts as "
        "false, as in Benthos; an empty check is false), when `max_loops` is reached, or when "
        "the processors leave no message. When the processors split the batch, the check "
        "reads the first of the batches. A check calling `errored()` or `error()` also takes "
        "failed messages, so a loop can retry them (clear the flag with `catch: []` first)."
    ),
    examples=(
        "while:\n  at_least_once: true\n  max_loops: 5\n  check: errored()\n  processors:\n"
        "    - catch: []\n    - mapping: root.tries = (this.tries | 0) + 1",
    ),
)
class WhileProcessor(Processor):
    """Runs processors on a batch again and again for as long as a check passes."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        from streamforge.bloblang import parse_query

        text = str(conf.get("check") or "").strip()
        self.check: Any = parse_query(text) if text else None
        self.at_least_once = bool(conf.get("at_least_once", False))
        self.max_loops = int(conf.get("max_loops", 0))
        if self.max_loops < 0:
            raise ValueError("max_loops must not be negative")
        self.chain = ProcessorChain(ctx.build_processors(list(conf.get("processors") or [])))
        self.handles_errors = asks_about_errors(text)
        self.batch_aware = True  # the check reads the batch's first message
        self.label = ctx.label

    def _again(self, batch: list[Message]) -> bool:
        if self.check is None:
            return False
        first = batch.parts[0] if type(batch) is Batches else batch
        try:
            return self.check.query_message(first[0], first, 0) is True
        except Exception as exc:  # noqa: BLE001 - a failing check ends the loop, as Benthos
            log.debug("%s: while check failed: %s", self.label, exc)
            return False

    def process_batch(self, batch: list[Message]) -> list[Message]:
        loops = 0
        run = self.at_least_once or self._again(batch)
        while run:
            batch = self.chain.process_batch(batch)
            loops += 1
            if not batch or (self.max_loops and loops >= self.max_loops):
                break
            run = self._again(batch)
        return batch

    def close(self) -> None:
        self.chain.close()
