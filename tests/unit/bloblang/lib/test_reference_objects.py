"""Benthos' reference for the "Object & Array Manipulation" methods: each documented example,
in the documented shape (mapping, input document, output document)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError

#: the methods Redpanda Connect lists under "Object & Array Manipulation"
REFERENCE_METHODS = [
    "all", "any", "append", "assign", "collapse", "concat", "contains", "diff", "enumerated",
    "exists", "explode", "filter", "find", "find_all", "find_all_by", "find_by", "flatten",
    "fold", "get", "index", "join", "json_path", "json_schema", "key_values", "keys",
    "length", "map_each", "map_each_key", "merge", "patch", "slice", "sort", "sort_by",
    "squash", "sum", "unique", "values", "with", "without", "zip",
]  # fmt: skip

#: (mapping, input document, expected output document)
EXAMPLES: list[tuple[str, Any, Any]] = [
    ("root.adults = this.people.all(p -> p.age >= 18)",
     {"people": [{"age": 17}, {"age": 40}]}, {"adults": False}),
    ("root.adults = this.people.all(p -> p.age >= 18)",
     {"people": [{"age": 33}, {"age": 40}]}, {"adults": True}),
    ("root.ok = this.vals.all(v -> v > 0)", {"vals": [4, 9]}, {"ok": True}),
    ("root.ok = this.vals.all(v -> v > 0)", {"vals": [4, -9]}, {"ok": False}),
    ("root.some = this.people.any(p -> p.age >= 18)",
     {"people": [{"age": 17}, {"age": 40}]}, {"some": True}),
    ("root.some = this.people.any(p -> p.age >= 18)",
     {"people": [{"age": 7}, {"age": 9}]}, {"some": False}),
    ('root.bad = this.jobs.any(j -> j.state == "failed")',
     {"jobs": [{"state": "done"}, {"state": "failed"}]}, {"bad": True}),
    ('root.bad = this.jobs.any(j -> j.state == "failed")',
     {"jobs": [{"state": "done"}]}, {"bad": False}),
    ('root.xs = this.xs.append("c", "d")', {"xs": ["a", "b"]}, {"xs": ["a", "b", "c", "d"]}),
    ("root.all = this.items.append(this.extra)", {"items": [1, 2], "extra": 3},
     {"all": [1, 2, 3]}),
    ("root = this.a.assign(this.b)",
     {"a": {"x": 1, "shared": "a"}, "b": {"y": 2, "shared": "b"}},
     {"x": 1, "y": 2, "shared": "b"}),
    ("root.cfg = this.defaults.assign(this.overrides)",
     {"defaults": {"port": 80, "tls": False}, "overrides": {"port": 443}},
     {"cfg": {"port": 443, "tls": False}}),
    ("root.flat = this.collapse()",
     {"a": [{"b": "1"}, {"b": {}}, {"b": "2"}, {"b": []}]},
     {"flat": {"a.0.b": "1", "a.2.b": "2"}}),
    ("root.flat = this.collapse(include_empty: true)",
     {"a": [{"b": "1"}, {"b": {}}, {"b": "2"}, {"b": []}]},
     {"flat": {"a.0.b": "1", "a.1.b": {}, "a.2.b": "2", "a.3.b": []}}),
    ("root.xs = this.xs.concat(this.ys, this.zs)", {"xs": [1], "ys": [2, 3], "zs": [4]},
     {"xs": [1, 2, 3, 4]}),
    ('root.has = this.tags.contains("red")', {"tags": ["blue", "red"]}, {"has": True}),
    ('root.has = this.tags.contains("red")', {"tags": ["blue"]}, {"has": False}),
    ("root.has = this.nums.contains(5)", {"nums": [1.5, 5.0, "x"]}, {"has": True}),
    ("root.has = this.nums.contains(5)", {"nums": [1, 2]}, {"has": False}),
    ('root.has = this.obj.contains("v")', {"obj": {"k": "v"}}, {"has": True}),
    ("root.changes = this.old.diff(this.new)",
     {"old": {"name": "pump", "rpm": 900}, "new": {"name": "pump", "rpm": 950, "on": True}},
     {"changes": [
         {"Type": "create", "Path": ["on"], "From": None, "To": True},
         {"Type": "update", "Path": ["rpm"], "From": 900, "To": 950},
     ]}),
    ("root.changes = this.old.diff(this.new)",
     {"old": {"debug": True, "level": 1}, "new": {"level": 2}},
     {"changes": [
         {"Type": "delete", "Path": ["debug"], "From": True, "To": None},
         {"Type": "update", "Path": ["level"], "From": 1, "To": 2},
     ]}),
    ("root.e = this.xs.enumerated()", {"xs": ["p", "q"]},
     {"e": [{"index": 0, "value": "p"}, {"index": 1, "value": "q"}]}),
    ("root.head = this.xs.enumerated().filter(e -> e.index < 2).map_each(e -> e.value)",
     {"xs": ["p", "q", "r"]}, {"head": ["p", "q"]}),
    ('root.r = this.doc.exists("a.b")', {"doc": {"a": {"b": "here"}}}, {"r": True}),
    ('root.r = this.doc.exists("a.b")', {"doc": {"a": {}}}, {"r": False}),
    ('root.r = this.doc.exists("a.b")', {"doc": {}}, {"r": False}),
    ('root.r = this.doc.exists("opt")', {"doc": {"opt": None}}, {"r": True}),
    ('root = this.explode("v")', {"id": 7, "v": ["a", "b"]},
     [{"id": 7, "v": "a"}, {"id": 7, "v": "b"}]),
    ('root = this.explode("v")', {"id": 7, "v": {"a": 1, "b": [2]}},
     {"a": {"id": 7, "v": 1}, "b": {"id": 7, "v": [2]}}),
    ("root.big = this.nums.filter(n -> n > 5)", {"nums": [1, 8, 3, 9]}, {"big": [8, 9]}),
    ('root.kept = this.d.filter(kv -> kv.value.contains("ok"))',
     {"d": {"a": "is ok", "b": "bad", "c": "ok"}}, {"kept": {"a": "is ok", "c": "ok"}}),
    ('root.i = this.find("y")', ["x", "y", "z"], {"i": 1}),
    ("root.i = this.xs.find(this.want)", {"want": 3, "xs": [1, 3, 3]}, {"i": 1}),
    ('root.i = this.find("q")', ["x"], {"i": -1}),
    ('root.i = this.find_all("y")', ["y", "x", "y"], {"i": [0, 2]}),
    ("root.i = this.xs.find_all(this.want)", {"want": 2, "xs": [2, 1, 2.0]}, {"i": [0, 2]}),
    ('root.i = this.find_all_by(v -> v != "x")', ["x", "y", "z"], {"i": [1, 2]}),
    ('root.i = this.logs.find_all_by(l -> l.lvl == "warn")',
     {"logs": [{"lvl": "warn"}, {"lvl": "info"}, {"lvl": "warn"}]}, {"i": [0, 2]}),
    ('root.i = this.find_by(v -> v != "x")', ["x", "y", "z"], {"i": 1}),
    ("root.i = this.users.find_by(u -> u.age >= 18)",
     {"users": [{"age": 3}, {"age": 30}, {"age": 50}]}, {"i": 1}),
    ("root.i = this.xs.find_by(v -> v > 100)", {"xs": [1]}, {"i": -1}),
    ("root.f = this.flatten()", ["a", ["b", "c"], "d"], {"f": ["a", "b", "c", "d"]}),
    ("root.f = this.xs.flatten()", {"xs": [1, [2, [3, 4]], 5]}, {"f": [1, 2, [3, 4], 5]}),
    ("root.total = this.xs.fold(0, i -> i.tally + i.value)", {"xs": [4, 5, 6]},
     {"total": 15}),
    ('root.s = this.xs.fold("", i -> "%v%v".format(i.tally, i.value))', {"xs": ["ab", "cd"]},
     {"s": "abcd"}),
    ("root.m = this.xs.fold({}, i -> i.tally.merge(i.value))",
     {"xs": [{"a": 1}, {"b": 2}]}, {"m": {"a": 1, "b": 2}}),
    ("root.r = this.obj.get(this.key)", {"obj": {"p": "P", "q": "Q"}, "key": "q"}, {"r": "Q"}),
    ('root.r = this.obj.get("a.b")', {"obj": {"a": {"b": 5}}}, {"r": 5}),
    ("root.last = this.xs.index(-1)", {"xs": ["first", "last"]}, {"last": "last"}),
    ("root.first = this.xs.index(0)", {"xs": ["first", "last"]}, {"first": "first"}),
    ("root.b = this.s.bytes().index(-1)", {"s": "abc"}, {"b": 99}),
    ('root.words = this.words.join()\nroot.nums = this.nums.map_each(n -> n.string()).join("-")',
     {"words": ["con", "cat"], "nums": [1, 2]}, {"words": "concat", "nums": "1-2"}),
    ('root.names = this.json_path("$..name")', {"name": "a", "sub": {"name": "b"}},
     {"names": ["a", "b"]}),
    ('root.names = this.json_path("$..name")', {"xs": ["q", {"name": "c"}]},
     {"names": ["c"]}),
    ("""root.hits = this.json_path("$.items[?(@.kind=='x')]")""",
     {"items": [{"kind": "y", "n": 1}, {"kind": "x", "n": 2}]},
     {"hits": [{"kind": "x", "n": 2}]}),
    ('root = this.json_schema("""{"type":"object","properties":{"n":{"type":"number"}}}""")',
     {"n": 3}, {"n": 3}),
    ("root.kv = this.o.key_values().sort_by(p -> p.key)", {"o": {"b": 2, "a": 1}},
     {"kv": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]}),
    ("root.big = this.o.key_values().filter(p -> p.value > 10).map_each(p -> p.key)",
     {"o": {"a": 5, "b": 50}}, {"big": ["b"]}),
    ("root.k = this.o.keys()", {"o": {"z": 1, "a": 2}}, {"k": ["a", "z"]}),
    ('root.has = this.o.keys().contains("id")', {"o": {"id": 1}}, {"has": True}),
    ("root.n = this.v.length()", {"v": ["a", "b", "c"]}, {"n": 3}),
    ("root.n = this.v.length()", {"v": {"a": 1, "b": 2}}, {"n": 2}),
    ("root.xs = this.xs.map_each(n -> if n < 3 { deleted() } else { n * 10 })",
     {"xs": [1, 3, 2, 4]}, {"xs": [30, 40]}),
    ("root.d = this.d.map_each(kv -> kv.value.uppercase())", {"d": {"a": "x", "b": "y"}},
     {"d": {"a": "X", "b": "Y"}}),
    ("root.d = this.d.map_each_key(k -> k.uppercase())", {"d": {"a": 1, "b": 2}},
     {"d": {"A": 1, "B": 2}}),
    ('root = this.map_each_key(k -> if k.has_prefix("tmp") { "_" + k })',
     {"tmp_a": 1, "keep": 2}, {"_tmp_a": 1, "keep": 2}),
    ("root = this.a.merge(this.b)", {"a": {"x": 1, "k": "a"}, "b": {"y": 2, "k": "b"}},
     {"x": 1, "y": 2, "k": ["a", "b"]}),
    ("root.xs = this.a.merge(this.b)", {"a": [1], "b": [2, 3]}, {"xs": [1, 2, 3]}),
    ("root.now = this.doc.patch(this.changes)",
     {"doc": {"rpm": 900}, "changes": [
         {"Type": "update", "Path": ["rpm"], "From": 900, "To": 950},
         {"Type": "create", "Path": ["on"], "From": None, "To": True}]},
     {"now": {"rpm": 950, "on": True}}),
    ("root.back = this.doc.patch(this.changes)",
     {"doc": {"level": 2}, "changes": [
         {"Type": "create", "Path": ["debug"], "From": None, "To": True},
         {"Type": "update", "Path": ["level"], "From": 2, "To": 1}]},
     {"back": {"debug": True, "level": 1}}),
    ("root.head = this.xs.slice(0, 2)\nroot.tail = this.xs.slice(3)",
     {"xs": [1, 2, 3, 4, 5]}, {"head": [1, 2], "tail": [4, 5]}),
    ("root.last = this.xs.slice(-2)\nroot.rest = this.xs.slice(0, -2)",
     {"xs": [1, 2, 3, 4, 5]}, {"last": [4, 5], "rest": [1, 2, 3]}),
    ("root.s = this.xs.sort()", {"xs": ["m", "z", "a"]}, {"s": ["a", "m", "z"]}),
    ("root.s = this.xs.sort(p -> p.left.v < p.right.v)",
     {"xs": [{"v": 2}, {"v": 3}, {"v": 1}]}, {"s": [{"v": 1}, {"v": 2}, {"v": 3}]}),
    ("root.s = this.xs.sort_by(x -> x.id)",
     {"xs": [{"id": "b"}, {"id": "a"}, {"id": "c"}]},
     {"s": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}),
    ("root.s = this.xs.sort_by(x -> x.n)", {"xs": [{"n": 3}, {"n": 1}, {"n": 2}]},
     {"s": [{"n": 1}, {"n": 2}, {"n": 3}]}),
    ("root.by = this.xs.map_each(x -> {x.k: [x.v]}).squash()",
     {"xs": [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}]},
     {"by": {"a": [1, 3], "b": [2]}}),
    ("root.s = this.xs.sum()", {"xs": [1, 2, 3]}, {"s": 6}),
    ("root.s = this.xs.sum()", {"xs": [0.5, 1.25, 2.0]}, {"s": 3.75}),
    ("root.u = this.xs.unique()", {"xs": ["b", "a", "b", "c"]}, {"u": ["b", "a", "c"]}),
    ("root.u = this.xs.unique(x -> x.id)",
     {"xs": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}, {"id": 1, "n": "c"}]},
     {"u": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]}),
    ("root.v = this.o.values().sort()", {"o": {"a": 2, "b": 1}}, {"v": [1, 2]}),
    ("root.top = this.o.values().sort().index(-1)", {"o": {"a": 7, "b": 9, "c": 8}},
     {"top": 9}),
    ('root = this.with("in.a", "in.c", "d")',
     {"in": {"a": 1, "b": 2, "c": 3}, "d": 4, "e": 5}, {"in": {"a": 1, "c": 3}, "d": 4}),
    ('root = this.without("in.a", "in.c", "d")',
     {"in": {"a": 1, "b": 2, "c": 3}, "d": 4, "e": 5}, {"in": {"b": 2}, "e": 5}),
    ('root = this.without("pw", "missing")', {"user": "u", "pw": "p"}, {"user": "u"}),
    ("root.z = this.a.zip(this.b, this.c)", {"a": ["x", "y"], "b": [1, 2], "c": [3, 4]},
     {"z": [["x", 1, 3], ["y", 2, 4]]}),
]  # fmt: skip

#: (mapping, input document, the error Benthos reports)
ERRORS: list[tuple[str, Any, str]] = [
    ('root = this.json_schema("""{"type":"object","properties":{"n":{"type":"number"}}}""")',
     {"n": "three"}, "n invalid type"),
    ("root.z = this.a.zip(this.b)", {"a": [1, 2], "b": [1]}, "length"),
    ("root.s = this.xs.sum()", {"xs": [1, "x"]}, "expected number value"),
]  # fmt: skip


def test_every_reference_method_is_registered() -> None:
    missing = [name for name in REFERENCE_METHODS if name not in registry.methods]
    assert missing == []


@pytest.mark.parametrize(("mapping", "doc", "expected"), EXAMPLES)
def test_documented_example(
    run_json: Callable[[str, str], Any], mapping: str, doc: Any, expected: Any
) -> None:
    assert run_json(mapping, json.dumps(doc)) == expected


@pytest.mark.parametrize(("mapping", "doc", "error"), ERRORS)
def test_documented_error(mapping: str, doc: Any, error: str) -> None:
    with pytest.raises(MappingError, match=error):
        parse(mapping).query(doc)
