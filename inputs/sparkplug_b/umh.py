"""Sparkplug names as UMH names (benthos-umh's conversion): a device id becomes the location
path, a metric name the virtual path and the tag name.

`enterprise:site:line` becomes `enterprise.site.line`; a metric name splits at its last
separator, colons first, then slashes, then dots: `motor:diagnostics:temperature` is virtual
path `motor.diagnostics` and tag name `temperature`. Characters outside `a-zA-Z0-9._-` become
`_`, runs of dots one dot, and dots at either end go.
"""

from __future__ import annotations

import re

__all__ = ["location_path", "sanitize", "sanitize_path", "split_metric_name", "umh_topic"]

_INVALID = re.compile(r"[^a-zA-Z0-9._\-]")
_DOTS = re.compile(r"\.{2,}")
_TOPIC_INVALID = re.compile(r"[^a-zA-Z0-9.]")

#: the data contract benthos-umh's conversion names
DATA_CONTRACT = "_raw"


def sanitize(text: str) -> str:
    """Characters a topic may not hold become `_` (dots kept), as `*_sanitized` fields have."""
    return _TOPIC_INVALID.sub("_", text)


def sanitize_path(text: str) -> str:
    """A hierarchy path: `:` and `/` become dots, invalid characters `_`, no empty levels."""
    dotted = text.replace(":", ".").replace("/", ".")
    return _DOTS.sub(".", _INVALID.sub("_", dotted)).strip(".")


def location_path(edge_node: str, device: str, *, include_edge_node: bool) -> str:
    """The location path of a sender: its device id, or its edge node for node messages."""
    if not device:
        return sanitize_path(edge_node)
    if include_edge_node:
        return sanitize_path(f"{edge_node}.{device}")
    return sanitize_path(device)


def split_metric_name(name: str) -> tuple[str, str]:
    """(virtual path, tag name) of a metric name; the virtual path may be empty."""
    for sep in (":", "/", "."):
        if sep in name.strip(sep):
            parts = [p for p in name.strip(sep).split(sep) if p]
            tag = _INVALID.sub("_", parts[-1].replace(":", "_").replace("/", "_"))
            return sanitize_path(".".join(parts[:-1])), tag.strip(".")
    return "", _INVALID.sub("_", name.strip(":/.")) or "_"


def umh_topic(location: str, virtual: str, tag: str) -> str:
    """`umh.v1.<location>.<contract>[.<virtual path>].<tag>`."""
    middle = f".{virtual}" if virtual else ""
    return f"umh.v1.{location}.{DATA_CONTRACT}{middle}.{tag}"
