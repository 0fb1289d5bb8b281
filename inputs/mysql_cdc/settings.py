"""The `mysql_cdc` config: its fields (as Redpanda Connect names them), their checks, and the
PyMySQL connection parameters the DSN makes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from streamforge.connectors.acked_reader import replay_nacks_field
from streamforge.connectors.cdc.fields import (
    at_least,
    checkpoint_limit_field,
    snapshot_batch_size_field,
)
from streamforge.connectors.sql import database_url
from streamforge.plugin import Field
from streamforge.plugin.batching import batching_field
from streamforge.plugin.spec import ParsedField

__all__ = ["CdcSettings", "check_table", "connect_kwargs", "fields"]

FLAVORS = ("mysql", "mariadb")
_TABLE = re.compile(r"[A-Za-z0-9_$]+")


def check_table(value: Any) -> str:
    """A table name of the DSN's database, as MySQL writes it unquoted."""
    text = str(value).strip()
    if not _TABLE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a table name: letters, digits, underscores and $ (the table "
            "is looked up in the DSN's database)"
        )
    return text


def _check_tables(value: Any) -> list[str]:
    if not value:
        raise ValueError("list at least one table")
    tables = [check_table(t) for t in value]
    seen: set[str] = set()
    for t in tables:
        if t in seen:
            raise ValueError(f"table {t!r} is listed twice")
        seen.add(t)
    return tables


def connect_kwargs(dsn: str) -> dict[str, Any]:
    """PyMySQL's `connect()` arguments for a DSN in the Go driver's form
    (`user:pass@tcp(host:3306)/db?params`); raises ValueError naming what is wrong."""
    url = database_url("mysql", dsn)
    parts = urlsplit(url.url)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError(
            "the dsn names no database: the tables are read from it "
            "(user:pass@tcp(host:3306)/plant)"
        )
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": database,
    }
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("charset", "unix_socket"):
            kwargs[key] = value
    kwargs.update(url.connect_args)
    return kwargs


def _check_dsn(value: Any) -> str:
    text = str(value)
    if not text.strip():
        raise ValueError("dsn must not be empty")
    connect_kwargs(text)
    return text


def _check_flavor(value: Any) -> str:
    text = str(value)
    if text not in FLAVORS:
        raise ValueError(f"flavor {text!r} is not one of {', '.join(FLAVORS)}")
    return text


def _check_key(value: Any) -> str:
    text = str(value)
    if not text:
        raise ValueError("checkpoint_key must not be empty")
    return text


def fields() -> list[Field]:
    """The config fields, in the order Redpanda Connect documents them."""
    return [
        ParsedField(
            "flavor",
            "string",
            default="mysql",
            parser=_check_flavor,
            options=FLAVORS,
            description="The kind of server: `mysql` or `mariadb`. Accepted as in Redpanda "
            "Connect; the input recognises the server from its version either way.",
        ),
        ParsedField(
            "dsn",
            "string",
            parser=_check_dsn,
            secret=True,
            description="The database, in the Go MySQL driver's form: "
            "`user:password@tcp(host:3306)/database`. The user needs SELECT on the tables, "
            "REPLICATION SLAVE and REPLICATION CLIENT, and (for a MySQL snapshot) RELOAD and "
            "LOCK TABLES.",
            examples=("cdc:secret@tcp(localhost:3306)/plant",),
        ),
        ParsedField(
            "tables",
            "array",
            parser=_check_tables,
            item=ParsedField("table", "string", parser=check_table),
            description="The tables of the DSN's database whose changes are streamed.",
            examples=(["readings", "alarms"],),
        ),
        Field(
            "checkpoint_cache",
            "string",
            references="cache",
            description="A cache resource that keeps the binlog position up to which the "
            "output wrote everything; a restarted stream goes on from there instead of from "
            "the current end of the binlog (or a new snapshot).",
            examples=("cdc_positions",),
        ),
        ParsedField(
            "checkpoint_key",
            "string",
            default="mysql_binlog_position",
            parser=_check_key,
            description="The key of the position in `checkpoint_cache`; give each input "
            "sharing a cache a key of its own.",
        ),
        snapshot_batch_size_field("snapshot_max_batch_size"),
        Field(
            "stream_snapshot",
            "bool",
            description="When the cache holds no position yet, first emit every row the "
            "tables hold (operation `read`), as of one binlog position, then the changes "
            "after it. Otherwise the input starts at the binlog's current end.",
        ),
        replay_nacks_field("rows"),
        checkpoint_limit_field("stored"),
        batching_field(),
    ]


@dataclass
class CdcSettings:
    """A checked `mysql_cdc` config."""

    dsn: str
    tables: list[str]
    checkpoint_cache: str
    stream_snapshot: bool
    flavor: str = "mysql"
    checkpoint_key: str = "mysql_binlog_position"
    snapshot_max_batch_size: int = 1000
    checkpoint_limit: int = 1024
    auto_replay_nacks: bool = True
    connect: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> CdcSettings:
        cache = str(conf.get("checkpoint_cache") or "")
        if not cache:
            raise ValueError("checkpoint_cache: the label of a cache resource is required")
        dsn = _check_dsn(conf["dsn"])
        return cls(
            dsn=dsn,
            tables=_check_tables(conf.get("tables")),
            checkpoint_cache=cache,
            stream_snapshot=bool(conf.get("stream_snapshot", False)),
            flavor=_check_flavor(conf.get("flavor", "mysql")),
            checkpoint_key=_check_key(conf.get("checkpoint_key", "mysql_binlog_position")),
            snapshot_max_batch_size=at_least(1)(conf.get("snapshot_max_batch_size", 1000)),
            checkpoint_limit=at_least(1)(conf.get("checkpoint_limit", 1024)),
            auto_replay_nacks=bool(conf.get("auto_replay_nacks", True)),
            connect=connect_kwargs(dsn),
        )

    @property
    def database(self) -> str:
        return str(self.connect["database"])

    @property
    def display(self) -> str:
        """Where the input connects, without the password."""
        c = self.connect
        user = f"{c['user']}@" if c.get("user") else ""
        where = c.get("unix_socket") or f"{c['host']}:{c['port']}"
        return f"mysql://{user}{where}/{c['database']}"
