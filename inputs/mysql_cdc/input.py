"""The `mysql_cdc` input's spec and its Input: one partition, one binlog connection."""

from __future__ import annotations

from typing import Any

from streamforge.connectors.cdc.input import CdcInput, offline_checker
from streamforge.inputs.mysql_cdc.reader import CdcReader
from streamforge.inputs.mysql_cdc.settings import CdcSettings, fields
from streamforge.license.catalog import register_feature
from streamforge.plugin import BuildContext, Cache, Input, InputReader, register_input
from streamforge.plugin.optional import require
from streamforge.plugin.spec import offline_check

__all__ = ["MysqlCdcInput"]

register_feature("input", "mysql_cdc", "bindings", "mysql_cdc")


class MysqlCdcInput(CdcInput):
    """Streams the changes of MySQL or MariaDB tables from the server's binlog."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = CdcSettings.from_conf(conf)
        if ctx is None:
            raise ValueError("mysql_cdc: needs a build context for its checkpoint_cache")
        self.cache: Cache = ctx.cache(self.settings.checkpoint_cache)
        super().__init__(conf, ctx, name="mysql_cdc")

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        require("pymysqlreplication", "mysql_cdc", "mysql_cdc input")
        return CdcReader(
            self.settings,
            self.cache,
            label=self.label,
            stream=self.stream,
            policy=self.policy,
            processors=self.processors,
        )


@register_input(
    "mysql_cdc",
    fields=fields(),
    summary="Streams the inserts, updates and deletes of MySQL or MariaDB tables from the "
    "binlog, optionally after a snapshot of the rows they hold.",
    description=(
        "Each message is a row as a JSON object (an update's new row, a delete's old one) with "
        "metadata `operation` (`read` for snapshot rows, `insert`, `update`, `delete`), `table` "
        "and `binlog_position` (not on snapshot rows). The server needs `log_bin` with "
        "`binlog_format = ROW` and `binlog_row_image = FULL` (and `binlog_row_metadata = FULL` "
        "for ENUM and SET values). The binlog position is stored in `checkpoint_cache` only "
        "once the output wrote every message before it, so a restarted stream sends again what "
        "was not written (at least once)."
    ),
    examples=(
        "mysql_cdc:\n  dsn: cdc:secret@tcp(localhost:3306)/plant\n"
        "  tables: [ readings, alarms ]\n  checkpoint_cache: cdc_positions\n"
        "  stream_snapshot: true\n",
    ),
)
@offline_check(offline_checker(CdcSettings.from_conf))
def build_mysql_cdc(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Streams the changes of MySQL or MariaDB tables from the binlog."""
    return MysqlCdcInput(conf, ctx)
