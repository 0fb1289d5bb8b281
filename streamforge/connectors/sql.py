"""SQL databases for the `sql_*` components: DSNs, pooled engines, placeholders and values.

The components take Benthos' `driver` and `dsn` (the Go driver forms) and talk to the
database through a SQLAlchemy engine per component: psycopg for `postgres`, PyMySQL for
`mysql` (MariaDB too) and the standard library's sqlite3 for `sqlite`. Queries are written
with the placeholders Benthos' drivers use (`$1` for PostgreSQL, `?` for MySQL and SQLite)
and translated once, when the component is built, to the Python driver's own style.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import glob
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import REQUIRED, Field
from streamforge.plugin.connection import Backoff, Connection, connection
from streamforge.plugin.errors import MissingFileError, describe_error
from streamforge.plugin.optional import require

__all__ = [
    "DRIVERS",
    "ArgsMapping",
    "Database",
    "DatabaseGone",
    "InsertQuery",
    "RawQuery",
    "Statement",
    "raw_queries",
    "connection_fields",
    "database_url",
    "failure_reason",
    "insert_fields",
    "raw_queries_field",
    "is_disconnect",
    "jsonable",
    "row_values",
    "statement",
]

log = logging.getLogger("streamforge.connectors.sql")

#: Benthos driver names this build supports
DRIVERS = ("postgres", "mysql", "sqlite")
#: Benthos drivers that exist but need a client this build does not ship
_OTHER_DRIVERS = ("clickhouse", "mssql", "oracle", "snowflake", "trino", "gocosmos", "spanner")

T = TypeVar("T")


# -- config fields ---------------------------------------------------------------------------


def _check_driver(value: Any) -> str:
    driver = str(value)
    if driver == "pgx":
        return "postgres"
    if driver in _OTHER_DRIVERS:
        raise ValueError(
            f"driver {driver!r} is not supported; supported drivers: {', '.join(DRIVERS)}"
        )
    return driver


def connection_fields() -> list[Field]:
    """`driver`, `dsn` and the connection pool fields every `sql_*` component has."""
    from streamforge.plugin.spec import ParsedField

    return [
        ParsedField(
            "driver",
            "string",
            options=DRIVERS,
            parser=_check_driver,
            description="The database driver: postgres, mysql (MySQL and MariaDB) or sqlite.",
            examples=("postgres", "mysql", "sqlite"),
        ),
        ParsedField(
            "dsn",
            "string",
            parser=_check_dsn_text,
            secret=True,
            description=(
                "Data source name in the form of the Go driver: "
                "`postgres://user:pass@host:5432/db?sslmode=disable` (or libpq keywords), "
                "`user:pass@tcp(host:3306)/db`, `file:/path/to.db` (or a plain path)."
            ),
            examples=(
                "postgres://user:pass@localhost:5432/plant?sslmode=disable",
                "root@tcp(localhost:3306)/plant",
                "file:./plant.db",
            ),
        ),
        Field(
            "init_files",
            "array",
            default=[],
            item=Field("path", "string"),
            advanced=True,
            description=(
                "Files (glob patterns allowed) of SQL statements run, in order, when the "
                "component first connects; for `CREATE TABLE IF NOT EXISTS` and the like."
            ),
        ),
        Field(
            "init_statement",
            "string",
            default="",
            advanced=True,
            description="SQL statements run once when the component first connects.",
            examples=("CREATE TABLE IF NOT EXISTS readings (id bigint, value double precision)",),
        ),
        Field(
            "conn_max_idle_time",
            "duration",
            default="",
            advanced=True,
            description="Accepted for Benthos compatibility; idle pooled connections are kept.",
        ),
        Field(
            "conn_max_life_time",
            "duration",
            default="",
            advanced=True,
            description="Connections older than this are replaced when next taken from the pool.",
        ),
        Field(
            "conn_max_idle",
            "int",
            default=2,
            advanced=True,
            description="Connections kept open in the pool while idle.",
        ),
        Field(
            "conn_max_open",
            "int",
            default=0,
            advanced=True,
            description="Most connections open at once; 0 means conn_max_idle plus a few more.",
        ),
    ]


def _check_dsn_text(value: Any) -> str:
    text = str(value)
    if not text.strip():
        raise ValueError("dsn must not be empty")
    return text


# -- DSNs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseUrl:
    """Where a component connects: a SQLAlchemy URL and what to tell the driver besides."""

    url: str
    connect_args: dict[str, Any]
    #: a libpq keyword DSN or a SQLite URI, handed to the driver as it is
    raw: str = ""
    #: SQLite PRAGMAs from `_pragma` DSN parameters, run on every new connection
    pragmas: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The URL without its password, for logs and /ready."""
        try:
            from sqlalchemy.engine import make_url

            return str(make_url(self.url).set(password=None)) if "://" in self.url else self.url
        except Exception:  # noqa: BLE001 - only used for display
            return self.url.split("@")[-1]


