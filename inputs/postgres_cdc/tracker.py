"""Which slot positions the output has written everything up to (at-least-once).

Every message the input hands to the stream gets the next index. After the messages of a
transaction, the input notes the transaction's end LSN as a position. A position is confirmed
once every message with a lower index was acknowledged, whatever order acknowledgements
arrive in; only confirmed positions are reported to the replication slot.
"""

from __future__ import annotations

from streamforge.connectors.cdc.tracker import PositionTracker

__all__ = ["AckTracker"]


class AckTracker(PositionTracker[int]):
    """Message indexes handed out and acknowledged, and the LSNs they guard.

    Thread-safe: the input's thread issues indexes and notes positions, the stream's threads
    acknowledge.
    """
