"""The `postgres_cdc` input's spec and its Input: one partition, one replication slot."""

from __future__ import annotations

from typing import Any

from streamforge.connectors.cdc.input import CdcInput, offline_checker
from streamforge.inputs.postgres_cdc.reader import CdcReader
from streamforge.inputs.postgres_cdc.settings import CdcSettings, fields
from streamforge.license.catalog import register_feature
from streamforge.plugin import BuildContext, Input, InputReader, register_input
from streamforge.plugin.optional import require
from streamforge.plugin.spec import offline_check

__all__ = ["PostgresCdcInput"]

register_feature("input", "postgres_cdc", "bindings", "postgres_cdc")


class PostgresCdcInput(CdcInput):
    """Streams the changes of PostgreSQL tables through a logical replication slot."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = CdcSettings.from_conf(conf)
        super().__init__(conf, ctx, name="postgres_cdc")

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        require("psycopg", "postgres", "postgres_cdc input")
        return CdcReader(
            self.settings,
            label=self.label,
            stream=self.stream,
            policy=self.policy,
            processors=self.processors,
        )


@register_input(
    "postgres_cdc",
    fields=fields(),
    summary="Streams the inserts, updates and deletes of PostgreSQL tables through logical "
    "replication, optionally after a snapshot of the rows they hold.",
    description=(
        "Each message is a row as a JSON object with metadata `table`, `operation` (`read` for "
        "snapshot rows, `insert`, `update`, `delete`; `begin` and `commit` with "
        "`include_transaction_markers`), `lsn` (not on snapshot rows), `commit_ts_ms`, and "
        "`before` (the old row of updates and deletes, as far as the table's REPLICA IDENTITY "
        "sends it). The server needs `wal_level = logical`. The slot's position is confirmed "
        "only once the output wrote every message before it, so a restart of the stream or of "
        "the server sends again what was not written (at least once)."
    ),
    examples=(
        "postgres_cdc:\n  dsn: postgres://cdc:secret@localhost:5432/plant?sslmode=disable\n"
        "  schema: public\n  tables: [ readings, alarms ]\n  slot_name: plant_cdc\n"
        "  stream_snapshot: true\n",
    ),
)
@offline_check(offline_checker(CdcSettings.from_conf))
def build_postgres_cdc(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Streams the changes of PostgreSQL tables through logical replication."""
    return PostgresCdcInput(conf, ctx)
