"""Benthos' reference for the "Number Manipulation" methods: every documented example."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError

#: the methods Benthos (Redpanda Connect) lists under "Number Manipulation"
REFERENCE_METHODS = [
    "abs", "bitwise_and", "bitwise_or", "bitwise_xor", "ceil", "cos", "float32", "float64",
    "floor", "int16", "int32", "int64", "int8", "log", "log10", "max", "min", "pow", "round",
    "sin", "tan", "uint16", "uint32", "uint64", "uint8",
]  # fmt: skip

_SIGNED = '{"a":12,"b":12,"c":12,"d":-12}'
_UNSIGNED = '{"a":12,"b":12,"c":12,"d":0}'
_INTS = '{"a":12,"b":12.34,"c":"12","d":-12}'


def _int_example(name: str) -> str:
    return (
        f"root.a = this.a.{name}()\nroot.b = this.b.round().{name}()\n"
        f"root.c = this.c.{name}()\nroot.d = this.d.{name}().catch(0)"
    )


#: (mapping, input payload, output payload) as the reference writes them
EXAMPLES: list[tuple[str, str, str]] = [
    ("root.outs = this.ins.map_each(ele -> ele.abs())", '{"ins":[9,-18,1.23,-4.56]}',
     '{"outs":[9,18,1.23,4.56]}'),
    ("root.new_value = this.value.bitwise_and(6)", '{"value":12}', '{"new_value":4}'),
    ("root.masked = this.flags.bitwise_and(15)", '{"flags":127}', '{"masked":15}'),
    ("root.new_value = this.value.bitwise_or(6)", '{"value":12}', '{"new_value":14}'),
    ("root.combined = this.flags.bitwise_or(8)", '{"flags":4}', '{"combined":12}'),
    ("root.new_value = this.value.bitwise_xor(6)", '{"value":12}', '{"new_value":10}'),
    ("root.toggled = this.flags.bitwise_xor(5)", '{"flags":3}', '{"toggled":6}'),
    ("root.new_value = this.value.ceil()", '{"value":5.3}', '{"new_value":6}'),
    ("root.new_value = this.value.ceil()", '{"value":-5.9}', '{"new_value":-5}'),
    ("root.result = this.price.ceil()", '{"price":19.99}', '{"result":20}'),
    ("root.new_value = (this.value * (pi() / 180)).cos()", '{"value":45}',
     '{"new_value":0.7071067811865476}'),
    ("root.new_value = (this.value * (pi() / 180)).cos()", '{"value":0}', '{"new_value":1}'),
    ("root.new_value = (this.value * (pi() / 180)).cos()", '{"value":180}', '{"new_value":-1}'),
    ("root.out = this.in.float32()", '{"in":"6.674282313423543523453425345e-11"}',
     '{"out":6.674283e-11}'),
    ("root.out = this.in.float64()", '{"in":"6.674282313423543523453425345e-11"}',
     '{"out":6.674282313423544e-11}'),
    ("root.new_value = this.value.floor()", '{"value":5.7}', '{"new_value":5}'),
    ("root.new_value = this.value.floor()", '{"value":-3.2}', '{"new_value":-4}'),
    ("root.whole_seconds = this.duration_seconds.floor()", '{"duration_seconds":12.345}',
     '{"whole_seconds":12}'),
    (_int_example("int8"), _INTS, _SIGNED),
    ("root = this.int8()", '"0xD"', "13"),
    (_int_example("int16"), _INTS, _SIGNED),
    ("root = this.int16()", '"0xDE"', "222"),
    (_int_example("int32"), _INTS, _SIGNED),
    ("root = this.int32()", '"0xDEAD"', "57005"),
    (_int_example("int64"), _INTS, _SIGNED),
    ("root = this.int64()", '"0xDEADBEEF"', "3735928559"),
    (_int_example("uint8"), _INTS, _UNSIGNED),
    ("root = this.uint8()", '"0xD"', "13"),
    (_int_example("uint16"), _INTS, _UNSIGNED),
    ("root = this.uint16()", '"0xDE"', "222"),
    (_int_example("uint32"), _INTS, _UNSIGNED),
    ("root = this.uint32()", '"0xDEAD"', "57005"),
    (_int_example("uint64"), _INTS, _UNSIGNED),
    ("root = this.uint64()", '"0xDEADBEEF"', "3735928559"),
    ("root.new_value = this.value.log().round()", '{"value":1}', '{"new_value":0}'),
    ("root.new_value = this.value.log().round()", '{"value":2.7183}', '{"new_value":1}'),
    ("root.ln_result = this.number.log()", '{"number":10}', '{"ln_result":2.302585092994046}'),
    ("root.new_value = this.value.log10()", '{"value":100}', '{"new_value":2}'),
    ("root.new_value = this.value.log10()", '{"value":1000}', '{"new_value":3}'),
    ("root.log_value = this.magnitude.log10()", '{"magnitude":10000}', '{"log_value":4}'),
    ("root.biggest = this.values.max()", '{"values":[0,3,2.5,7,5]}', '{"biggest":7}'),
    ("root.highest_temp = this.temperatures.max()", '{"temperatures":[20.5,22.1,19.8,23.4]}',
     '{"highest_temp":23.4}'),
    ("root.smallest = this.values.min()", '{"values":[0,3,-2.5,7,5]}', '{"smallest":-2.5}'),
    ("root.lowest_temp = this.temperatures.min()", '{"temperatures":[20.5,22.1,19.8,23.4]}',
     '{"lowest_temp":19.8}'),
    ("root.new_value = this.value * 10.pow(-2)", '{"value":2}', '{"new_value":0.02}'),
    ("root.new_value = this.value.pow(-2)", '{"value":2}', '{"new_value":0.25}'),
    ("root.new_value = this.value.round()", '{"value":5.3}', '{"new_value":5}'),
    ("root.new_value = this.value.round()", '{"value":5.9}', '{"new_value":6}'),
    ("root.rounded = this.score.round()", '{"score":87.5}', '{"rounded":88}'),
    ("root.new_value = (this.value * (pi() / 180)).sin()", '{"value":45}',
     '{"new_value":0.7071067811865475}'),
    ("root.new_value = (this.value * (pi() / 180)).sin()", '{"value":0}', '{"new_value":0}'),
    ("root.new_value = (this.value * (pi() / 180)).sin()", '{"value":90}', '{"new_value":1}'),
    ('root.new_value = "%f".format((this.value * (pi() / 180)).tan())', '{"value":0}',
     '{"new_value":"0.000000"}'),
    ('root.new_value = "%f".format((this.value * (pi() / 180)).tan())', '{"value":45}',
     '{"new_value":"1.000000"}'),
    ('root.new_value = "%f".format((this.value * (pi() / 180)).tan())', '{"value":180}',
     '{"new_value":"-0.000000"}'),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "given", "expected"), EXAMPLES)
def test_documented_example(
    doc_example: Callable[[str, str, str], None], mapping: str, given: str, expected: str
) -> None:
    doc_example(mapping, given, expected)


def test_float32_is_written_with_float32_precision(run_doc: Callable[[str, str], str]) -> None:
    out = run_doc("root.out = this.in.float32()", '{"in":"6.674282313423543523453425345e-11"}')
    assert out == '{"out":6.674283e-11}'


def test_every_reference_method_is_registered() -> None:
    missing = [name for name in REFERENCE_METHODS if name not in registry.methods]
    assert missing == []


@pytest.mark.parametrize(
    ("mapping", "value", "message"),
    [
        ("root = this.int8()", 12.34, "contains decimals"),
        ("root = this.uint8()", -12, "negative"),
        ("root = this.int8()", 300, "too large"),
        ("root = this.max()", [], "empty"),
        ("root = this.ceil()", "5", "expected number value, got string"),
    ],
)
def test_documented_errors(mapping: str, value: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse(mapping).query(value)
