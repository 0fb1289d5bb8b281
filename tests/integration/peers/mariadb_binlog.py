"""A MariaDB server of the test's own with the binlog on (ROW format, full row images and
metadata), on a free loopback port: `mariadb-install-db` into a temporary data directory, then
`mariadbd`. It can be killed outright (SIGKILL) and started again on the same data directory
and port, as a crash would leave it. The machine's MariaDB may run without a binlog."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql

from peers.ports import free_port, wait_listening

__all__ = ["PrivateMariaDB"]


class PrivateMariaDB:
    """`root` (no password) on 127.0.0.1:`port`, with a database `plant`."""

    def __init__(self) -> None:
        for program in ("mariadb-install-db", "mariadbd"):
            assert shutil.which(program) or Path(f"/usr/sbin/{program}").exists(), (
                f"{program} is not installed (apt-get install mariadb-server)"
            )
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sf-mariadb-"))
        self.data = self.dir / "data"
        # a temporary directory of its own: installs running at once name their temporary
        # tables alike in a shared /tmp and fail ("Unknown table 'mysql.tmp_user_sys'")
        self.tmp = self.dir / "tmp"
        self.tmp.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None
        install = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.data}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve", *self._user()],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TMPDIR": str(self.tmp)},
        )  # fmt: skip
        assert install.returncode == 0, f"mariadb-install-db failed:\n{install.stdout[-2000:]}"
        self.start()
        self.sql("CREATE DATABASE plant")

    @staticmethod
    def _user() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    @property
    def dsn(self) -> str:
        """The database `plant` as the Go MySQL driver (and so `mysql_cdc`) writes it."""
        return f"root@tcp(127.0.0.1:{self.port})/plant"

    def start(self) -> None:
        binary = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        self.proc = subprocess.Popen(
            [binary, "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.dir / 'mysqld.sock'}",
             f"--pid-file={self.dir / 'mysqld.pid'}", f"--log-error={self.dir / 'server.log'}",
             f"--tmpdir={self.tmp}",
             "--log-bin=binlog", "--binlog-format=ROW", "--binlog-row-image=FULL",
             "--binlog-row-metadata=FULL", "--server-id=1", "--skip-name-resolve",
             "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
             "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0", *self._user()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_listening(self.port, timeout=60)
        deadline = time.monotonic() + 30
        while True:  # the port opens a moment before the server takes queries
            try:
                self.sql("SELECT 1")
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server: only what it had written to disk survives."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def connect(self, database: str | None = "plant", **kwargs: Any) -> Any:
        """A connection whose session time zone is UTC."""
        kwargs.setdefault("init_command", "SET time_zone = '+00:00'")
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", database=database,
            autocommit=True, **kwargs,
        )  # fmt: skip

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        """Run statements (autocommit); the rows of the last one."""
        conn = self.connect(database=None, connect_timeout=2)
        try:
            rows: list[tuple[Any, ...]] = []
            with conn.cursor() as cur:
                for s in statements:
                    cur.execute(s)
                    rows = list(cur.fetchall()) if cur.description else []
            return rows
        finally:
            conn.close()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
