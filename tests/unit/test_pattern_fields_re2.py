"""Pattern fields of components (metadata `include_patterns`, the `content_matches` test
condition) are Go regular expressions through RE2, checked by lint at their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamforge.config.loader import lint_paths
from streamforge.configtest.conditions import DefinitionError, parse_condition_set
from streamforge.message import Message
from streamforge.metadata_filter import MetadataFilter
from streamforge.regexp import RegexpError


def test_include_patterns_use_go_syntax() -> None:
    wanted = MetadataFilter({"include_patterns": [r"^\p{Lu}", "(?P<site>_site)$", "(?i)^KAFKA_"]})
    metadata = {"Ärger": 1, "asset_site": 2, "kafka_key": 3, "asset_id": 4}
    assert wanted.select(metadata) == {"Ärger": "1", "asset_site": "2", "kafka_key": "3"}


def test_a_catastrophic_include_pattern_finishes() -> None:
    wanted = MetadataFilter({"include_patterns": ["^(a+)+$"]})
    assert wanted.select({"a" * 40 + "!": "x", "aaa": "y"}) == {"aaa": "y"}


def test_a_perl_only_include_pattern_is_refused() -> None:
    with pytest.raises(RegexpError, match="lookaround assertions are not supported"):
        MetadataFilter({"include_patterns": ["^(?!kafka_)"]})


def test_lint_reports_a_bad_include_pattern_at_its_place(tmp_path: Path) -> None:
    config = tmp_path / "stream.yaml"
    config.write_text(
        "input:\n"
        "  generate:\n"
        "    count: 1\n"
        "    mapping: root = {}\n"
        "output:\n"
        "  http_client:\n"
        "    url: http://127.0.0.1:9/post\n"
        "    metadata:\n"
        "      include_patterns: [ '^asset_', '(a)\\1' ]\n"
    )
    problems = [str(p) for p in lint_paths([config])]
    assert problems == [
        f"{config}:9:38: field metadata.include_patterns.1: error parsing regexp: invalid escape "
        "sequence: `\\1` (backreferences are not supported: patterns are RE2, as in Go)"
    ]


def test_content_matches_is_an_unanchored_re2_search() -> None:
    msg = Message(b"pump-7 ok\n", {})
    assert parse_condition_set({"content_matches": r"\bpump-\d ok$"}).check(msg, Path()) == [
        "content_matches: pattern mismatch\n   pattern: \\bpump-\\d ok$\n  received: pump-7 ok\n"
    ]
    assert parse_condition_set({"content_matches": r"(?s)pump.*ok"}).check(msg, Path()) == []


def test_content_matches_refuses_a_perl_only_pattern() -> None:
    with pytest.raises(DefinitionError, match="backreferences are not supported"):
        parse_condition_set({"content_matches": r"(p)\1"})
