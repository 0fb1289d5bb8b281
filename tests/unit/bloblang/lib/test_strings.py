"""String manipulation methods: Benthos' documented examples plus edge and error cases."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang.errors import MappingError

DOC_EXAMPLES: list[tuple[str, Any, Any]] = [
    ('root.has_foo = this.thing.contains("foo")', {"thing": "this foo that"}, {"has_foo": True}),
    ('root.has_foo = this.thing.contains("foo")', {"thing": "this bar that"}, {"has_foo": False}),
    (
        'root.new_value = this.value.replace("foo","dog")',
        {"value": "The foo ate my homework"},
        {"new_value": "The dog ate my homework"},
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
