"""The `sql` cache against PostgreSQL, MariaDB and SQLite: the `cache` processor's set, add, get
and delete, the `cache` output, and failures that flag only their message."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers.sql import Db, database
from peers.stream_run import out_lines, run_stream

pytest.importorskip("sqlalchemy")

#: each driver's upsert clause for `set_suffix`
UPSERT = {
    "postgres": "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
    "mysql": "ON DUPLICATE KEY UPDATE v = VALUES(v)",
    "sqlite": "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
}

#: (op, key, value) run in order, one message each, and what each message ends as
STEPS: list[tuple[str, str, str, str]] = [
    ("set", "a", "alpha", "unchanged"),
    ("set", "b", "beta", "unchanged"),
    ("set", "a", "ALPHA", "unchanged"),
    ("get", "a", "", "ALPHA"),
    ("get", "missing", "", "error: cache: operator failed for key 'missing': key does not exist"),
    ("add", "c", "gamma", "unchanged"),
    ("set", "c", "gamma", "unchanged"),  # the same value again: still one row
    ("add", "b", "other", "error: cache: key already exists: b"),
    ("get", "b", "", "beta"),
    ("delete", "b", "", "unchanged"),
    ("get", "b", "", "error: cache: operator failed for key 'b': key does not exist"),
    ("delete", "b", "", "unchanged"),
    ("set", "u", "héllo ✓ 'quoted' %s ?", "unchanged"),
    ("get", "u", "", "héllo ✓ 'quoted' %s ?"),
]


@pytest.fixture(params=["postgres", "mysql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    with database(request.param, tmp_path) as db:
        yield db


def cache_yaml(label: str, db: Db, table: str, suffix: str = "", init: str = "") -> str:
    """One `sql` cache resource (a list item under `cache_resources`)."""
    return textwrap.dedent(
        f"""\
        - label: {label}
          sql:
            driver: {db.driver}
            dsn: "{db.dsn}"
            table: {table}
            key_column: k
            value_column: v
            set_suffix: "{suffix}"
            init_statement: "{init}"
        """
    )


def resources(db: Db, *more: str) -> str:
    """Two caches over two tables, `upsert` with the driver's set_suffix and `plain` without,
    and the `more` given; at the left margin, to follow a dedented stream."""
    key = "varchar(64)" if db.driver == "mysql" else "text"
    items = [
        cache_yaml(
            label, db, f"items_{label}", suffix,
            f"CREATE TABLE IF NOT EXISTS items_{label} (k {key} PRIMARY KEY, v text)",
        )
        for label, suffix in (("upsert", UPSERT[db.driver]), ("plain", ""))
    ]  # fmt: skip
    return "cache_resources:\n" + textwrap.indent("".join([*items, *more]), "  ")


def run_steps(db: Db, tmp_path: Path, label: str) -> list[str]:
    """Run STEPS through the `cache` processor on cache `label`; each message's end."""
    out = tmp_path / f"{label}.jsonl"
    steps = json.dumps([{"op": op, "key": k, "value": v} for op, k, v, _ in STEPS])
    steps = steps.replace("'", "''")  # inside a single-quoted YAML string
    cases = "".join(
        f"""
                - check: this.op == "{op}"
                  processors:
                    - cache:
                        resource: {label}
                        operator: {op}
                        key: '${{! this.key }}'
                        value: '${{! this.value }}'"""
        for op in ("set", "add", "get", "delete")
    )
    run_stream(
        tmp_path / f"{label}.yaml",
        textwrap.dedent(
            f"""
        input:
          generate:
            count: {len(STEPS)}
            interval: ""
            mapping: 'root = {steps}.index(counter() - 1)'
        pipeline:
          processors:
            - switch:{cases}
            - catch:
                - mapping: 'root = "error: " + error()'
        """
        )
        + resources(db),
        out,
    )
    return out_lines(out)


