"""`drop_on` output (Benthos): writes to a child output, and drops instead of failing the
messages whose write failed for a chosen reason, or that the child kept waiting too long.

A dropped message counts as written: its input batch is acknowledged (Kafka offsets commit,
MQTT acknowledges) and it is gone. With `back_pressure`, a write the child has not finished
within that time is given up on; until the child finishes it, later batches are given up on
at once, and the child's write goes on with its outcome only logged.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from streamforge.durations import parse_duration
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, ParsedField, register_output
from streamforge.plugin.delivery import deliver
from streamforge.plugin.retrying import go_duration
from streamforge.regexp import Regexp, compile_regexp

__all__ = ["DropOnOutput"]

log = logging.getLogger("streamforge.outputs.drop_on")


def _duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


@register_output(
    "drop_on",
    fields=[
        Field(
            "error",
            "bool",
            default=False,
            description="Drop messages the child output fails to write, whatever the reason "
            "(an `http_client` answered 4xx, a broker refused a record ...).",
        ),
        Field(
            "error_patterns",
            "array",
            default=[],
            item=ParsedField("pattern", "string", parser=compile_regexp),
            description="Drop only messages whose write error matches one of these regular "
            "expressions (RE2, anywhere in the error); others fail as usual. Not with "
            "`error: true`.",
            examples=(["and that was really bad$"], ["HTTP 4[0-9][0-9]"]),
        ),
        ParsedField(
            "back_pressure",
            "duration",
            default="",
            parser=_duration,
            description="The longest the child may take to write a batch (waiting for a lost "
            "peer, its own retries); past it the batch is dropped, and so is every later "
            "batch until the child is done. Empty: wait as long as it takes. Without "
            "`error: true` such batches fail instead of being dropped.",
            examples=("30s", "1m"),
        ),
        Field("output", "output", description="The child output."),
    ],
    summary="Writes to a child output and drops (acknowledges) the messages it fails to write "
    "or keeps waiting too long.",
    description=(
        "Outputs normally fail a message they cannot write, so its input does not "
        "acknowledge it, and wait for a peer that went away. `drop_on` relaxes that for "
        "outputs where losing a message is better than holding the stream up: what it drops "
        "is counted as written, with a warning in the log."
    ),
    examples=(
        "drop_on:\n  error: true\n  output:\n    http_client:\n"
        "      url: http://localhost:8080/notify\n      verb: POST",
        "drop_on:\n  error: true\n  back_pressure: 10s\n  output:\n"
        "    mqtt:\n      urls: [ tcp://localhost:1883 ]\n      topic: plant/alarms",
    ),
)
class DropOnOutput(Output):
    """Writes to a child output and drops what it fails to write or keeps waiting too long."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.on_error = bool(conf.get("error", False))
        patterns = list(conf.get("error_patterns") or [])
        if patterns and self.on_error:
            raise ValueError("error_patterns has no effect with `error: true`: drop either on "
                             "every error or on the matching ones")  # fmt: skip
        self.patterns: list[Regexp] = [compile_regexp(str(p)) for p in patterns]
        self.back_pressure = _duration(conf.get("back_pressure") or "")
        self.output = ctx.build_output(conf["output"])
        self.label = ctx.label
        self._pool: ThreadPoolExecutor | None = None
        self._busy: Future[list[Message]] | None = None
        self._lock = threading.Lock()

    # -- dropping ----------------------------------------------------------------------------
    def _drops(self, error: str) -> bool:
        return self.on_error or any(p.search(error) for p in self.patterns)

    def _filter(self, failed: list[Message]) -> list[Message]:
        """The failures that stay failures; the rest are dropped (logged)."""
        if not failed or not (self.on_error or self.patterns):
            return failed
        kept = [m for m in failed if not self._drops(m.error or "")]
        dropped = len(failed) - len(kept)
        if dropped:
            still = {id(m) for m in kept}
            sample = next(m.error for m in failed if id(m) not in still)
            log.warning("%s: dropped %d message(s) the output failed to write: %s",
                        self.label, dropped, sample)  # fmt: skip
        return kept

    # -- writing -----------------------------------------------------------------------------
    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not self.back_pressure:
            return self._filter(deliver(self.output, batch))
        return self._write_within(batch)

    def _write_within(self, batch: list[Message]) -> list[Message]:
        """Hand the child the batch on the writer thread; give up on it after `back_pressure`."""
        with self._lock:
            if not self._idle():
                return self._given_up(batch)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="streamforge-drop-on")
            future = self._pool.submit(deliver, self.output, batch)
            self._busy = future
        try:
            return self._filter(future.result(timeout=self.back_pressure))
        except FutureTimeout:
            future.add_done_callback(self._late_outcome)
            return self._given_up(batch)

    def _idle(self) -> bool:
        """No write given up on is still running in the child."""
        return self._busy is None or self._busy.done()

    def _given_up(self, batch: list[Message]) -> list[Message]:
        """A batch the child did not take in time: dropped, or failed with Benthos' reason
        (which `error_patterns` may match)."""
        why = f"experienced back pressure beyond: {go_duration(self.back_pressure)}"
        if self._drops(why):
            log.warning("%s: dropped %d message(s): %s", self.label, len(batch), why)
            return []
        for m in batch:
            m.error = why
        return batch

    def _late_outcome(self, future: Future[list[Message]]) -> None:
        failed = future.result() if future.exception() is None else []
        if failed:
            log.warning("%s: the output failed %d message(s) given up on: %s",
                        self.label, len(failed), failed[0].error)  # fmt: skip
        else:
            log.info("%s: the output is writing again", self.label)

    # -- the child's own writes --------------------------------------------------------------
    # While a write given up on still runs, the child is left alone: asked again later.
    def flush(self) -> list[Message]:
        return self._filter(self.output.flush()) if self._idle() else []

    def buffered(self) -> int:
        return self.output.buffered() if self._idle() else 0

    def take_failures(self) -> list[Message]:
        return self._filter(self.output.take_failures()) if self._idle() else []

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.output.close()
