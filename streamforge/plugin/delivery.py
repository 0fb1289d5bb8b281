"""Helpers shared by routing outputs: retrying writes until they succeed, and copies."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from streamforge.message import Message
from streamforge.plugin import Output

__all__ = [
    "FALLBACK_ERROR",
    "OutputGroup",
    "answering",
    "current_origin",
    "dead_letter_count",
    "deliver",
    "is_dead_letter",
    "respond_to_inputs",
    "restore_errors",
    "retry_until_written",
]

log = logging.getLogger("streamforge.outputs")

#: metadata a `fallback` output sets (as Benthos does) on a message a later output takes
FALLBACK_ERROR = "fallback_error"

BACKOFF_START = 0.05
BACKOFF_MAX = 2.0


def is_dead_letter(msg: Message) -> bool:
    """A message written despite a failure: flagged, or handed on by a `fallback`."""
    return msg.error is not None or FALLBACK_ERROR in msg.metadata


def dead_letter_count(batch: list[Message]) -> int:
    """How many messages of `batch` are dead letters (`is_dead_letter`)."""
    key = FALLBACK_ERROR
    return sum(1 for m in batch if m.error is not None or key in m.metadata)


def restore_errors(msgs: list[Message], errors: dict[int, str | None]) -> None:
    """Put back the processing errors the messages had before a failed write."""
    for m in msgs:
        if id(m) in errors:
            m.error = errors[id(m)]


def deliver(output: Output, batch: list[Message]) -> list[Message]:
    """Write a batch; an output that raises fails the whole batch instead of the stream."""
    try:
        return output.write_batch(batch)
    except Exception as exc:  # noqa: BLE001 - a buggy output fails its batch
        reason = f"{type(output).__name__}: {exc}"
        for m in batch:
            m.error = reason
        return batch


def retry_until_written(
    output: Output, batch: list[Message], stop: threading.Event, what: str = "output"
) -> list[Message]:
    """Write, then rewrite what failed with exponential backoff until nothing fails.

    Returns what is still failed when `stop` is set (the output is closing).
    """
    errors = {id(m): m.error for m in batch}
    failed = deliver(output, batch)
    delay = BACKOFF_START
    while failed:
        log.warning(
            "%s failed to write %d message(s): %s; retrying", what, len(failed), failed[0].error
        )
        if stop.wait(delay):
            return failed
        delay = min(delay * 2, BACKOFF_MAX)
        restore_errors(failed, errors)
        failed = deliver(output, failed)
    return failed


class OutputGroup(Output):
    """An output over child outputs: what they hold, their late failures, flushing, closing."""

    outputs: list[Output]
    #: set on close so retry loops give up
    _stop: threading.Event | None = None

    def buffered(self) -> int:
        return sum(out.buffered() for out in self.outputs)

    def take_failures(self) -> list[Message]:
        return [m for out in self.outputs for m in out.take_failures()]

    def flush(self) -> list[Message]:
        return [m for out in self.outputs for m in out.flush()]

    def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for out in self.outputs:
            out.close()


def respond_to_inputs(messages: list[Message]) -> int:
    """Hand each message to the input batch it came from as the answer to that input's peer
    (the `sync_response` output; the stream notes `origin` on messages of inputs that answer,
    such as `http_server`). Returns how many messages found an input that answers."""
    by_origin: dict[int, tuple[object, list[Message]]] = {}
    for msg in messages:
        origin = getattr(msg, "origin", None)
        if origin is not None:
            by_origin.setdefault(id(origin), (origin, []))[1].append(msg)
    for origin, mine in by_origin.values():
        origin.respond(mine)  # type: ignore[attr-defined]
    return sum(len(mine) for _, mine in by_origin.values())


#: the input batch the processors of this thread are working on, when its input answers
_answering: ContextVar[object | None] = ContextVar("streamforge_answering", default=None)


@contextmanager
def answering(origin: object | None) -> Iterator[None]:
    """While processors run on an input batch whose input answers its peer: `origin` (with a
    `respond(messages)` method) is what `current_origin()` returns, for messages that carry
    none of their own (most processors make new messages)."""
    token = _answering.set(origin)
    try:
        yield
    finally:
        _answering.reset(token)


def current_origin() -> object | None:
    """The origin `answering` set for the batch being processed on this thread, or None."""
    return _answering.get()
