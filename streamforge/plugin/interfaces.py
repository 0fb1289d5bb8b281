"""What components are: base classes of inputs, processors, outputs, caches and rate limits,
and the build context a component's factory receives."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from streamforge.message import Message

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig
    from streamforge.observability.metrics import ComponentMetrics

__all__ = [
    "BuildContext",
    "Cache",
    "CacheError",
    "Input",
    "InputReader",
    "Output",
    "Processor",
    "RateLimit",
]


class BuildContext(Protocol):
    """What a component factory may ask of the stream being built."""

    stream: str  # stream name (namespace of step ids and metric labels)
    label: str  # this component's label (explicit `label:` or a generated path label)
    path: str  # config path of this component, e.g. "pipeline.processors.2"

    @property
    def logger(self) -> logging.Logger:
        """The component's logger, `streamforge.<stream>.<label>`."""
        ...

    @property
    def metrics(self) -> ComponentMetrics:
        """The component's metric series, labelled by stream and component label."""
        ...

    def build_processors(self, confs: list[ComponentConfig]) -> list[Processor]:
        """Build nested processors (for switch, try, catch, branch ...)."""
        ...

    def build_output(self, conf: ComponentConfig) -> Output:
        """Build a nested output (for switch, broker, fallback ...)."""
        ...

    def build_input(self, conf: ComponentConfig) -> Input:
        """Build a nested input."""
        ...

    def cache(self, label: str) -> Cache:
        """The stream's cache resource `label`: one instance shared by every worker."""
        ...

    def processor_resource(self, label: str) -> Processor:
        """A new instance of the stream's processor resource `label` (as `resource: label`
        builds it); LookupError-like build errors when there is none."""
        ...

    def has_processor_resource(self, label: str) -> bool:
        """Whether the stream declares a processor resource `label`."""
        ...

    def rate_limit(self, label: str) -> RateLimit:
        """The stream's rate limit resource `label`: one instance shared by every worker."""
        ...

    def build_chain(self, confs: list[ComponentConfig], *, skip_errored: bool = True) -> Processor:
        """Nested processors fused into one processor that runs them over whole batches.

        With `skip_errored`, messages flagged with an error pass by the processors that do not
        handle errors (as in the pipeline); without it, every processor sees every message.
        """
        ...

    def section(self, name: str) -> dict[str, Any] | None:
        """The stream's top-level section `name` (e.g. `redpanda`), validated with its
        defaults filled in; None when the config has no such section."""
        ...


class Processor(ABC):
    """Transforms batches. Failing messages get `error` set; nothing raises through."""

    #: stateful processors are keyed and compiled to Bytewax stateful operators
    stateful: bool = False
    #: error handlers (`catch`) also receive messages flagged with an error; other
    #: processors only see healthy messages (errored ones pass them by untouched)
    handles_errors: bool = False
    #: whether the result depends on the batch boundaries (a mapping calling `batch_size()`
    #: or `from_all()`): such processors see the batches the input made, message by message
    #: for inputs whose every message is a batch of its own
    batch_aware: bool = False

    @abstractmethod
    def process_batch(self, batch: list[Message]) -> list[Message]:
        """Return the resulting batch (may drop, split or expand messages)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources when the stream stops."""


