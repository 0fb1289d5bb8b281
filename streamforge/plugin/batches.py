"""Several batches returned by one processor (`split`, `group_by`, `group_by_value`).

A processor's result is a list of messages. A processor that breaks a batch into several
returns `Batches`: still that flat list (so code that only counts or orders messages works
unchanged), but it also knows where each batch ends. The processors after it in a chain run
once per batch, and the pipeline hands each batch to the output on its own; the input batch they
came from is acknowledged once every one of them is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streamforge.message import Message

__all__ = ["Batches", "parts_of"]


class Batches(list):  # type: ignore[type-arg]
    """Messages of several batches, in order; `parts` holds each batch (none empty)."""

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[list[Message]]) -> None:
        kept = [list(p) for p in parts if p]
        super().__init__(m for p in kept for m in p)
        self.parts: list[list[Message]] = kept

    def __reduce__(self) -> tuple[Any, ...]:
        return (Batches, (self.parts,))


def parts_of(result: list[Message]) -> list[list[Message]]:
    """The batches a processor result stands for: its parts, or the result itself."""
    if type(result) is Batches:
        return result.parts
    return [result] if result else []
