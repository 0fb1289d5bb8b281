"""Parsing and formatting methods: Benthos' documented examples plus edge and error cases."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.bloblang.errors import MappingError

DOC_EXAMPLES: list[tuple[str, Any, Any]] = [
    (
        "root.orders = this.orders.parse_csv()",
        {"orders": "foo,bar\nfoo 1,bar 1\nfoo 2,bar 2"},
        {"orders": [{"bar": "bar 1", "foo": "foo 1"}, {"bar": "bar 2", "foo": "foo 2"}]},
    ),
    (
        "root.orders = this.orders.parse_csv(false)",
        {"orders": "foo 1,bar 1\nfoo 2,bar 2"},
        {"orders": [["foo 1", "bar 1"], ["foo 2", "bar 2"]]},
    ),
    (
        'root.orders = this.orders.parse_csv(delimiter:".")',
        {"orders": "foo.bar\nfoo 1.bar 1\nfoo 2.bar 2"},
        {"orders": [{"bar": "bar 1", "foo": "foo 1"}, {"bar": "bar 2", "foo": "foo 2"}]},
    ),
    (
        "root.orders = this.orders.parse_csv(lazy_quotes:true)",
        {"orders": 'foo,bar\nfoo 1,bar 1\nfoo" "2,bar" "2'},
        {"orders": [{"bar": "bar 1", "foo": "foo 1"}, {"bar": 'bar" "2', "foo": 'foo" "2'}]},
    ),
    (
        "root.values = this.body.parse_form_url_encoded()",
        {"body": "noise=meow&animal=cat"},
        {"values": {"animal": "cat", "noise": "meow"}},
    ),
    ("root.doc = this.doc.parse_json()", {"doc": '{"foo":"bar"}'}, {"doc": {"foo": "bar"}}),
    (
        "root.doc = this.doc.parse_json(use_number: true)",
        {"doc": '{"foo":"11380878173205700000000000000000000000000000000"}'},
        {"doc": {"foo": "11380878173205700000000000000000000000000000000"}},
    ),
    (
        'root = this.encoded.decode("base64").parse_msgpack()',
        {"encoded": "gaNmb2+jYmFy"},
        {"foo": "bar"},
    ),
    (
        'root.encoded = this.format_msgpack().encode("base64")',
        {"foo": "bar"},
        {"encoded": "gaNmb2+jYmFy"},
    ),
    (
        "root.foo_url = this.foo_url.parse_url()",
        {"foo_url": "https://www.benthos.dev/docs/guides/bloblang/about"},
        {
            "foo_url": {
                "fragment": "",
                "host": "www.benthos.dev",
                "opaque": "",
                "path": "/docs/guides/bloblang/about",
                "raw_fragment": "",
                "raw_path": "",
                "raw_query": "",
                "scheme": "https",
            }
        },
    ),
    (
        'root.username = this.url.parse_url().user.name | "unknown"',
        {"url": "amqp://foo:bar@127.0.0.1:5672/"},
        {"username": "foo"},
    ),
    (
        'root.username = this.url.parse_url().user.name | "unknown"',
        {"url": "redis://localhost:6379"},
        {"username": "unknown"},
    ),
    (
        "root.doc = this.doc.parse_xml()",
        {
            "doc": "<root><title>This is a title</title>"
            "<content>This is some content</content></root>"
        },
        {"doc": {"root": {"content": "This is some content", "title": "This is a title"}}},
    ),
    (
        "root.doc = this.doc.parse_xml(cast: false)",
        {
            "doc": "<root><title>This is a title</title><number id=99>123</number><bool>True</bool>"
            "</root>"
        },
        {
            "doc": {
                "root": {
                    "bool": "True",
                    "number": {"#text": "123", "-id": "99"},
                    "title": "This is a title",
                }
            }
        },
    ),
    (
        "root.doc = this.doc.parse_xml(cast: true)",
        {
            "doc": "<root><title>This is a title</title><number id=99>123</number><bool>True</bool>"
            "</root>"
        },
        {
            "doc": {
                "root": {
                    "bool": True,
                    "number": {"#text": 123, "-id": 99},
                    "title": "This is a title",
                }
            }
        },
    ),
    ("root.doc = this.doc.parse_yaml()", {"doc": "foo: bar"}, {"doc": {"foo": "bar"}}),
    (
        "root.doc = this.doc.format_json().string()",
        {"doc": {"foo": "bar"}},
        {"doc": '{\n    "foo": "bar"\n}'},
    ),
    ("root.doc = this.doc.format_yaml().string()", {"doc": {"foo": "bar"}}, {"doc": "foo: bar\n"}),
    (
        'root.doc = this.format_xml("").string()',
        {"foo": {"bar": {"baz": "foo bar baz"}}},
        {"doc": "<foo>\n<bar>\n<baz>foo bar baz</baz>\n</bar>\n</foo>"},
    ),
    (
        "root.body = this.body.bloblang(this.mapping)",
        {"body": {"foo": "hello world"}, "mapping": "root.foo = this.foo.uppercase()"},
        {"body": {"foo": "HELLO WORLD"}},
    ),
    (
        "root.body = this.body.bloblang(this.mapping)",
        {"body": {"foo": "hello world 2"}, "mapping": "root.foo = this.foo.capitalize()"},
        {"body": {"foo": "Hello World 2"}},
    ),
]


@pytest.mark.parametrize(("mapping", "doc", "expected"), DOC_EXAMPLES)
def test_documented_examples(run: Any, mapping: str, doc: Any, expected: Any) -> None:
    assert run(mapping, doc) == expected


@pytest.mark.parametrize(
    ("mapping", "doc", "expected"),
    [
        ("root = this.doc.format_json()", '{"doc":{"foo":"bar"}}', '{\n    "foo": "bar"\n}'),
        (
            'root = this.format_json("  ")',
            '{"doc":{"foo":"bar"}}',
            '{\n  "doc": {\n    "foo": "bar"\n  }\n}',
        ),
        ("root = this.doc.format_json(no_indent: true)", '{"doc":{"foo":"bar"}}', '{"foo":"bar"}'),
        ("root = this.doc.format_yaml()", '{"doc":{"foo":"bar"}}', "foo: bar\n"),
        (
            "root = this.format_xml()",
            '{"foo":{"bar":{"baz":"foo bar baz"}}}',
            "<foo>\n    <bar>\n        <baz>foo bar baz</baz>\n    </bar>\n</foo>",
        ),
        (
            'root = this.format_xml("  ")',
            '{"foo":{"bar":{"baz":"foo bar baz"}}}',
            "<foo>\n  <bar>\n    <baz>foo bar baz</baz>\n  </bar>\n</foo>",
        ),
        (
            "root = this.format_xml(no_indent: true)",
            '{"foo":{"bar":{"baz":"foo bar baz"}}}',
            "<foo><bar><baz>foo bar baz</baz></bar></foo>",
        ),
        ('root = this.format_msgpack().encode("hex")', '{"foo":"bar"}', "81a3666f6fa3626172"),
        ('root = content().decode("hex").parse_msgpack()', "81a3666f6fa3626172", '{"foo":"bar"}'),
    ],
)
def test_documented_payload_examples(run_doc: Any, mapping: str, doc: str, expected: str) -> None:
    assert run_doc(mapping, doc) == expected


@pytest.mark.parametrize(
    ("mapping", "doc", "expected"),
    [
        # Go's encoding/json: sorted keys, HTML-safe strings, Go number text.
        (
            "root = this.format_json(no_indent: true).string()",
            {"b": [1.0, 1e-7, 2.5], "a": "<&>"},
            '{"a":"\\u003c\\u0026\\u003e","b":[1,1e-7,2.5]}',
        ),
        (
            "root = this.format_json(no_indent: true, escape_html: false).string()",
            {"a": "<&>"},
            '{"a":"<&>"}',
        ),
        (
            "root = this.format_json().string()",
            {"a": [], "b": {}},
            '{\n    "a": [],\n    "b": {}\n}',
        ),
        (
            "root = this.v.parse_json()",
            {"v": ' {"a": [1, 2.5, null]} trailing'},
            {"a": [1, 2.5, None]},
        ),
        # YAML 1.2 scalars, as Go's yaml.v3 reads them.
        (
            "root = this.v.parse_yaml()",
            {"v": "a: yes\nb: true\nc: 2020-01-01\nd: 1.5"},
            {"a": "yes", "b": True, "c": "2020-01-01", "d": 1.5},
        ),
        (
            "root = this.format_yaml().string()",
            {"a": {"b": [1, 2]}},
            "a:\n    b:\n        - 1\n        - 2\n",
        ),
        # CSV: quoted fields, doubled quotes, CRLF, blank lines.
        (
            "root = this.v.parse_csv()",
            {"v": 'a,b\r\n"x,1","say ""hi"""\r\n\r\n"two\nlines",z\n'},
            [{"a": "x,1", "b": 'say "hi"'}, {"a": "two\nlines", "b": "z"}],
        ),
        # XML: repeated elements become arrays, CDATA and entities, comments ignored.
        (
            "root = this.v.parse_xml()",
            {
                "v": '<?xml version="1.0"?><!-- c --><a><b>1</b><b>2</b><c x="1"/>'
                "<d><![CDATA[<hi>]]></d>t&amp;x</a>"
            },
            {"a": {"b": ["1", "2"], "c": {"-x": "1"}, "d": "<hi>", "#text": "t&x"}},
        ),
        # Non-strict, as Benthos decodes XML: missing end tags are invented.
        ("root = this.v.parse_xml()", {"v": "<a><b>x</a>"}, {"a": {"b": "x"}}),
        (
            "root = this.format_xml(no_indent: true).string()",
            {"r": {"-id": 5, "#text": "v"}},
            '<r id="5">v</r>',
        ),
        (
            "root = this.format_xml(no_indent: true).string()",
            {"r": {"item": [1, 2]}},
            "<r><item>1</item><item>2</item></r>",
        ),
        (
            "root = this.v.parse_form_url_encoded()",
            {"v": "a=1&a=2&b=x+y%21"},
            {"a": ["1", "2"], "b": "x y!"},
        ),
        (
            "root = this.v.parse_url()",
            {"v": "mailto:someone@example.com"},
            {
                "scheme": "mailto",
                "opaque": "someone@example.com",
                "host": "",
                "path": "",
                "raw_path": "",
                "raw_query": "",
                "fragment": "",
                "raw_fragment": "",
            },
        ),
        (
            "root = this.v.parse_url()",
            {"v": "http://h/p%20q?x=1#frag"},
            {
                "scheme": "http",
                "opaque": "",
                "host": "h",
                "path": "/p q",
                "raw_path": "",
                "raw_query": "x=1",
                "fragment": "frag",
                "raw_fragment": "",
            },
        ),
        (
            "root = this.format_msgpack().parse_msgpack()",
            {
                "i": [0, -1, -200, 70000, 2**40, -(2**40)],
                "f": 1.5,
                "n": None,
                "b": True,
                "s": "x" * 40,
                "o": {},
            },
            {
                "i": [0, -1, -200, 70000, 2**40, -(2**40)],
                "f": 1.5,
                "n": None,
                "b": True,
                "s": "x" * 40,
                "o": {},
            },
        ),
    ],
)
def test_behaviour(run: Any, mapping: str, doc: Any, expected: Any) -> None:
    assert run(mapping, doc) == expected


