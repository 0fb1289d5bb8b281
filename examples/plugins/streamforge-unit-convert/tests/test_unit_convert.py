"""The unit_convert plugin, loaded by file path as a stream's `plugins:` entry would load it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from streamforge.plugin import Message, Processor, load_plugins, registry
from streamforge.plugin.testing import PluginTestContext

PLUGIN_DIR = Path(__file__).resolve().parents[1]
PLUGIN_FILE = PLUGIN_DIR / "streamforge_unit_convert.py"
EXAMPLE_STREAM = PLUGIN_DIR.parent / "unit_convert_stream.yaml"


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    load_plugins([str(PLUGIN_FILE)])
    spec = registry.get("processor", "unit_convert")
    assert spec is not None, "loading the plugin file registers unit_convert"
    return sys.modules[spec.factory.__module__]


def build(conf: dict[str, Any]) -> Processor:
    spec = registry.get("processor", "unit_convert")
    assert spec is not None
    full = {f.name: f.default for f in spec.fields if not f.required}
    full.update(conf)
    ctx = PluginTestContext(label="unit_convert", type_name="unit_convert")
    proc: Processor = spec.factory(full, ctx)
    return proc


def run(proc: Processor, *docs: Any) -> list[Message]:
    return proc.process_batch([Message(json.dumps(d)) for d in docs])


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (100.0, "celsius", "fahrenheit", 212.0),
        (-40.0, "celsius", "fahrenheit", -40.0),
        (32.0, "fahrenheit", "kelvin", 273.15),
        (0.0, "kelvin", "celsius", -273.15),
        (1.0, "bar", "psi", 14.503773773),
        (14.503773773, "psi", "bar", 1.0),
        (2.5, "bar", "kPa", 250.0),
        (101.325, "kPa", "mbar", 1013.25),
    ],
)
def test_converts_between_units(
    plugin: ModuleType, value: float, src: str, dst: str, expected: float
) -> None:
    proc = build({"from": src, "to": dst, "unit_field": ""})
    [out] = run(proc, {"value": value, "asset": "pump-1"})
    assert out.error is None
    assert out.value["value"] == pytest.approx(expected, abs=1e-6)
    assert out.value["asset"] == "pump-1"


def test_results_are_rounded_to_precision(plugin: ModuleType) -> None:
    [rounded] = run(build({"from": "celsius", "to": "fahrenheit"}), {"value": 100, "unit": "C"})
    assert rounded.value["value"] == 212.0
    [full] = run(build({"from": "bar", "to": "psi", "precision": -1}), {"value": 1.0})
    assert full.value["value"] == pytest.approx(14.503773773, abs=1e-9)
    [two] = run(build({"from": "bar", "to": "psi", "precision": 2}), {"value": 1.0})
    assert two.value["value"] == 14.5


def test_nested_field_and_unit_written_back(plugin: ModuleType) -> None:
    proc = build({"field": "data.p", "unit_field": "data.unit", "to": "kPa"})
    [out] = run(proc, {"data": {"p": 1.2, "unit": "bar"}})
    assert out.error is None
    assert out.value == {"data": {"p": pytest.approx(120.0), "unit": "kPa"}}


def test_unknown_unit_in_message_flags_only_that_message(plugin: ModuleType) -> None:
    proc = build({"to": "celsius"})
    good, bad = run(proc, {"value": 50.0, "unit": "F"}, {"value": 3.0, "unit": "furlong"})
    assert good.error is None
    assert good.value == {"value": pytest.approx(10.0), "unit": "celsius"}
    assert bad.error is not None and "furlong" in bad.error
    assert bad.value == {"value": 3.0, "unit": "furlong"}


def test_non_numeric_and_missing_fields_are_flagged(plugin: ModuleType) -> None:
    proc = build({"from": "bar", "to": "psi", "unit_field": ""})
    text, missing = run(proc, {"value": "high"}, {"other": 1})
    assert text.error is not None and "not a number" in text.error
    assert missing.error is not None and "not found" in missing.error


def test_converting_across_dimensions_is_flagged(plugin: ModuleType) -> None:
    proc = build({"to": "psi"})
    [out] = run(proc, {"value": 20.0, "unit": "celsius"})
    assert out.error is not None and "cannot convert temperature" in out.error


def test_unknown_configured_unit_is_a_build_error(plugin: ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown unit 'parsec'"):
        build({"from": "parsec", "to": "bar"})
    with pytest.raises(ValueError, match="cannot convert"):
        build({"from": "bar", "to": "kelvin"})


def test_spec_documents_fields(plugin: ModuleType) -> None:
    spec = registry.get("processor", "unit_convert")
    assert spec is not None
    names = [f.name for f in spec.fields]
    assert names == ["field", "from", "to", "precision", "unit_field"]
    to = spec.config.child("to")
    assert to is not None and to.required


def test_example_stream_inline_tests_pass(plugin: ModuleType) -> None:
    from streamforge.commands.test import run_tests

    lines: list[str] = []
    assert run_tests([str(EXAMPLE_STREAM)], lines.append) == (2, 0), "\n".join(lines)


def test_example_stream_runs_with_the_plugin_loaded_from_plugins() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streamforge", "run", str(EXAMPLE_STREAM)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(docs) == 6
    units = {d["parameter"]: d["unit"] for d in docs}
    assert units == {"temperature": "fahrenheit", "pressure": "psi"}
    first_temp = next(d for d in docs if d["parameter"] == "temperature")
    assert first_temp["value"] == pytest.approx((60 + 2) * 9 / 5 + 32)