def database_url(driver: str, dsn: str) -> DatabaseUrl:
    """Translate a Benthos `dsn` of `driver` into a SQLAlchemy URL (raises ValueError)."""
    driver = _check_driver(driver)
    if driver == "postgres":
        return _postgres_url(dsn)
    if driver == "mysql":
        return _mysql_url(dsn)
    if driver == "sqlite":
        return _sqlite_url(dsn)
    raise ValueError(f"driver {driver!r} is not one of {', '.join(DRIVERS)}")


def _postgres_url(dsn: str) -> DatabaseUrl:
    text = dsn.strip()
    if text.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(text)
        if not parts.hostname and not parts.path.strip("/"):
            raise ValueError(f"dsn {_redacted(text)!r}: no host or database")
        rest = text.split("://", 1)[1]
        return DatabaseUrl(f"postgresql+psycopg://{rest}", {})
    if "=" in text:  # libpq keywords: host=... user=... dbname=...
        return DatabaseUrl("postgresql+psycopg://", {}, raw=text)
    raise ValueError(
        f"dsn {_redacted(text)!r} is not a PostgreSQL URL (postgres://user:pass@host:5432/db) "
        "or libpq keywords (host=... dbname=...)"
    )


#: Go MySQL driver parameters that have no meaning for PyMySQL (dropped)
_GO_MYSQL_PARAMS = {
    "parsetime", "loc", "allownativepasswords", "allowcleartextpasswords", "interpolateparams",
    "multistatements", "clientfoundrows", "columnswithalias", "rejectreadonly", "maxallowedpacket",
    "allowoldpasswords", "checkconnliveness", "serverpubkey", "timetruncate", "tls",
    "allowfallbacktoplaintext",
}  # fmt: skip


