"""The `postgres_cdc` input: change data capture from PostgreSQL through logical replication.

A publication (`pglog_stream_<slot_name>`) names the tables and a logical replication slot
with the `pgoutput` plugin keeps the WAL from the input's confirmed position on. The input
peeks at the slot's decoded changes (`pg_logical_slot_peek_binary_changes`), emits each
transaction's rows once and moves the slot on (`pg_replication_slot_advance`) only past
transactions the output has written in full: after a restart of the stream or of the server
it reads again from there. With `stream_snapshot`, the rows the tables hold are read first in
the snapshot the slot exported when it was created, so no change falls between the two.

Modules: `pgoutput` decodes the server's messages, `values` types column values, `changes`
turns transactions into messages, `tracker` follows acknowledgements, `server` holds the SQL,
`snapshot` reads the tables, `worker` runs the session, `reader` hands batches to the stream.
What it shares with `mysql_cdc` is in `streamforge.connectors.cdc`.
"""

from __future__ import annotations

from streamforge.inputs.postgres_cdc.input import PostgresCdcInput

__all__ = ["PostgresCdcInput"]
