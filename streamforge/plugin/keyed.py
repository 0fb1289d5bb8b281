"""Keyed processors: messages are keyed, and each key's state lives in a Bytewax stateful step.

A `KeyedProcessor` says how to key a message and how one key's batch changes that key's
state. The engine groups keys into shards, splits each batch by shard and runs the parts in
Bytewax stateful steps, so a key's state lives on one worker and is snapshotted with recovery:

    @register_processor("count_per_key", fields=[...])
    class CountPerKey(KeyedProcessor):
        def key(self, msg):
            return str(msg.metadata.get("device", ""))

        def process_key(self, key, batch, state):
            n = (state or 0) + len(batch)
            return [Message(value={"key": key, "seen": n})], n

A processor instance is shared by every worker of a process: per-key state belongs in `state`
(returned from each call; None discards it), never on `self`. State must pickle (recovery).
Processors that need speed over many keys override `process_shard`, which sees a shard's
messages of one batch at once. Processors of the telemetry envelope key by series with
`streamforge.processors.telemetry.series.SeriesKeyedProcessor`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from streamforge.message import Message
from streamforge.plugin.interfaces import Processor
from streamforge.plugin.operator import ControlInlet, OperatorEndpoint

__all__ = ["KeyedOut", "KeyedProcessor", "group_by_key"]

#: what a keyed step emits per key: the messages it produced, and the key's new state
KeyedOut = tuple[list[Message], Any]


class KeyedProcessor(Processor):
    """A processor whose state is kept per key in a Bytewax stateful step."""

    stateful = True

    #: operator actions (`streamforge.plugin.operator`): the inlet whose messages the engine
    #: feeds into this processor's stateful step
    control_inlet: ControlInlet | None = None

    def operator_endpoint(self) -> tuple[str, OperatorEndpoint] | None:
        """The topic and endpoint operators reach this processor by; None for none."""
        return None

    @abstractmethod
    def key(self, msg: Message) -> str:
        """The key of a message (e.g. its series); the processor's state is kept per key."""

    @abstractmethod
    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        """Messages of one key, in arrival order: (messages to emit, new state or None)."""

    def notify_at(self, key: str, state: Any) -> datetime | None:
        """When `on_notify` should next run for this key (UTC); None for never."""
        return None

    def on_notify(self, key: str, state: Any) -> KeyedOut:
        """The time `notify_at` asked for has come (timeouts, gaps, windows closing)."""
        return [], state

    def on_eof(self, key: str, state: Any) -> KeyedOut:
        """The input ended: emit what is still held (the state is kept for a resume)."""
        return [], state

    #: True when `process_shard` emits only messages it received, with their key fields
    #: unchanged; such a processor may share its stateful step with the next keyed one
    preserves_keys = False

    def key_identity(self) -> str | None:
        """A name for how this processor keys messages, equal for processors that key alike
        (e.g. "series"); None when it keys its own way."""
        return None

    @property
    def timed(self) -> bool:
        """Whether `notify_at` can ask for a wake-up (processors without timers skip it)."""
        return type(self).notify_at is not KeyedProcessor.notify_at

    # -- a shard: many keys at once ------------------------------------------------------------

    def process_shard(
        self, keys: list[str], batch: list[Message], states: dict[str, Any]
    ) -> list[Message]:
        """A shard's messages of one batch with their keys, in arrival order.

        Updates `states` in place (a key whose state becomes None is removed) and returns the
        messages to emit. The default groups by key and calls `process_key`; a processor over
        many keys overrides it to skip the per-key calls. A key whose processing raises has its
        messages flagged and passed on.
        """
        out: list[Message] = []
        for key, part in group_by_key(keys, batch).items():
            try:
                emitted, state = self.process_key(key, part, states.get(key))
            except Exception as exc:  # noqa: BLE001 - a buggy processor flags, never kills
                for m in part:
                    m.error = f"{type(self).__name__}: {exc}"
                out.extend(part)
                continue
            if state is None:
                states.pop(key, None)
            else:
                states[key] = state
            out.extend(emitted)
        return out

    def shard_due(self, keys: Iterable[str], states: dict[str, Any]) -> datetime | None:
        """The earliest `notify_at` of these keys (those a batch touched, or all on a wake-up)."""
        due: datetime | None = None
        for key in keys:
            state = states.get(key)
            if state is None:
                continue
            at = self.notify_at(key, state)
            if at is not None and (due is None or at < due):
                due = at
        return due

    def resumed(self, states: dict[str, Any]) -> None:
        """The states of a shard read back from a recovery snapshot (adjust them in place)."""

    # -- outside a compiled dataflow (unit tests, `streamforge test`, nested use) -----------

    def process_batch(self, batch: list[Message]) -> list[Message]:
        """Run the keyed logic over one batch with states kept on this instance."""
        states: dict[str, Any] = self.__dict__.setdefault("_local_states", {})
        keys: list[str] = []
        taken: list[Message] = []
        passing: list[Message] = []
        for msg in batch:
            if msg.error is not None and not self.handles_errors:
                passing.append(msg)
                continue
            try:
                keys.append(self.key(msg))
            except Exception as exc:  # noqa: BLE001 - a message whose key fails is flagged
                msg.error = f"key: {type(exc).__name__}: {exc}"
                passing.append(msg)
                continue
            taken.append(msg)
        out = self.process_shard(keys, taken, states) if taken else []
        return out + passing if passing else out

    def end_of_input(self) -> list[Message]:
        """Outside a dataflow: what `on_eof` emits for every key held on this instance."""
        states: dict[str, Any] = self.__dict__.setdefault("_local_states", {})
        out: list[Message] = []
        for key in list(states):
            emitted, state = self.on_eof(key, states[key])
            out.extend(emitted)
            if state is None:
                states.pop(key)
            else:
                states[key] = state
        return out


def group_by_key(keys: list[str], batch: list[Message]) -> dict[str, list[Message]]:
    """Messages by key, each key's in arrival order."""
    parts: dict[str, list[Message]] = {}
    for key, msg in zip(keys, batch):
        part = parts.get(key)
        if part is None:
            parts[key] = [msg]
        else:
            part.append(msg)
    return parts