@pytest.mark.parametrize("label", ["upsert", "plain"])
def test_set_add_get_delete_through_the_cache_processor(db: Db, tmp_path: Path, label: str) -> None:
    ends = run_steps(db, tmp_path, label)
    assert len(ends) == len(STEPS), ends
    for (op, key, value, expected), got in zip(STEPS, ends):
        if expected == "unchanged":
            assert json.loads(got) == {"op": op, "key": key, "value": value}
        else:
            assert got == expected, (op, key)
    rows = dict(db.rows(f"SELECT k, v FROM items_{label}"))
    assert rows == {"a": "ALPHA", "c": "gamma", "u": "héllo ✓ 'quoted' %s ?"}


def test_the_cache_output_stores_every_message(db: Db, tmp_path: Path) -> None:
    run_stream(
        tmp_path / "out.yaml",
        textwrap.dedent(
            """
        input:
          generate:
            count: 20
            interval: ""
            batch_size: 5
            mapping: 'root = {"n": counter(), "reading": counter() * 1.5}'
        output:
          cache:
            target: plain
            key: 'reading-${! this.n }'
        """
        )
        + resources(db),
    )
    rows = {k: json.loads(v) for k, v in db.rows("SELECT k, v FROM items_plain")}
    assert rows == {f"reading-{n}": {"n": n, "reading": n * 1.5} for n in range(1, 21)}


def test_binary_values_keep_their_bytes_and_a_text_column_refuses_them_one_by_one(
    db: Db, tmp_path: Path
) -> None:
    blob = {"postgres": "bytea", "mysql": "longblob", "sqlite": "blob"}[db.driver]
    db.execute(f"CREATE TABLE items_binary (k varchar(64) PRIMARY KEY, v {blob})")
    binary = resources(db, cache_yaml("binary", db, "items_binary"))
    dead = tmp_path / "dead.txt"
    for target in ("binary", "plain"):
        run_stream(
            tmp_path / f"{target}.yaml",
            textwrap.dedent(
                f"""
            input:
              generate:
                count: 4
                interval: ""
                mapping: |
                  meta n = counter()
                  root = if counter() % 2 == 0 {{ "ff00fe".decode("hex") }} else {{ "text" }}
            output:
              fallback:
                - cache:
                    target: {target}
                    key: 'item-${{! @n }}'
                - file:
                    path: "{dead}"
                    codec: lines
                  processors:
                    - mapping: 'root = @n.string() + " " + @fallback_error'
            """
            )
            + binary,
        )
    rows = db.rows("SELECT k, v FROM items_binary")
    # SQLite keeps UTF-8 values as the text they were written as
    stored = {k: v.encode() if isinstance(v, str) else bytes(v) for k, v in rows}
    assert stored == {"item-1": b"text", "item-2": b"\xff\x00\xfe", "item-3": b"text",
                      "item-4": b"\xff\x00\xfe"}  # fmt: skip
    in_text = dict(db.rows("SELECT k, v FROM items_plain"))
    if db.driver == "sqlite":  # SQLite keeps any value in any column
        assert set(in_text) == {"item-1", "item-2", "item-3", "item-4"}
        assert not dead.exists()
        return
    assert in_text == {"item-1": "text", "item-3": "text"}
    refused = out_lines(dead)
    assert [line.split(" ")[0] for line in refused] == ["2", "4"], refused
    assert all("cache: set failed for key 'item-" in line for line in refused), refused


def test_an_unreachable_database_fails_each_message_and_the_stream_ends(tmp_path: Path) -> None:
    from peers.ports import free_port

    out = tmp_path / "out.jsonl"
    port = free_port()
    done = run_stream(
        tmp_path / "down.yaml",
        f"""
        input:
          generate:
            count: 3
            interval: ""
            mapping: 'root = {{"n": counter()}}'
        pipeline:
          processors:
            - cache:
                resource: gone
                operator: get
                key: 'k-${{! this.n }}'
            - catch:
                - mapping: 'root = error()'
        cache_resources:
          - label: gone
            sql:
              driver: postgres
              dsn: "postgres://postgres@127.0.0.1:{port}/nowhere?connect_timeout=2"
              table: items
              key_column: k
              value_column: v
        """,
        out,
    )
    lines = out_lines(out)
    assert len(lines) == 3, done.stderr
    for n, line in enumerate(lines, 1):
        assert line.startswith(f"cache: operator failed for key 'k-{n}': database "), line
        assert f"127.0.0.1:{port}/nowhere" in line and "Connection refused" in line, line
