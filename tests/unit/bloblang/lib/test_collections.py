"""Object and array methods: Benthos' documented examples, query handling and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.lib import load_all
from streamforge.bloblang.registry import DELETED, NOTHING, methods

load_all()


def call(name: str, target: Any, *args: Any) -> Any:
    spec = methods[name]
    impl = spec.impl() if spec.per_call_site else spec.impl
    return impl(target, *args)


def run(mapping: str, doc: Any) -> Any:
    return parse(mapping).query(doc)


def canonical(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# -- documented examples through the language ----------------------------------------------

DOC_EXAMPLES = [
    ("root.all_over_21 = this.patrons.all(patron -> patron.age >= 21)",
     {"patrons": [{"id": "1", "age": 18}, {"id": "2", "age": 23}]}, {"all_over_21": False}),
    ("root.all_over_21 = this.patrons.all(patron -> patron.age >= 21)",
     {"patrons": [{"id": "1", "age": 45}, {"id": "2", "age": 23}]}, {"all_over_21": True}),
    ("root.any_over_21 = this.patrons.any(patron -> patron.age >= 21)",
     {"patrons": [{"id": "1", "age": 18}, {"id": "2", "age": 23}]}, {"any_over_21": True}),
    ("root.any_over_21 = this.patrons.any(patron -> patron.age >= 21)",
     {"patrons": [{"id": "1", "age": 10}, {"id": "2", "age": 12}]}, {"any_over_21": False}),
    ('root.foo = this.foo.append("and", "this")', {"foo": ["bar", "baz"]},
     {"foo": ["bar", "baz", "and", "this"]}),
    ("root = this.foo.assign(this.bar)",
     {"foo": {"first_name": "fooer", "likes": "bars"},
      "bar": {"second_name": "barer", "likes": "foos"}},
     {"first_name": "fooer", "likes": "foos", "second_name": "barer"}),
    ("root.result = this.collapse()",
     {"foo": [{"bar": "1"}, {"bar": {}}, {"bar": "2"}, {"bar": []}]},
     {"result": {"foo.0.bar": "1", "foo.2.bar": "2"}}),
    ("root.result = this.collapse(include_empty: true)",
     {"foo": [{"bar": "1"}, {"bar": {}}, {"bar": "2"}, {"bar": []}]},
     {"result": {"foo.0.bar": "1", "foo.1.bar": {}, "foo.2.bar": "2", "foo.3.bar": []}}),
    ("root.foo = this.foo.concat(this.bar, this.baz)",
     {"foo": ["a", "b"], "bar": ["c"], "baz": ["d", "e", "f"]},
     {"foo": ["a", "b", "c", "d", "e", "f"]}),
    ("root.foo = this.foo.enumerated()", {"foo": ["bar", "baz"]},
     {"foo": [{"index": 0, "value": "bar"}, {"index": 1, "value": "baz"}]}),
    ('root.result = this.foo.exists("bar.baz")', {"foo": {"bar": {"baz": "yep, I exist"}}},
     {"result": True}),
    ('root.result = this.foo.exists("bar.baz")', {"foo": {"bar": {}}}, {"result": False}),
    ('root.result = this.foo.exists("bar.baz")', {"foo": {}}, {"result": False}),
    ('root = this.explode("value")', {"id": 1, "value": ["foo", "bar", "baz"]},
     [{"id": 1, "value": "foo"}, {"id": 1, "value": "bar"}, {"id": 1, "value": "baz"}]),
    ('root = this.explode("value")',
     {"id": 1, "value": {"foo": 2, "bar": [3, 4], "baz": {"bev": 5}}},
     {"bar": {"id": 1, "value": [3, 4]}, "baz": {"id": 1, "value": {"bev": 5}},
      "foo": {"id": 1, "value": 2}}),
    ("root.new_nums = this.nums.filter(num -> num > 10)", {"nums": [3, 11, 4, 17]},
     {"new_nums": [11, 17]}),
    ('root.new_dict = this.dict.filter(item -> item.value.contains("foo"))',
     {"dict": {"first": "hello foo", "second": "world", "third": "this foo is great"}},
     {"new_dict": {"first": "hello foo", "third": "this foo is great"}}),
    ('root.index = this.find("bar")', ["foo", "bar", "baz"], {"index": 1}),
    ("root.index = this.things.find(this.goal)", {"goal": "bar", "things": ["foo", "bar", "baz"]},
     {"index": 1}),
    ('root.index = this.find_all("bar")', ["foo", "bar", "baz", "bar"], {"index": [1, 3]}),
    ("root.indexes = this.things.find_all(this.goal)",
     {"goal": "bar", "things": ["foo", "bar", "baz", "bar", "buz"]}, {"indexes": [1, 3]}),
    ('root.index = this.find_all_by(v -> v != "bar")', ["foo", "bar", "baz"], {"index": [0, 2]}),
    ('root.index = this.find_by(v -> v != "bar")', ["foo", "bar", "baz"], {"index": 0}),
    ("root.result = this.flatten()", ["foo", ["bar", "baz"], "buz"],
     {"result": ["foo", "bar", "baz", "buz"]}),
    ("root.sum = this.foo.fold(0, item -> item.tally + item.value)", {"foo": [3, 8, 11]},
     {"sum": 22}),
    ('root.result = this.foo.fold("", item -> "%v%v".format(item.tally, item.value))',
     {"foo": ["hello ", "world"]}, {"result": "hello world"}),
    ("root.smoothie = this.fruits.fold({}, item -> item.tally.merge(item.value))",
     {"fruits": [{"apple": 5}, {"banana": 3}, {"orange": 8}]},
     {"smoothie": {"apple": 5, "banana": 3, "orange": 8}}),
    ("root.result = this.foo.get(this.target)",
     {"foo": {"bar": "from bar", "baz": "from baz"}, "target": "bar"}, {"result": "from bar"}),
    ("root.result = this.foo.get(this.target)",
     {"foo": {"bar": "from bar", "baz": "from baz"}, "target": "baz"}, {"result": "from baz"}),
    ("root.last_name = this.names.index(-1)", {"names": ["rachel", "stevens"]},
     {"last_name": "stevens"}),
    ("root.last_byte = this.name.bytes().index(-1)", {"name": "foobar bazson"},
     {"last_byte": 110}),
    ('root.joined_words = this.words.join()\n'
     'root.joined_numbers = this.numbers.map_each(this.string()).join(",")',
     {"words": ["hello", "world"], "numbers": [3, 8, 11]},
     {"joined_numbers": "3,8,11", "joined_words": "helloworld"}),
    ("root.foo_key_values = this.foo.key_values().sort_by(pair -> pair.key)",
     {"foo": {"bar": 1, "baz": 2}},
     {"foo_key_values": [{"key": "bar", "value": 1}, {"key": "baz", "value": 2}]}),
    ("root.foo_keys = this.foo.keys()", {"foo": {"bar": 1, "baz": 2}},
     {"foo_keys": ["bar", "baz"]}),
    ("root.new_nums = this.nums.map_each(num -> if num < 10 {\n  deleted()\n} else {\n"
     "  num - 10\n})", {"nums": [3, 11, 4, 17]}, {"new_nums": [1, 7]}),
    ("root.new_dict = this.dict.map_each(item -> item.value.uppercase())",
     {"dict": {"foo": "hello", "bar": "world"}}, {"new_dict": {"bar": "WORLD", "foo": "HELLO"}}),
    ("root.new_dict = this.dict.map_each_key(key -> key.uppercase())",
     {"dict": {"keya": "hello", "keyb": "world"}},
     {"new_dict": {"KEYA": "hello", "KEYB": "world"}}),
    ('root = this.map_each_key(key -> if key.contains("kafka") { "_" + key })',
     {"amqp_key": "foo", "kafka_key": "bar", "kafka_topic": "baz"},
     {"_kafka_key": "bar", "_kafka_topic": "baz", "amqp_key": "foo"}),
    ("root = this.foo.merge(this.bar)",
     {"foo": {"first_name": "fooer", "likes": "bars"},
      "bar": {"second_name": "barer", "likes": "foos"}},
     {"first_name": "fooer", "likes": ["bars", "foos"], "second_name": "barer"}),
    ("root.sorted = this.foo.sort()", {"foo": ["bbb", "ccc", "aaa"]},
     {"sorted": ["aaa", "bbb", "ccc"]}),
    ("root.sorted = this.foo.sort(item -> item.left.v < item.right.v)",
     {"foo": [{"id": "foo", "v": "bbb"}, {"id": "bar", "v": "ccc"}, {"id": "baz", "v": "aaa"}]},
     {"sorted": [{"id": "baz", "v": "aaa"}, {"id": "foo", "v": "bbb"},
                 {"id": "bar", "v": "ccc"}]}),
    ("root.sorted = this.foo.sort_by(ele -> ele.id)",
     {"foo": [{"id": "bbb", "message": "bar"}, {"id": "aaa", "message": "foo"},
              {"id": "ccc", "message": "baz"}]},
     {"sorted": [{"id": "aaa", "message": "foo"}, {"id": "bbb", "message": "bar"},
                 {"id": "ccc", "message": "baz"}]}),
    ("root.locations = this.locations.map_each(loc -> {loc.state: [loc.name]}).squash()",
     {"locations": [{"name": "Seattle", "state": "WA"}, {"name": "New York", "state": "NY"},
                    {"name": "Bellevue", "state": "WA"}, {"name": "Olympia", "state": "WA"}]},
     {"locations": {"NY": ["New York"], "WA": ["Seattle", "Bellevue", "Olympia"]}}),
    ("root.sum = this.foo.sum()", {"foo": [3, 8, 4]}, {"sum": 15}),
    ("root.uniques = this.foo.unique()", {"foo": ["a", "b", "a", "c"]},
     {"uniques": ["a", "b", "c"]}),
    ("root.foo_vals = this.foo.values().sort()", {"foo": {"bar": 1, "baz": 2}},
     {"foo_vals": [1, 2]}),
    ('root = this.with("inner.a","inner.c","d")',
     {"inner": {"a": "first", "b": "second", "c": "third"}, "d": "fourth", "e": "fifth"},
     {"d": "fourth", "inner": {"a": "first", "c": "third"}}),
    ('root = this.without("inner.a","inner.c","d")',
     {"inner": {"a": "first", "b": "second", "c": "third"}, "d": "fourth", "e": "fifth"},
     {"e": "fifth", "inner": {"b": "second"}}),
    ("root.foo = this.foo.zip(this.bar, this.baz)",
     {"foo": ["a", "b", "c"], "bar": [1, 2, 3], "baz": [4, 5, 6]},
     {"foo": [["a", 1, 4], ["b", 2, 5], ["c", 3, 6]]}),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "doc", "expected"), DOC_EXAMPLES)
def test_documented_examples(mapping: str, doc: Any, expected: Any) -> None:
    assert canonical(run(mapping, doc)) == canonical(expected)


def test_map_each_error_fails_the_mapping_with_element_index() -> None:
    with pytest.raises(MappingError, match="failed to process element 1"):
        run("root = this.map_each(x -> x + 1)", [1, "a"])


def test_input_document_is_not_modified_by_methods() -> None:
    doc = {"foo": {"a": {"x": 1}}, "bar": {"a": {"y": 2}}}
    run("root = this.foo.merge(this.bar)", doc)
    assert doc == {"foo": {"a": {"x": 1}}, "bar": {"a": {"y": 2}}}


# -- map_each, filter, fold ----------------------------------------------------------------


def test_map_each_nothing_keeps_the_element_and_deleted_drops_it() -> None:
    query = {1: DELETED, 2: NOTHING}.get
    assert call("map_each", [1, 2, 3], lambda v: query(v, v * 10)) == [2, 30]


def test_map_each_on_objects_sees_key_and_value() -> None:
    seen = []

    def query(ctx: Any) -> Any:
        seen.append(ctx)
        return DELETED if ctx["key"] == "b" else ctx["value"] * 2

    assert call("map_each", {"a": 1, "b": 2}, query) == {"a": 2}
    assert seen == [{"key": "a", "value": 1}, {"key": "b", "value": 2}]


def test_map_each_rejects_scalars() -> None:
    with pytest.raises(MappingError, match="expected array or object value, got string"):
        call("map_each", "abc", lambda v: v)


def test_map_each_prefixes_query_errors() -> None:
    def boom(_: Any) -> Any:
        raise MappingError("nope")

    with pytest.raises(MappingError, match="failed to process element 0: nope"):
        call("map_each", [1], boom)
    with pytest.raises(MappingError, match="failed to process element k: nope"):
        call("map_each", {"k": 1}, boom)


def test_map_each_key_requires_string_keys() -> None:
    with pytest.raises(MappingError, match="unexpected result from key mapping: expected string"):
        call("map_each_key", {"a": 1}, lambda k: 5)


def test_filter_keeps_only_exact_true() -> None:
    assert call("filter", [1, 2, 3], lambda v: 1 if v == 1 else v == 2) == [2]


def test_fold_does_not_share_the_initial_value_between_runs() -> None:
    initial: dict[str, Any] = {}

    def add(ctx: Any) -> Any:
        ctx["tally"][str(ctx["value"])] = True
        return ctx["tally"]

    assert call("fold", [1, 2], initial, add) == {"1": True, "2": True}
    assert initial == {}


def test_all_and_any_require_boolean_results() -> None:
    with pytest.raises(MappingError, match="element 0: expected bool value, got number"):
        call("all", [1], lambda v: v)
    with pytest.raises(MappingError, match="element 0: expected bool value"):
        call("any", [1], lambda v: "yes")
    assert call("all", [], lambda v: True) is False


def test_find_by_errors_name_the_index() -> None:
    with pytest.raises(MappingError, match="non-boolean value for index 0"):
        call("find_by", ["a"], lambda v: v)
    assert call("find_by", ["a"], lambda v: False) == -1


# -- comparisons ---------------------------------------------------------------------------


def test_find_compares_numbers_irrespective_of_representation() -> None:
    assert call("find", [10.3, 20.0, "huh", 3], 20) == 1
    assert call("find_all", [1, 1.0, "1", True], 1) == [0, 1]


def test_unique_separates_strings_from_numbers() -> None:
    assert call("unique", ["5", 5, 5.0, "5", b"5"]) == ["5", 5]
    with pytest.raises(MappingError, match="index 0: expected string or number value"):
        call("unique", [{"a": 1}])


def test_unique_with_emit_query() -> None:
    users = [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}, {"id": 1, "n": "c"}]
    assert call("unique", users, lambda u: u["id"]) == users[:2]


def test_sort_rejects_mixed_types() -> None:
    with pytest.raises(MappingError, match="sort element 1: expected number value, got string"):
        call("sort", [1, "a"])
    with pytest.raises(MappingError, match="expected number or string value, got bool"):
        call("sort", [True, False])


def test_sort_numbers_and_custom_compare_type_check() -> None:
    assert call("sort", [3, 1.5, 2]) == [1.5, 2, 3]
    with pytest.raises(MappingError, match="expected bool value, got string from sort argument"):
        call("sort", [2, 1], lambda ctx: "no")


def test_sort_by_numeric_keys_is_stable() -> None:
    items = [{"p": 2, "n": "a"}, {"p": 1, "n": "b"}, {"p": 2, "n": "c"}]
    assert [i["n"] for i in call("sort_by", items, lambda i: i["p"])] == ["b", "a", "c"]


# -- paths ---------------------------------------------------------------------------------


def test_get_walks_arrays_and_escaped_segments() -> None:
    doc = {"a": [{"b": 1}, {"b": 2}], "c.d": {"~e": 3}}
    assert call("get", doc, "a.1.b") == 2
    assert call("get", doc, "a.*.b") == [1, 2]
    assert call("get", doc, "c~1d.~0e") == 3
    assert call("get", doc, "missing.path") is None


def test_exists_is_true_for_null_fields() -> None:
    assert call("exists", {"a": None}, "a") is True
    assert call("exists", {"a": 5}, "a.b") is False


def test_without_ignores_paths_through_non_objects() -> None:
    assert call("without", {"a": 1, "b": {"c": 2}}, "a.x", "b.c") == {"a": 1, "b": {}}


def test_with_and_without_require_string_paths() -> None:
    with pytest.raises(MappingError, match="argument 0: expected string value"):
        call("with", {"a": 1}, 5)


def test_explode_requires_an_array_or_object_at_path() -> None:
    with pytest.raises(MappingError, match="expected array or object value at path 'id'"):
        call("explode", {"id": 1}, "id")


def test_explode_nested_path() -> None:
    out = call("explode", {"a": {"b": [1, 2], "c": 0}}, "a.b")
    assert out == [{"a": {"b": 1, "c": 0}}, {"a": {"b": 2, "c": 0}}]


# -- combining -----------------------------------------------------------------------------


def test_merge_collisions_expand_arrays() -> None:
    out = call("merge", {"a": [1], "b": {"c": 1}}, {"a": 2, "b": {"c": [2, 3]}})
    assert out == {"a": [1, 2], "b": {"c": [1, 2, 3]}}


def test_merge_and_assign_on_arrays_append() -> None:
    assert call("merge", ["a", "b"], ["c", "d"]) == ["a", "b", "c", "d"]
    assert call("assign", ["a"], "b") == ["a", "b"]


def test_assign_overrides_nested_fields_only() -> None:
    out = call("assign", {"a": {"x": 1, "y": 2}}, {"a": {"y": 3}})
    assert out == {"a": {"x": 1, "y": 3}}


def test_merge_into_scalar_is_a_type_error() -> None:
    with pytest.raises(MappingError, match="expected object or array value, got string"):
        call("merge", "a", {"b": 1})


def test_merge_does_not_alias_the_source() -> None:
    source = {"n": {"deep": [1]}}
    out = call("merge", {}, source)
    out["n"]["deep"].append(2)
    assert source == {"n": {"deep": [1]}}


def test_zip_and_concat_errors() -> None:
    with pytest.raises(MappingError, match="can't zip different length array values"):
        call("zip", [1, 2], [1])
    with pytest.raises(MappingError, match="zip requires at least one argument"):
        call("zip", [1])
    with pytest.raises(MappingError, match="expected array value, got number"):
        call("concat", [1], 2)


def test_join_rejects_non_strings() -> None:
    with pytest.raises(MappingError, match="failed to join element 1: expected string value"):
        call("join", ["a", 1], ",")


def test_index_out_of_bounds() -> None:
    with pytest.raises(MappingError, match="index '5' was out of bounds for array size: 2"):
        call("index", [1, 2], 5)


def test_sum_of_floats_and_of_a_number() -> None:
    assert call("sum", [10.5, 20.25, 5.0]) == 35.75
    assert call("sum", 4) == 4
    with pytest.raises(MappingError, match="index 1: expected number value"):
        call("sum", [1, "2"])


def test_keys_are_sorted_and_values_follow_document_order() -> None:
    assert call("keys", {"b": 1, "a": 2}) == ["a", "b"]
    assert call("values", {"b": 1, "a": 2}) == [1, 2]
    with pytest.raises(MappingError, match="expected object value, got array"):
        call("keys", [])


def test_diff_and_patch_round_trip() -> None:
    before = {"a": 1, "b": [1, 2, 3], "c": {"d": "x"}}
    after = {"a": 2, "b": [1, 3], "c": {}, "e": True}
    changes = call("diff", before, after)
    assert {"Type": "update", "Path": ["a"], "From": 1, "To": 2} in changes
    assert {"Type": "create", "Path": ["e"], "From": None, "To": True} in changes
    assert call("patch", before, changes) == after


# -- json_schema ---------------------------------------------------------------------------

SCHEMA = '{"type":"object","properties":{"foo":{"type":"string"}}}'


def test_json_schema_passes_matching_values_through() -> None:
    doc = {"foo": "bar"}
    assert call("json_schema", doc, SCHEMA) is doc


def test_json_schema_reports_problems_in_benthos_words() -> None:
    with pytest.raises(MappingError, match="^foo invalid type. expected: string, given: integer$"):
        call("json_schema", {"foo": 5}, SCHEMA)
    with pytest.raises(MappingError, match=r"^\(root\) id is required$"):
        call("json_schema", {}, '{"required":["id"]}')


def test_json_schema_rejects_invalid_schemas() -> None:
    with pytest.raises(MappingError, match="failed to parse json schema definition"):
        call("json_schema", {}, "{not json")


def test_json_schema_documented_example() -> None:
    mapping = f'root = this.json_schema("""{SCHEMA}""")'
    assert run(mapping, {"foo": "bar"}) == {"foo": "bar"}
    with pytest.raises(MappingError, match="foo invalid type. expected: string, given: integer"):
        run(mapping, {"foo": 5})


# -- json_path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "expected"),
    [({"name": "alice", "foo": {"name": "bob"}}, ["alice", "bob"]),
     ({"thing": ["this", "bar", {"name": "alice"}]}, ["alice"])],
)  # fmt: skip
def test_json_path_recursive_descent_documented_example(doc: Any, expected: Any) -> None:
    assert run('root.all_names = this.json_path("$..name")', doc) == {"all_names": expected}


def test_json_path_filter_documented_example() -> None:
    doc = {"body": [{"type": "image", "id": "foo"}, {"type": "text", "id": "bar"}]}
    out = run("root.text_objects = this.json_path(\"$.body[?(@.type=='text')]\")", doc)
    assert out == {"text_objects": [{"id": "bar", "type": "text"}]}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("$.a.b[1]", 2), ("$.a.b[-1:]", [3]), ("$.a.b[0,2]", [1, 3]), ("$.a.*", [[1, 2, 3], 4]),
     ("$['a']['c']", 4), ("$.xs[?(@.v > 1 && @.v < 4)].v", [2, 3]),
     ("$.xs[?(@.v == 5 || @.w)].v", [5])],
)  # fmt: skip
def test_json_path_subset(expression: str, expected: Any) -> None:
    doc = {"a": {"b": [1, 2, 3], "c": 4}, "xs": [{"v": 1}, {"v": 2}, {"v": 3}, {"v": 5}]}
    assert call("json_path", doc, expression) == expected


def test_json_path_errors() -> None:
    with pytest.raises(MappingError, match="unknown key or index"):
        call("json_path", {"a": 1}, "$.missing")
    with pytest.raises(MappingError, match="failed to parse JSON path expression"):
        call("json_path", {}, "$.a[")