@pytest.mark.parametrize(
    ("mapping", "doc", "message"),
    [
        ("root = this.v.parse_json()", {"v": "{nope"}, "failed to parse value as JSON"),
        (
            "root = this.v.parse_json()",
            {"v": 5},
            "expected string value, got number from field `this.v` (5)",
        ),
        ("root = this.v.parse_yaml()", {"v": "a: [1"}, "failed to parse value as YAML"),
        ("root = this.v.parse_csv()", {"v": 'a,b\nx" y,z'}, 'bare " in non-quoted-field'),
        ("root = this.v.parse_csv()", {"v": "a,b\n1,2,3"}, "wrong number of fields"),
        ("root = this.v.parse_csv()", {"v": ""}, "zero records were parsed"),
        ('root = this.v.parse_csv(delimiter: "ab")', {"v": "a"}, "exactly one character"),
        ("root = this.v.parse_xml()", {"v": "<a>"}, "XML syntax error"),
        (
            "root = this.url.parse_url()",
            {"url": "invalid %&# url"},
            'parse "invalid %&": invalid URL escape "%&"',
        ),
        ('root = this.v.decode("hex").parse_msgpack()', {"v": "c1"}, "msgpack"),
        ('root = this.v.bloblang("root = ")', {"v": 1}, "failed to parse mapping"),
        ("root = this.format_xml()", [1], "expected object value"),
    ],
)
def test_errors(run: Any, mapping: str, doc: Any, message: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, doc)
    assert message in str(info.value)


