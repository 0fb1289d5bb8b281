"""Config fields both change data capture inputs declare, and the checks of their values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamforge.plugin import Field
from streamforge.plugin.spec import ParsedField

__all__ = ["at_least", "checkpoint_limit_field", "snapshot_batch_size_field"]


def at_least(n: int) -> Callable[[Any], int]:
    """A parser of an int no smaller than `n`."""

    def check(value: Any) -> int:
        if int(value) < n:
            raise ValueError(f"must be at least {n}, got {value}")
        return int(value)

    return check


def checkpoint_limit_field(kept: str) -> Field:
    """`checkpoint_limit`; `kept` says what becomes of a position (`stored`)."""
    return ParsedField(
        "checkpoint_limit",
        "int",
        default=1024,
        parser=at_least(1),
        description="Most messages handed to the stream and not written yet; a position is "
        f"{kept} only once every message before it was written.",
    )


def snapshot_batch_size_field(name: str, examples: tuple[Any, ...] = ()) -> Field:
    """The rows fetched at a time from the snapshot, under the input's own field name."""
    return ParsedField(
        name,
        "int",
        default=1000,
        parser=at_least(1),
        description="Rows fetched at a time while reading the snapshot.",
        examples=examples,
    )
