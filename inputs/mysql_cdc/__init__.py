"""The `mysql_cdc` input: change data capture from MySQL and MariaDB through the binlog.

The input connects as a replica (`pymysqlreplication`) and follows the binlog from a position:
the one stored in `checkpoint_cache`, else (with `stream_snapshot`) the position of a
consistent snapshot whose rows it emits first, else the binlog's end. Each committed
transaction's rows are emitted once, and the position after it is stored in the cache only
when the output has written every message before it: a restart of the stream or of the server
reads again from there.

Modules: `position` writes binlog positions, `values` types column values, `changes` makes
messages, `server` holds the SQL, `snapshot` reads the tables, `binlog` follows the binlog,
`tracker` follows acknowledgements, `checkpoints` keeps the position in the cache, `worker`
runs the session, `reader` hands batches to the stream. What it shares with `postgres_cdc` is
in `streamforge.connectors.cdc`.
"""

from __future__ import annotations

from streamforge.inputs.mysql_cdc.input import MysqlCdcInput

__all__ = ["MysqlCdcInput"]
