"""benthos-umh `modbus` fields without a device: optimization plans, workarounds,
unifiedAddresses parsing, STRING byte locations and what lint reports."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamforge.config import lint_paths, load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.inputs.modbus.decode import make_decoder
from streamforge.inputs.modbus.modbus import ModbusInput
from streamforge.inputs.modbus.plan import plan
from streamforge.inputs.modbus.tags import parse_tags
from streamforge.inputs.modbus.unified import parse_unified, parse_unified_addresses
from streamforge.plugin import load_builtins, registry

load_builtins()


def tags(*addresses: int, register: str = "holding", kind: str = "INT16") -> list[Any]:
    return parse_tags(
        [{"name": f"t{a}", "register": register, "address": a, "type": kind} for a in addresses]
    )


def spans(requests: list[Any]) -> list[tuple[str, int, int]]:
    return [(r.register, r.address, r.count) for r in requests]


def test_fields_have_benthos_umh_names_and_defaults() -> None:
    spec = registry.get("input", "modbus")
    assert spec is not None
    fields = {f.name: f for f in spec.fields}
    assert fields["optimization"].default == "none"
    assert fields["optimizationMaxRegisterFill"].default == 50
    assert fields["unifiedAddresses"].default == []
    work = {f.name: f.default for f in fields["workarounds"].fields}
    assert work == {
        "pauseAfterConnect": "0s", "oneRequestPerField": False, "readCoilsStartingAtZero": False,
        "timeBetweenRequests": "0s", "stringRegisterLocation": "",
    }  # fmt: skip


def test_plans_of_each_optimization() -> None:
    t = tags(0, 1, 5, 20, 21)
    assert spans(plan(t)) == [("holding", 0, 2), ("holding", 5, 1), ("holding", 20, 2)]
    assert spans(plan(t, "shrink")) == spans(plan(t))
    assert spans(plan(t, "max_insert", max_fill=3)) == [("holding", 0, 6), ("holding", 20, 2)]
    assert spans(plan(t, "max_insert", max_fill=14)) == [("holding", 0, 22)]
    assert spans(plan(t, "max_insert", max_fill=0)) == spans(plan(t))
    assert spans(plan(t, "rearrange")) == [("holding", 0, 22)]
    assert spans(plan(t, one_per_field=True)) == [("holding", a, 1) for a in (0, 1, 5, 20, 21)]
    with pytest.raises(ValueError, match="not one of none, max_insert"):
        plan(t, "fastest")


def test_rearrange_keeps_the_fewest_reads_then_the_fewest_registers() -> None:
    t = tags(0, 1, 100, 124, 130, 240)
    assert spans(plan(t, "rearrange")) == [("holding", 0, 101), ("holding", 124, 117)]
    assert spans(plan(t, "aggressive")) == spans(plan(t, "rearrange"))
    # never more reads than greedy filling, and never longer than 125 registers
    many = tags(*range(0, 600, 7), kind="INT32")
    greedy = plan(many, "max_insert", max_fill=125)
    best = plan(many, "rearrange")
    assert len(best) <= len(greedy)
    assert all(r.count <= 125 for r in best)
    assert sum(r.count for r in best) <= sum(r.count for r in greedy)
    assert sorted(t.name for r in best for t in r.tags) == sorted(t.name for t in many)


def test_register_kinds_are_planned_apart_and_coils_start_at_zero() -> None:
    mixed = tags(8, 9, 30, register="coil", kind="BIT") + tags(3, 4)
    assert spans(plan(mixed, coils_from_zero=True)) == [
        ("coil", 0, 10), ("coil", 30, 1), ("holding", 3, 2),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="readCoilsStartingAtZero"):
        plan(tags(2500, register="coil", kind="BIT"), coils_from_zero=True)


def test_unified_addresses_become_address_entries() -> None:
    assert parse_unified("temperature.holding.100.INT16") == {
        "name": "temperature", "register": "holding", "address": 100, "type": "INT16",
    }  # fmt: skip
    assert parse_unified("p.holding.300.float32:scale=0.1:output=FLOAT64:slave=2") == {
        "name": "p", "register": "holding", "address": 300, "type": "FLOAT32", "scale": 0.1,
        "output": "FLOAT", "slaveID": 2,
    }  # fmt: skip
    assert parse_unified("s.holding.200.STRING:length=10")["length"] == 10
    assert parse_unified("f.discrete.1.BIT:slaveID=0") == {
        "name": "f", "register": "discrete", "address": 1, "type": "BIT",
    }  # fmt: skip
    [tag] = parse_unified_addresses(["flag.holding.7.BIT:bit=3"])
    assert (tag.name, tag.register, tag.address, tag.type, tag.bit) == (
        "flag", "holding", 7, "BIT", 3,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a.b.holding.1.INT16", "4 dot-separated parts"),
        ("temp.holding.x.INT16", "address='x' is not an integer"),
        ("temp.holding.1.INT16:scale", "option 'scale' is not key=value"),
        ("temp.holding.1.INT16:color=red", "unknown option 'color'"),
        ("temp.holding.1.INT16:output=UINT16", "UINT16 is not supported"),
        ("temp.holding.1.INT8L", "type 'INT8L' is not one of"),
        ("temp.holding.1.FLOAT16", "type 'FLOAT16' is not one of"),
        ("temp.coil.1.INT16", "INT16 cannot be read from a coil"),
        ("s.holding.1.STRING", "STRING needs length"),
    ],
)
def test_unified_address_refusals(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("(", r"\(")):
        parse_unified_addresses(["ok.holding.0.INT16", text])


def test_unified_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unifiedAddresses\[1\] \(a\): duplicate tag name"):
        parse_unified_addresses(["a.holding.0.INT16", "a.holding.1.INT16"])


def test_string_register_location_decodes_one_byte_per_register() -> None:
    [tag] = parse_tags([{"name": "s", "address": 0, "type": "STRING", "length": 3}])
    words = [0x0041, 0x0042, 0x4300]
    assert make_decoder(tag, "ABCD", "lower")(words) == "AB"  # the last lower byte is NUL
    assert make_decoder(tag, "ABCD", "upper")(words) == "\x00\x00C"
    assert make_decoder(tag, "BADC", "upper")(words) == "AB"  # bytes swapped first
    assert make_decoder(tag, "ABCD")(words) == "\x00A\x00BC"


def build(**conf: Any) -> ModbusInput:
    return ModbusInput({"controller": "tcp://127.0.0.1:5020", **conf})


def test_input_settings_and_refusals() -> None:
    inp = build(
        unifiedAddresses=["a.holding.0.INT16"], optimization="max_insert",
        optimizationMaxRegisterFill=4,
        workarounds={"pauseAfterConnect": "250ms", "oneRequestPerField": True,
                     "readCoilsStartingAtZero": True, "timeBetweenRequests": "20ms",
                     "stringRegisterLocation": "upper"},
    )  # fmt: skip
    [(settings, [tag])] = inp.devices.values()
    assert (settings.optimization, settings.max_fill) == ("max_insert", 4)
    assert settings.pause_after_connect == 0.25 and settings.between_requests == 0.02
    assert settings.one_per_field and settings.coils_from_zero
    assert settings.string_location == "upper" and tag.name == "a"
    with pytest.raises(ValueError, match="use it or addresses, not both"):
        build(unifiedAddresses=["a.holding.0.INT16"], addresses=[{"name": "b", "address": 1}])
    with pytest.raises(ValueError, match="at least one tag is required"):
        build()
    with pytest.raises(ValueError, match="not one of lower, upper"):
        build(addresses=[{"name": "b", "address": 1}], workarounds={"stringRegisterLocation": "x"})


def lint(tmp_path: Path, modbus: str) -> list[str]:
    where = tmp_path / str(len(list(tmp_path.iterdir())))
    where.mkdir()
    path = where / "s.yaml"
    body = textwrap.indent(textwrap.dedent(modbus).strip(), " " * 4)
    path.write_text(f"input:\n  modbus:\n{body}\noutput:\n  drop: {{}}\n")
    problems = [str(p) for p in lint_paths([str(path)])]
    if not problems:
        problems = [str(p) for p in build_problems(load_stream(path))]
    return [p.replace(str(where) + "/", "") for p in problems]


def test_lint_reports_bad_values_at_their_place(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        """
        controller: tcp://127.0.0.1:5020
        optimization: fastest
        optimizationMaxRegisterFill: -1
        workarounds:
          stringRegisterLocation: middle
          pauseAfterConnect: soon
        unifiedAddresses:
          - temp.holding.1.INT16:color=red
        """,
    )
    assert len(problems) == 5, problems
    for line, word in ((4, "optimization"), (5, "optimizationMaxRegisterFill"),
                       (7, "stringRegisterLocation"), (8, "pauseAfterConnect"),
                       (10, "unknown option 'color'")):  # fmt: skip
        assert any(p.startswith(f"s.yaml:{line}:") and word in p for p in problems), problems
    problems = lint(
        tmp_path,
        """
        controller: tcp://127.0.0.1:5020
        unifiedAddresses: [ a.holding.0.INT16 ]
        addresses: [ { name: b, address: 1 } ]
        """,
    )
    assert len(problems) == 1 and "use it or addresses, not both" in problems[0], problems


def test_benthos_umh_shaped_configs_lint(tmp_path: Path) -> None:
    configs = [
        """
        controller: 'tcp://localhost:502'
        transmissionMode: 'TCP'
        slaveIDs: [ 1 ]
        timeout: '1s'
        busyRetries: 3
        busyRetriesWait: '200ms'
        timeBetweenReads: '1s'
        optimization: 'max_insert'
        optimizationMaxRegisterFill: 10
        byteOrder: 'ABCD'
        workarounds:
          pauseAfterConnect: '500ms'
          oneRequestPerField: true
          readCoilsStartingAtZero: true
          timeBetweenRequests: '100ms'
          stringRegisterLocation: 'upper'
        addresses:
          - { name: firstFlagOfDiscreteInput, register: discrete, address: 1, type: BIT,
              output: BOOL }
          - { name: zeroElementOfInputRegister, register: input, address: 0, type: UINT16 }
        """,
        """
        controller: 'tcp://localhost:502'
        slaveIDs: [ 1 ]
        unifiedAddresses:
          - "temperature.holding.100.INT16"
          - "motor_status.holding.1.BIT:bit=3"
          - "serial_number.holding.200.STRING:length=10"
          - "pressure.holding.300.FLOAT32:scale=0.1:output=FLOAT64:slave=1"
        """,
    ]
    for conf in configs:
        assert lint(tmp_path, conf) == [], conf
