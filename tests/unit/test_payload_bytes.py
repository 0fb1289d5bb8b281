"""Structured payloads are written byte for byte as Benthos writes them: keys sorted, Go numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamforge.configtest.discover import discover
from streamforge.configtest.runner import run_file
from streamforge.interpolation import render_value
from streamforge.message import Message, payloads_of, serialise_value
from streamforge.processors.mapping import MappingProcessor


def _mapped(mapping: str, payload: str) -> bytes:
    proc = MappingProcessor(mapping)
    (out,) = proc.process_batch([Message(payload)])
    assert out.error is None, out.error
    return out.payload


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),
        (
            {"z": {"y": {"x": 1, "w": 2}, "b": [3, 2, 1]}, "a": None},
            b'{"a":null,"z":{"b":[3,2,1],"y":{"w":2,"x":1}}}',
        ),
        (
            [{"b": 1, "a": 2}, {"d": [{"f": 1, "e": 2}], "c": 3}],
            b'[{"a":2,"b":1},{"c":3,"d":[{"e":2,"f":1}]}]',
        ),
        (["c", "a", "b"], b'["c","a","b"]'),
        # byte order of the UTF-8 keys, as Go sorts them: upper case before lower, ASCII first
        ({"é": 1, "e": 2, "Z": 3, "aa": 4, "a": 5}, '{"Z":3,"a":5,"aa":4,"e":2,"é":1}'.encode()),
    ],
)
def test_objects_are_written_with_sorted_keys_at_every_depth(value: Any, expected: bytes) -> None:
    assert serialise_value(value) == expected


def test_whole_number_floats_are_written_as_go_writes_them() -> None:
    assert serialise_value(3.0) == b"3"
    assert serialise_value({"b": 3.0, "a": [1.0, 2.5, -0.0]}) == b'{"a":[1,2.5,-0],"b":3}'
    # a string that merely looks like a float is left alone
    assert serialise_value({"s": "3.0", "n": 3.0}) == b'{"n":3,"s":"3.0"}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # text that looks like a whole-number float, in values and keys, beside real ones
        ({"s": "a.0,b", "n": [1.0, 2.0]}, b'{"n":[1,2],"s":"a.0,b"}'),
        ({"1.0": "1.0]", "x": {"y": [1.0, {"z": -0.0}]}}, b'{"1.0":"1.0]","x":{"y":[1,{"z":-0}]}}'),
        # an escaped quote or backslash in a string, and a float Go writes with other digits
        ({"s": 'q"1.0,', "v": 2.0}, b'{"s":"q\\"1.0,","v":2}'),
        ({"s": "e-6,", "v": 1e-6, "w": 1.0}, b'{"s":"e-6,","v":0.000001,"w":1}'),
        ({"s": "x\u2028y", "v": 2.0}, b'{"s":"x\\u2028y","v":2}'),
        ([1e15, 9999999999999998.0], b"[1000000000000000,9999999999999998]"),
        ([1e16, -0.0], b"[10000000000000000,-0]"),
    ],
)
def test_only_numbers_are_rewritten_as_go_writes_them(value: Any, expected: bytes) -> None:
    assert serialise_value(value) == expected


def test_a_batch_is_written_as_each_message_alone() -> None:
    """A batch is checked for Go's forms in one pass; each payload still reads as alone."""
    values: list[Any] = [
        {"v": 1.5, "s": "plain"},
        {"v": 2.0},
        {"s": "x.0,", "n": -3},
        [1e-6, "e-6,"],
        {"big": 1e17, "t": "+02:00"},
        {"s": "line\u2029end", "w": 4.0},
        {"wide": 2**70},
        "text",
        3.0,
    ]
    batch = [Message.from_value(v) for v in values] + [Message(b'{"raw": 1.0}')]
    expected = [serialise_value(v) for v in values] + [b'{"raw": 1.0}']
    assert payloads_of(batch) == expected
    assert [m.payload for m in batch] == expected


def test_integers_beyond_64_bits_are_sorted_too() -> None:
    assert serialise_value({"b": 2**70, "a": {"d": 1, "c": 2.0}}) == (
        b'{"a":{"c":2,"d":1},"b":1180591620717411303424}'
    )


def test_a_mapping_result_reaches_the_output_with_sorted_keys() -> None:
    payload = _mapped(
        'root.zeta = this.v\nroot.alpha = {"y": 1.0, "x": [3, 1, 2]}\nroot.mid = "m"',
        '{"v": 7}',
    )
    assert payload == b'{"alpha":{"x":[3,1,2],"y":1},"mid":"m","zeta":7}'


def test_interpolated_objects_are_sorted() -> None:
    assert render_value({"b": {"d": 1, "c": 2}, "a": 1.0}) == '{"a":1,"b":{"c":2,"d":1}}'


def test_content_equals_written_for_benthos_passes(tmp_path: Path) -> None:
    """A test whose expected bytes Benthos produced passes unchanged."""
    config = tmp_path / "envelope.yaml"
    config.write_text(
        """
pipeline:
  processors:
    - mapping: |
        root.value = this.raw * 1.0
        root.unit = "C"
        root.asset = {"site": "p1", "line": 2}
        root.tags = ["z", "a"]

tests:
  - name: written as Benthos writes it
    input_batch:
      - content: '{"raw": 21}'
    output_batches:
      - - content_equals: '{"asset":{"line":2,"site":"p1"},"tags":["z","a"],"unit":"C","value":21}'
""",
        encoding="utf-8",
    )
    (tf,) = discover([str(config)])[0]
    (result,) = run_file(tf)
    assert result.passed, result.failures
