"""SQL components without a server: DSN translation, placeholders, values, config checks, and
the processors on a SQLite file (a real database, no network)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from component_helpers import lint_stream, validated_conf

from streamforge.connectors.sql import (
    database_url,
    insert_text,
    jsonable,
    select_text,
    split_statements,
    statement,
)
from streamforge.message import Message
from streamforge.plugin import Kind, load_builtins, registry
from streamforge.plugin.testing import PluginTestContext

load_builtins()


# -- DSNs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "url"),
    [
        (
            "postgres://user:p%40ss@db.local:5433/plant?sslmode=disable",
            "postgresql+psycopg://user:p%40ss@db.local:5433/plant?sslmode=disable",
        ),
        ("postgresql://localhost/plant", "postgresql+psycopg://localhost/plant"),
    ],
)
def test_postgres_urls_keep_their_parts(dsn: str, url: str) -> None:
    assert database_url("postgres", dsn).url == url


def test_postgres_keyword_dsn_goes_to_the_driver_as_it_is() -> None:
    target = database_url("postgres", "host=localhost user=plant dbname=lines sslmode=disable")
    assert target.raw == "host=localhost user=plant dbname=lines sslmode=disable"
    assert database_url("pgx", "postgres://h/d").url == "postgresql+psycopg://h/d"


@pytest.mark.parametrize(
    ("dsn", "url", "args"),
    [
        (
            "foouser:foopass@tcp(localhost:3306)/foodb",
            "mysql+pymysql://foouser:foopass@localhost:3306/foodb?charset=utf8mb4",
            {},
        ),
        (
            "root@tcp(127.0.0.1:3307)/test?parseTime=true&timeout=5s&charset=latin1",
            "mysql+pymysql://root@127.0.0.1:3307/test?charset=latin1",
            {"connect_timeout": 5},
        ),
        ("u:p@/db", "mysql+pymysql://u:p@127.0.0.1:3306/db?charset=utf8mb4", {}),
        (
            "u@unix(/run/mysqld/mysqld.sock)/db",
            "mysql+pymysql://u@127.0.0.1:3306/db?charset=utf8mb4&unix_socket=%2Frun%2Fmysqld%2Fmysqld.sock",
            {},
        ),
        ("u@tcp([::1]:3306)/db", "mysql+pymysql://u@[::1]:3306/db?charset=utf8mb4", {}),
    ],
)
def test_go_mysql_dsns_become_pymysql_urls(dsn: str, url: str, args: dict[str, Any]) -> None:
    target = database_url("mysql", dsn)
    assert target.url == url
    assert target.connect_args == args


def test_sqlite_dsns() -> None:
    plain = database_url("sqlite", "/var/lib/plant.db")
    assert plain.raw == "/var/lib/plant.db" and plain.pragmas == ()
    uri = database_url("sqlite", "file:/data/x.db?mode=ro&_pragma=foreign_keys(1)&_txlock=x")
    assert uri.raw == "file:/data/x.db?mode=ro"
    assert uri.pragmas == ("PRAGMA foreign_keys = 1",)
    assert database_url("sqlite", ":memory:").raw == ":memory:"


@pytest.mark.parametrize(
    ("driver", "dsn", "needle"),
    [
        ("postgres", "db.local:5432", "not a PostgreSQL URL"),
        ("mysql", "user@tcp(host:3306)", "expected user:pass@tcp(host:3306)/dbname"),
        ("mysql", "u@udp(h)/d", "network 'udp'"),
        ("clickhouse", "tcp://h:9000", "not supported"),
    ],
)
def test_bad_dsns_say_what_is_wrong(driver: str, dsn: str, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        database_url(driver, dsn)


def test_a_password_in_a_refused_dsn_is_not_repeated() -> None:
    with pytest.raises(ValueError) as err:
        database_url("mysql", "user:hunter2@tcp(host:3306)")
    assert "hunter2" not in str(err.value)


# -- placeholders ------------------------------------------------------------------------------


def test_postgres_numbered_placeholders_may_repeat_and_reorder() -> None:
    stmt = statement("SELECT $2, $1, $2 WHERE a LIKE '50%' AND b = '$1'", "postgres")
    assert stmt.text == "SELECT %s, %s, %s WHERE a LIKE '50%%' AND b = '$1'"
    assert stmt.order == (1, 0, 1)
    assert stmt.bind(["x", "y"]) == ("y", "x", "y")


def test_question_marks_outside_strings_and_comments_are_placeholders() -> None:
    query = "INSERT INTO t (a, b) VALUES (?, ?) -- why? because\n /* ? */ ON DUPLICATE KEY UPDATE"
    stmt = statement(query, "mysql")
    assert stmt.text.count("%s") == 2 and "-- why? because" in stmt.text
    assert stmt.arity == 2
    sqlite_stmt = statement("SELECT * FROM t WHERE a = ? AND b = 'what?'", "sqlite")
    assert sqlite_stmt.text == "SELECT * FROM t WHERE a = ? AND b = 'what?'"
    assert sqlite_stmt.arity == 1


def test_generated_postgres_statements_take_question_marks_and_escape_them() -> None:
    stmt = statement("SELECT * FROM t WHERE doc ?? 'k' AND id = ?", "postgres", generated=True)
    assert stmt.text == "SELECT * FROM t WHERE doc ? 'k' AND id = %s"
    raw = statement("SELECT * FROM t WHERE doc ? 'k' AND id = $1", "postgres")
    assert raw.text == "SELECT * FROM t WHERE doc ? 'k' AND id = %s"


def test_dollar_quoted_bodies_are_left_alone() -> None:
    stmt = statement("DO $body$ BEGIN PERFORM $1; END $body$; SELECT $1", "postgres")
    assert stmt.text == "DO $body$ BEGIN PERFORM $1; END $body$; SELECT %s"


def test_mixing_placeholder_kinds_is_refused() -> None:
    with pytest.raises(ValueError, match="mixes"):
        statement("SELECT ? , $1", "postgres", generated=True)


def test_binding_the_wrong_number_of_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="gave 1 value"):
        statement("SELECT ?, ?", "mysql").bind([1])


def test_objects_and_arrays_are_bound_as_json_text() -> None:
    assert statement("SELECT ?", "sqlite").bind([{"a": [1, 2]}]) == ('{"a":[1,2]}',)


def test_generated_statements() -> None:
    assert (
        insert_text("t", ["a", "b"], 2, options=["IGNORE"], suffix="ON CONFLICT DO NOTHING")
        == "INSERT IGNORE INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING"
    )
    assert (
        select_text("t", ["*"], where="a > ?", prefix="WITH x AS (SELECT 1)", suffix="LIMIT 5")
        == "WITH x AS (SELECT 1) SELECT * FROM t WHERE a > ? LIMIT 5"
    )


def test_scripts_split_at_semicolons_outside_quotes() -> None:
    script = "CREATE TABLE a (x text DEFAULT ';');\n-- c;\nINSERT INTO a VALUES ('1;2');;"
    assert split_statements(script) == [
        "CREATE TABLE a (x text DEFAULT ';')",
        "-- c;\nINSERT INTO a VALUES ('1;2')",
    ]


# -- values ------------------------------------------------------------------------------------


def test_column_values_become_json_values() -> None:
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert jsonable(decimal.Decimal("4")) == 4
    assert jsonable(decimal.Decimal("4.5")) == 4.5
    assert jsonable(stamp) == "2026-01-02T03:04:05Z"
    assert jsonable(dt.date(2026, 1, 2)) == "2026-01-02"
    assert jsonable(b"text") == "text"
    assert jsonable(b"\xff\x00") == "/wA="
    assert jsonable(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"


# -- processors on SQLite ----------------------------------------------------------------------


def _build(kind: Kind, name: str, conf: dict[str, Any]) -> Any:
    """A component built from its config as a stream would (defaults filled, checked)."""
    ctx = PluginTestContext(label=name, type_name=name, kind=kind)
    return registry.get(kind, name).factory(validated_conf(kind, name, conf), ctx)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "plant.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE r (id integer PRIMARY KEY, asset text NOT NULL, v real)")
    return path


def _sqlite(path: Path) -> dict[str, Any]:
    return {"driver": "sqlite", "dsn": f"file:{path}"}


def test_sql_insert_processor_inserts_and_flags_only_failing_messages(sqlite_file: Path) -> None:
    proc = _build(
        "processor",
        "sql_insert",
        {
            **_sqlite(sqlite_file), "table": "r", "columns": ["id", "asset", "v"],
            "args_mapping": "root = [ this.id, this.asset, this.v ]",
        },
    )  # fmt: skip
    batch = [
        Message.from_value({"id": 1, "asset": "a", "v": 0.5}),
        Message.from_value({"id": 2, "asset": None, "v": 1}),
        Message(b"not json"),
        Message.from_value({"id": 3, "asset": "c", "v": 2}),
    ]
    out = proc.process_batch(batch)
    proc.close()
    assert [m.error is None for m in out] == [True, False, False, True]
    assert "NOT NULL" in (out[1].error or "")
    assert out[0].value == {"id": 1, "asset": "a", "v": 0.5}  # unchanged
    with sqlite3.connect(sqlite_file) as conn:
        assert conn.execute("SELECT id, asset, v FROM r ORDER BY id").fetchall() == [
            (1, "a", 0.5), (3, "c", 2.0)
        ]  # fmt: skip


def test_sql_select_and_sql_raw_processors_replace_the_message(sqlite_file: Path) -> None:
    with sqlite3.connect(sqlite_file) as conn:
        conn.executemany("INSERT INTO r VALUES (?, ?, ?)", [(1, "a", 1.0), (2, "a", 3.0)])
    select = _build(
        "processor",
        "sql_select",
        {**_sqlite(sqlite_file), "table": "r", "columns": ["id", "v"], "where": "asset = ?",
         "args_mapping": "root = [ this.asset ]", "suffix": "ORDER BY id DESC"},
    )  # fmt: skip
    raw = _build(
        "processor",
        "sql_raw",
        {**_sqlite(sqlite_file), "query": "SELECT avg(v) AS mean FROM r WHERE asset = ?",
         "args_mapping": 'root = [ meta("asset") ]'},
    )  # fmt: skip
    [selected] = select.process_batch([Message.from_value({"asset": "a"})])
    assert selected.value == [{"id": 2, "v": 3.0}, {"id": 1, "v": 1.0}]
    [mean] = raw.process_batch([Message(b"{}", {"asset": "a"})])
    assert mean.value == [{"mean": 2.0}]
    select.close()
    raw.close()


def test_sql_raw_queries_run_in_one_transaction_per_message(sqlite_file: Path) -> None:
    raw = _build(
        "processor",
        "sql_raw",
        {
            **_sqlite(sqlite_file),
            "queries": [
                {"query": "INSERT INTO r VALUES (?, ?, ?)",
                 "args_mapping": "root = [ this.id, this.asset, 1 ]", "exec_only": True},
                {"query": "SELECT count(*) AS n FROM r"},
            ],
        },
    )  # fmt: skip
    ok, refused = raw.process_batch(
        [Message.from_value({"id": 1, "asset": "a"}), Message.from_value({"id": 1, "asset": "b"})]
    )
    raw.close()
    assert ok.value == [{"n": 1}]
    assert refused.error is not None and "UNIQUE" in refused.error
    assert refused.value == {"id": 1, "asset": "b"}


def test_unsafe_dynamic_query_interpolates_per_message(sqlite_file: Path) -> None:
    with sqlite3.connect(sqlite_file) as conn:
        conn.execute("CREATE TABLE other (id integer)")
        conn.execute("INSERT INTO other VALUES (7)")
    raw = _build(
        "processor",
        "sql_raw",
        {**_sqlite(sqlite_file), "query": "SELECT count(*) AS n FROM ${! this.table }",
         "unsafe_dynamic_query": True},
    )  # fmt: skip
    out = raw.process_batch(
        [Message.from_value({"table": "other"}), Message.from_value({"table": "r"})]
    )
    raw.close()
    assert [m.value for m in out] == [[{"n": 1}], [{"n": 0}]]


def test_init_statement_and_files_run_once_on_first_connect(tmp_path: Path) -> None:
    (tmp_path / "01.sql").write_text("CREATE TABLE a (x text);\nINSERT INTO a VALUES ('f;1');\n")
    proc = _build(
        "processor",
        "sql_raw",
        {**_sqlite(tmp_path / "x.db"), "init_files": [str(tmp_path / "*.sql")],
         "init_statement": "INSERT INTO a VALUES ('s')", "query": "SELECT x FROM a ORDER BY x"},
    )  # fmt: skip
    first = proc.process_batch([Message(b"{}")])[0].value
    second = proc.process_batch([Message(b"{}")])[0].value
    proc.close()
    assert first == second == [{"x": "f;1"}, {"x": "s"}]


def test_args_mapping_must_give_an_array(sqlite_file: Path) -> None:
    proc = _build(
        "processor",
        "sql_select",
        {**_sqlite(sqlite_file), "table": "r", "columns": ["*"], "where": "id = ?",
         "args_mapping": "root = this.id"},
    )  # fmt: skip
    [msg] = proc.process_batch([Message.from_value({"id": 1})])
    proc.close()
    assert "args_mapping must give an array, it gave int" in (msg.error or "")


def test_sql_insert_output_writes_a_batch_in_one_transaction(sqlite_file: Path) -> None:
    out = _build(
        "output",
        "sql_insert",
        {**_sqlite(sqlite_file), "table": "r", "columns": ["id", "asset"],
         "args_mapping": "root = [ this.id, this.asset ]"},
    )  # fmt: skip
    assert out.write_batch([Message.from_value({"id": i, "asset": "a"}) for i in range(1, 4)]) == []
    bad = [
        Message.from_value({"id": 10, "asset": "a"}),
        Message.from_value({"id": 1, "asset": "b"}),
    ]
    failed = out.write_batch(bad)
    out.close()
    assert failed == bad and all("UNIQUE" in (m.error or "") for m in failed)
    with sqlite3.connect(sqlite_file) as conn:  # the refused batch left nothing behind
        assert [r[0] for r in conn.execute("SELECT id FROM r ORDER BY id")] == [1, 2, 3]


# -- configs as Benthos users write them ----------------------------------------------------------


def test_benthos_documented_shapes_lint_clean(tmp_path: Path) -> None:
    """The shapes of the Benthos docs' examples (with our own values)."""
    assert (
        lint_stream(
            tmp_path,
            """
        input:
          sql_select:
            driver: postgres
            dsn: postgres://plant:secret@localhost:5432/lines?sslmode=disable
            table: readings
            where: created_at >= ?
            suffix: ORDER BY created_at
            columns: [ '*' ]
            args_mapping: |
              root = [
                now().ts_unix() - 3600
              ]
        pipeline:
          processors:
            - sql_insert:
                driver: mysql
                dsn: plant:secret@tcp(localhost:3306)/lines
                table: readings
                columns: [ id, name, topic ]
                args_mapping: |
                  root = [
                    this.user.id,
                    this.user.name,
                    meta("kafka_topic"),
                  ]
            - branch:
                processors:
                  - sql_raw:
                      driver: postgres
                      dsn: postgres://plant:secret@localhost:5432/lines?sslmode=disable
                      query: "SELECT * FROM footable WHERE user_id = $1;"
                      args_mapping: root = [ this.user.id ]
                result_map: root.foo_rows = this
            - sql_select:
                driver: sqlite
                dsn: file:./lines.db
                table: assets
                columns: [ id, name ]
                where: id = ?
                args_mapping: root = [ this.asset ]
        output:
          sql_insert:
            driver: mysql
            dsn: plant:secret@tcp(localhost:3306)/lines
            table: readings
            columns: [ id, name, topic ]
            args_mapping: |
              root = [
                this.user.id,
                this.user.name,
                meta("kafka_topic"),
              ]
            batching:
              count: 500
              period: 1s
        """,
        )
        == []
    )
    assert (
        lint_stream(
            tmp_path,
            """
        input:
          sql_raw:
            driver: postgres
            dsn: postgres://plant:secret@localhost:5432/lines?sslmode=disable
            query: "SELECT name, count(*) FROM person WHERE last_updated < $1 GROUP BY name;"
            args_mapping: |
              root = [
                now().ts_unix() - 3600
              ]
        output:
          sql_raw:
            driver: mysql
            dsn: plant:secret@tcp(localhost:3306)/lines
            query: "INSERT INTO footable (foo, bar, baz) VALUES (?, ?, ?);"
            args_mapping: root = [ this.cat.meow, this.doc.woofs.index(0), meta("kafka_topic") ]
        """,
        )
        == []
    )


