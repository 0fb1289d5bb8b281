"""The `postgres_cdc` config: its fields (as Redpanda Connect names them), their checks, and
the connection parameters they make."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from streamforge.connectors.cdc.fields import (
    at_least,
    checkpoint_limit_field,
    snapshot_batch_size_field,
)
from streamforge.connectors.sql import database_url
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.durations import parse_duration
from streamforge.plugin import Field
from streamforge.plugin.batching import batching_field
from streamforge.plugin.spec import ParsedField

__all__ = [
    "CdcSettings",
    "ConnectParams",
    "check_identifier",
    "check_slot_name",
    "display_dsn",
    "fields",
]

#: the longest slot name: the snapshot's slot adds `_snapshot` within PostgreSQL's 63 bytes
SLOT_NAME_MAX = 63 - len("_snapshot")
_SLOT = re.compile(r"[a-z0-9_]+")
_PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_QUOTED_IDENT = re.compile(r'"(?:[^"]|"")+"')


def check_slot_name(value: Any) -> str:
    name = str(value)
    if not _SLOT.fullmatch(name) or len(name) > SLOT_NAME_MAX:
        raise ValueError(
            f"{name!r} is not a replication slot name: lower-case letters, digits and "
            f"underscores, at most {SLOT_NAME_MAX} characters"
        )
    return name


def check_identifier(value: Any) -> str:
    """A schema or table name as SQL writes it: `plant` (folded to lower case) or `"Plant"`."""
    text = str(value).strip()
    if not (_PLAIN_IDENT.fullmatch(text) or _QUOTED_IDENT.fullmatch(text)):
        raise ValueError(
            f"{text!r} is not a PostgreSQL identifier: letters, digits and underscores, or "
            'a name in double quotes ("MyTable") to keep its case'
        )
    return text


def _check_tables(value: Any) -> list[str]:
    if not value:
        raise ValueError("list at least one table")
    return [check_identifier(t) for t in value]


def _check_dsn(value: Any) -> str:
    text = str(value)
    database_url("postgres", text)  # raises ValueError naming what is wrong
    return text


def fields() -> list[Field]:
    """The config fields, in the order Redpanda Connect documents them."""
    return [
        ParsedField(
            "dsn",
            "string",
            parser=_check_dsn,
            secret=True,
            description="The PostgreSQL database: `postgres://user:pass@host:5432/db` (add "
            "`?sslmode=disable` for a server without TLS) or libpq keywords. The user needs the "
            "REPLICATION attribute (or to be a superuser) and to own the tables or the "
            "publication.",
            examples=("postgres://cdc:secret@localhost:5432/plant?sslmode=disable",),
        ),
        Field(
            "include_transaction_markers",
            "bool",
            default=False,
            description="Also emit a message with operation `begin` before, and `commit` after, "
            "the rows of each transaction; their payload is `null`.",
        ),
        Field(
            "stream_snapshot",
            "bool",
            default=False,
            description="When the replication slot is created, first emit every row the tables "
            "hold (operation `read`), as of the slot's first position, then the changes after it.",
        ),
        snapshot_batch_size_field("snapshot_batch_size", examples=(10000,)),
        ParsedField(
            "schema",
            "string",
            parser=check_identifier,
            description="The schema of the tables; quote a name that has capitals.",
            examples=("public", '"MyCaseSensitiveSchema"'),
        ),
        ParsedField(
            "tables",
            "array",
            parser=_check_tables,
            item=ParsedField("table", "string", parser=check_identifier),
            description="The tables whose changes are streamed (names in `schema`).",
            examples=(["readings", '"AssetEvents"'],),
        ),
        checkpoint_limit_field("confirmed to the slot"),
        Field(
            "temporary_slot",
            "bool",
            default=False,
            description="Use a temporary replication slot, dropped by the server when the input "
            "disconnects: changes made while the input is away are not seen.",
        ),
        ParsedField(
            "slot_name",
            "string",
            parser=check_slot_name,
            description="The logical replication slot, created when it does not exist. Its "
            "publication is `pglog_stream_<slot_name>` (created for `tables` when missing).",
            examples=("plant_cdc",),
        ),
        Field(
            "pg_standby_timeout",
            "duration",
            default="10s",
            description="Idle time after which TCP keepalives check that the server is still "
            "there.",
            examples=("30s",),
        ),
        Field(
            "pg_wal_monitor_interval",
            "duration",
            default="3s",
            description="How often the replication lag (`streamforge_postgres_replication_lag_"
            "bytes`) is measured.",
            examples=("6s",),
        ),
        ParsedField(
            "max_parallel_snapshot_tables",
            "int",
            default=1,
            parser=at_least(1),
            description="Tables read at the same time during the snapshot, each on a session of "
            "its own.",
        ),
        Field(
            "unchanged_toast_value",
            "any",
            default=None,
            advanced=True,
            description="The value of a large (TOASTed) column an update did not change, which "
            "the server does not send (unless the table has REPLICA IDENTITY FULL).",
            examples=("__unchanged_toast_value__",),
        ),
        Field(
            "heartbeat_interval",
            "duration",
            default="1h",
            advanced=True,
            description="How often a logical message is written to the WAL so that a slot whose "
            "tables are quiet still confirms a position and lets the server recycle WAL; `0s` "
            "turns it off.",
            examples=("0s", "24h"),
        ),
        tls_field(
            "TLS settings; when enabled they replace the DSN's sslmode and certificates.",
            default={"enabled": False},
            peer="server",
        ),
        Field(
            "auto_replay_nacks",
            "bool",
            default=True,
            description="Replay rows the output failed to write, until written. With false "
            "they are dropped with a warning and their position is confirmed.",
        ),
        batching_field(),
    ]


@dataclass
class CdcSettings:
    """A checked `postgres_cdc` config."""

    dsn: str
    schema: str
    tables: list[str]
    slot_name: str
    temporary_slot: bool = False
    stream_snapshot: bool = False
    snapshot_batch_size: int = 1000
    include_transaction_markers: bool = False
    checkpoint_limit: int = 1024
    standby_timeout: float = 10.0
    wal_monitor_interval: float = 3.0
    max_parallel_snapshot_tables: int = 1
    unchanged_toast_value: Any = None
    heartbeat_interval: float = 3600.0
    auto_replay_nacks: bool = True
    tls: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> CdcSettings:
        tls = dict(conf.get("tls") or {})
        if tls.get("enabled"):
            check_tls_files(tls)
        return cls(
            dsn=_check_dsn(conf["dsn"]),
            schema=check_identifier(conf["schema"]),
            tables=_check_tables(conf.get("tables")),
            slot_name=check_slot_name(conf["slot_name"]),
            temporary_slot=bool(conf.get("temporary_slot", False)),
            stream_snapshot=bool(conf.get("stream_snapshot", False)),
            snapshot_batch_size=at_least(1)(conf.get("snapshot_batch_size", 1000)),
            include_transaction_markers=bool(conf.get("include_transaction_markers", False)),
            checkpoint_limit=at_least(1)(conf.get("checkpoint_limit", 1024)),
            standby_timeout=parse_duration(conf.get("pg_standby_timeout", "10s")),
            wal_monitor_interval=parse_duration(conf.get("pg_wal_monitor_interval", "3s")),
            max_parallel_snapshot_tables=at_least(1)(conf.get("max_parallel_snapshot_tables", 1)),
            unchanged_toast_value=conf.get("unchanged_toast_value"),
            heartbeat_interval=parse_duration(conf.get("heartbeat_interval", "1h")),
            auto_replay_nacks=bool(conf.get("auto_replay_nacks", True)),
            tls=tls,
        )

    @property
    def publication(self) -> str:
        return f"pglog_stream_{self.slot_name}"

    @property
    def display(self) -> str:
        """Where the input connects, without the password."""
        return display_dsn(self.dsn)


def display_dsn(dsn: str) -> str:
    """`postgres://user@host:port/db` of a URL or keyword DSN, without password or options."""
    text = dsn.strip()
    if "://" in text:
        parts = urlsplit(text)
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        return f"postgres://{user}{parts.hostname or ''}{port}{parts.path}"
    words = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)", text))
    user = f"{words['user'].strip(chr(39))}@" if words.get("user") else ""
    host = words.get("host", "").strip("'")
    port = f":{words['port']}" if words.get("port") else ""
    return f"postgres://{user}{host}{port}/{words.get('dbname', '').strip(chr(39))}"


class ConnectParams:
    """Keyword arguments for `psycopg.connect` beside the DSN: keepalives and TLS (inline
    certificates are written to files of the input's own, removed by `close`)."""

    def __init__(self, settings: CdcSettings) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        idle = max(1, int(settings.standby_timeout))
        self.kwargs: dict[str, Any] = {
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": max(1, idle // 3),
            "keepalives_count": 3,
        }
        if "connect_timeout" not in settings.dsn:
            self.kwargs["connect_timeout"] = 10
        tls = settings.tls
        if tls.get("enabled"):
            self.kwargs.update(self._tls(tls))

    def _file(self, name: str, text: str) -> str:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="streamforge-pg-")
        path = os.path.join(self._dir.name, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path

    def _tls(self, tls: dict[str, Any]) -> dict[str, Any]:
        verify = not tls.get("skip_cert_verify")
        out: dict[str, Any] = {"sslmode": "verify-full" if verify else "require"}
        if tls.get("root_cas_file"):
            out["sslrootcert"] = str(tls["root_cas_file"])
        elif tls.get("root_cas"):
            out["sslrootcert"] = self._file("root.crt", str(tls["root_cas"]))
        elif verify:
            out["sslrootcert"] = "system"
        certs = [c for c in tls.get("client_certs") or [] if c]
        if certs:
            cert = certs[0]
            out["sslcert"] = str(cert.get("cert_file") or "") or self._file(
                "client.crt", str(cert.get("cert") or "")
            )
            out["sslkey"] = str(cert.get("key_file") or "") or self._file(
                "client.key", str(cert.get("key") or "")
            )
            if cert.get("password"):
                out["sslpassword"] = str(cert["password"])
        return out

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
