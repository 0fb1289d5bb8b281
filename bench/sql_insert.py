"""SQL insert: `generate` -> `sql_insert` into PostgreSQL, against a plain psycopg loop.

Runs against the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust auth) in a
database of the run's own (`sf_bench_<hex>`, dropped at the end). Each contender writes the
same `--count` rows `{id, asset, value}` (ids 1..N) into a table of its own, 100 rows per
transaction (`--batch`), each transaction one multi-row INSERT:

* StreamForge: `streamforge run` (a subprocess) of `generate` (`batch_size` 100, as fast as
  possible) -> `sql_insert` (driver postgres, `batching.count` 100), once with
  `max_in_flight: 1` and once with `max_in_flight: 8`.
* psycopg loop: one connection, a `for` loop building each batch's parameters and running the
  same INSERT in a transaction of its own.

A local server costs no network round trip, where a remote one costs one per statement. So
every contender runs twice: without added latency, and with a `BEFORE INSERT ... FOR EACH
STATEMENT` trigger on its table that calls `pg_sleep` (`--latency-ms`, default 2), so each
transaction (one INSERT of up to 500 rows) takes that much longer on the server, as it would
across a network. That is what `max_in_flight` is for: several transactions waiting at once.

Each table has a `written_at` column (default `clock_timestamp()`, not written by anyone) that
times the rows on the server. Printed per contender: steady rows/s (rows after the first
batch, over the time from the first row written to the last) and wall rows/s (from process
start, or the psycopg connect, to the last commit); the ratios in_flight 8 / in_flight 1 and
each / psycopg loop on the steady figures; then a check that every run wrote exactly N rows
with N distinct ids (the tables have no primary key, so a duplicate would show).

    python bench/sql_insert.py [--count 50000] [--latency-ms 2] [--batch 100] [--repeat 1]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import StreamRun, development_licence

SERVER = "postgres@127.0.0.1:5432"
ADMIN_URL = f"postgresql://{SERVER}/postgres"
IN_FLIGHT = (1, 8)

STREAM = """
http:
  address: ${HTTP_ADDRESS}
input:
  generate:
    count: ${COUNT}
    interval: ""
    batch_size: ${BATCH}
    mapping: |
      let n = counter()
      root.id = $n
      root.asset = "asset-" + ($n % 8).string()
      root.value = $n.number() * 0.5 + 0.25
output:
  sql_insert:
    driver: postgres
    dsn: ${DSN}
    table: ${TABLE}
    columns: [ id, asset, value ]
    args_mapping: root = [ this.id, this.asset, this.value ]
    max_in_flight: ${MAX_IN_FLIGHT}
    batching:
      count: ${BATCH}
"""

DELAY_FUNCTION = """
CREATE FUNCTION bench_delay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(TG_ARGV[0]::double precision);
  RETURN NULL;
END $$
"""


@dataclass
class Run:
    """One contender's run: its rates and what its table holds."""

    name: str
    latency_ms: float
    steady: float
    wall: float
    rows: int = 0
    distinct: int = 0
    low: int = 0
    high: int = 0

    def wrote_all(self, count: int) -> bool:
        return (self.rows, self.distinct, self.low, self.high) == (count, count, 1, count)


@contextmanager
def bench_database() -> Iterator[str]:
    """A database of the run's own on the machine's PostgreSQL; its name. Dropped afterwards."""
    import psycopg

    name = f"sf_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable on 127.0.0.1:5432: {exc}") from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_table(url: str, table: str, latency_ms: float) -> None:
    """The contender's table; with a latency, a trigger delaying each INSERT statement."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id bigint, asset text, value double precision, "
            "written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        if latency_ms:
            conn.execute(
                f"CREATE TRIGGER {table}_delay BEFORE INSERT ON {table} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION bench_delay('{latency_ms / 1000:.6f}')"
            )


def steady_rate(url: str, table: str, count: int, batch: int) -> float:
    """Rows after the first batch over the server time from the first row to the last."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT extract(epoch FROM max(written_at) - min(written_at)) FROM {table}"
        ).fetchone()
    span = float(row[0]) if row and row[0] is not None else 0.0
    return (count - batch) / span if span > 0 else float("nan")