def _mysql_url(dsn: str) -> DatabaseUrl:
    """`[user[:password]@][net[(addr)]]/dbname[?params]`, the Go MySQL driver's form."""
    text = dsn.strip()
    if text.startswith("mysql://"):
        text = text[len("mysql://") :]
    head, slash, tail = text.rpartition("/")
    if not slash:
        raise ValueError(f"dsn {_redacted(dsn)!r}: expected user:pass@tcp(host:3306)/dbname")
    dbname, _, query = tail.partition("?")
    userinfo, at, address = head.rpartition("@")
    if not at:
        userinfo, address = "", head
    user, _, password = userinfo.partition(":")
    host, port, socket = "127.0.0.1", 3306, ""
    if address:
        net, paren, addr = address.partition("(")
        if paren:
            if not addr.endswith(")"):
                raise ValueError(f"dsn {_redacted(dsn)!r}: unclosed address {address!r}")
            addr = addr[:-1]
        else:
            net, addr = "tcp", address
        if net == "unix":
            socket = addr
        elif net in ("tcp", "tcp6", ""):
            if addr:
                if addr.startswith("["):  # [::1]:3306
                    h, _, p = addr[1:].partition("]")
                    host, port = h, int(p.lstrip(":") or 3306)
                else:
                    h, colon, p = addr.rpartition(":")
                    host, port = (h, int(p)) if colon else (addr, 3306)
        else:
            raise ValueError(f"dsn {_redacted(dsn)!r}: network {net!r} is not tcp or unix")
    params: dict[str, str] = {"charset": "utf8mb4"}
    connect_args: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        low = key.lower()
        if low in _GO_MYSQL_PARAMS:
            continue
        if low in ("timeout", "readtimeout", "writetimeout"):
            name = {"timeout": "connect_timeout", "readtimeout": "read_timeout"}.get(
                low, "write_timeout"
            )
            connect_args[name] = max(1, int(parse_duration(value)))
        elif low == "charset":
            params["charset"] = value.split(",")[0]
        else:
            params[key] = value
    if socket:
        params["unix_socket"] = socket
    auth = quote(unquote(user), safe="")
    if password:
        auth += ":" + quote(unquote(password), safe="")
    netloc = f"{auth}@" if auth else ""
    netloc += f"[{host}]" if ":" in host else host
    netloc += f":{port}"
    url = f"mysql+pymysql://{netloc}/{quote(dbname)}?{urlencode(params)}"
    return DatabaseUrl(url, connect_args)


def _sqlite_url(dsn: str) -> DatabaseUrl:
    """A path, `:memory:` or `file:path?params` (`_pragma=name(value)` as the Go driver)."""
    text = dsn.strip()
    if text.startswith("sqlite://"):
        text = text[len("sqlite://") :]
    path, _, query = text.partition("?")
    pragmas: list[str] = []
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "_pragma":
            name, paren, arg = value.partition("(")
            pragma = f"PRAGMA {name.strip()}"
            if paren:
                pragma += f" = {arg.rstrip(')').strip()}"
            pragmas.append(pragma)
        elif key.startswith("_"):
            continue  # other Go driver options (_txlock, _time_format ...)
        else:
            kept.append((key, value))
    if path.startswith("file:") or kept:
        if not path.startswith("file:"):
            path = "file:" + path
        uri = path + (("?" + urlencode(kept)) if kept else "")
        return DatabaseUrl("sqlite+pysqlite://", {}, raw=uri, pragmas=tuple(pragmas))
    if not path:
        raise ValueError("dsn: a SQLite file path (or :memory:) is required")
    return DatabaseUrl("sqlite+pysqlite://", {}, raw=path, pragmas=tuple(pragmas))


def _redacted(dsn: str) -> str:
    """A DSN with its password replaced, for error messages."""
    if "@" not in dsn:
        return dsn
    head, _, tail = dsn.rpartition("@")
    scheme, sep, userinfo = head.rpartition("//")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{tail}" if ":" in userinfo else dsn


# -- placeholders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A query in the Python driver's placeholder style and which argument goes where."""

    text: str
    #: for each placeholder in `text`, the index of its value in the args_mapping array
    order: tuple[int, ...]
    #: how many values args_mapping must give (the highest $N, or the count of `?`)
    arity: int

    def bind(self, args: Sequence[Any]) -> tuple[Any, ...]:
        """The driver's parameters for `args` (raises ValueError on a count mismatch)."""
        if len(args) != self.arity and not (self.arity == 0 and not args):
            raise ValueError(
                f"args_mapping gave {len(args)} value(s), the query has {self.arity} placeholder(s)"
            )
        return tuple(to_parameter(args[i]) for i in self.order)


