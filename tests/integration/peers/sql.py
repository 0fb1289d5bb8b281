"""Databases of a test's own on the machine's PostgreSQL and MariaDB, or in a SQLite file, as
the SQL components (Benthos driver and DSN) and as the test (SQLAlchemy) see them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peers.ports import free_port

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@dataclass
class Db:
    """A database of the test's own."""

    driver: str
    dsn: str
    #: SQLAlchemy URL the test uses to look at the tables
    url: str
    #: the database's name on its server ("" for SQLite)
    name: str = ""

    def placeholder(self, n: int) -> str:
        """Argument n (1-based) in a raw query, as the driver writes it."""
        return f"${n}" if self.driver == "postgres" else "?"

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(query)).fetchall()]
        finally:
            engine.dispose()

    def execute(self, *statements: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                for s in statements:
                    conn.execute(text(s))
        finally:
            engine.dispose()

    def table(self, name: str) -> str:
        """CREATE TABLE of the tests' readings table, in this database's types."""
        text = "varchar(64)" if self.driver == "mysql" else "text"
        return (
            f"CREATE TABLE {name} (id integer PRIMARY KEY, asset {text} NOT NULL, "
            f"value double precision, note {text})"
        )


@contextmanager
def postgres_db() -> Iterator[Db]:
    import psycopg

    name = f"sf_sql_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Db(
            "postgres",
            f"postgres://postgres@127.0.0.1:5432/{name}?sslmode=disable",
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
            name,
        )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mariadb_db() -> Iterator[Db]:
    import pymysql

    name = f"sf_sql_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(**MARIADB, autocommit=True)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield Db(
            "mysql",
            f"root@tcp(127.0.0.1:3306)/{name}?parseTime=true",
            f"mysql+pymysql://root@127.0.0.1:3306/{name}",
            name,
        )
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@contextmanager
def sqlite_db(folder: Path) -> Iterator[Db]:
    path = folder / "plant.db"
    yield Db("sqlite", f"file:{path}", f"sqlite:///{path}")


@contextmanager
def database(driver: str, folder: Path) -> Iterator[Db]:
    """A new database of `driver`, dropped afterwards."""
    make = {"postgres": postgres_db, "mysql": mariadb_db}.get(driver)
    with make() if make is not None else sqlite_db(folder) as db:
        yield db


def cut_postgres(dbname: str) -> int:
    """Terminate every server process connected to `dbname`; how many there were."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchall()
    return len(rows)


def cut_mariadb(dbname: str) -> int:
    """KILL every connection using `dbname`; how many there were."""
    import pymysql

    conn = pymysql.connect(**MARIADB, autocommit=True)  # type: ignore[arg-type]
    killed = 0
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.PROCESSLIST WHERE db = %s "
                "AND id <> CONNECTION_ID()",
                (dbname,),
            )
            for (pid,) in cur.fetchall():
                try:
                    cur.execute(f"KILL {int(pid)}")
                    killed += 1
                except pymysql.err.OperationalError:
                    pass  # it ended meanwhile
    finally:
        conn.close()
    return killed


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary directory, run as the
    `postgres` user) on a free loopback port, to stop and start again mid-stream.

    `settings` are extra server settings (`-c name=value`), e.g. `{"wal_level": "logical"}`.
    """

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = dict(settings or {})
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sf-pg-"))
        shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self._as_postgres(
            [str(self.BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8"],
        )  # fmt: skip
        self.start()
        self._as_postgres(
            [str(self.BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-c", "CREATE DATABASE plant"],
        )  # fmt: skip
        self.db = Db(
            "postgres",
            f"postgres://postgres@127.0.0.1:{self.port}/plant?sslmode=disable",
            f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/plant",
            "plant",
        )

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._as_postgres(
            [str(self.BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
             "-l", str(self.dir / "server.log"), "-w", "start"],
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once, as a crash would (committed transactions survive)."""
        self._as_postgres(
            [str(self.BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        )

    def kill(self) -> None:
        """SIGKILL the postmaster and every server process it started (a crash)."""
        pid_file = self.data / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in [postmaster, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in [postmaster, *map(int, children)]:
            _wait_gone(pid)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait_gone(pid: int, timeout: float = 15.0) -> None:
    """Wait until process `pid` is gone and reaped: a PostgreSQL started again refuses to
    run while the PID in its lock file still exists, even as a zombie."""
    deadline = time.monotonic() + timeout
    proc = Path(f"/proc/{pid}")
    while proc.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()