def check_table(url: str, table: str) -> tuple[int, int, int, int]:
    """(rows, distinct ids, lowest id, highest id) of a contender's table."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT count(*), count(DISTINCT id), coalesce(min(id), 0), coalesce(max(id), 0) "
            f"FROM {table}"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def run_streamforge(
    config: Path, env: dict[str, str], table: str, in_flight: int, args: argparse.Namespace
) -> float:
    """`streamforge run` until the generate input ended and every batch was written; the wall
    rows/s from process start to exit."""
    run_env = {**env, "TABLE": table, "MAX_IN_FLIGHT": str(in_flight)}
    log = config.parent / f"{table}.log"
    batches = -(-args.count // args.batch)
    deadline = 60.0 + batches * (args.latency_ms / 1000 + 0.02)
    start = time.monotonic()
    run = StreamRun(config, run_env, log)
    try:
        code = run.proc.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{table}: streamforge did not finish\n{run.log_tail()}") from None
    finally:
        run.stop()
    wall = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"{table}: streamforge exited with {code}\n{run.log_tail()}")
    summary = re.search(r"(\d+) read, (\d+) written", log.read_text(errors="replace"))
    if summary is None or int(summary.group(2)) != args.count:
        raise RuntimeError(f"{table}: streamforge did not write every row\n{run.log_tail()}")
    return args.count / wall


def insert_statement(table: str, rows: int) -> str:
    return f"INSERT INTO {table} (id, asset, value) VALUES " + ", ".join(["(%s, %s, %s)"] * rows)


def run_psycopg(url: str, table: str, count: int, batch: int) -> float:
    """The baseline: one connection, one multi-row INSERT per transaction; wall rows/s."""
    import psycopg

    full = insert_statement(table, batch)
    start = time.monotonic()
    with psycopg.connect(url) as conn:
        for first in range(1, count + 1, batch):
            ids = range(first, min(first + batch, count + 1))
            params = [v for n in ids for v in (n, f"asset-{n % 8}", n * 0.5 + 0.25)]
            stmt = full if len(ids) == batch else insert_statement(table, len(ids))
            with conn.transaction():
                conn.execute(stmt, params)
    return count / (time.monotonic() - start)


def server_settings(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        sync = conn.execute("SHOW synchronous_commit").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    assert version and sync and fsync
    return f"PostgreSQL {version[0]}, synchronous_commit {sync[0]}, fsync {fsync[0]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=50_000, help="rows per run")
    parser.add_argument("--batch", type=int, default=100, help="rows per transaction")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=2.0,
        help="server-side delay per INSERT statement in the second round (0: one round only)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best wins")
    args = parser.parse_args(argv)
    if args.count < 2 * args.batch:
        parser.error("--count must be at least two batches")

    latencies = [0.0] + ([args.latency_ms] if args.latency_ms > 0 else [])
    names = [f"streamforge max_in_flight {n}" for n in IN_FLIGHT] + ["psycopg loop, 1 connection"]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp, bench_database() as db:
        work = Path(tmp)
        url = f"postgresql://{SERVER}/{db}"
        config = work / "sql_insert.yaml"
        config.write_text(STREAM)
        env = {
            **development_licence(work, {"bindings": ["sql"]}),
            "COUNT": str(args.count),
            "BATCH": str(args.batch),
            "DSN": f"postgres://{SERVER}/{db}?sslmode=disable",
        }
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(DELAY_FUNCTION)
        settings = server_settings(url)
        for latency in latencies:
            for rep in range(args.repeat):
                for i, name in enumerate(names):
                    table = f"readings_{round(latency * 1000)}us_{i}_{rep}"
                    create_table(url, table, latency)
                    if i < len(IN_FLIGHT):
                        wall = run_streamforge(config, env, table, IN_FLIGHT[i], args)
                    else:
                        wall = run_psycopg(url, table, args.count, args.batch)
                    run = Run(name, latency, steady_rate(url, table, args.count, args.batch), wall)
                    run.rows, run.distinct, run.low, run.high = check_table(url, table)
                    runs.append(run)

    print(
        f"{settings} at 127.0.0.1:5432, database {db} (dropped); rows per run: {args.count}, "
        f"{args.batch} per transaction (one INSERT each); runs per contender: {args.repeat}"
    )
    print(
        f"streamforge: `streamforge run` of generate (batch_size {args.batch}) -> sql_insert "
        f"(driver postgres, batching.count {args.batch})"
    )
    for latency in latencies:
        if latency:
            print(f"latency {latency:g} ms per INSERT (BEFORE INSERT FOR EACH STATEMENT pg_sleep)")
        else:
            print("latency 0 (no trigger)")
        print(f"  {'':<30} {'steady rows/s':>13} {'wall rows/s':>12}")
        best: dict[str, Run] = {}
        for run in runs:
            if run.latency_ms == latency and (
                run.name not in best or run.steady > best[run.name].steady
            ):
                best[run.name] = run
        for name in names:
            print(f"  {name:<30} {best[name].steady:>13,.0f} {best[name].wall:>12,.0f}")
        one, eight, loop = (best[name].steady for name in names)
        print(
            f"  ratios (steady): in_flight 8 / in_flight 1 {eight / one:.2f}; "
            f"in_flight 1 / psycopg {one / loop:.2f}; in_flight 8 / psycopg {eight / loop:.2f}"
        )
    print(f"check: every run wrote exactly {args.count} rows, ids 1..{args.count} once each")
    for run in runs:
        verdict = "ok" if run.wrote_all(args.count) else "WRONG"
        print(
            f"  latency {run.latency_ms:g} ms, {run.name}: {run.rows} rows, {run.distinct} "
            f"distinct ids ({run.low}..{run.high}): {verdict}"
        )
    if not all(run.wrote_all(args.count) for run in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
