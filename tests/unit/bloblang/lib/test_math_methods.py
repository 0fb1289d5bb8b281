"""Trigonometric, root and exponential number methods, and the documented `pow` examples."""

from __future__ import annotations

import math
from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError


def run(mapping: str, doc: Any) -> Any:
    return parse(mapping).query(doc)


@pytest.mark.parametrize(
    ("mapping", "doc", "expected"),
    [
        ("root.new_value = this.value.pow(2)", {"value": 2}, {"new_value": 4}),
        ("root.new_value = this.value.pow(2)", {"value": 5}, {"new_value": 25}),
        ("root.new_value = this.value * 10.pow(-2)", {"value": 2}, {"new_value": 0.02}),
        ("root.new_value = this.value.pow(-2)", {"value": 2}, {"new_value": 0.25}),
        ("root = this.sin()", 0, 0),
        ("root = this.cos()", 0, 1),
        ("root = this.tan()", 0, 0),
        ("root = this.asin()", 1, math.pi / 2),
        ("root = this.acos()", 1, 0),
        ("root = this.atan()", 1, math.pi / 4),
        ("root = this.atan2(1)", 1, math.pi / 4),
        ("root = this.atan2(-1)", 0, math.pi),
        ("root = this.sqrt()", 16, 4),
        ("root = this.sqrt()", 2.25, 1.5),
        ("root = this.cbrt()", 27, 3),
        ("root = this.cbrt()", -8, -2),
        ("root = this.exp()", 0, 1),
        ("root = this.exp().log().round()", 3, 3),
        ("root.radians = (this.degrees * (pi() / 180)).sin().round()", {"degrees": 90},
         {"radians": 1}),
    ],
)  # fmt: skip
def test_math_methods(mapping: str, doc: Any, expected: Any) -> None:
    result = run(mapping, doc)
    if isinstance(expected, float):
        assert result == pytest.approx(expected)
    else:
        assert result == expected
        assert type(result) is type(expected)


def test_out_of_domain_gives_nan_and_infinity_as_go() -> None:
    assert math.isnan(run("root = this.sqrt()", -1))
    assert math.isnan(run("root = this.asin()", 2))
    assert run("root = this.exp()", 1000) == math.inf


def test_non_numbers_are_type_errors() -> None:
    with pytest.raises(MappingError, match="expected number value"):
        run("root = this.sin()", "1")
    with pytest.raises(MappingError, match="argument x: expected float value"):
        run("root = this.atan2(this)", {"a": 1})
