"""Number methods: Benthos' documented examples, plus conversions and their errors."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.lib import load_all
from streamforge.bloblang.lib.numbers import format_go_float, parse_go_float
from streamforge.bloblang.registry import functions, methods

load_all()


def call(name: str, target: Any, *args: Any) -> Any:
    spec = methods[name]
    impl = spec.impl() if spec.per_call_site else spec.impl
    return impl(target, *args)


def run(mapping: str, doc: Any) -> Any:
    return parse(mapping).query(doc)


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# -- documented examples through the language ----------------------------------------------

DOC_EXAMPLES = [
    ("root.new_value = [0,this.value].max()", {"value": -1}, {"new_value": 0}),
    ("root.new_value = [0,this.value].max()", {"value": 7}, {"new_value": 7}),
    ("root.new_value = [10,this.value].min()", {"value": 2}, {"new_value": 2}),
    ("root.new_value = [10,this.value].min()", {"value": 23}, {"new_value": 10}),
    ("root.new_value = this.value.pow(2)", {"value": 2}, {"new_value": 4}),
    ("root.new_value = this.value.pow(2)", {"value": 5}, {"new_value": 25}),
    ("root.new_value = this.value.bitwise_xor(6)", {"value": -2}, {"new_value": -8}),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "doc", "expected"), DOC_EXAMPLES)
def test_documented_examples(mapping: str, doc: Any, expected: Any) -> None:
    assert as_json(run(mapping, doc)) == as_json(expected)


SIZED = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("name", SIZED)
def test_sized_integer_documented_example(name: str) -> None:
    mapping = (
        f"root.a = this.a.{name}()\nroot.b = this.b.round().{name}()\n"
        f"root.c = this.c.{name}()\nroot.d = this.d.{name}().catch(0)"
    )
    out = run(mapping, {"a": 12, "b": 12.34, "c": "12", "d": -12})
    assert out == {"a": 12, "b": 12, "c": 12, "d": 0 if name.startswith("u") else -12}


def test_integer_method_fails_the_mapping_on_decimals() -> None:
    with pytest.raises(MappingError, match="contains decimals"):
        run("root = this.int64()", 12.34)


# -- rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2.5, 3), (-2.5, -3), (0.49999999999999994, 0), (-0.5, -1), (1.5, 2), (7, 7)],
)
def test_round_is_half_away_from_zero(value: float, expected: int) -> None:
    result = call("round", value)
    assert result == expected and type(result) is int


def test_rounding_keeps_floats_that_do_not_fit_an_int64() -> None:
    assert call("floor", 1e20) == 1e20 and isinstance(call("floor", 1e20), float)
    assert math.isinf(call("ceil", math.inf))


def test_rounding_a_string_is_a_type_error() -> None:
    with pytest.raises(MappingError, match=r'expected number value, got string \("5.5"\)'):
        call("round", "5.5")


def test_abs_of_min_int64_is_max_int64() -> None:
    assert call("abs", -(2**63)) == 2**63 - 1


def test_log_of_non_positive_numbers_follows_ieee() -> None:
    assert call("log", 0) == -math.inf
    assert math.isnan(call("log10", -1))


# -- aggregates ----------------------------------------------------------------------------


def test_max_of_empty_array_fails() -> None:
    with pytest.raises(MappingError, match="the array was empty"):
        call("max", [])


def test_min_names_the_index_of_a_non_number() -> None:
    with pytest.raises(MappingError, match=r"index 1 of array: expected number value, got string"):
        call("min", [1, "2"])


def test_max_of_non_array_fails() -> None:
    with pytest.raises(MappingError, match="expected array value, got number"):
        call("max", 5)


# -- sized conversions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [("int8", "0xD", 13), ("int16", "0xDE", 222), ("int32", "0xDEAD", 57005),
     ("int64", "0xDEADBEEF", 3735928559), ("uint8", "0xD", 13), ("uint16", "0xDE", 222),
     ("uint32", "0xDEAD", 57005), ("uint64", "0xDEADBEEF", 3735928559),
     ("int64", "-0b101", -5), ("int64", "0o17", 15), ("int64", "017", 15),
     ("int64", "1_000", 1000)],
)  # fmt: skip
def test_integer_strings_use_go_literal_syntax(name: str, text: str, expected: int) -> None:
    assert call(name, text) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("int8", 128, "too large to be cast as an 8-bit signed integer"),
        ("int8", -129, "too small to be cast as an 8-bit signed integer"),
        ("int16", 40000, "too large to be cast as a 16-bit signed integer"),
        ("int32", 2**31, "too large to be cast as a 32-bit signed integer"),
        ("int64", 2**63, "too large to be cast as a signed integer"),
        ("uint8", 256, "too large to be cast as an 8-bit unsigned integer"),
        ("uint16", 65536, "too large to be cast as a 16-bit unsigned integer"),
        ("uint32", 2**32, "too large to be cast as a 32-bit unsigned integer"),
        ("uint64", -1, "negative and cannot be cast as an unsigned integer"),
        ("uint64", -1.5, "negative and cannot be cast as an unsigned integer"),
        ("int64", 12.34, "contains decimals"),
        ("int64", math.inf, "cannot convert \\+/-INF to an integer"),
        ("int64", math.nan, "cannot convert NAN to an integer"),
        ("int64", "12.0", 'strconv.ParseInt: parsing "12.0": invalid syntax'),
        ("int64", "99999999999999999999", "value out of range"),
        ("uint64", "-5", 'strconv.ParseUint: parsing "-5": invalid syntax'),
        ("int64", " 5", "invalid syntax"),
        ("int64", True, "expected number value, got bool"),
        ("int64", None, "expected number value, got null"),
    ],
)
def test_integer_conversion_errors(name: str, value: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        call(name, value)


def test_integer_conversion_accepts_integral_floats() -> None:
    result = call("int32", 12.0)
    assert result == 12 and type(result) is int


def test_float64_returns_a_float_and_parses_strings() -> None:
    assert call("float64", 3) == 3.0 and type(call("float64", 3)) is float
    assert call("float64", "1e3") == 1000.0
    with pytest.raises(MappingError, match='strconv.ParseFloat: parsing "abc": invalid syntax'):
        call("float64", "abc")


def test_float32_rounds_to_single_precision() -> None:
    assert call("float32", 0.1) == 0.1
    assert call("float32", 16777217) == 16777216.0


def test_pow_with_a_string_exponent_is_a_type_error() -> None:
    with pytest.raises(MappingError, match="expected number value"):
        call("pow", 2, "x")


def test_bitwise_on_a_string_is_a_type_error() -> None:
    with pytest.raises(MappingError, match="expected integer value, got string"):
        call("bitwise_and", "12", 6)


def test_pi_function() -> None:
    assert functions["pi"].impl() == math.pi


# -- Go number formatting and parsing ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.5, "1.5"), (3.0, "3"), (1e6, "1e+06"), (123456.0, "123456"), (1234567.0, "1.234567e+06"),
     (1e-5, "1e-05"), (0.0001, "0.0001"), (-7.25, "-7.25"), (1e21, "1e+21"),
     (math.inf, "+Inf"), (math.nan, "NaN")],
)  # fmt: skip
def test_format_go_float_matches_go_g_formatting(value: float, text: str) -> None:
    assert format_go_float(value) == text


@pytest.mark.parametrize("text", ["", "1_000", " 1", "1e", "0x10", "--1", "1.2.3"])
def test_parse_go_float_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(MappingError, match="invalid syntax"):
        parse_go_float(text)


@pytest.mark.parametrize(("text", "value"), [("0x1p-2", 0.25), ("Inf", math.inf), (".5", 0.5)])
def test_parse_go_float_accepts_go_forms(text: str, value: float) -> None:
    assert parse_go_float(text) == value
