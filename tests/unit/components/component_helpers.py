"""Helpers for component tests: a build context and small recording outputs/processors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamforge.message import Message
from streamforge.plugin import Cache, Output, Processor, registry
from streamforge.plugin.testing import PluginTestContext


class Ctx(PluginTestContext):
    """A BuildContext whose nested components are given built, or as `{type: conf}`."""

    def __init__(self) -> None:
        super().__init__()

    def cache(self, label: str) -> Cache:
        raise LookupError(f"no cache resource {label!r} in component tests")


class Recorder(Output):
    """Keeps what it is given; fails messages for which `fail(msg)` is true."""

    def __init__(self, fail: Callable[[Message], bool] | None = None, reason: str = "boom"):
        self.batches: list[list[Message]] = []
        self.fail = fail
        self.reason = reason
        self.closed = False
        self.flushed = 0

    @property
    def messages(self) -> list[Message]:
        return [m for b in self.batches for m in b]

    @property
    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages]

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed = [m for m in batch if self.fail is not None and self.fail(m)]
        for m in failed:
            m.error = self.reason
        ok = [m for m in batch if not any(m is f for f in failed)]
        if ok:
            self.batches.append(ok)
        return failed

    def flush(self) -> list[Message]:
        self.flushed += 1
        return []

    def close(self) -> None:
        self.closed = True


class Fn(Processor):
    """A processor from a function over one message (returning a message, a list or None)."""

    def __init__(self, fn: Callable[[Message], Any]):
        self.fn = fn
        self.seen: list[bytes] = []

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for m in batch:
            self.seen.append(m.payload)
            r = self.fn(m)
            if isinstance(r, list):
                out.extend(r)
            elif r is not None:
                out.append(r)
        return out


def build(kind: str, name: str, conf: Any, context: Ctx | None = None) -> Any:
    spec = registry.get(kind, name)  # type: ignore[arg-type]
    assert spec is not None, f"unknown {kind} {name}"
    return spec.factory(conf, context or Ctx())


def msgs(*payloads: bytes | str) -> list[Message]:
    return [Message(p) for p in payloads]
