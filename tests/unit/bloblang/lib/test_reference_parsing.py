"""Benthos' reference for the "Parsing" methods: each documented example, in the documented
shape (mapping, input payload, output payload)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError

#: the methods Redpanda Connect lists under "Parsing"
REFERENCE_METHODS = [
    "bloblang", "format_json", "format_msgpack", "format_xml", "format_yaml", "infer_schema",
    "parse_csv", "parse_form_url_encoded", "parse_json", "parse_logfmt", "parse_msgpack",
    "parse_parquet", "parse_url", "parse_xml", "parse_yaml",
]  # fmt: skip

#: (mapping, input document, expected output document)
EXAMPLES: list[tuple[str, Any, Any]] = [
    ("root.body = this.body.bloblang(this.mapping)",
     {"body": {"v": "abc"}, "mapping": "root.v = this.v.uppercase()"}, {"body": {"v": "ABC"}}),
    ("root.body = this.body.bloblang(this.mapping)",
     {"body": {"v": "abc def"}, "mapping": "root.v = this.v.capitalize()"},
     {"body": {"v": "Abc Def"}}),
    ("root.doc = this.doc.format_json().string()", {"doc": {"k": "v"}},
     {"doc": '{\n    "k": "v"\n}'}),
    ("root.packed = this.data.format_msgpack().encode(\"base64\")", {"data": {"a": "b"}},
     {"packed": "gaFhoWI="}),
    ("root.doc = this.doc.format_yaml().string()", {"doc": {"k": "v"}}, {"doc": "k: v\n"}),
    ("root.s = this.infer_schema()", {"b": [1, 2], "a": "x", "c": {"d": 1.5, "e": None}},
     {"s": {"type": "OBJECT", "children": [
         {"name": "a", "type": "STRING"},
         {"name": "b", "type": "ARRAY", "children": [{"type": "INT64"}]},
         {"name": "c", "type": "OBJECT", "children": [
             {"name": "d", "type": "FLOAT64"}, {"name": "e", "type": "NULL"}]},
     ]}}),
    ("root.s = this.v.infer_schema()", {"v": True}, {"s": {"type": "BOOLEAN"}}),
    ("root.rows = this.csv.parse_csv()", {"csv": "id,name\n1,pump\n2,valve"},
     {"rows": [{"id": "1", "name": "pump"}, {"id": "2", "name": "valve"}]}),
    ("root.rows = this.csv.parse_csv(false)", {"csv": "1,pump\n2,valve"},
     {"rows": [["1", "pump"], ["2", "valve"]]}),
    ('root.rows = this.csv.parse_csv(delimiter: ";")', {"csv": "id;name\n1;pump"},
     {"rows": [{"id": "1", "name": "pump"}]}),
    ("root.rows = this.csv.parse_csv(lazy_quotes: true)", {"csv": 'id,name\n1,a" "b'},
     {"rows": [{"id": "1", "name": 'a" "b'}]}),
    ("root.form = this.body.parse_form_url_encoded()", {"body": "a=1&b=x&b=y"},
     {"form": {"a": "1", "b": ["x", "y"]}}),
    ("root.doc = this.doc.parse_json()", {"doc": '{"k":[1,"v"]}'}, {"doc": {"k": [1, "v"]}}),
    ("root.doc = this.doc.parse_json(use_number: true)",
     {"doc": '{"k":"98765432109876543210987654321"}'},
     {"doc": {"k": "98765432109876543210987654321"}}),
    ("root = this.line.parse_logfmt()", {"line": 'lvl=warn msg="disk full" took=3ms'},
     {"lvl": "warn", "msg": "disk full", "took": "3ms"}),
    ('root.doc = this.packed.decode("base64").parse_msgpack()', {"packed": "gaFhoWI="},
     {"doc": {"a": "b"}}),
    ("root.u = this.u.parse_url()", {"u": "https://example.com/a/b?q=1#frag"},
     {"u": {"fragment": "frag", "host": "example.com", "opaque": "", "path": "/a/b",
            "raw_fragment": "", "raw_path": "", "raw_query": "q=1", "scheme": "https"}}),
    ('root.user = this.u.parse_url().user.name | "nobody"', {"u": "mqtt://ops:pw@broker:1883/"},
     {"user": "ops"}),
    ('root.user = this.u.parse_url().user.name | "nobody"', {"u": "mqtt://broker:1883"},
     {"user": "nobody"}),
    ("root.doc = this.doc.parse_xml()", {"doc": "<r><a>x</a><b>y</b></r>"},
     {"doc": {"r": {"a": "x", "b": "y"}}}),
    ("root.doc = this.doc.parse_xml(cast: true)",
     {"doc": '<r><n unit="2">42</n><ok>true</ok><s>text</s></r>'},
     {"doc": {"r": {"n": {"#text": 42, "-unit": 2}, "ok": True, "s": "text"}}}),
    ("root.doc = this.doc.parse_yaml()", {"doc": "k: v\nn: [1, 2]"},
     {"doc": {"k": "v", "n": [1, 2]}}),
]  # fmt: skip

#: (mapping, input payload, output payload), where the output is not a JSON document
RAW_EXAMPLES: list[tuple[str, str, str]] = [
    ("root = this.doc.format_json()", '{"doc":{"k":"v"}}', '{\n    "k": "v"\n}'),
    ('root = this.format_json("  ")', '{"doc":{"k":"v"}}', '{\n  "doc": {\n    "k": "v"\n  }\n}'),
    ("root = this.doc.format_json(no_indent: true)", '{"doc":{"k":"v"}}', '{"k":"v"}'),
    ("root = this.doc.format_json()", '{"doc":{"a":"x&y","b":"<z>"}}',
     '{\n    "a": "x\\u0026y",\n    "b": "\\u003cz\\u003e"\n}'),
    ("root = this.doc.format_json(escape_html: false)", '{"doc":{"a":"x&y","b":"<z>"}}',
     '{\n    "a": "x&y",\n    "b": "<z>"\n}'),
    ('root = this.format_msgpack().encode("hex")', '{"a":"b"}', "81a161a162"),
    ("root = this.format_xml()", '{"a":{"b":{"c":"text"}}}',
     "<a>\n    <b>\n        <c>text</c>\n    </b>\n</a>"),
    ("root = this.format_xml(no_indent: true)", '{"a":{"b":{"c":"text"}}}',
     "<a><b><c>text</c></b></a>"),
    ('root = this.format_xml(root_tag: "doc", no_indent: true)', '{"a":"x","b":"y"}',
     "<doc><a>x</a><b>y</b></doc>"),
    ("root = this.doc.format_yaml()", '{"doc":{"k":"v"}}', "k: v\n"),
    ('root = content().decode("hex").parse_msgpack()', "81a161a162", '{"a":"b"}'),
]  # fmt: skip

#: (mapping, input document, the error Benthos reports)
ERRORS: list[tuple[str, Any, str]] = [
    ("root = this.v.parse_json()", {"v": "{nope"}, "invalid character"),
    ("root = this.infer_schema()", {"xs": [1, "a"]}, r"\.xs\.1 mismatched array types"),
    ("root = this.v.parse_csv()", {"v": 'a,b\n"x'}, "quote"),
]  # fmt: skip


def test_every_reference_method_is_registered() -> None:
    missing = [name for name in REFERENCE_METHODS if name not in registry.methods]
    assert missing == []


@pytest.mark.parametrize(("mapping", "doc", "expected"), EXAMPLES)
def test_documented_example(
    run_json: Callable[[str, str], Any], mapping: str, doc: Any, expected: Any
) -> None:
    assert run_json(mapping, json.dumps(doc)) == expected


@pytest.mark.parametrize(("mapping", "doc", "expected"), RAW_EXAMPLES)
def test_documented_raw_example(
    run_doc: Callable[[str, str], str], mapping: str, doc: str, expected: str
) -> None:
    assert run_doc(mapping, doc) == expected


@pytest.mark.parametrize(("mapping", "doc", "error"), ERRORS)
def test_documented_error(mapping: str, doc: Any, error: str) -> None:
    with pytest.raises(MappingError, match=error):
        parse(mapping).query(doc)
