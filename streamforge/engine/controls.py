"""Operator actions into a running stream: a keyed processor's `ControlInlet` as a source.

What an operator asks of a processor (acknowledge an alarm, say) is put into its inlet; this
source takes it out and the stage merges it into the items just before the processor's keying
step, so it reaches the key's state in the stateful step like a control message on the input.
The source ends with the stream's input, so a finite stream still finishes.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from bytewax.inputs import DynamicSource, StatelessSourcePartition

from streamforge.message import Message
from streamforge.plugin.operator import ControlInlet

__all__ = ["ControlSource"]

#: how often an idle inlet is looked at
POLL = timedelta(milliseconds=250)


class _InletPartition(StatelessSourcePartition[list[Message]]):
    def __init__(self, inlet: ControlInlet, ended: threading.Event) -> None:
        self._inlet = inlet
        self._ended = ended

    def next_batch(self) -> list[list[Message]]:
        taken = self._inlet.take()
        if not taken and self._ended.is_set():
            raise StopIteration
        return [taken] if taken else []

    def next_awake(self) -> datetime | None:
        return datetime.now(timezone.utc) + POLL


class ControlSource(DynamicSource[list[Message]]):
    """The messages put into `inlet`, as batches, until `ended` (the stream's input ended)."""

    def __init__(self, inlet: ControlInlet, ended: threading.Event) -> None:
        self.inlet = inlet
        self.ended = ended

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _InletPartition:
        return _InletPartition(self.inlet, self.ended)