def statement(query: str, driver: str, *, generated: bool = False) -> Statement:
    """Translate `query`'s placeholders for `driver`'s Python client.

    PostgreSQL queries take `$1`, `$2` ... (as pgx does); generated ones (`where` of
    `sql_select`, inserts) also `?`, with `??` for a literal `?` (as Benthos' query builder).
    MySQL and SQLite take `?`. Quoted strings, identifiers and comments are left alone.
    """
    dollar = driver == "postgres"
    qmark = driver != "postgres" or generated
    fmt = driver != "sqlite"  # psycopg and PyMySQL use %s (and need % doubled)
    out: list[str] = []
    order: list[int] = []
    n, i = len(query), 0
    seen_q = seen_d = False
    while i < n:
        c = query[i]
        if c in "'\"`":
            j = _end_of_quoted(query, i, c, backslash=driver == "mysql")
            out.append(_percent(query[i:j], fmt))
            i = j
        elif c == "-" and query.startswith("--", i) or c == "#" and driver == "mysql":
            j = query.find("\n", i)
            j = n if j < 0 else j
            out.append(_percent(query[i:j], fmt))
            i = j
        elif c == "/" and query.startswith("/*", i):
            j = query.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(_percent(query[i:j], fmt))
            i = j
        elif c == "$" and dollar:
            j = i + 1
            while j < n and query[j].isdigit():
                j += 1
            if j > i + 1:
                order.append(int(query[i + 1 : j]) - 1)
                seen_d = True
                out.append("%s" if fmt else "?")
                i = j
                continue
            tag_end = _dollar_tag(query, i)
            if tag_end:
                tag = query[i:tag_end]
                close = query.find(tag, tag_end)
                j = n if close < 0 else close + len(tag)
                out.append(_percent(query[i:j], fmt))
                i = j
            else:
                out.append("$")
                i += 1
        elif c == "?" and qmark:
            if driver == "postgres" and query.startswith("??", i):
                out.append("?")
                i += 2
                continue
            order.append(len(order))
            seen_q = True
            out.append("%s" if fmt else "?")
            i += 1
        elif c == "%" and fmt:
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    if seen_q and seen_d:
        raise ValueError("the query mixes ? and $N placeholders; use one kind")
    if any(k < 0 for k in order):
        raise ValueError("placeholders are numbered from $1")
    arity = (max(order) + 1) if order else 0
    return Statement("".join(out), tuple(order), arity)


