"""What the `broker` input and output share: `copies` of a list of child components."""

from __future__ import annotations

from typing import Any

from streamforge.plugin.spec import Field

__all__ = ["children_field", "copies", "copies_field"]


def copies_field(kind: str) -> Field:
    """`copies`: how many times each listed child (`input` or `output`) is created."""
    return Field(
        "copies",
        "int",
        default=1,
        description=f"How many times each listed {kind} is created.",
        advanced=True,
    )


def children_field(kind: str, description: str) -> Field:
    """`inputs` or `outputs`: the child components, a list of `kind` configs."""
    return Field(f"{kind}s", "array", item=Field(kind, kind), description=description)


def copies(conf: dict[str, Any]) -> int:
    """The config's `copies` (at least 1; raises otherwise)."""
    count = int(conf.get("copies", 1) or 1)
    if count < 1:
        raise ValueError("copies must be at least 1")
    return count
