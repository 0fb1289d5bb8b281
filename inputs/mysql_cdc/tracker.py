"""Which binlog positions the output has written everything up to (at least once).

Every message handed to the stream gets the next index. After a transaction's rows (or the
snapshot's), the input notes the position they end at. A position is confirmed once every
message with a lower index was acknowledged, whatever order acknowledgements arrive in; only
confirmed positions are stored in the checkpoint cache.
"""

from __future__ import annotations

from streamforge.connectors.cdc.tracker import PositionTracker
from streamforge.inputs.mysql_cdc.position import BinlogPosition

__all__ = ["AckTracker"]


class AckTracker(PositionTracker[BinlogPosition]):
    """Message indexes handed out and acknowledged, and the binlog positions they guard.

    Thread-safe: the binlog thread issues indexes and notes positions, the stream's threads
    acknowledge, the checkpoint thread reads what is confirmed.
    """