def _end_of_quoted(query: str, i: int, quote_char: str, *, backslash: bool) -> int:
    n, j = len(query), i + 1
    while j < n:
        c = query[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote_char:
            if j + 1 < n and query[j + 1] == quote_char:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def _dollar_tag(query: str, i: int) -> int:
    """End of a PostgreSQL dollar-quote opening tag (`$$`, `$body$`) at i, or 0."""
    j = i + 1
    while j < len(query) and (query[j].isalnum() or query[j] == "_"):
        j += 1
    if j < len(query) and query[j] == "$" and not query[i + 1 : j][:1].isdigit():
        return j + 1
    return 0


def _percent(text: str, fmt: bool) -> str:
    return text.replace("%", "%%") if fmt else text


# -- values ----------------------------------------------------------------------------------


def to_parameter(value: Any) -> Any:
    """A value of an args_mapping array as the driver takes it (objects as JSON text)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return value


def jsonable(value: Any) -> Any:
    """A column value as a JSON value: numbers, text, RFC 3339 timestamps."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if value.tzinfo else text
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def row_values(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """One result row as a JSON object keyed by column name."""
    return {col: jsonable(v) for col, v in zip(columns, row)}


class ArgsMapping:
    """A compiled `args_mapping`: a Bloblang mapping whose root is the query's arguments."""

    def __init__(self, text: str) -> None:
        from streamforge.bloblang import parse

        self.text = text
        self.executor = parse(text) if text.strip() else None

    def __bool__(self) -> bool:
        return self.executor is not None

    def values(self, msg: Message | None, batch: Sequence[Message] = (), index: int = 0) -> list:
        """The arguments for one message (or, without one, for an input's query)."""
        if self.executor is None:
            return []
        if msg is None:
            root = self.executor.query(None, metadata={})
        else:
            out = self.executor.apply_message(msg, list(batch) or None, index)
            if out is None:
                raise ValueError("args_mapping deleted the message; it must give an array")
            root = out.value if out.has_value else out.payload
        if not isinstance(root, list):
            kind = "object" if isinstance(root, dict) else type(root).__name__
            raise ValueError(f"args_mapping must give an array, it gave {kind}")
        return root


# -- engines ---------------------------------------------------------------------------------


class DatabaseGone(ConnectionError):
    """The database could not be reached (or went away) while the statement ran."""


def is_disconnect(exc: BaseException) -> bool:
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        # SQLite's operational errors are about the statement or the file, not a peer
        orig = getattr(exc, "orig", None)
        return orig is None or not type(orig).__module__.startswith("sqlite3")
    return isinstance(exc, (ConnectionError, TimeoutError))


class Database:
    """One component's pool of connections to one database.

    The engine is made without connecting; the first statement connects, runs
    `init_statement` and `init_files`, and marks the component connected (in /ready and
    `streamforge_connected`). A statement that fails because the database went away marks
    it disconnected; `run` retries such failures with backoff as asked.
    """

    def __init__(
        self,
        conf: dict[str, Any],
        *,
        stream: str = "stream",
        label: str = "sql",
        register: bool = True,
    ) -> None:
        self.driver = _check_driver(conf["driver"])
        client = {"postgres": "psycopg", "mysql": "pymysql"}.get(self.driver)
        if client is not None:
            require(client, "sql", f"the {self.driver} driver")
        self.target = database_url(self.driver, str(conf["dsn"]))
        self.init_statement = str(conf.get("init_statement") or "")
        self.init_files = [str(p) for p in conf.get("init_files") or []]
        for pattern in self.init_files:
            if not glob.glob(pattern):
                raise MissingFileError(f"init_files: nothing matches {pattern!r}")
        self.max_idle = max(int(conf.get("conn_max_idle", 2) or 0), 0)
        self.max_open = max(int(conf.get("conn_max_open", 0) or 0), 0)
        self.life_time = parse_duration(conf.get("conn_max_life_time") or "")
        parse_duration(conf.get("conn_max_idle_time") or "")
        self.label = label
        self.stream = stream
        self._engine: Any = None
        self._lock = threading.Lock()
        self._initialised = False
        self._init_lock = threading.Lock()
        self._closed = threading.Event()
        self._register = register
        # registered on first use, so a component that fails to build leaves nothing behind
        self.connection: Connection | None = None

    # -- engine ---------------------------------------------------------------------------
    @property
    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                if self._register and self.connection is None:
                    self.connection = connection(self.stream, self.label, self.target.display)
                self._engine = self._make_engine()
            return self._engine

    def _make_engine(self) -> Any:
        from sqlalchemy import create_engine, event

        target = self.target
        kwargs: dict[str, Any] = {"future": True}
        if self.driver == "sqlite":
            import sqlite3

            raw = target.raw

            def connect_sqlite() -> Any:
                uri = raw.startswith("file:")
                return sqlite3.connect(raw, uri=uri, check_same_thread=False, timeout=30)

            kwargs["creator"] = connect_sqlite
            if raw == ":memory:":
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
        else:
            if target.raw:
                import psycopg

                raw = target.raw

                def connect_postgres() -> Any:
                    return psycopg.connect(raw)

                kwargs["creator"] = connect_postgres
            if target.connect_args:
                kwargs["connect_args"] = dict(target.connect_args)
            idle = max(self.max_idle, 1)
            kwargs["pool_size"] = idle
            kwargs["max_overflow"] = max(self.max_open - idle, 0) if self.max_open else 8
            kwargs["pool_timeout"] = 30
            if self.life_time > 0:
                kwargs["pool_recycle"] = self.life_time
        engine = create_engine(target.url, **kwargs)
        if target.pragmas:
            pragmas = target.pragmas

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                for pragma in pragmas:
                    cur.execute(pragma)
                cur.close()

        return engine

    # -- running statements -----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection inside a transaction, committed when the block ends without error."""
        self.initialise()
        with self.engine.begin() as conn:
            yield conn

    @property
    def concurrency(self) -> int:
        """Transactions that can run at once: the connection pool's size (SQLite: one)."""
        if self.driver == "sqlite":
            return 1
        idle = max(self.max_idle, 1)
        return idle + (max(self.max_open - idle, 0) if self.max_open else 8)

    def initialise(self) -> None:
        """Run init_files and init_statement once, in a transaction of their own committed
        before any other work (which may run on other connections at the same time)."""
        if self._initialised:
            return
        with self._init_lock:
            if not self._initialised:
                with self.engine.begin() as conn:
                    self._run_init_scripts(conn)

    def _run_init_scripts(self, conn: Any) -> None:
        scripts: list[str] = []
        for pattern in self.init_files:
            for path in sorted(glob.glob(pattern)):
                with open(path, encoding="utf-8") as fh:
                    scripts.append(fh.read())
        if self.init_statement.strip():
            scripts.append(self.init_statement)
        for script in scripts:
            for part in split_statements(script):
                conn.exec_driver_sql(_percent(part, self.driver != "sqlite"), ())
        self._initialised = True

    def run(
        self,
        work: Callable[[Any], T],
        *,
        retry_forever: bool = False,
        attempts: int = 2,
        stop: threading.Event | None = None,
    ) -> T:
        """Run `work(conn)` in one transaction.

        When the database is unreachable or goes away meanwhile, try again with backoff:
        until it succeeds (`retry_forever`, for outputs: back-pressure) or `attempts` times in
        all; then raise DatabaseGone. Other errors (a bad statement, a constraint) raise as
        they are, after the transaction was rolled back.
        """
        backoff = Backoff(initial=0.1, maximum=5.0)
        tried = 0
        stop = stop or self._closed
        while True:
            tried += 1
            try:
                with self.transaction() as conn:
                    result = work(conn)
            except Exception as exc:
                if not is_disconnect(exc):
                    self.mark_up()
                    raise
                self.mark_down(exc)
                if stop.is_set() or (not retry_forever and tried >= attempts):
                    raise DatabaseGone(self.describe_down(exc)) from exc
                if tried == 1 or tried % 20 == 0:
                    log.warning("%s: %s; trying again", self.label, self.describe_down(exc))
                if not backoff.sleep(stop):
                    raise DatabaseGone(self.describe_down(exc)) from exc
                continue
            self.mark_up()
            return result

    def describe_down(self, exc: BaseException) -> str:
        orig = getattr(exc, "orig", None) or exc
        text = describe_error(orig).strip().splitlines()[0] if str(orig).strip() else ""
        return f"database {self.target.display} unreachable ({text or type(orig).__name__})"

    def mark_up(self) -> None:
        if self.connection is not None:
            self.connection.up()

    def mark_down(self, exc: BaseException) -> None:
        if self.connection is not None:
            self.connection.down(self.describe_down(exc))

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
        if self.connection is not None:
            self.connection.close()


def split_statements(script: str) -> list[str]:
    """SQL statements of a script, split at `;` outside quotes and comments."""
    parts: list[str] = []
    start, i, n = 0, 0, len(script)
    while i < n:
        c = script[i]
        if c in "'\"`":
            i = _end_of_quoted(script, i, c, backslash=False)
        elif script.startswith("--", i):
            j = script.find("\n", i)
            i = n if j < 0 else j
        elif script.startswith("/*", i):
            j = script.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "$" and _dollar_tag(script, i):
            end = _dollar_tag(script, i)
            close = script.find(script[i:end], end)
            i = n if close < 0 else close + (end - i)
        elif c == ";":
            parts.append(script[start:i])
            i += 1
            start = i
        else:
            i += 1
    parts.append(script[start:])
    return [p.strip() for p in parts if p.strip()]


def execute(conn: Any, stmt: Statement, params: tuple[Any, ...]) -> Any:
    """Run a translated statement on a SQLAlchemy connection with positional parameters."""
    return conn.exec_driver_sql(stmt.text, params)


def fetch_rows(result: Any) -> list[dict[str, Any]]:
    """Every row of a result as JSON objects (none when the statement returns no rows)."""
    if not result.returns_rows:
        return []
    columns = list(result.keys())
    return [row_values(columns, row) for row in result.fetchall()]


# -- generated statements --------------------------------------------------------------------


def insert_text(
    table: str, columns: Sequence[str], rows: int, *, prefix: str = "", suffix: str = "",
    options: Sequence[str] = (),
) -> str:  # fmt: skip
    """`INSERT [options] INTO table (columns) VALUES (?, ...), ...` with `rows` value tuples."""
    if not columns:
        raise ValueError("columns: at least one column is required")
    one = "(" + ", ".join("?" for _ in columns) + ")"
    head = " ".join(["INSERT", *[str(o) for o in options], "INTO"])
    text = f"{head} {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * rows)
    return _affixed(text, prefix, suffix)


def select_text(
    table: str, columns: Sequence[str], *, where: str = "", prefix: str = "", suffix: str = ""
) -> str:
    """`SELECT columns FROM table [WHERE where]` with prefix and suffix."""
    if not columns:
        raise ValueError("columns: at least one column is required")
    text = f"SELECT {', '.join(columns)} FROM {table}"
    if where.strip():
        text += f" WHERE {where}"
    return _affixed(text, prefix, suffix)


def _affixed(text: str, prefix: str, suffix: str) -> str:
    if prefix.strip():
        text = f"{prefix} {text}"
    if suffix.strip():
        text = f"{text} {suffix}"
    return text


def table_fields(*, where: bool = False) -> list[Field]:
    """`table`, `columns` (and `where`) of `sql_insert` and `sql_select`."""
    fields = [
        Field(
            "table",
            "string",
            description="The table to work on.",
            examples=("readings",),
        ),
        Field(
            "columns",
            "array",
            item=Field("column", "string"),
            description="The columns, in the order of the args_mapping array."
            if not where
            else "The columns to select (`*` for all).",
            examples=(["id", "asset", "value"],) if not where else (["*"], ["id", "value"]),
        ),
    ]
    if where:
        fields.append(
            Field(
                "where",
                "string",
                default="",
                description="An optional WHERE condition; `?` placeholders take the values of "
                "args_mapping in order (with postgres, `$1` ... work too).",
                examples=("asset = ? AND ts > ?", "created_at >= ?"),
            )
        )
    return fields


def args_mapping_field(required: bool = False, what: str = "the placeholders") -> Field:
    return Field(
        "args_mapping",
        "mapping",
        REQUIRED if required else "",
        description=f"A Bloblang mapping whose root is an array of the values for {what}.",
        examples=("root = [ this.id, this.asset, this.value ]", 'root = [ meta("asset_id") ]'),
    )


def affix_fields(what: str) -> list[Field]:
    return [
        Field(
            "prefix",
            "string",
            default="",
            advanced=True,
            description=f"SQL put before the {what} statement.",
        ),
        Field(
            "suffix",
            "string",
            default="",
            advanced=True,
            description=f"SQL put after the {what} statement.",
            examples=("ON CONFLICT (id) DO NOTHING", "ORDER BY id"),
        ),
    ]


def insert_fields() -> list[Field]:
    """`table`, `columns`, `args_mapping`, `prefix`, `suffix` and `options` of `sql_insert`."""
    return [
        *table_fields(),
        args_mapping_field(required=True, what="the columns, in order"),
        *affix_fields("INSERT"),
        Field(
            "options",
            "array",
            default=[],
            item=Field("option", "string"),
            advanced=True,
            description="Keywords put between INSERT and INTO, e.g. IGNORE (MySQL).",
            examples=(["IGNORE"],),
        ),
    ]


class InsertQuery:
    """The INSERT statements of an `sql_insert` config, for one row or for several."""

    def __init__(self, conf: dict[str, Any], driver: str) -> None:
        self.driver = driver
        self.table = str(conf["table"])
        self.columns = [str(c) for c in conf["columns"]]
        self.prefix = str(conf.get("prefix") or "")
        self.suffix = str(conf.get("suffix") or "")
        self.options = [str(o) for o in conf.get("options") or []]
        self._statements: dict[int, Statement] = {}
        self.single = self.statement(1)
        self.args = ArgsMapping(str(conf["args_mapping"]))

    def statement(self, rows: int) -> Statement:
        """The statement inserting `rows` rows (made once per row count)."""
        stmt = self._statements.get(rows)
        if stmt is None:
            text = insert_text(
                self.table, self.columns, rows, prefix=self.prefix, suffix=self.suffix,
                options=self.options,
            )  # fmt: skip
            stmt = self._statements[rows] = statement(text, self.driver, generated=True)
        return stmt

    def bind(self, msg: Message, batch: Sequence[Message], i: int) -> tuple[Any, ...]:
        """One message's row, as parameters of the single-row statement."""
        return self.single.bind(self.args.values(msg, batch, i))


def raw_queries_field(description: str, *more: Field) -> Field:
    """`queries` of `sql_raw`: statements with their own `args_mapping` (and the `more` fields)."""
    return Field(
        "queries",
        "array",
        default=[],
        item=Field(
            "query",
            "object",
            fields=(
                Field("query", "string", description="The statement to run."),
                args_mapping_field(),
                *more,
            ),
        ),
        description=description,
    )


def failure_reason(exc: BaseException) -> str:
    """The first line of what the database (or the driver) said about a failed statement."""
    orig = getattr(exc, "orig", None)
    text = describe_error(orig if orig is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


#: dynamic queries translated and kept per component
DYNAMIC_CACHE = 256


class RawQuery:
    """One statement of `sql_raw`: text (static or interpolated), arguments, exec_only."""

    def __init__(self, text: str, args: str, exec_only: bool, driver: str, dynamic: bool) -> None:
        self.driver = driver
        self.args = ArgsMapping(args)
        self.exec_only = exec_only
        self.dynamic = InterpolatedString(text) if dynamic else None
        if self.dynamic is not None and not self.dynamic.is_static:
            self.stmt: Statement | None = None
            self._cache: OrderedDict[str, Statement] = OrderedDict()
        else:
            self.stmt = statement(text, driver)

    def bound(self, msg: Message | None, batch: list[Message], i: int) -> tuple[Statement, tuple]:
        stmt = self.stmt
        if stmt is None:
            assert self.dynamic is not None and msg is not None
            text = self.dynamic.render(msg, batch, i)
            stmt = self._cache.get(text)
            if stmt is None:
                stmt = self._cache[text] = statement(text, self.driver)
                if len(self._cache) > DYNAMIC_CACHE:
                    self._cache.popitem(last=False)
        return stmt, stmt.bind(self.args.values(msg, batch, i))


def raw_queries(conf: dict[str, Any], driver: str, *, exec_default: bool) -> list[RawQuery]:
    """The statements of an `sql_raw` config: `query` first, then `queries`."""
    dynamic = bool(conf.get("unsafe_dynamic_query", False))
    out: list[RawQuery] = []
    if str(conf.get("query") or "").strip():
        exec_only = conf.get("exec_only", exec_default)
        out.append(
            RawQuery(
                str(conf["query"]), str(conf.get("args_mapping") or ""), bool(exec_only),
                driver, dynamic,
            )
        )  # fmt: skip
    for item in conf.get("queries") or []:
        out.append(
            RawQuery(
                str(item["query"]), str(item.get("args_mapping") or ""),
                bool(item.get("exec_only", False)), driver, dynamic,
            )
        )  # fmt: skip
    if not out:
        raise ValueError("either query or queries is required")
    return out
