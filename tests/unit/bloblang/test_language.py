"""The Bloblang language as Benthos documents it: assignments, operators, control flow."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang import DELETED, NOTHING, MappingError, parse, parse_query
from streamforge.bloblang.registry import Param, method, methods

# (mapping, input document, expected new root)
# fmt: off
CASES: list[tuple[str, Any, Any]] = [
    # assignments and paths
    ("root.id = this.thing.id\nroot.type = \"yo\"", {"thing": {"id": "w1"}},
     {"id": "w1", "type": "yo"}),
    ("content = thing.doc.message", {"thing": {"doc": {"message": "hi"}}}, {"content": "hi"}),
    ("root = this\nroot.foo = \"added\"", {"id": 1}, {"id": 1, "foo": "added"}),
    ("root.a.b.c = 1", {}, {"a": {"b": {"c": 1}}}),
    ("this.x = 5", {}, {"x": 5}),
    ("root = this\nroot.b = deleted()", {"a": 1, "b": 2}, {"a": 1}),
    ("root.a = this.missing", {}, {"a": None}),
    ("root.a = this.a.b.c.d", {"a": 5}, {"a": None}),
    ('root.a = this."foo.bar"', {"foo.bar": 7}, {"a": 7}),
    ('root."a b".c = 1', {}, {"a b": {"c": 1}}),
    ("root.a = this.arr.1\nroot.b = this.arr.9", {"arr": [5, 6]}, {"a": 6, "b": None}),
    ("root.a = this.a\nroot.b = root.a + 1", {"a": 1}, {"a": 1, "b": 2}),
    ("root = this.value", {"value": "text"}, "text"),
    ("this.foo", {"foo": 7}, 7),
    # literals
    ('root.a = {"x": 1, "y": [true, null, 1.5, "s"]}', {},
     {"a": {"x": 1, "y": [True, None, 1.5, "s"]}}),
    ("root.a = {this.k: this.v}", {"k": "key", "v": 3}, {"a": {"key": 3}}),
    ('root.a = {"x": deleted(), "y": [1, deleted(), 2]}', {}, {"a": {"y": [1, 2]}}),
    ('root.a = "esc \\n \\t \\" \\u00e9"', {}, {"a": "esc \n \t \" \u00e9"}),
    ('root.a = """raw \\n "quoted" """', {}, {"a": 'raw \\n "quoted" '}),
    ("root.a = -5\nroot.b = -this.n\nroot.c = 1.25", {"n": 2}, {"a": -5, "b": -2, "c": 1.25}),
    # arithmetic and number degradation
    ("root.a = 2 + 3 * 4 - 1\nroot.b = (2 + 3) * 4", {}, {"a": 13, "b": 20}),
    ("root.a = 10 / 4\nroot.b = 8 / 2", {}, {"a": 2.5, "b": 4.0}),
    ("root.a = 7 % 3\nroot.b = -7 % 3", {}, {"a": 1, "b": -1}),
    ("root.a = 3 * 2\nroot.b = 3.0 * 2\nroot.c = 1 + 0.5", {}, {"a": 6, "b": 6.0, "c": 1.5}),
    ('root.a = "foo" + "bar"\nroot.b = this.s + "!"', {"s": "x"}, {"a": "foobar", "b": "x!"}),
    ("root.a = 5 - -2\nroot.b = this.x - 1", {"x": 1.5}, {"a": 7, "b": 0.5}),
    # comparison
    ("root.a = 1 == 1.0\nroot.b = \"1\" == 1\nroot.c = true == 1", {},
     {"a": True, "b": False, "c": False}),
    ("root.a = [1, {\"x\": 2}] == [1, {\"x\": 2}]\nroot.b = null == null", {},
     {"a": True, "b": True}),
    ("root.a = {\"a\": 1} != {\"a\": 2}\nroot.b = this.x != \"y\"", {"x": "y"},
     {"a": True, "b": False}),
    ("root.a = 3 > 2.5\nroot.b = 2 >= 2\nroot.c = \"a\" < \"b\"\nroot.d = 1 <= 0", {},
     {"a": True, "b": True, "c": True, "d": False}),
    # boolean logic with short-circuit
    ("root.a = false && this.x\nroot.b = true || this.x", {"x": 5}, {"a": False, "b": True}),
    ("root.a = !this.f\nroot.b = !(1 > 2)", {"f": False}, {"a": True, "b": True}),
    ("root.a = 1 < 2 && 3 > 2 || false", {}, {"a": True}),
    # coalescing, catch, or
    ('root.a = this.missing | "default"', {}, {"a": "default"}),
    ('root = this.x | this.y | "z"', {"y": None}, "z"),
    ('root.a = this.(b | c)', {"c": 3}, {"a": 3}),
    ('root.a = this.x.uppercase() | "fallback"', {"x": 5}, {"a": "fallback"}),
    ("root.a = this.a.number().catch(0)", {"a": "zz"}, {"a": 0}),
    ('root.a = throw("boom").catch(e -> e + "!")', {}, {"a": "boom!"}),
    ('root.a = this.x.or("d")\nroot.b = this.y.uppercase().or("e")', {"y": 1},
     {"a": "d", "b": "e"}),
    ('root.a = this.x.or("d")', {"x": False}, {"a": False}),
    # if expressions and statements
    ('root.a = if this.n > 3 { "big" } else { "small" }', {"n": 5}, {"a": "big"}),
    ('root.a = if this.n > 3 { "big" } else if this.n > 1 { "mid" } else { "small" }', {"n": 2},
     {"a": "mid"}),
    ('root.a = "keep"\nroot.a = if this.n > 10 { "big" }', {"n": 2}, {"a": "keep"}),
    ("if this.n > 3 {\n  root.big = true\n} else if this.n > 1 {\n  root.mid = true\n} "
     "else {\n  root.small = true\n}", {"n": 2}, {"mid": True}),
    ("if this.ok {\n  root.a = 1\n  root.b = 2\n}", {"ok": True}, {"a": 1, "b": 2}),
    ("root.x = 1\nif this.ok {\n  root.a = 1\n}", {"ok": False}, {"x": 1}),
    # match
    ('root.k = match this.t { "a" => "alpha", "b" => "beta", _ => "other" }', {"t": "b"},
     {"k": "beta"}),
    ('root.k = match this.t { "a" => "alpha", _ => "other" }', {"t": "z"}, {"k": "other"}),
    ("root.k = match this.n { 1 => \"one\", this > 3 => \"big\" }", {"n": 5}, {"k": "big"}),
    ('root.k = match { this.a == 1 => "one", _ => this }', {"a": 2}, {"k": {"a": 2}}),
    ('root.k = match this.doc {\n  this.kind == "x" => this.value\n  _ => 0\n}',
     {"doc": {"kind": "x", "value": 9}}, {"k": 9}),
    ('root.k = "keep"\nroot.k = match this.t { "a" => "alpha" }', {"t": "z"}, {"k": "keep"}),
    ('root = match { this.wot_type == "property" && this.operation == "update" => '
     '"property_update_processor", _ => "unknown_processor" }',
     {"wot_type": "property", "operation": "update"}, "property_update_processor"),
    # variables
    ("let x = 5\nroot.y = $x * 2", {}, {"y": 10}),
    ('let "n" = {"a": 1}\nroot.a = $n.a', {}, {"a": 1}),
    # lambdas and named context
    ("root = this.foo.(x -> x + 1)", {"foo": 1}, 2),
    ("root.a = this.(a + b)", {"a": 1, "b": 2}, {"a": 3}),
    ("root.a = this.doc.(d -> d.x + this.y)", {"doc": {"x": 1}, "y": 10}, {"a": 11}),
    ("root.a = 5.(n -> n * n)", {}, {"a": 25}),
    # maps and apply
    ("map thing {\n  root.inner = this.first\n}\nroot.foo = this.doc.apply(\"thing\")",
     {"doc": {"first": "hello world"}}, {"foo": {"inner": "hello world"}}),
    ("map create_foo {\n  root.name = \"a foo\"\n}\nroot = this\n"
     "root.foo = null.apply(\"create_foo\")",
     {"id": "1234"}, {"id": "1234", "foo": {"name": "a foo"}}),
    ("map inc {\n  root = this + 1\n}\nroot.a = this.n.apply(\"inc\").apply(\"inc\")", {"n": 1},
     {"a": 3}),
    ("map count {\n  root = if this > 0 { (this - 1).apply(\"count\") + 1 } else { 0 }\n}\n"
     "root.n = this.n.apply(\"count\")", {"n": 20}, {"n": 20}),
    # comments, blank lines and method chains over several lines
    ("# heading\nroot.a = 1 # trailing\n\n\nroot.b = 2\n", {}, {"a": 1, "b": 2}),
    ("root.a = this.foo\n  .uppercase()\n  .lowercase()", {"foo": "Ab"}, {"a": "ab"}),
    ("root.a = [\n  1,\n  2,\n]\nroot.b = {\n  \"x\": 1,\n}", {}, {"a": [1, 2], "b": {"x": 1}}),
    ("root.a = this.a +\n  this.b", {"a": 1, "b": 2}, {"a": 3}),
]
# fmt: on


@pytest.mark.parametrize(("mapping", "doc", "expected"), CASES)
def test_mapping_table(mapping: str, doc: Any, expected: Any) -> None:
    assert parse(mapping).query(doc) == expected


def test_types_of_numbers_follow_benthos() -> None:
    out = parse("root.i = 2 * 3\nroot.f = 6 / 3\nroot.m = 2.0 * 3").query({})
    assert type(out["i"]) is int
    assert type(out["f"]) is float
    assert type(out["m"]) is float


def test_deleted_root_and_unassigned_root() -> None:
    assert parse("root = deleted()").query({"a": 1}) is DELETED
    assert parse('meta x = "y"').query({"a": 1}) is NOTHING


def test_assignment_copies_the_input_value() -> None:
    doc = {"a": {"b": 1}}
    out = parse("root.copy = this.a\nroot.copy.b = 2").query(doc)
    assert out == {"copy": {"b": 2}}
    assert doc == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("mapping", "expected_meta", "expected_root"),
    [
        ('meta foo = "bar"\nroot.a = @foo', {"in": "1", "foo": "bar"}, {"a": "bar"}),
        (
            '@foo = "bar"\nroot.all = @',
            {"in": "1", "foo": "bar"},
            {"all": {"in": "1", "foo": "bar"}},
        ),
        ('meta "spaced key" = 1', {"in": "1", "spaced key": 1}, NOTHING),
        ("meta in = deleted()", {}, NOTHING),
        ("meta = deleted()", {}, NOTHING),
        ('meta = {"x": "y", "n": 2}', {"x": "y", "n": 2}, NOTHING),
        ('meta foo = {"nested": [1]}', {"in": "1", "foo": {"nested": [1]}}, NOTHING),
        (
            'root.a = meta("in")\nroot.b = metadata("in")\nroot.c = @in',
            {"in": "1"},
            {"a": "1", "b": "1", "c": "1"},
        ),
        (
            'root.missing = meta("nope")\nroot.m = metadata("nope")',
            {"in": "1"},
            {"missing": None, "m": None},
        ),
    ],
)
def test_metadata_assignment_and_reads(
    mapping: str, expected_meta: dict[str, Any], expected_root: Any
) -> None:
    meta: dict[str, Any] = {"in": "1"}
    assert parse(mapping).query({}, meta) == expected_root
    assert meta == expected_meta


def test_meta_function_reads_input_metadata_and_at_reads_output() -> None:
    from streamforge.message import Message

    msg = Message(b"{}", {"k": "old", "n": 5})
    out = parse(
        'meta k = "new"\nroot.input = meta("k")\nroot.raw = metadata("k")\nroot.output = @k\n'
        'root.n = meta("n")\nroot.n_raw = metadata("n")'
    ).apply_message(msg)
    assert out is not None
    assert out.value == {"input": "old", "raw": "old", "output": "new", "n": "5", "n_raw": 5}
    assert out.metadata == {"k": "new", "n": 5}
    assert msg.metadata == {"k": "old", "n": 5}


def test_query_executor_returns_the_value() -> None:
    exe = parse_query("this.a + 1")
    assert exe.query({"a": 2}) == 3
    assert parse_query('@k + "!"').query(None, {"k": "v"}) == "v!"


def test_query_with_match_and_if() -> None:
    exe = parse_query('match this.t { "a" => 1, _ => 2 }')
    assert exe.query({"t": "a"}) == 1
    assert exe.query({"t": "b"}) == 2
    assert parse_query("if this.x { 1 } else { 2 }").query({"x": False}) == 2


def test_imports_bring_maps(tmp_path: Any) -> None:
    lib = tmp_path / "common.blobl"
    lib.write_text('map shout {\n  root = this.uppercase() + "!"\n}\n')
    exe = parse('import "common.blobl"\nroot.a = this.a.apply("shout")', import_paths=[tmp_path])
    assert exe.query({"a": "hi"}) == {"a": "HI!"}


def test_nested_imports_resolve_relative_to_the_importing_file(tmp_path: Any) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inner.blobl").write_text("map inner {\n  root = this * 2\n}\n")
    (sub / "outer.blobl").write_text(
        'import "inner.blobl"\nmap outer {\n  root = this.apply("inner") + 1\n}\n'
    )
    exe = parse(f'import "{sub / "outer.blobl"}"\nroot = this.apply("outer")')
    assert exe.query(5) == 11


def test_import_relative_to_cwd(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.blobl").write_text("map m {\n  root.v = this\n}\n")
    monkeypatch.chdir(tmp_path)
    assert parse('import "m.blobl"\nroot = 3.apply("m")').query(None) == {"v": 3}


def test_catch_and_or_are_lazy() -> None:
    exe = parse('root.a = this.a.or(throw("never"))\nroot.b = this.b.catch(throw("never"))')
    assert exe.query({"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_catch_fallback_sees_the_error_message() -> None:
    out = parse("root.err = this.x.number().catch(this)").query({"x": "abc"})
    assert "abc" in out["err"]
    assert out["err"].startswith("field `this.x`")


class TestQueryParams:
    """Registered methods with query params receive a callable bound per element."""

    @pytest.fixture(autouse=True)
    def _register(self) -> Any:
        def each(target: Any, fn: Any) -> Any:
            return [v for v in (fn(x) for x in target) if v is not DELETED]

        saved = methods.get("_test_each")
        method("_test_each", [Param("query", "query")])(each)
        yield
        if saved is None:
            methods.pop("_test_each", None)

    def test_lambda_binds_name_and_keeps_this(self) -> None:
        out = parse("root = this.nums._test_each(n -> n + this.add)").query(
            {"nums": [1, 2], "add": 10}
        )
        assert out == [11, 12]

    def test_plain_query_rebinds_this(self) -> None:
        assert parse("root = this._test_each(this * 2)").query([1, 2]) == [2, 4]

    def test_lambda_with_if_and_deleted(self) -> None:
        out = parse("root = this._test_each(n -> if n < 10 { deleted() } else { n - 10 })").query(
            [1, 12, 30]
        )
        assert out == [2, 20]

    def test_named_argument(self) -> None:
        assert parse("root = this._test_each(query: x -> x)").query([1]) == [1]


def test_from_and_from_all_read_other_messages() -> None:
    from streamforge.message import Message

    batch = [Message(f'{{"v":{i}}}', {"i": str(i)}) for i in range(3)]
    exe = parse(
        "root.first = this.v.from(0)\nroot.all = this.v.from_all()\n"
        'root.meta = meta("i").from(2)\nroot.idx = batch_index()\nroot.size = batch_size()'
    )
    out = exe.apply_message(batch[1], batch, 1)
    assert out is not None
    assert out.value == {"first": 0, "all": [0, 1, 2], "meta": "2", "idx": 1, "size": 3}


def test_errors_inside_mappings_propagate() -> None:
    with pytest.raises(MappingError):
        parse("root.a = this.a.uppercase()").query({"a": 1})


class TestMessages:
    """`apply_message`: mapping (new document) and mutation (in place) semantics."""

    def test_mapping_builds_a_new_message_and_keeps_the_input(self) -> None:
        from streamforge.message import Message

        msg = Message(b'{"a":1,"b":{"c":2}}', {"k": "v"})
        out = parse('root = this\nroot.b.c = 5\nmeta k = "w"').apply_message(msg)
        assert out is not None and out is not msg
        assert out.value == {"a": 1, "b": {"c": 5}}
        assert out.metadata == {"k": "w"}
        assert msg.value == {"a": 1, "b": {"c": 2}}
        assert msg.metadata == {"k": "v"}

    def test_mapping_without_root_assignment_keeps_the_payload(self) -> None:
        from streamforge.message import Message

        msg = Message(b"not json at all", {"k": "v"})
        out = parse('meta x = "1"').apply_message(msg)
        assert out is not None
        assert out.payload == b"not json at all"
        assert out.metadata == {"k": "v", "x": "1"}

    def test_mapping_starts_from_an_empty_document(self) -> None:
        from streamforge.message import Message

        out = parse("root.b = this.a").apply_message(Message(b'{"a":1,"z":2}'))
        assert out is not None and out.value == {"b": 1}

    def test_deleted_root_drops_the_message(self) -> None:
        from streamforge.message import Message

        assert parse("root = deleted()").apply_message(Message(b"{}")) is None
        assert parse("root = deleted()").apply_message(Message(b"{}"), mutate=True) is None

    def test_string_root_becomes_raw_payload(self) -> None:
        from streamforge.message import Message

        out = parse('root = this.s + "!"').apply_message(Message(b'{"s":"hi"}'))
        assert out is not None and out.payload == b"hi!"

    def test_content_is_the_raw_payload_and_this_is_lazy(self) -> None:
        from streamforge.message import Message

        out = parse("root.c = content().string()").apply_message(Message(b"plain text"))
        assert out is not None and out.value == {"c": "plain text"}

    def test_referencing_this_of_a_non_json_payload_fails(self) -> None:
        from streamforge.message import Message

        with pytest.raises(MappingError, match=r"unable to reference message as structured"):
            parse("root.a = this.a").apply_message(Message(b"plain"))

    def test_catch_turns_unstructured_payload_into_deletion(self) -> None:
        from streamforge.message import Message

        exe = parse("root = this.catch(deleted())")
        assert exe.apply_message(Message(b"not structured")) is None
        kept = exe.apply_message(Message(b'{"doc":1}'))
        assert kept is not None and kept.value == {"doc": 1}

    def test_mutation_edits_in_place(self) -> None:
        from streamforge.message import Message

        msg = Message(b'{"a":1,"b":{"c":2}}', {"k": "v", "drop": "x"})
        out = parse("root.b.c = 5\nroot.d = this.b.c\nmeta drop = deleted()").apply_message(
            msg, mutate=True
        )
        assert out is msg
        assert msg.value == {"a": 1, "b": {"c": 5}, "d": 5}
        assert msg.payload == b'{"a":1,"b":{"c":5},"d":5}'
        assert msg.metadata == {"k": "v"}

    def test_mutation_of_a_raw_payload(self) -> None:
        from streamforge.message import Message

        msg = Message(b"raw", {"k": "v"})
        out = parse("root = content().uppercase()").apply_message(msg, mutate=True)
        assert out is msg and msg.payload == b"RAW"

    def test_query_message(self) -> None:
        from streamforge.message import Message

        msg = Message(b'{"a":[1]}', {"k": "v"}, error="bad")
        assert parse_query("this.a.0").query_message(msg) == 1
        assert parse_query('meta("k") + "-" + @k').query_message(msg) == "v-v"
        assert parse_query("errored()").query_message(msg) is True
        assert parse_query("error()").query_message(msg) == "bad"