def test_every_spec_example_lints(tmp_path: Path) -> None:
    import yaml

    for kind, name in [
        ("processor", "sql_insert"), ("processor", "sql_select"), ("processor", "sql_raw"),
        ("output", "sql_insert"), ("output", "sql_raw"),
        ("input", "sql_select"), ("input", "sql_raw"),
    ]:  # fmt: skip
        for example in registry.get(kind, name).examples:
            body = yaml.safe_load(example)
            doc: dict[str, Any] = {
                "input": {"generate": {"mapping": "root = {}", "count": 1}},
                "output": {"drop": {}},
            }
            if kind == "processor":
                doc["pipeline"] = {"processors": [body]}
            else:
                doc[kind] = body
            assert lint_stream(tmp_path, json.dumps(doc)) == [], (kind, name)


@pytest.mark.parametrize(
    ("conf", "needle"),
    [
        ({"driver": "postgress", "dsn": "x"}, "postgres"),
        ({"driver": "clickhouse", "dsn": "tcp://h:9000"}, "clickhouse"),
        ({"driver": "mysql", "dsn": "u@tcp(h:3306)"}, "expected user:pass@tcp(host:3306)/dbname"),
        ({"driver": "sqlite", "dsn": "x.db", "args_mapping": "root = ["}, "args_mapping"),
        ({"driver": "sqlite", "dsn": "x.db", "init_files": ["/nowhere/*.sql"]}, "nothing matches"),
        ({"driver": "postgres", "dsn": "postgres://h/d", "query": "SELECT $0"}, "from $1"),
    ],
)
def test_bad_configs_are_lint_errors_at_their_place(
    tmp_path: Path, conf: dict[str, Any], needle: str
) -> None:
    import yaml

    body = {"query": "SELECT 1", **conf}
    problems = lint_stream(tmp_path, yaml.safe_dump({"output": {"sql_raw": body}}))
    assert any(needle in p for p in problems), problems
    assert all(
        re.match(re.escape(str(tmp_path / "stream.yaml")) + r":\d+:\d+: ", p) for p in problems
    )


