"""`modbus` input configuration: tag parsing, lint at file:line:col, build errors, partitions."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamforge.config import ConfigError, lint_paths, load_stream
from streamforge.engine.instantiate import BuildError, StreamBuilder
from streamforge.inputs.modbus.modbus import ModbusInput
from streamforge.inputs.modbus.tags import parse_controller, parse_slave_ids, parse_tags
from streamforge.plugin import registry


def tags(*entries: dict[str, Any]) -> list[Any]:
    return parse_tags(list(entries))


def error(*entries: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as info:
        parse_tags(list(entries))
    return str(info.value)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_spec_uses_benthos_umh_field_names() -> None:
    spec = registry.get("input", "modbus")
    assert spec is not None
    names = {f.name for f in spec.fields}
    assert {
        "controller", "transmissionMode", "slaveIDs", "timeout", "busyRetries",
        "busyRetriesWait", "timeBetweenReads", "byteOrder", "addresses",
    } <= names  # fmt: skip
    addresses = next(f for f in spec.fields if f.name == "addresses")
    assert addresses.item is not None
    assert {f.name for f in addresses.item.fields} == {
        "name", "register", "address", "type", "length", "scale", "output", "slaveID", "bit",
    }  # fmt: skip
    assert "modbus_exception_code" in spec.description
    assert "modbus_tag_slaveid" in spec.description


def test_defaults_follow_the_register_kind() -> None:
    coil, reg, f64, text = tags(
        {"name": "run", "register": "coil", "address": 3},
        {"name": "speed", "address": 10},
        {"name": "energy", "register": "input", "address": 20, "type": "FLOAT64"},
        {"name": "serial", "address": 30, "type": "STRING", "length": 5},
    )
    assert (coil.type, coil.output, coil.length) == ("BIT", "BOOL", 1)
    assert (reg.register, reg.type, reg.output, reg.length) == ("holding", "INT16", "INT", 1)
    assert (f64.length, f64.output) == (4, "FLOAT")
    assert (text.length, text.output) == (5, "STRING")


def test_a_bit_on_a_discrete_input_is_accepted_and_reads_its_address() -> None:
    """benthos-umh configs write `motor.discrete.1.BIT:bit=3`: the address is the bit."""
    (motor,) = tags(
        {"name": "motor", "register": "discrete", "address": 1, "type": "BIT", "bit": 3}
    )
    assert (motor.register, motor.address, motor.bit, motor.output) == ("discrete", 1, 0, "BOOL")


def test_scale_makes_numbers_float_unless_output_says_otherwise() -> None:
    scaled, as_int = tags(
        {"name": "a", "address": 0, "scale": 0.1},
        {"name": "b", "address": 1, "scale": 0.1, "output": "INT"},
    )
    assert (scaled.output, as_int.output) == ("FLOAT", "INT")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "temp", "register": "coil", "address": 0, "type": "FLOAT32"},
            "addresses[1] (temp): FLOAT32 cannot be read from a coil: use type BIT",
        ),
        (
            {"name": "boiler_temp", "address": 0, "type": "INT32", "length": 1},
            "addresses[1] (boiler_temp): INT32 needs length 2 (registers), got 1",
        ),
        (
            {"name": "serial", "address": 0, "type": "STRING"},
            "addresses[1] (serial): STRING needs length",
        ),
        (
            {"name": "serial", "address": 0, "type": "STRING", "length": 200},
            "addresses[1] (serial): STRING length 200 exceeds 125 registers",
        ),
        (
            {"name": "far", "address": 70000},
            "addresses[1] (far): address 70000 is outside 0..65535",
        ),
        (
            {"name": "neg", "address": -1},
            "addresses[1] (neg): address -1 is outside 0..65535",
        ),
        (
            {"name": "edge", "address": 65535, "type": "FLOAT32"},
            "addresses[1] (edge): address 65535 + length 2 runs past 65535",
        ),
        (
            {"name": "flag", "address": 0, "type": "INT16", "bit": 3},
            "addresses[1] (flag): bit applies to type BIT",
        ),
        (
            {"name": "flag", "address": 0, "type": "BIT", "bit": 16},
            "addresses[1] (flag): bit 16 is outside 0..15",
        ),
        (
            {"name": "label", "address": 0, "type": "STRING", "length": 2, "output": "INT"},
            "addresses[1] (label): a STRING cannot be output as INT",
        ),
        (
            {"name": "x", "address": 0, "type": "DOUBLE"},
            "addresses[1] (x): type 'DOUBLE' is not one of BIT, INT16",
        ),
        (
            {"name": "x", "address": 0, "register": "holdings"},
            "addresses[1] (x): register 'holdings' is not one of coil, discrete",
        ),
        ({"name": "x"}, "addresses[1] (x): address is required"),
        ({"address": 4}, "addresses[1]: name is required"),
        (
            {"name": "ok", "address": 1},
            "addresses[1] (ok): duplicate tag name, first used by addresses[0]",
        ),
    ],
)
def test_bad_tags_are_named_with_their_index(entry: dict[str, Any], message: str) -> None:
    assert error({"name": "ok", "address": 0}, entry).startswith(message)


def test_same_name_on_different_slaves_is_allowed() -> None:
    a, b = tags(
        {"name": "temp", "address": 0, "slaveID": 1},
        {"name": "temp", "address": 0, "slaveID": 2},
    )
    assert (a.slave_id, b.slave_id) == (1, 2)


def test_controller_and_slave_ids() -> None:
    assert parse_controller("tcp://10.0.0.5:5020") == ("10.0.0.5", 5020)
    assert parse_controller("tcp://plc.local") == ("plc.local", 502)
    assert parse_controller("127.0.0.1:1502") == ("127.0.0.1", 1502)
    with pytest.raises(ValueError, match="only tcp:// is supported"):
        parse_controller("udp://10.0.0.5:502")
    assert parse_slave_ids([1, 2, 2, 3]) == [1, 2, 3]
    with pytest.raises(ValueError, match="300"):
        parse_slave_ids([1, 300])


def test_each_slave_is_a_partition() -> None:
    inp = ModbusInput(
        {
            "controller": "tcp://127.0.0.1:5020",
            "slaveIDs": [1, 2],
            "addresses": [
                {"name": "temp", "address": 0},
                {"name": "valve", "address": 5, "slaveID": 7},
            ],
        }
    )
    assert inp.partitions() == [
        "tcp://127.0.0.1:5020/slave/1",
        "tcp://127.0.0.1:5020/slave/2",
        "tcp://127.0.0.1:5020/slave/7",
    ]
    assert [t.name for t in inp.devices["tcp://127.0.0.1:5020/slave/7"][1]] == ["valve"]


def test_a_tag_listed_twice_on_one_slave_is_refused() -> None:
    with pytest.raises(ValueError, match=r"addresses\[1\] \(temp\): duplicate tag name on slave 1"):
        ModbusInput(
            {
                "slaveIDs": [1],
                "addresses": [
                    {"name": "temp", "address": 0},
                    {"name": "temp", "address": 4, "slaveID": 1},
                ],
            }
        )


BAD_TAG = """
input:
  modbus:
    controller: tcp://127.0.0.1:5020
    addresses:
      - name: flow
        register: input
        address: 0
      - name: boiler_temp
        register: holding
        address: 4
        type: INT32
        length: 1
output:
  drop: {}
"""


def test_lint_reports_a_bad_tag_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_TAG)
    problems = [str(p) for p in lint_paths([str(path)])]
    assert problems == [
        f"{path}:8:9: field addresses.1: boiler_temp: INT32 needs length 2 (registers), got 1"
    ]


def test_lint_reports_duplicate_tag_names(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_TAG.replace("length: 1", "length: 2").replace("boiler_temp", "flow"))
    problems = [str(p) for p in lint_paths([str(path)])]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:5:")
    assert "addresses[1] (flow): duplicate tag name, first used by addresses[0]" in problems[0]


def test_loading_and_building_a_bad_tag_names_file_line_and_tag(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_TAG)
    with pytest.raises((ConfigError, BuildError)) as info:
        stream = load_stream(path)
        StreamBuilder(stream).build_input(stream.input)
    text = str(info.value)
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", text), text
    assert "boiler_temp" in text and "INT32 needs length 2 (registers), got 1" in text
