"""Parsing: what is accepted, and ParseError with line, column and a caret."""

from __future__ import annotations

import pytest

from streamforge.bloblang import ParseError, parse, parse_query


@pytest.mark.parametrize(
    ("mapping", "line", "column", "fragment"),
    [
        ("root.a = this.b +", 1, 18, "expected a query"),
        ("root.a = 1\nroot.b = (this.x", 2, 17, "expected ')'"),
        ("root.a = 1\nroot.b = this.a.nosuch()", 2, 17, "unrecognised method 'nosuch'"),
        ("root.a = this.b.uppercse()", 1, 17, "did you mean 'uppercase'"),
        ("root = nope()", 1, 8, "unrecognised function 'nope'"),
        ('root = "unterminated', 1, 8, "closing quote"),
        ("root = this.a ~ 2", 1, 15, "unexpected character"),
        ("root.a = 1 root.b = 2", 1, 12, "end of statement"),
        ('root = this.apply("nomap")', 1, 19, "map 'nomap' was not found"),
        ('root = {"a" 1}', 1, 13, "expected ':'"),
        ("root = [1, 2", 1, 13, "expected ',' or ']'"),
        ("if this.x {\n  root = 1\n", 2, 11, "expected '}'"),
        ("root = match this { 1 2 }", 1, 23, "expected '=>'"),
        ('root = "x".uppercase(1)', 1, 12, "wrong number of arguments"),
        ('root = """never closed', 1, 8, "closing triple quote"),
        ("root = x -> x", 1, 8, "lambda"),
        ('root = "\\q"', 1, 9, "invalid escape"),
    ],
)
def test_parse_errors_point_at_the_problem(
    mapping: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(ParseError) as info:
        parse(mapping)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert fragment in str(err)
    text_lines = str(err).splitlines()
    offending = mapping.splitlines()[line - 1] if line <= len(mapping.splitlines()) else ""
    assert text_lines[1].strip() == offending.strip()
    assert text_lines[2].index("^") - 2 == column - 1


def test_unknown_named_argument_is_rejected() -> None:
    with pytest.raises(ParseError, match="unknown named argument"):
        parse('root = "a".uppercase(nope: 1)')


def test_literal_argument_of_the_wrong_type_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="expected string value"):
        parse('root = "abc".has_prefix(5)')


def test_duplicate_map_is_rejected() -> None:
    with pytest.raises(ParseError, match="declared twice"):
        parse("map a {\n root = 1\n}\nmap a {\n root = 2\n}")


def test_missing_import_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="file not found"):
        parse('import "definitely/not/here.blobl"')


def test_import_of_a_file_with_statements_is_rejected(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "bad.blobl"
    path.write_text("root = 1\n")
    with pytest.raises(ParseError, match="may only hold map definitions"):
        parse(f'import "{path}"')


def test_import_of_a_broken_file_names_it(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "broken.blobl"
    path.write_text("map x {\n root = (\n}\n")
    with pytest.raises(ParseError, match="broken.blobl"):
        parse(f'import "{path}"')


@pytest.mark.parametrize(
    "mapping",
    [
        "",
        "\n\n# only a comment\n",
        "root = this",
        "root.a = this.a # trailing comment",
        'meta = {"a": "b"}',
        "@ = {}",
        "let x = 1\nroot = $x",
        "root = this.foo.(x -> x)",
        "root = match {\n  this.a => 1,\n  _ => 2,\n}",
        "root = if true { 1 } else if false { 2 } else { 3 }",
        'map m {\n}\nroot = 1.apply("m")',
        'root = "a".uppercase()\n  .lowercase()',
        'root = this.a.0.b."c d"',
    ],
)
def test_valid_mappings_parse(mapping: str) -> None:
    parse(mapping)


def test_parse_query_accepts_one_expression_only() -> None:
    assert parse_query("1 + 2").query(None) == 3
    with pytest.raises(ParseError):
        parse_query("root = 1")
    with pytest.raises(ParseError):
        parse_query("1 2")


def test_generated_code_never_contains_user_identifiers() -> None:
    exe = parse('root.__import__ = this.os\nlet exec = 1\nroot.x = $exec\nmeta system = "x"')
    assert "__import__" not in exe.source.replace("'__import__'", "")
    assert exe.query({"os": 1}, {}) == {"__import__": 1, "x": 1}


@pytest.mark.parametrize(
    "evil",
    ["root = \"'); import os; ('\"", 'root = "\\\\" + "\'\'\'"', 'root."a\'b" = 1'],
)
def test_string_literals_are_escaped(evil: str) -> None:
    parse(evil).query({})
