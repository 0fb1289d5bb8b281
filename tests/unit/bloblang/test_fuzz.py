"""Fuzzing the parser: any text either parses or raises ParseError, quickly."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamforge.bloblang import MappingError, ParseError, parse

SEEDS = [
    'root.id = this.thing.id\nroot.type = "yo"',
    'root = this\nroot.foo = this.a.b.uppercase().catch("x")',
    'root.k = match this.t { "a" => "alpha", this > 3 => "b", _ => "other" }',
    "if this.n > 3 {\n  root.big = true\n} else if this.n > 1 {\n  root.mid = 1\n} else {\n"
    "  root.small = [1, 2.5, null]\n}",
    'map thing {\n  root.inner = this.first\n}\nroot.foo = this.doc.apply("thing")',
    'let x = {"a": -1, this.k: [true, false]}\nroot.y = $x.a * 2 / 3 % 4 - 5',
    'meta foo = @bar | meta("baz") | "d"\nmeta = deleted()\n@x = 1',
    "root = this.foo.(x -> x + 1).or(this.(a | b))\n# comment",
    'root = """raw text""" + "esc\\n\\u00e9"\nroot."quoted key".0 = !this.f && this.g || false',
]

ALPHABET = st.sampled_from(
    list("abcxyz_019 .,:;(){}[]\"'#$@!=<>+-*/%|&\n\t\\")
    + ["root", "this", "meta", "let", "if", "else", "match", "map", "import", "=>", "->",
       "deleted()", "uppercase()", "apply(", "\"\"\"", "_ =>"]
)  # fmt: skip

FUZZ = settings(
    max_examples=300,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _check(text: str) -> None:
    try:
        exe = parse(text)
    except ParseError as exc:
        assert exc.line >= 1 and exc.column >= 1
        return
    doc: Any = {"a": 1, "b": "s", "n": 4, "t": "a", "f": True, "g": False, "k": "key"}
    with contextlib.suppress(MappingError):
        exe.query(doc, {"bar": "1"})


@FUZZ
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_random_text_parses_or_raises_parse_error(text: str) -> None:
    _check(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(i, min(len(text), i + 8)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(ALPHABET) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + text[j:] + text[i:j]
    return text


@FUZZ
@given(mutated())
def test_mutated_mappings_parse_or_raise_parse_error(text: str) -> None:
    _check(text)


@settings(max_examples=100, deadline=2000)
@given(st.text(max_size=80))
def test_arbitrary_unicode_parses_or_raises_parse_error(text: str) -> None:
    _check(text)
