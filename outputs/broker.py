"""`broker` output: sends messages to several outputs by a brokering pattern.

Patterns, as in Benthos:
  fan_out / fan_out_sequential            every output gets every message; failed writes are
                                          retried until they succeed
  fan_out_fail_fast /                     every output gets every message; failures are
  fan_out_sequential_fail_fast            returned (sequential stops at the first failure)
  round_robin / greedy                    each batch goes to one output in turn; what it fails
                                          is tried on the next output, and so on
Writes are made in output order on the calling worker, so `fan_out` and
`fan_out_sequential` behave the same here.
"""

from __future__ import annotations

import threading
from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import batching_field, with_batching
from streamforge.plugin.brokering import children_field, copies, copies_field
from streamforge.plugin.delivery import (
    BACKOFF_MAX,
    BACKOFF_START,
    OutputGroup,
    deliver,
    restore_errors,
    retry_until_written,
)

__all__ = ["build_broker_output", "PATTERNS"]

PATTERNS = (
    "fan_out",
    "fan_out_fail_fast",
    "fan_out_sequential",
    "fan_out_sequential_fail_fast",
    "round_robin",
    "greedy",
)


@register_output(
    "broker",
    fields=[
        copies_field("output"),
        Field(
            "pattern",
            "string",
            default="fan_out",
            options=PATTERNS,
            description="How messages are spread over the outputs.",
        ),
        children_field("output", "The child outputs."),
        batching_field(),
    ],
    summary="Sends messages to several outputs: to all of them (fan out) or in turn.",
    examples=(
        "broker:\n  pattern: fan_out\n  outputs:\n    - stdout: {}\n"
        "    - file: { path: ./copy.jsonl }",
    ),
)
def build_broker_output(conf: dict[str, Any], ctx: BuildContext) -> Output:
    """Sends messages to several outputs: to all of them (fan out) or in turn."""
    pattern = str(conf.get("pattern") or "fan_out")
    if pattern not in PATTERNS:
        raise ValueError(f"unknown broker pattern {pattern!r}; expected one of {PATTERNS}")
    count = copies(conf)
    outputs = [ctx.build_output(c) for _ in range(count) for c in conf.get("outputs") or []]
    if not outputs:
        raise ValueError("broker needs at least one output")
    return with_batching(Broker(outputs, pattern), conf.get("batching"), ctx)


class Broker(OutputGroup):
    """The brokering logic over already built outputs."""

    def __init__(self, outputs: list[Output], pattern: str = "fan_out") -> None:
        if pattern not in PATTERNS:
            raise ValueError(f"unknown broker pattern {pattern!r}")
        self.outputs = list(outputs)
        self.pattern = pattern
        self._next = 0
        self._lock = threading.Lock()
        self._stop: threading.Event = threading.Event()

    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        if self.pattern in ("round_robin", "greedy"):
            return self._round_robin(batch)
        return self._fan_out(batch)

    def _fan_out(self, batch: list[Message]) -> list[Message]:
        retry = not self.pattern.endswith("_fail_fast")
        sequential_fail_fast = self.pattern == "fan_out_sequential_fail_fast"
        copies: list[list[Message]] = [batch]
        owners: dict[int, Message] = {}
        for _ in self.outputs[1:]:
            dup = [m.copy() for m in batch]
            owners.update({id(d): m for d, m in zip(dup, batch)})
            copies.append(dup)
        failed: dict[int, Message] = {}
        for out, msgs in zip(self.outputs, copies):
            if sequential_fail_fast and failed:
                msgs = [d for d in msgs if id(owners.get(id(d), d)) not in failed]
                if not msgs:
                    break
            if retry:
                lost = retry_until_written(out, msgs, self._stop, "broker output")
            else:
                lost = deliver(out, msgs)
            for m in lost:
                orig = owners.get(id(m), m)
                if orig is not m:
                    orig.error = m.error
                failed.setdefault(id(orig), orig)
        return list(failed.values())

    def _round_robin(self, batch: list[Message]) -> list[Message]:
        n = len(self.outputs)
        with self._lock:
            start = self._next
            self._next = (start + 1) % n
        errors = {id(m): m.error for m in batch}
        pending = batch
        delay = BACKOFF_START
        attempt = 0
        while pending:
            out = self.outputs[(start + attempt) % n]
            pending = deliver(out, pending)
            attempt += 1
            if not pending:
                break
            if attempt % n == 0 and self._stop.wait(delay):
                return pending
            if attempt % n == 0:
                delay = min(delay * 2, BACKOFF_MAX)
            restore_errors(pending, errors)
        return []
