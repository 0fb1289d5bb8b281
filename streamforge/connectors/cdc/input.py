"""The part of a change data capture Input its `batching` makes, and its offline check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamforge.plugin import BuildContext, Input, Processor
from streamforge.plugin.batching import BatchPolicy

__all__ = ["CdcInput", "offline_checker"]


class CdcInput(Input):
    """Reads `label`, `stream` and `batching`; subclasses parse their settings and `open` a
    reader with them."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None, *, name: str) -> None:
        self.label = getattr(ctx, "label", "") or name
        self.stream = getattr(ctx, "stream", "") or "stream"
        batching = conf.get("batching") or {}
        policy = BatchPolicy.from_conf(batching)
        self.policy: BatchPolicy | None = policy if policy.active else None
        procs = list(batching.get("processors") or [])
        self.processors: Processor | None = None
        if procs:
            if ctx is None:
                raise ValueError("batching.processors: need a build context")
            self.processors = ctx.build_chain(procs)
        # without a batching policy each row is a batch of its own, as in Redpanda Connect
        self.one_message_per_batch = self.policy is None


def offline_checker(
    settings: Callable[[dict[str, Any]], object],
) -> Callable[[dict[str, Any], BuildContext | None], None]:
    """The check `streamforge lint` runs: the input's `settings` parser and its batching."""

    def check(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        settings(conf)
        BatchPolicy.from_conf(conf.get("batching"))

    return check
