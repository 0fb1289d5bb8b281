"""`retry` output (Benthos): writes to a child output again, with backoff, what it failed to
write, instead of failing it back to the input.

Messages are retried as they are (not processed again): only those the child failed go again,
with their processing errors as they were. While it retries, the output takes nothing new.
After `max_retries` retries, or once the next wait would end past `backoff.max_elapsed_time`,
the messages fail with the child's last error; with both at 0 it retries until the stream
stops.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.delivery import deliver, restore_errors
from streamforge.plugin.retrying import RetrySettings, backoff_field, max_retries_field

__all__ = ["RetryOutput"]

log = logging.getLogger("streamforge.outputs.retry")

#: Benthos' defaults for the retry output: initial_interval, max_interval, max_elapsed_time
DEFAULTS = ("500ms", "3s", "0s")


@register_output(
    "retry",
    fields=[
        max_retries_field(
            "Retries after the first attempt before the messages fail (0: no limit)."
        ),
        backoff_field(
            *DEFAULTS,
            elapsed_doc="How long after the first failure the retries may go on; past it "
            "the messages fail (0s: no limit).",
        ),
        Field("output", "output", description="The child output."),
    ],
    summary="Writes to a child output again, with backoff, what it failed to write.",
    description=(
        "For writes worth repeating where the messages must not be processed again (a "
        "`dedupe` before the output, a counter). Only the messages the child failed are sent "
        "again. To send failures somewhere else instead, use `fallback`."
    ),
    examples=(
        "retry:\n  max_retries: 5\n  backoff:\n    initial_interval: 200ms\n"
        "    max_interval: 5s\n  output:\n    http_client:\n"
        "      url: http://localhost:8080/ingest\n      verb: POST",
    ),
)
class RetryOutput(Output):
    """Writes to a child output again, with backoff, what it failed to write."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.settings = RetrySettings.from_conf(conf, DEFAULTS)
        self.output = ctx.build_output(conf["output"])
        self.label = ctx.label
        self._stop = threading.Event()
        self._lock = threading.Lock()
        #: processing errors of messages handed over with one (a child may overwrite them),
        #: kept while the child may still hold such a message
        self._flagged: dict[int, tuple[Message, str]] = {}

    def write_batch(self, batch: list[Message]) -> list[Message]:
        flagged = [(m, m.error) for m in batch if m.error is not None]
        if flagged:
            with self._lock:
                self._flagged.update((id(m), (m, error)) for m, error in flagged)
        failed = self._settle(deliver(self.output, batch))
        if self._flagged and not self.output.buffered():
            with self._lock:
                self._flagged.clear()
        return failed

    def _settle(self, failed: list[Message]) -> list[Message]:
        """Write `failed` again until the child takes them, or the retries are used up.

        Each retry also flushes the child, so a batching child writes the messages at once
        rather than holding them for a later batch: the outcome is known here.
        """
        return self._retry(failed) if failed else failed

    def _retry(self, failed: list[Message]) -> list[Message]:
        s = self.settings
        backoff = s.backoff()
        retries = 0
        while failed:
            delay = backoff.next_delay()
            if delay is None or (s.max_retries and retries >= s.max_retries):
                break
            log.warning("%s: the output failed to write %d message(s): %s; retrying in %.2fs",
                        self.label, len(failed), failed[0].error, delay)  # fmt: skip
            if self._stop.wait(delay):
                break
            retries += 1
            self._restore(failed)
            failed = deliver(self.output, failed) + self.output.flush()
        if failed:
            log.error("%s: the output failed to write %d message(s) after %d retries: %s",
                      self.label, len(failed), retries, failed[0].error)  # fmt: skip
        return failed

    def _restore(self, msgs: list[Message]) -> None:
        """The processing error each message had when it was handed over (None if none)."""
        with self._lock:
            flagged = self._flagged
            errors = {id(m): flagged[id(m)][1] if id(m) in flagged else None for m in msgs}
        restore_errors(msgs, errors)

    # -- the child's own writes (a batching period, a flush) ----------------------------------
    def flush(self) -> list[Message]:
        return self._settle(self.output.flush())

    def buffered(self) -> int:
        return self.output.buffered()

    def take_failures(self) -> list[Message]:
        return self._settle(self.output.take_failures())

    def close(self) -> None:
        self._stop.set()
        self.output.close()