def test_parse_url_error_is_catchable_as_documented(run: Any) -> None:
    out = run(
        'root.url = this.url.parse_url().catch(err -> {"error":err,"input":this.url})',
        {"url": "invalid %&# url"},
    )
    assert out["url"]["input"] == "invalid %&# url"
    assert 'parse \\"invalid %&\\": invalid URL escape \\"%&\\"' in __import__("json").dumps(
        out["url"]["error"]
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("oops", "invalid character 'o' looking for beginning of value"),
        ("not valid json", "invalid character 'o' in literal null (expecting 'u')"),
        ("", "EOF"),
        ('{"a":1', "unexpected EOF"),
        ('"open', "unexpected EOF"),
        ("[1 2]", "invalid character '2' after array element"),
        ('{"a":"}" "b":2}', "invalid character '\"' after object key:value pair"),
        ('{"a" 1}', "invalid character '1' after object key"),
        ("{a:1}", "invalid character 'a' looking for beginning of object key string"),
        ('{"a":1,}', "invalid character '}' looking for beginning of object key string"),
        ("[1,]", "invalid character ']' looking for beginning of value"),
        ('"a\nb"', "invalid character '\\n' in string literal"),
        ('"\\q"', "invalid character 'q' in string escape code"),
        ("-x", "invalid character 'x' in numeric literal"),
        ("NaN", "invalid character 'N' looking for beginning of value"),
        ("'x'", "invalid character '\\'' looking for beginning of value"),
    ],
)
def test_parse_json_errors_read_as_go_decoder_errors(run: Any, text: str, reason: str) -> None:
    with pytest.raises(MappingError) as info:
        run("root = this.v.parse_json()", {"v": text})
    assert str(info.value) == (
        f"failed assignment (line 1): field `this.v`: failed to parse value as JSON: {reason}"
    )


def test_parse_json_error_on_a_raw_payload_names_its_target(run_doc: Any) -> None:
    with pytest.raises(MappingError) as info:
        run_doc("root = content().parse_json()", "oops")
    assert str(info.value) == (
        "failed assignment (line 1): function content: "
        "failed to parse value as JSON: invalid character 'o' looking for beginning of value"
    )


def test_msgpack_timestamps_and_extension_payloads(run: Any) -> None:
    # fixext 4 with type -1 is a 32-bit seconds timestamp; other types keep their payload.
    ts = run('root = this.v.decode("hex").parse_msgpack().ts_unix()', {"v": "d6ff5a4ec2e0"})
    assert ts == 0x5A4EC2E0
    assert run('root = this.v.decode("hex").parse_msgpack()', {"v": "d40161"}) == b"a"
    assert run('root = this.v.decode("hex").parse_msgpack()', {"v": "8101a178"}) == {"1": "x"}
