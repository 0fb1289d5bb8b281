"""Which process of a cluster this is, for components that need a name unique across it.

`streamforge run -i N -a ...` sets it before any component is built; a single process is
process 0 of 1. An MQTT client id, for one, must differ between the processes of a cluster.
"""

from __future__ import annotations

__all__ = ["process_index", "set_process"]

_index = 0


def set_process(index: int) -> None:
    """Record this process's index in its cluster (0 when it runs alone)."""
    global _index
    _index = index


def process_index() -> int:
    """This process's index in its cluster (0 when it runs alone)."""
    return _index
