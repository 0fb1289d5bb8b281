"""String manipulation methods: Benthos' documented examples plus edge and error cases."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang.errors import MappingError

DOC_EXAMPLES: list[tuple[str, Any, Any]] = [
    ("root.title = this.title.capitalize()", {"title": "the foo bar"}, {"title": "The Foo Bar"}),
    ('root.has_foo = this.thing.contains("foo")', {"thing": "this foo that"}, {"has_foo": True}),
    ('root.has_foo = this.thing.contains("foo")', {"thing": "this bar that"}, {"has_foo": False}),
    (
        "root.escaped = this.value.escape_html()",
        {"value": "foo & bar"},
        {"escaped": "foo &amp; bar"},
    ),
    (
        "root.escaped = this.value.escape_url_query()",
        {"value": "foo & bar"},
        {"escaped": "foo+%26+bar"},
    ),
    (
        "root.path = this.path_elements.filepath_join()",
        {"path_elements": ["/foo/", "bar.txt"]},
        {"path": "/foo/bar.txt"},
    ),
    (
        "root.path_sep = this.path.filepath_split()",
        {"path": "/foo/bar.txt"},
        {"path_sep": ["/foo/", "bar.txt"]},
    ),
    (
        "root.path_sep = this.path.filepath_split()",
        {"path": "baz.txt"},
        {"path_sep": ["", "baz.txt"]},
    ),
    (
        'root.foo = "%s(%v): %v".format(this.name, this.age, this.fingers)',
        {"name": "lance", "age": 37, "fingers": 13},
        {"foo": "lance(37): 13"},
    ),
    (
        'root.t1 = this.v1.has_prefix("foo")\nroot.t2 = this.v2.has_prefix("foo")',
        {"v1": "foobar", "v2": "barfoo"},
        {"t1": True, "t2": False},
    ),
    (
        'root.t1 = this.v1.has_suffix("foo")\nroot.t2 = this.v2.has_suffix("foo")',
        {"v1": "foobar", "v2": "barfoo"},
        {"t1": False, "t2": True},
    ),
    ('root.index = this.thing.index_of("bar")', {"thing": "foobar"}, {"index": 3}),
    ("root.foo_len = this.foo.length()", {"foo": "hello world"}, {"foo_len": 11}),
    ("root.foo_len = this.foo.length()", {"foo": ["first", "second"]}, {"foo_len": 2}),
    (
        "root.foo_len = this.foo.length()",
        {"foo": {"first": "bar", "second": "baz"}},
        {"foo_len": 2},
    ),
    ("root.foo = this.foo.lowercase()", {"foo": "HELLO WORLD"}, {"foo": "hello world"}),
    ("root.foo = this.foo.uppercase()", {"foo": "hello world"}, {"foo": "HELLO WORLD"}),
    ("root.quoted = this.thing.quote()", {"thing": "foo\nbar"}, {"quoted": '"foo\\nbar"'}),
    ("root.unquoted = this.thing.unquote()", {"thing": '"foo\\nbar"'}, {"unquoted": "foo\nbar"}),
    (
        'root.new_value = this.value.replace_all("foo","dog")',
        {"value": "The foo ate my homework"},
        {"new_value": "The dog ate my homework"},
    ),
    (
        'root.new_value = this.value.replace("foo","dog")',
        {"value": "The foo ate my homework"},
        {"new_value": "The dog ate my homework"},
    ),
    (
        'root.new_value = this.value.replace_all_many([\n  "<b>", "&lt;b&gt;",\n'
        '  "</b>", "&lt;/b&gt;",\n  "<i>", "&lt;i&gt;",\n  "</i>", "&lt;/i&gt;",\n])',
        {"value": "<i>Hello</i> <b>World</b>"},
        {"new_value": "&lt;i&gt;Hello&lt;/i&gt; &lt;b&gt;World&lt;/b&gt;"},
    ),
    ("root.reversed = this.thing.reverse()", {"thing": "backwards"}, {"reversed": "sdrawkcab"}),
    (
        "root.beginning = this.value.slice(0, 2)\nroot.end = this.value.slice(4)",
        {"value": "foo bar"},
        {"beginning": "fo", "end": "bar"},
    ),
    (
        "root.last_chunk = this.value.slice(-4)\nroot.the_rest = this.value.slice(0, -4)",
        {"value": "foo bar"},
        {"last_chunk": " bar", "the_rest": "foo"},
    ),
    (
        "root.beginning = this.value.slice(0, 2)\nroot.end = this.value.slice(4)",
        {"value": ["foo", "bar", "baz", "buz", "bev"]},
        {"beginning": ["foo", "bar"], "end": ["bev"]},
    ),
    (
        "root.slug = this.value.slug()",
        {"value": "Gopher & Benthos"},
        {"slug": "gopher-and-benthos"},
    ),
    (
        'root.slug = this.value.slug("fr")',
        {"value": "Gaufre & Poisson d'Eau Profonde"},
        {"slug": "gaufre-et-poisson-deau-profonde"},
    ),
    (
        'root.new_value = this.value.split(",")',
        {"value": "foo,bar,baz"},
        {"new_value": ["foo", "bar", "baz"]},
    ),
    (
        "root.stripped = this.value.strip_html()",
        {"value": "<p>the plain <strong>old text</strong></p>"},
        {"stripped": "the plain old text"},
    ),
    (
        'root.stripped = this.value.strip_html(["article"])',
        {"value": "<article><p>the plain <strong>old text</strong></p></article>"},
        {"stripped": "<article>the plain old text</article>"},
    ),
    (
        'root.title = this.title.trim("!?")\nroot.description = this.description.trim()',
        {"description": "  something happened and its amazing! ", "title": "!!!watch out!?"},
        {"description": "something happened and its amazing!", "title": "watch out"},
    ),
    (
        'root.name = this.name.trim_prefix("foobar_")\n'
        'root.description = this.description.trim_prefix("foobar_")',
        {"description": "unchanged", "name": "foobar_blobton"},
        {"description": "unchanged", "name": "blobton"},
    ),
    (
        'root.name = this.name.trim_suffix("_foobar")\n'
        'root.description = this.description.trim_suffix("_foobar")',
        {"description": "unchanged", "name": "blobton_foobar"},
        {"description": "unchanged", "name": "blobton"},
    ),
    (
        "root.unescaped = this.value.unescape_html()",
        {"value": "foo &amp; bar"},
        {"unescaped": "foo & bar"},
    ),
    (
        "root.unescaped = this.value.unescape_url_query()",
        {"value": "foo+%26+bar"},
        {"unescaped": "foo & bar"},
    ),
    (
        "root.content_length = this.content.length_runes()",
        {"content": "顧客は顧客に続きます。"},
        {"content_length": 11},
    ),
    (
        "root.content_sliced = this.content.slice_runes(3, 10)",
        {"content": "顧客は非常に重要であり、顧客は顧客に続きます。"},
        {"content_sliced": "非常に重要であ"},
    ),
    (
        'root.has_good_taste = ["pikachu","mewtwo","magmar"].contains(this.user.fav_pokemon)',
        {"user": {"fav_pokemon": "pikachu"}},
        {"has_good_taste": True},
    ),
]


@pytest.mark.parametrize(("mapping", "doc", "expected"), DOC_EXAMPLES)
def test_documented_examples(run: Any, mapping: str, doc: Any, expected: Any) -> None:
    assert run(mapping, doc) == expected


def test_index_of_and_reverse_on_raw_content(run_doc: Any) -> None:
    assert (
        run_doc('root.index = content().index_of("meow")', "the cat meowed, the dog woofed")
        == '{"index":8}'
    )
    assert run_doc("root = content().reverse()", '{"thing":"backwards"}') == (
        '}"sdrawkcab":"gniht"{'
    )


@pytest.mark.parametrize(
    ("mapping", "doc", "expected"),
    [
        # Go semantics: length, slice and index_of count UTF-8 bytes.
        ("root = this.s.length()", {"s": "héllo"}, 6),
        ('root = this.s.index_of("llo")', {"s": "héllo"}, 3),
        ('root = this.s.index_of("zz")', {"s": "héllo"}, -1),
        ("root = this.s.slice(10)", {"s": "short"}, ""),
        ("root = this.s.reverse()", {"s": "añb"}, "bña"),
        ("root = this.s.reverse()", {"s": [1, 2, 3]}, [3, 2, 1]),
        ("root = this.s.capitalize()", {"s": "hELLO they're here"}, "Hello They're Here"),
        ('root = this.s.split("")', {"s": "abc"}, ["a", "b", "c"]),
        ("root = this.s.contains(2)", {"s": [1, 2.0, 3]}, True),
        ("root = this.s.contains(1)", {"s": [True, "1"]}, False),
        ('root = this.s.contains("x")', {"s": {"a": "x"}}, True),
        ("root = this.s.contains(5)", {"s": "abc5"}, True),
        ('root = this.s.index_of("b")', {"s": ["a", "b"]}, 1),
        ('root = this.s.replace_all("", "-")', {"s": "ab"}, "-a-b-"),
        ("root = this.s.trim()", {"s": "\t x \n"}, "x"),
        ("root = this.s.repeat(3)", {"s": "ab"}, "ababab"),
        (
            "root = this.s.escape_html()",
            {"s": '<a href="x">\'</a>'},
            "&lt;a href=&#34;x&#34;&gt;&#39;&lt;/a&gt;",
        ),
        ("root = this.s.escape_url_path()", {"s": "a b/c"}, "a%20b%2Fc"),
        ("root = this.s.unescape_url_path()", {"s": "a%20b+c"}, "a b+c"),
        ("root = this.s.filepath_join()", {"s": ["a", "", "../b", "c/"]}, "b/c"),
        ("root = this.s.quote()", {"s": "tab\there \u0100 \x01"}, '"tab\\there \u0100 \\x01"'),
        ("root = this.s.unquote()", {"s": "`raw\\n`"}, "raw\\n"),
        ("root = this.s.strip_html()", {"s": "<script>x()</script>a &amp; b"}, "a &amp; b"),
        ('root = this.s.unicode_segments("grapheme")', {"s": "e\u0301x"}, ["e\u0301", "x"]),
        ('root = this.s.unicode_segments("word")', {"s": "hi there"}, ["hi", " ", "there"]),
    ],
)
def test_behaviour(run: Any, mapping: str, doc: Any, expected: Any) -> None:
    assert run(mapping, doc) == expected


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ('"%d items at %.2f"', "5, 3.14159", "5 items at 3.14"),
        ('"%5s|%-5s|%05d"', '"ab", "cd", 42', "   ab|cd   |00042"),
        ('"%x %X %o %b"', "255, 255, 8, 5", "ff FF 10 101"),
        ('"%q %v %t"', '"hi", null, true', '"hi" <nil> true'),
        ('"%v"', '[1, "a", 2.5]', "[1 a 2.5]"),
        ('"%v"', '{"b": 1, "a": 2}', "map[a:2 b:1]"),
        ('"%T %T %T"', '"s", 1, 1.5', "string int64 float64"),
        ('"%d %d"', "1", "1 %!d(MISSING)"),
        ('"%d"', "1, 2", "1%!(EXTRA int64=2)"),
        ('"%d"', '"x"', "%!d(string=x)"),
        ('"100%%"', "", "100%"),
        ('"%v"', "1000000.0", "1e+06"),
    ],
)
def test_format_follows_go_printf(run: Any, fmt: str, args: str, expected: str) -> None:
    assert run(f"root = {fmt}.format({args})", None) == expected


@pytest.mark.parametrize(
    ("mapping", "doc", "message"),
    [
        (
            "root = this.s.uppercase()",
            {"s": 5},
            "expected string value, got number from field `this.s` (5)",
        ),
        (
            "root = this.s.length()",
            {"s": 5},
            "expected string, array or object value, got number (5)",
        ),
        ('root = this.s.contains("a")', {"s": True}, "expected string, array or object"),
        ("root = this.s.unquote()", {"s": "no quotes"}, "invalid syntax"),
        ("root = this.s.unescape_url_query()", {"s": "bad %zz"}, 'invalid URL escape "%zz"'),
        ('root = this.s.replace_all_many(["a"])', {"s": "a"}, "must therefore be even"),
        ("root = this.s.slice(3, 1)", {"s": "abcdef"}, "lower slice bound 3"),
        ("root = this.s.filepath_join()", {"s": "x"}, "expected array value"),
        ('root = this.s.unicode_segments("lines")', {"s": "x"}, "segmentation type"),
    ],
)
def test_errors(run: Any, mapping: str, doc: Any, message: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, doc)
    assert message in str(info.value)


def test_bytes_inputs_keep_bytes(run: Any) -> None:
    assert run("root = this.s.bytes().uppercase()", {"s": "abc"}) == b"ABC"
    assert run('root = this.s.bytes().replace_all("b", "x")', {"s": "abc"}) == b"axc"
    assert run('root = this.s.bytes().has_prefix("ab")', {"s": "abc"}) is True
    assert run("root = this.s.bytes().length()", {"s": "héllo"}) == 6
    assert run('root = this.s.bytes().split(",")', {"s": "a,b"}) == [b"a", b"b"]
