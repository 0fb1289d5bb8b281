"""Bloblang's re_* methods run Go's regular expressions (RE2): Benthos' documented results,
RE2-only syntax, Perl constructs refused when the mapping compiles, and linear-time matching."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import pytest

from streamforge import regexp
from streamforge.bloblang import MappingError, ParseError, parse
from streamforge.config.loader import lint_paths


def run(mapping: str, value: Any) -> Any:
    return parse(mapping).query(value)


@pytest.mark.parametrize(
    ("method", "args", "text", "expected"),
    [
        # Go/RE2 named groups, both spellings
        ("re_find_object", r'"(?P<year>\\d{4})-(?<month>\\d\\d)"', "2024-05", {
            "0": "2024-05", "year": "2024", "month": "05"}),
        # Unicode classes and the ungreedy flag are RE2 syntax
        ("re_find_all", r'"\\p{Greek}+"', "abc αβγ def", ["αβγ"]),
        ("re_find_all", r'"\\pL+"', "añb 12 ü", ["añb", "ü"]),
        ("re_find_all", r'"(?U)a+"', "aaa", ["a", "a", "a"]),
        # leftmost-first (Perl/Go), not leftmost-longest (POSIX)
        ("re_find_all", r'"a|ab"', "ab", ["a"]),
        # $ without (?m) is the end of the text only; \d and \b are ASCII
        ("re_match", r'"c$"', "abc\n", False),
        ("re_match", r'"^\\d+$"', "١٢٣", False),
        ("re_find_all", r'"\\bé"', "é aé", ["é"]),
        # empty matches right after a previous match are skipped, stepping whole characters
        ("re_find_all", r'"x*"', "éaxxb", ["", "", "xx", ""]),
        ("re_replace_all", r'"x*", "-"', "abxd", "-a-b-d-"),
        ("re_replace_all", r'"", "-"', "日本", "-日-本-"),
        # Go's template expansion: $1 takes the longest name, ${1} delimits, $$ is $
        ("re_replace_all", r'"(\\w+) (\\w+)", "$2 $1"', "hello world", "world hello"),
        ("re_replace_all", r'"(?P<first>\\w+) (\\w+)", "${2}_$first"', "foo bar", "bar_foo"),
        ("re_replace_all", r'"(\\w+)", "$1x"', "foo", ""),
        ("re_replace_all", r'"o", "$$"', "foo", "f$$"),
        ("re_replace_all", r'"(a)", "\\1"', "a", "\\1"),
        # a name may be given to several groups (Go); $name expands the one that took part
        ("re_replace_all", r'"(?P<v>\\d+)ms|(?P<v>\\d+)s", "<$v>"', "15ms 3s", "<15> <3>"),
        ("re_find_object", r'"(?P<v>\\d+)ms|(?P<v>\\d+)s"', "3s", {"0": "3s", "v": "3"}),
        ("re_find_object", r'"[(](?P<a>x)\\((?P<a>y)"', "(x(y", {"0": "(x(y", "a": "y"}),
        # a group that took no part reads as ""
        ("re_find_all_submatch", r'"(a)|(b)"', "ab", [["a", "a", ""], ["b", "", "b"]]),
    ],
)  # fmt: skip
def test_go_semantics(method: str, args: str, text: str, expected: Any) -> None:
    assert run(f"root = this.v.{method}({args})", {"v": text}) == expected


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\\1", "backreferences are not supported"),
        (r"(?P<x>a)(?P=x)", "backreferences are not supported"),
        (r"a++", "possessive quantifiers are not supported"),
        (r"(?=a)b", "lookaround assertions are not supported"),
        (r"(?<!a)b", "lookaround assertions are not supported"),
        (r"(?>a)", "atomic groups are not supported"),
        (r"\\C", "not supported"),
        (r"a\\Z", "invalid escape sequence"),
        (r"(abc", "missing closing )"),
    ],
)
def test_perl_only_patterns_are_refused_when_the_mapping_compiles(pattern: str, why: str) -> None:
    mapping = f'root = this.v.re_match("{pattern}")'
    with pytest.raises(ParseError) as info:
        parse(mapping)
    assert "error parsing regexp" in info.value.reason
    assert why in info.value.reason
    assert (info.value.line, info.value.column) == (1, mapping.index('"') + 1)


def test_a_pattern_computed_per_message_fails_that_message() -> None:
    exe = parse("root = this.v.re_match(this.p)")
    assert exe.query({"v": "abc", "p": "b+"}) is True
    with pytest.raises(MappingError, match="backreferences are not supported"):
        exe.query({"v": "abc", "p": "(a)\\1"})


def test_a_literal_pattern_is_compiled_once_with_the_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exe = parse('root = this.re_find_all("[0-9]+")')

    def no_compiling(pattern: str) -> regexp.Regexp:
        raise AssertionError(f"compiled again: {pattern}")

    monkeypatch.setattr("streamforge.bloblang.lib.regexp.compile_regexp", no_compiling)
    assert exe.query("a1b22") == ["1", "22"]
    assert exe.query("c333") == ["333"]


def test_a_catastrophic_pattern_finishes() -> None:
    # exponential for a backtracking engine; RE2 runs in time linear in the input
    text = "a" * 30 + "!"
    assert run('root = this.re_match("(a+)+$")', text) is False
    assert run('root = this.re_replace_all("(x+x+)+y", "-")', "x" * 40) == "x" * 40


def test_bytes_are_matched_as_utf8_text() -> None:
    assert run('root = this.v.bytes().re_find_all("\\\\pL+")', {"v": "ab 12 ü"}) == ["ab", "ü"]
    assert run('root = this.v.bytes().re_replace_all("b", "x")', {"v": "abc"}) == "axc"


def test_lint_names_the_place_of_a_bad_pattern(tmp_path: Path) -> None:
    config = tmp_path / "stream.yaml"
    config.write_text(
        "input:\n"
        "  generate:\n"
        "    count: 1\n"
        "    mapping: 'root = this.re_match(\"(a)\\\\1\")'\n"
        "output:\n"
        "  drop: {}\n"
    )
    problems = [str(p) for p in lint_paths([config])]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{config}:4:")
    assert "error parsing regexp: invalid escape sequence: `\\1`" in problems[0]
    column = int(problems[0].split(":")[2])
    assert column == len("    mapping: 'root = this.re_match(") + 1


def test_without_re2_patterns_fall_back_to_python_and_say_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(regexp, "re2", None)
    monkeypatch.setattr(regexp, "_CACHE", {})
    monkeypatch.setattr(regexp, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="streamforge.regexp"):
        assert regexp.compile_regexp("a(?P<n>b)").find_submatch("xab") == ["ab", "b"]
        assert regexp.compile_regexp("c$").search("abc\n") is False
    warnings = [r for r in caplog.records if "backtracking" in r.getMessage()]
    assert len(warnings) == 1
    with pytest.raises(regexp.RegexpError, match="backreferences are not supported"):
        regexp.compile_regexp("(a)\\1")
    with pytest.raises(regexp.RegexpError, match="lookaround assertions are not supported"):
        regexp.compile_regexp("(?=a)")


def test_a_compiled_pattern_pickles_as_its_source() -> None:
    rx = pickle.loads(pickle.dumps(regexp.compile_regexp("(?P<n>[0-9]+)")))
    assert rx.find_submatch("a42") == ["42", "42"]
    assert rx.names == ["", "n"]


def test_re2_is_the_engine_here() -> None:
    # google-re2 is a dependency: the fallback is only for platforms without a wheel
    assert not regexp.BACKTRACKING
