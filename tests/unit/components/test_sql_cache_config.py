"""The `sql` cache without a server: its operations on a SQLite file (a real database, no
network), and its config checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from component_helpers import lint_stream, validated_conf

from streamforge.plugin import Cache, CacheError, load_builtins, registry
from streamforge.plugin.testing import PluginTestContext

load_builtins()


def sqlite_cache(tmp_path: Path, **conf: str) -> Cache:
    base = {
        "driver": "sqlite",
        "dsn": f"file:{tmp_path / 'cache.db'}",
        "table": "items",
        "key_column": "k",
        "value_column": "v",
        "init_statement": "CREATE TABLE IF NOT EXISTS items (k text PRIMARY KEY, v text)",
    }
    spec = registry.get("cache", "sql")
    assert spec is not None
    cache = spec.factory(validated_conf("cache", "sql", {**base, **conf}), PluginTestContext())
    assert isinstance(cache, Cache)
    return cache


@pytest.mark.parametrize("suffix", ["", "ON CONFLICT (k) DO UPDATE SET v = excluded.v"])
def test_operations_on_a_sqlite_table(tmp_path: Path, suffix: str) -> None:
    cache = sqlite_cache(tmp_path, set_suffix=suffix)
    try:
        assert cache.get("a") is None
        cache.set("a", b"one")
        cache.set("a", b"two")
        assert cache.get("a") == b"two"
        assert cache.add("a", b"three") is False and cache.get("a") == b"two"
        assert cache.add("b", b"\xff\x00") is True and cache.get("b") == b"\xff\x00"
        assert cache.add_many([("b", b"x"), ("c", b"y"), ("c", b"z")]) == [False, True, False]
        cache.delete("a")
        cache.delete("a")
        assert cache.get("a") is None and cache.get("c") == b"y"
    finally:
        cache.close()


def test_a_statement_the_database_refuses_is_a_cache_error(tmp_path: Path) -> None:
    cache = sqlite_cache(tmp_path, init_statement="", table="nowhere")
    try:
        with pytest.raises(CacheError, match="no such table: nowhere"):
            cache.get("a")
        with pytest.raises(CacheError, match="no such table: nowhere"):
            cache.set("a", b"1")
    finally:
        cache.close()


def test_the_spec_example_lints(tmp_path: Path) -> None:
    spec = registry.get("cache", "sql")
    assert spec is not None
    for example in spec.examples:
        doc = yaml.safe_load(example)
        doc["input"] = {"generate": {"mapping": "root = {}", "count": 1}}
        label = doc["cache_resources"][0]["label"]
        doc["pipeline"] = {
            "processors": [{"cache": {"resource": label, "operator": "get", "key": "x"}}]
        }
        doc["output"] = {"drop": {}}
        assert lint_stream(tmp_path, yaml.safe_dump(doc)) == []


@pytest.mark.parametrize(
    ("change", "place", "needle"),
    [
        ({"table": ""}, "stream.yaml:6:12:", "must not be empty"),
        ({"key_column": "k; DROP TABLE items"}, "stream.yaml:7:17:", "not a table or column"),
        ({"driver": "clickhouse"}, "stream.yaml:4:13:", "clickhouse"),
        ({"dsn": "u@tcp(h:3306)", "driver": "mysql"}, "stream.yaml:2:3:", "dbname"),
    ],
)
def test_bad_configs_are_lint_errors_at_their_place(
    tmp_path: Path, change: dict[str, str], place: str, needle: str
) -> None:
    conf = {"driver": "sqlite", "dsn": "cache.db", "table": "items", "key_column": "k",
            "value_column": "v", **change}  # fmt: skip
    doc = {
        "cache_resources": [{"label": "c", "sql": conf}],
        "pipeline": {"processors": [{"cache": {"resource": "c", "operator": "get", "key": "x"}}]},
    }
    problems = lint_stream(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    assert len(problems) == 1 and needle in problems[0], problems
    assert problems[0].startswith(str(tmp_path / place)), problems
