"""`sql` cache: each item a row of a table (key column, value column) in PostgreSQL, MySQL/MariaDB
or SQLite, as Redpanda Connect's `sql` cache.

`get` selects the value of the key's row, `delete` deletes the row, `add` inserts a row when the
key has none, and `set` inserts with `set_suffix` (the database's upsert clause) or, without
one, updates the key's row and inserts it when there was none. The connection is the `sql_*`
components' (`driver`, `dsn`, `init_statement`, the pool fields). Values are written as text
when they are UTF-8 (so the rows stay readable), as bytes otherwise and always into a
PostgreSQL `bytea` column. Items have no expiry: TTLs are ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from streamforge.connectors.sql import (
    Database,
    DatabaseGone,
    Statement,
    connection_fields,
    execute,
    failure_reason,
    jsonable,
    statement,
)
from streamforge.license.catalog import register_feature
from streamforge.plugin import BuildContext, Cache, CacheError, Field, register_cache
from streamforge.plugin.spec import ParsedField

__all__ = ["SqlCache", "sql_cache"]

T = TypeVar("T")

#: PostgreSQL's type oid of `bytea`
_BYTEA_OID = 17

register_feature("cache", "sql", "bindings", "sql")


def _name(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    if ";" in text:
        raise ValueError(f"{text!r} is not a table or column name")
    return text


class SqlCache(Cache):
    """A Cache over one table: a row per key; statements made once, a pool per cache."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        label = getattr(ctx, "label", "") or "sql"
        self.db = Database(conf, stream=getattr(ctx, "stream", "") or "stream", label=label)
        table, key, value = (_name(conf[f]) for f in ("table", "key_column", "value_column"))
        suffix = str(conf.get("set_suffix") or "").strip()
        driver = self.db.driver

        def sql(text: str) -> Statement:
            return statement(text, driver, generated=True)

        self._select = sql(f"SELECT {value} FROM {table} WHERE {key} = ?")
        self._probe = sql(f"SELECT {value} FROM {table} WHERE 1 = 0")
        self._insert = sql(f"INSERT INTO {table} ({key}, {value}) VALUES (?, ?)")
        self._upsert = sql(f"INSERT INTO {table} ({key}, {value}) VALUES (?, ?) {suffix}")
        self._update = sql(f"UPDATE {table} SET {value} = ? WHERE {key} = ?")
        self._delete = sql(f"DELETE FROM {table} WHERE {key} = ?")
        self.set_suffix = suffix
        self._binary: bool | None = None
        self._probe_lock = threading.Lock()

    # -- Cache ----------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        def work(conn: Any) -> Any:
            return execute(conn, self._select, (key,)).first()

        row = self._run(work)
        return None if row is None or row[0] is None else _as_bytes(row[0])

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        def work(conn: Any) -> None:
            stored = self._stored(conn, value)
            if self.set_suffix:
                execute(conn, self._upsert, (key, stored))
            elif execute(conn, self._update, (stored, key)).rowcount == 0:
                execute(conn, self._insert, (key, stored))

        self._run(work)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        def work(conn: Any) -> bool:
            if execute(conn, self._select, (key,)).first() is not None:
                return False
            execute(conn, self._insert, (key, self._stored(conn, value)))
            return True

        try:
            return self._run(work, integrity=True)
        except _Conflict as exc:
            # another writer inserted the key meanwhile (a unique key refused this row)
            if self.get(key) is not None:
                return False
            raise CacheError(str(exc)) from None

    def delete(self, key: str) -> None:
        self._run(lambda conn: execute(conn, self._delete, (key,)))

    def close(self) -> None:
        self.db.close()

    # -- internals ----------------------------------------------------------------------------
    def _run(self, work: Callable[[Any], T], *, integrity: bool = False) -> T:
        """`work` in one transaction; failures as CacheError (a refused insert as _Conflict)."""
        from sqlalchemy.exc import IntegrityError

        try:
            return self.db.run(work)
        except DatabaseGone as exc:
            raise CacheError(str(exc)) from exc
        except IntegrityError as exc:
            if integrity:
                raise _Conflict(failure_reason(exc)) from exc
            raise CacheError(failure_reason(exc)) from exc
        except Exception as exc:  # any failure fails the operation, not the stream
            raise CacheError(failure_reason(exc)) from exc

    def _stored(self, conn: Any, value: bytes) -> Any:
        """`value` as the value column takes it: bytes for `bytea`, else text when UTF-8."""
        if self._binary is None:
            with self._probe_lock:
                if self._binary is None:
                    self._binary = self._binary_column(conn)
        if self._binary:
            return value
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            if self.db.driver == "postgres":
                raise ValueError(
                    "the value is not UTF-8 text; a bytea value column takes any bytes"
                ) from None
            return value

    def _binary_column(self, conn: Any) -> bool:
        if self.db.driver != "postgres":
            return False
        result = execute(conn, self._probe, ())
        description: Any = result.cursor.description if result.cursor is not None else None
        result.close()
        return bool(description) and description[0].type_code == _BYTEA_OID


class _Conflict(Exception):
    """The database refused an inserted row (a unique key or another constraint)."""


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    import json

    return json.dumps(jsonable(value), separators=(",", ":")).encode("utf-8")


def _fields() -> list[Field]:
    driver, dsn, *pool = connection_fields()
    return [
        driver,
        dsn,
        ParsedField(
            "table",
            "string",
            parser=_name,
            description="The table holding the items, a row per key.",
            examples=("cache_items",),
        ),
        ParsedField(
            "key_column",
            "string",
            parser=_name,
            description="The column of the keys (text of any length; best the primary key).",
            examples=("key",),
        ),
        ParsedField(
            "value_column",
            "string",
            parser=_name,
            description="The column of the values: text, or bytea/BLOB for binary values.",
            examples=("value",),
        ),
        Field(
            "set_suffix",
            "string",
            default="",
            description="Put after the INSERT of `set` to make it the database's upsert; "
            "without it, `set` updates the key's row and inserts one when there is none.",
            examples=(
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                "ON DUPLICATE KEY UPDATE value = VALUES(value)",
            ),
        ),
        *pool,
    ]


@register_cache(
    "sql",
    fields=_fields(),
    summary="Keeps each item as a row of a table in PostgreSQL, MySQL/MariaDB or SQLite.",
    description=(
        "Matches Redpanda Connect's `sql` cache: `get` selects, `delete` deletes, `add` "
        "inserts when the key has no row (false when it has one), `set` inserts with "
        "`set_suffix` or, without it, updates or inserts. Only the key and value columns "
        "are written, so other columns need defaults. Items do not expire: TTLs are "
        "ignored. While the database is unreachable an operation is tried again once after "
        "reconnecting, then fails for its message only."
    ),
    examples=(
        "cache_resources:\n  - label: assets\n    sql:\n      driver: postgres\n"
        "      dsn: postgres://streamforge@localhost:5432/plant?sslmode=disable\n"
        "      table: asset_cache\n      key_column: key\n      value_column: value\n"
        "      set_suffix: ON CONFLICT (key) DO UPDATE SET value = excluded.value\n"
        "      init_statement: |\n"
        "        CREATE TABLE IF NOT EXISTS asset_cache (key text PRIMARY KEY, value text)",
    ),
)
def sql_cache(conf: dict[str, Any], ctx: BuildContext | None = None) -> SqlCache:
    """Keeps each item as a row of a table."""
    return SqlCache(conf, ctx)
