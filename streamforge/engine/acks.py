"""Acknowledgements: an input learns when the stream is done with each batch it read.

An input reader that overrides `InputReader.ack` gets its batches wrapped in `AckBatch`. The
fused processor stage carries the acknowledgement to the batch it produces (or acknowledges at
once when every message was dropped), and the output acknowledges after writing: with no error
when every message was written, with the first write error otherwise. MQTT acknowledges QoS 1/2
messages to the broker and Kafka commits offsets only then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from streamforge.message import Message

__all__ = ["AckBatch", "Acknowledgement", "mark_origins"]


class Acknowledgement:
    """Acknowledges one input batch, once, however many times it is called."""

    __slots__ = ("_callback", "_batch", "_done", "_lock", "_respond")

    def __init__(
        self, callback: Callable[[list[Message], str | None], None], batch: list[Message]
    ) -> None:
        self._callback = callback
        self._batch = batch
        self._done = False
        self._lock = threading.Lock()
        #: the reader's `respond(batch, messages)` when its input answers its peer (http_server)
        self._respond = getattr(getattr(callback, "__self__", None), "respond", None)

    @property
    def answers(self) -> bool:
        """True when the input answers its peer with what a `sync_response` output writes."""
        return self._respond is not None

    def respond(self, messages: list[Message]) -> None:
        """Hand `messages` to the input as the answer to the batch it read."""
        if self._respond is not None:
            self._respond(self._batch, messages)

    def __call__(self, error: str | None = None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._callback(self._batch, error)


class AckBatch(list):  # type: ignore[type-arg]
    """A batch of messages carrying the acknowledgement of the input batch it came from."""

    __slots__ = ("ack",)

    def __init__(self, messages: Iterable[Message], ack: Callable[..., None]) -> None:
        super().__init__(messages)
        self.ack = ack

    def __reduce__(self) -> tuple[Any, ...]:
        # an acknowledgement never leaves its process; a copy elsewhere is a plain batch
        return (list, (list(self),))


def mark_origins(items: Iterable[list[Message]]) -> None:
    """Note on each message of a batch whose input answers its peer the acknowledgement of
    the input batch it came from (copies made while writing keep it)."""
    for item in items:
        ack = getattr(item, "ack", None)
        if isinstance(ack, Acknowledgement) and ack.answers:
            for msg in item:
                msg.origin = ack
