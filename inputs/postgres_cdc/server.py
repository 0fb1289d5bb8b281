"""What the input asks of PostgreSQL: the publication, the replication slot, peeking at its
changes and confirming positions, heartbeats and lag.

Everything runs on a `replication=database` session, which takes only the simple query
protocol: statements carry their values as literals (quoted by psycopg), never parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamforge.inputs.postgres_cdc.pgoutput import format_lsn, parse_lsn

__all__ = [
    "HEARTBEAT_PREFIX",
    "SESSION_SETTINGS",
    "ServerSession",
    "SetupError",
    "SlotState",
    "TableRef",
    "quote_ident",
]

#: settings every session of the input runs with: the text forms `values` reads
SESSION_SETTINGS = (
    "SET DateStyle TO ISO",
    "SET TimeZone TO 'UTC'",
    "SET IntervalStyle TO postgres",
    "SET extra_float_digits TO 3",
    "SET bytea_output TO hex",
)

#: the prefix of the logical messages the input writes as heartbeats
HEARTBEAT_PREFIX = "streamforge_heartbeat"


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class TableRef:
    """A table of `tables`, as the server knows it."""

    oid: int
    namespace: str
    name: str

    @property
    def sql(self) -> str:
        return f"{quote_ident(self.namespace)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class SlotState:
    plugin: str
    temporary: bool
    active_pid: int | None
    confirmed_flush: int | None


class SetupError(RuntimeError):
    """The server is not set up for what the config asks (wal_level, a missing table)."""


class ServerSession:
    """Statements of the input on one connection (see the module docs)."""

    def __init__(self, conn: Any, slot: str, publication: str) -> None:
        self.conn = conn
        self.slot = slot
        self.publication = publication

    def rows(self, text: str) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(text)
        return list(cur.fetchall()) if cur.description is not None else []

    def setup(self) -> None:
        for statement in SESSION_SETTINGS:
            self.conn.execute(statement)

    # -- checks --------------------------------------------------------------------------------

    def check_server(self) -> None:
        """PostgreSQL 14 or later (pgoutput's `messages`), with wal_level = logical."""
        version = int(self.rows("SHOW server_version_num")[0][0])
        if version < 140000:
            raise SetupError(
                f"the server runs PostgreSQL {version // 10000}; postgres_cdc needs 14 or later"
            )
        level = self.rows("SHOW wal_level")[0][0]
        if level != "logical":
            raise SetupError(
                f"the server's wal_level is {level!r}; logical replication needs "
                "wal_level = logical (set it in postgresql.conf and restart the server)"
            )

    def resolve_tables(self, schema: str, tables: list[str]) -> list[TableRef]:
        """The tables as `schema.table` resolves them (identifiers as SQL writes them)."""
        found: list[TableRef] = []
        for table in tables:
            name = f"{schema}.{table}"
            rows = self.rows(
                "SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                f"ON n.oid = c.relnamespace WHERE c.oid = to_regclass({_literal(name)})"
            )
            if not rows:
                raise SetupError(f"table {name} does not exist")
            oid, namespace, relname = rows[0]
            found.append(TableRef(int(oid), str(namespace), str(relname)))
        return found

    # -- publication ---------------------------------------------------------------------------

    def ensure_publication(self, tables: list[TableRef]) -> str:
        """Create the publication for `tables`, or set its tables; what was done."""
        pub = quote_ident(self.publication)
        listed = ", ".join(t.sql for t in tables)
        exists = self.rows(
            f"SELECT 1 FROM pg_publication WHERE pubname = {_literal(self.publication)}"
        )
        if not exists:
            self.conn.execute(f"CREATE PUBLICATION {pub} FOR TABLE {listed}")
            return "created"
        current = {
            (str(ns), str(name))
            for ns, name in self.rows(
                "SELECT schemaname, tablename FROM pg_publication_tables "
                f"WHERE pubname = {_literal(self.publication)}"
            )
        }
        if current != {(t.namespace, t.name) for t in tables}:
            self.conn.execute(f"ALTER PUBLICATION {pub} SET TABLE {listed}")
            return "updated"
        return "kept"

    # -- slot ----------------------------------------------------------------------------------

    def slot_state(self, name: str | None = None) -> SlotState | None:
        rows = self.rows(
            "SELECT plugin, temporary, active_pid, confirmed_flush_lsn::text "
            "FROM pg_replication_slots WHERE slot_name = "
            f"{_literal(name or self.slot)} AND database = current_database()"
        )
        if not rows:
            return None
        plugin, temporary, pid, flushed = rows[0]
        return SlotState(
            str(plugin or ""),
            bool(temporary),
            int(pid) if pid is not None else None,
            parse_lsn(flushed) if flushed else None,
        )

    def create_slot(self, name: str, *, temporary: bool, export: bool) -> tuple[int, str]:
        """Create a pgoutput slot; its consistent point and (with `export`) the name of a
        snapshot showing the database exactly as of that point, valid while this session
        runs nothing else."""
        kind = "TEMPORARY LOGICAL" if temporary else "LOGICAL"
        mode = "export" if export else "nothing"
        row = self.rows(
            f"CREATE_REPLICATION_SLOT {quote_ident(name)} {kind} pgoutput (SNAPSHOT '{mode}')"
        )[0]
        return parse_lsn(str(row[1])), str(row[2] or "")

    def copy_slot(self, source: str, target: str) -> None:
        """A permanent copy of `source` named `target`, at the same position."""
        self.rows(
            "SELECT pg_copy_logical_replication_slot("
            f"{_literal(source)}, {_literal(target)}, false)"
        )

    def drop_slot(self, name: str) -> None:
        self.rows(f"SELECT pg_drop_replication_slot({_literal(name)})")

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to about `limit` rows of whole transactions from the slot's confirmed position,
        without consuming them."""
        rows = self.rows(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes("
            f"{_literal(self.slot)}, NULL, {int(limit)}, 'proto_version', '1', "
            f"'publication_names', {_literal(self.publication)}, 'messages', 'true')"
        )
        return [(parse_lsn(lsn), bytes(data)) for lsn, data in rows]

    def advance(self, lsn: int) -> None:
        """Confirm everything before `lsn`: the server may recycle that WAL."""
        self.rows(f"SELECT pg_replication_slot_advance({_literal(self.slot)}, '{format_lsn(lsn)}')")

    def heartbeat(self) -> None:
        """A logical message in the WAL, so a quiet slot still has a position to confirm."""
        self.rows(f"SELECT pg_logical_emit_message(false, {_literal(HEARTBEAT_PREFIX)}, '')")

    def lag_bytes(self) -> int | None:
        """WAL bytes written since the slot's confirmed position."""
        rows = self.rows(
            "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM "
            f"pg_replication_slots WHERE slot_name = {_literal(self.slot)}"
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def type_kinds(self, oids: set[int]) -> list[tuple[int, str, int]]:
        """(OID, "domain" | "array" | "text", base or element OID) of user-defined types."""
        if not oids:
            return []
        listed = ", ".join(str(int(o)) for o in sorted(oids))
        rows = self.rows(
            "SELECT oid, typtype, typbasetype, typelem, typcategory FROM pg_type "
            f"WHERE oid IN ({listed})"
        )
        out = []
        for oid, typtype, base, elem, category in rows:
            if typtype == "d":
                out.append((int(oid), "domain", int(base)))
            elif category == "A" and int(elem):
                out.append((int(oid), "array", int(elem)))
            else:
                out.append((int(oid), "text", 0))
        return out
