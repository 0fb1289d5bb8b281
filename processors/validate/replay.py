"""The two processors `streamforge dlq replay` adds to a stream: unwrap and tally.

`_dlq_unwrap` (first, on the replay input) turns a dead-letter record
`{"error": ..., "message": <original>, "metadata": {...}}` back into the original message
(plain envelopes pass as they are) and marks it as replayed. `_dlq_tally` (last in the
pipeline) counts the marked messages that leave the pipeline healthy or flagged with an error,
which the stream's output sends to its dead-letter output again. Both register only when the
command runs, so they never show up among the components of a stream file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from streamforge.message import Message, PayloadError
from streamforge.plugin import Field, Processor, registry

__all__ = ["MARKER", "Tally", "is_dead_letter_record", "register_replay_processors", "tally"]

#: metadata key marking a message the replay read (removed again by the tally)
MARKER = "dlq_replayed"

_TALLIES: dict[str, Tally] = {}
_LOCK = threading.Lock()


@dataclass
class Tally:
    """What left the pipeline during one replay: healthy (passed) or flagged (dead again)."""

    passed: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, passed: int, failed: int) -> None:
        with self.lock:
            self.passed += passed
            self.failed += failed


def tally(token: str) -> Tally:
    """The tally of the replay `token` (created on first use)."""
    with _LOCK:
        return _TALLIES.setdefault(token, Tally())


def is_dead_letter_record(value: Any) -> bool:
    """True for `{"error": ..., "message": ...}`, the record a dead-letter output writes."""
    return type(value) is dict and "message" in value and "error" in value


class _Unwrap(Processor):
    def __init__(self, conf: Any = None, ctx: Any = None) -> None:
        pass

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for msg in batch:
            try:
                value = msg.value
            except PayloadError:
                value = None
            if is_dead_letter_record(value):
                meta = value.get("metadata")
                meta = dict(meta) if type(meta) is dict else {}
                original = value["message"]
                if isinstance(original, str):
                    msg = Message(original, meta)
                else:
                    msg = Message.from_value(original, meta)
            msg.metadata[MARKER] = True
            out.append(msg)
        return out


class _Tally(Processor):
    handles_errors = True

    def __init__(self, conf: Any = None, ctx: Any = None) -> None:
        self.tally = tally(str((conf or {}).get("token") or ""))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        passed = failed = 0
        for msg in batch:
            if msg.metadata.pop(MARKER, None) is None:
                continue
            if msg.error is None:
                passed += 1
            else:
                failed += 1
        self.tally.add(passed, failed)
        return batch


def register_replay_processors() -> None:
    """Register `_dlq_unwrap` and `_dlq_tally` in this process (idempotent)."""
    from streamforge.plugin import ComponentSpec

    for name, factory in (("_dlq_unwrap", _Unwrap), ("_dlq_tally", _Tally)):
        if registry.get("processor", name) is None:
            registry.add(
                ComponentSpec(
                    name=name,
                    kind="processor",
                    config=Field(name, "map", default={}),
                    factory=factory,
                    summary="Internal to `streamforge dlq replay`.",
                    status="internal",
                )
            )
