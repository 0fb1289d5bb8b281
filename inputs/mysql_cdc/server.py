"""What the input asks the server on an ordinary connection: whether the binlog is usable, the
tables and their columns, the binlog's current end, and a snapshot consistent with a binlog
position."""

from __future__ import annotations

import logging
import re
from typing import Any

from streamforge.inputs.mysql_cdc.position import BinlogPosition
from streamforge.inputs.mysql_cdc.values import Column, TableSchema

__all__ = ["ServerSession", "SetupError", "quote_ident"]

log = logging.getLogger("streamforge.inputs.mysql_cdc")

_JSON_CHECK = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.IGNORECASE)
#: MySQL 8.4 replaced SHOW MASTER STATUS; MariaDB and older MySQL know only the first
_STATUS_QUERIES = ("SHOW MASTER STATUS", "SHOW BINARY LOG STATUS")


class SetupError(Exception):
    """The server or the tables are not ready for change data capture (said plainly)."""


def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class ServerSession:
    """Queries on one PyMySQL connection (autocommit)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def rows(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def is_mariadb(self) -> bool:
        return "mariadb" in str(self.conn.get_server_info()).lower()

    def variables(self, *names: str) -> dict[str, str]:
        marks = ", ".join(["%s"] * len(names))
        found = self.rows(
            "SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES "
            f"WHERE LOWER(VARIABLE_NAME) IN ({marks})",
            [n.lower() for n in names],
        )
        return {str(k): str(v) for k, v in found}

    def check_binlog(self) -> bool:
        """Refuse a server whose binlog cannot feed the input; True when the binlog carries
        column names (`binlog_row_metadata = FULL`)."""
        found = self.variables(
            "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata"
        )
        if found.get("log_bin", "OFF").upper() not in ("ON", "1"):
            raise SetupError(
                "the server's binary log is off: start it with --log-bin --binlog-format=ROW"
            )
        if found.get("binlog_format", "").upper() != "ROW":
            raise SetupError(
                f"the server's binlog_format is {found.get('binlog_format')!r}: change data "
                "capture needs ROW"
            )
        image = found.get("binlog_row_image", "FULL").upper()
        if image != "FULL":
            raise SetupError(
                f"the server's binlog_row_image is {image!r}: change data capture needs FULL "
                "(whole rows in every change)"
            )
        return found.get("binlog_row_metadata", "").upper() == "FULL"

    def resolve_tables(self, database: str, tables: list[str]) -> None:
        """Check that `tables` exist in `database`, naming those that do not."""
        found = {
            str(r[0])
            for r in self.rows(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                [database],
            )
        }
        if not self.rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                         [database]):  # fmt: skip
            raise SetupError(f"database {database!r} does not exist")
        missing = [t for t in tables if t not in found]
        if missing:
            known = ", ".join(sorted(found)[:20]) or "none"
            names = ", ".join(repr(t) for t in missing)
            raise SetupError(
                f"table {names} does not exist in database {database!r} (its tables: {known})"
                if len(missing) == 1
                else f"tables {names} do not exist in database {database!r} (its tables: {known})"
            )

    def schemas(self, database: str, tables: list[str]) -> dict[str, TableSchema]:
        """The columns of each table, with MariaDB's JSON columns recognised."""
        marks = ", ".join(["%s"] * len(tables))
        columns = self.rows(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE "
            "FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = %s AND TABLE_NAME IN ({marks}) "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            [database, *tables],
        )
        json_columns: set[tuple[str, str]] = set()
        if self.is_mariadb():
            for table, clause in self.rows(
                "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                f"WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME IN ({marks})",
                [database, *tables],
            ):
                m = _JSON_CHECK.fullmatch(str(clause).strip())
                if m:
                    json_columns.add((str(table), m.group(1).replace("``", "`")))
        out: dict[str, TableSchema] = {t: TableSchema(t, []) for t in tables}
        for table, name, data_type, column_type in columns:
            cols = out[str(table)].columns
            cols.append(
                Column(str(name), str(data_type), _text(column_type),
                       json=(str(table), str(name)) in json_columns)
            )  # fmt: skip
        return {t: TableSchema(t, s.columns) for t, s in out.items()}

    def binlog_end(self) -> BinlogPosition:
        """The binlog's current end: where changes committed from now on begin."""
        pymysql = _pymysql()
        for query in _STATUS_QUERIES:
            try:
                found = self.rows(query)
            except pymysql.err.ProgrammingError:
                continue
            if not found:
                raise SetupError("the server's binary log is off: start it with --log-bin")
            return BinlogPosition(str(found[0][0]), int(found[0][1]))
        raise SetupError("the server does not tell its binlog position (SHOW MASTER STATUS)")

    # -- a consistent snapshot --------------------------------------------------------------

    def start_snapshot(self, lock_conn: Any, database: str, tables: list[str]) -> BinlogPosition:
        """Open a read-only REPEATABLE READ transaction on this connection that sees the
        tables exactly as of the binlog position returned.

        MariaDB reports the binlog position of a consistent snapshot itself; on MySQL the
        tables are locked against writes (on `lock_conn`) while the snapshot starts and the
        position is read.
        """
        self.rows("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self.rows("SET SESSION time_zone = '+00:00'")
        if self.is_mariadb():
            self.rows("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            status = self.rows("SHOW STATUS LIKE 'binlog_snapshot_%'")
            found = {str(k).lower(): v for k, v in status}
            name = found.get("binlog_snapshot_file")
            offset = found.get("binlog_snapshot_position")
            if name and offset:
                return BinlogPosition(str(name), int(offset))
            self.rows("ROLLBACK")
        names = ", ".join(f"{quote_ident(database)}.{quote_ident(t)}" for t in tables)
        with lock_conn.cursor() as cur:
            cur.execute(f"FLUSH TABLES {names} WITH READ LOCK")
            try:
                self.rows("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                return ServerSession(lock_conn).binlog_end()
            finally:
                cur.execute("UNLOCK TABLES")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def _pymysql() -> Any:
    from streamforge.plugin.optional import require

    return require("pymysql", "mysql_cdc", "mysql_cdc input")
