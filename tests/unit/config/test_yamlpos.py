"""YAML loading with positions, YAML 1.2 scalars, duplicate keys, malformed input."""

from __future__ import annotations

import textwrap

from streamforge.config.yamlpos import load_yaml


def _load(text: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return load_yaml(textwrap.dedent(text).lstrip("\n"), "c.yaml", environ=environ or {})


def test_positions_of_keys_and_values() -> None:
    doc = _load(
        """
        input:
          generate:
            count: 3
        pipeline:
          processors:
            - mapping: root = this
        """
    )
    assert doc.problems == []
    assert str(doc.location(("input", "generate", "count"))) == "c.yaml:3:12"
    assert str(doc.key_location(("input", "generate", "count"))) == "c.yaml:3:5"
    assert str(doc.location(("pipeline", "processors", 0))) == "c.yaml:6:7"
    assert str(doc.location(("pipeline", "processors", 0, "mapping"))) == "c.yaml:6:16"
    # unknown paths fall back to the closest ancestor
    assert str(doc.location(("input", "generate", "nope"))) == "c.yaml:3:5"


def test_yaml_1_2_scalars_like_benthos() -> None:
    doc = _load(
        """
        a: off
        b: yes
        c: 12:30
        d: 010
        e: true
        f: ~
        g: 1.5
        h: 0x1f
        i: 2024-01-02
        """
    )
    assert doc.data == {
        "a": "off", "b": "yes", "c": "12:30", "d": 10, "e": True,
        "f": None, "g": 1.5, "h": 31, "i": "2024-01-02",
    }  # fmt: skip


def test_duplicate_key_is_a_problem_with_both_lines() -> None:
    doc = _load(
        """
        input:
          stdin: {}
        output:
          drop: {}
        input:
          generate: {}
        """
    )
    assert [str(p) for p in doc.problems] == [
        'c.yaml:5:1: duplicate key "input" (first defined at line 1)'
    ]
    assert doc.data["input"] == {"stdin": {}}


def test_malformed_yaml_reports_parser_position() -> None:
    doc = _load(
        """
        input:
          generate:
            mapping: "root = 1
        output: {}
        """
    )
    assert doc.data is None
    assert len(doc.problems) == 1
    assert doc.problems[0].message.startswith("invalid YAML:")
    assert doc.problems[0].location.line >= 3

    doc = _load("a: b: c\n")
    assert [str(p.location) for p in doc.problems] == ["c.yaml:1:5"]


def test_env_in_plain_scalar_resolves_type_and_quoted_stays_string() -> None:
    doc = _load(
        """
        count: ${N:5}
        quoted: "${N:5}"
        flag: ${F:false}
        name: pre-${NAME}-post
        """,
        {"NAME": "x"},
    )
    assert doc.data == {"count": 5, "quoted": "5", "flag": False, "name": "pre-x-post"}
    assert doc.problems == []


def test_missing_env_variable_is_reported_where_it_is_used() -> None:
    doc = _load(
        """
        output:
          file:
            path: /data/${OUT_DIR}/x.log
        """
    )
    assert [str(p) for p in doc.problems] == [
        'c.yaml:3:11: environment variable "OUT_DIR" is not set and has no default '
        "(write ${OUT_DIR:default} to give one)"
    ]


def test_keys_are_not_env_interpolated_and_bloblang_is_kept() -> None:
    doc = _load("path: '${! meta(\"k\") }'\n")
    assert doc.data == {"path": '${! meta("k") }'}
    assert doc.problems == []


def test_merge_keys() -> None:
    doc = _load(
        """
        base: &b
          count: 1
          interval: 1s
        gen:
          <<: *b
          count: 2
        """
    )
    assert doc.data["gen"] == {"count": 2, "interval": "1s"}


def test_scalar_location_plain_and_quoted() -> None:
    doc = _load(
        """
        a: root = this.foo +
        b: "root = \\"x\\" + bad("
        c: 'it''s ( broken'
        """
    )
    # plain: column 15 of the value is "+" at file column 18
    assert str(doc.scalar_location(("a",), doc.data["a"], 1, 15)) == "c.yaml:1:18"
    # double quoted with escapes: "bad(" starts at value column 16
    value_b = doc.data["b"]
    col = value_b.index("bad") + 1
    assert str(doc.scalar_location(("b",), value_b, 1, col)) == "c.yaml:2:20"
    value_c = doc.data["c"]
    col = value_c.index("(") + 1
    assert str(doc.scalar_location(("c",), value_c, 1, col)) == "c.yaml:3:11"


def test_scalar_location_block_scalars() -> None:
    doc = _load(
        """
        lit: |
          root.a = 1

          root.b = bad(
        fold: >-
          root.a = 1
          root.b = nope(
        """
    )
    assert str(doc.scalar_location(("lit",), doc.data["lit"], 3, 10)) == "c.yaml:4:12"
    value = doc.data["fold"]
    col = value.index("nope") + 1
    assert str(doc.scalar_location(("fold",), value, 1, col)) == "c.yaml:7:12"