def test_a_query_is_required(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        """
        pipeline:
          processors:
            - sql_raw:
                driver: sqlite
                dsn: x.db
        """,
    )
    assert any("either query or queries is required" in p for p in problems), problems


def test_sql_select_input_replays_failed_batches_and_ends_when_all_are_written(
    sqlite_file: Path,
) -> None:
    with sqlite3.connect(sqlite_file) as conn:
        conn.executemany("INSERT INTO r VALUES (?, ?, ?)", [(i, "a", i / 2) for i in range(1, 4)])
    source = _build(
        "input",
        "sql_select",
        {**_sqlite(sqlite_file), "table": "r", "columns": ["id", "v"], "suffix": "ORDER BY id"},
    )
    reader = source.open("0", None)
    first = reader.read()
    assert [m.value for m in first] == [
        {"id": 1, "v": 0.5},
        {"id": 2, "v": 1.0},
        {"id": 3, "v": 1.5},
    ]
    assert reader.read() == []  # every row read, the batch not written yet: keep going
    reader.ack(first, "the output failed")
    again = reader.read()
    assert [m.value["id"] for m in again] == [1, 2, 3]
    reader.ack(again, None)
    assert reader.read() is None
    reader.close()


def test_sql_raw_input_without_replay_ends_after_the_last_row(sqlite_file: Path) -> None:
    source = _build(
        "input",
        "sql_raw",
        {**_sqlite(sqlite_file), "query": "SELECT 1 AS one", "auto_replay_nacks": False},
    )
    reader = source.open("0", None)
    batch = reader.read()
    assert [m.value for m in batch] == [{"one": 1}]
    reader.ack(batch, "failed")
    assert reader.read() is None
    reader.close()