class InputReader(ABC):
    """Reads one partition of an input."""

    @abstractmethod
    def read(self) -> list[Message] | None:
        """Next batch: a list (possibly empty when nothing is ready) or None at the end."""

    def next_awake(self) -> datetime | None:
        """When to call `read` next (UTC); None means as soon as possible."""
        return None

    def snapshot(self) -> Any:
        """Resume state for recovery (e.g. offset); None when not resumable."""
        return None

    def ack(self, batch: list[Message], error: str | None) -> None:  # noqa: B027 - optional
        """The stream is done with a batch `read` returned (override to acknowledge to a peer).

        Called once per batch, from the worker thread or the output's acknowledgement timer
        (lock accordingly), after every message derived from it was written (`error` None) or
        when writing failed (`error` says why). Readers that do not override it cost nothing.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class Input(ABC):
    """An input: a set of partitions, each read by exactly one worker."""

    #: True when a partition opened with a snapshot's resume state reads again everything
    #: after that snapshot (a file offset, a Kafka offset, a generator's count), and nothing
    #: read after it was acknowledged to a peer that will not send it again. Only then may a
    #: resumable output drop, on resume, what it wrote after the snapshot.
    replays_from_snapshot: bool = False
    #: True when, as in Benthos, each message the input reads is a batch of its own (lines of
    #: a file or of stdin): batch-aware processors then see batches of one
    one_message_per_batch: bool = False

    def partitions(self) -> list[str]:
        """Stable partition keys; Bytewax spreads them over workers and processes."""
        return ["0"]

    @abstractmethod
    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        """Open one partition, resuming from a recovery snapshot when given."""


class Output(ABC):
    """An output; one instance per worker."""

    @abstractmethod
    def write_batch(self, batch: list[Message]) -> list[Message]:
        """Write a batch; return the messages that could not be written (error set)."""

    def flush(self) -> list[Message]:
        """Write anything buffered; return failures. Called on period timers and close."""
        return []

    def buffered(self) -> int:
        """Messages accepted but not written yet (held by a batching policy)."""
        return 0

    def take_failures(self) -> list[Message]:
        """Messages that writes made on the output's own (a batching period) failed since asked."""
        return []

    def confirm_later(self, progress: Callable[[], None]) -> None:  # noqa: B027 - optional
        """Allow `write_batch` to return before the peer confirmed what it sent.

        Called by the engine on the stream's top-level output only. An output that accepts
        keeps counting unconfirmed messages in `buffered()` (every message handed over since
        the oldest unconfirmed one), returns confirmation failures from `take_failures()`,
        waits for everything in `flush()`, and calls `progress()` (from any thread) when
        confirmations arrived, so input batches are acknowledged without delay.
        """

    @property
    def resumable(self) -> bool:
        """Whether `resume` can drop what this output wrote after a snapshot.

        With a recovery directory and an input that replays from its snapshot, a resumable
        output writes each message exactly once across a kill: on resume it drops what it
        wrote after the snapshot, and the input writes it again.
        """
        return False

    def snapshot(self) -> Any:
        """Where the written data ends (resumable outputs; the engine calls `flush` first)."""
        return None

    def resume(self, state: Any | None, workdir: str) -> None:  # noqa: B027 - optional hook
        """Before the first write of a resumable output: drop what was written after `state`.

        `state` is the last recovery snapshot's (None when the stream has none yet: drop
        everything an earlier run wrote); `workdir` is a directory kept beside the recovery
        snapshots for the output's own bookkeeping (e.g. what it wrote before a snapshot).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources."""


class CacheError(Exception):
    """A cache could not do what was asked (e.g. its server is unreachable)."""


class Cache(ABC):
    """A key/value store that components share through `cache_resources`.

    One instance serves every worker of a process, so implementations are thread-safe.
    `ttl` is in seconds; None means the cache's default. Failures raise CacheError.
    """

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The value of `key`, or None when it is absent or expired."""

    @abstractmethod
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store `value` under `key`, replacing any value."""

    @abstractmethod
    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store `value` only if `key` is absent (or expired), atomically; True if stored."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key` (nothing happens when it is absent)."""

    def add_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None = None) -> list[bool]:
        """`add` for each item in order (a key repeated in `items` is stored once).

        Caches override it to do a whole batch in one round trip or one clock reading.
        """
        return [self.add(key, value, ttl) for key, value in items]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and memory when the stream stops."""


class RateLimit(ABC):
    """A limit on how often something may happen, shared through `rate_limit_resources`.

    One instance serves every worker of a process, so implementations are thread-safe.
    """

    @abstractmethod
    def access(self) -> float:
        """Take one access: 0 when it may happen now, else the seconds to wait before asking
        again (the access was not taken). Failures raise an exception."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections when the stream stops."""
