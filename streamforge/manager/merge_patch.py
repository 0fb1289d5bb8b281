"""JSON merge patch (RFC 7386), as PATCH on streams (Benthos' paths) and on Things applies it."""

from __future__ import annotations

from typing import Any

__all__ = ["merge_patch"]


def merge_patch(base: Any, patch: Any) -> Any:
    """`base` with `patch` applied: objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
