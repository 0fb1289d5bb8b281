"""A YAML stream through the real runtime: generated modbus-like readings -> telemetry -> files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streamforge.config.loader import load_stream
from streamforge.config.model import ConfigError
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams

STREAM = """
input:
  label: plc
  generate:
    count: 8
    interval: ""
    batch_size: 4
    mapping: |
      let n = counter()
      root = if $n % 4 == 0 { null } else { 20 + $n }
      meta modbus_tag_name = "temp_" + ($n % 2).string()
      meta modbus_tag_slaveid = ($n % 2) + 1
      meta modbus_read_time = now().format_timestamp()
      meta modbus_error = if $n % 4 == 0 { "illegal data address 4000" }
      meta seq = $n

pipeline:
  processors:
    - label: to_envelope
      telemetry:
        asset_id: boiler-${! @modbus_tag_slaveid }
        unit: degC
        device_time: '@modbus_read_time'
        classification: '${! if (this | 0) > 26 { "ALARM" } }'
        metadata:
          include_prefixes: [ modbus_ ]
          include_patterns: [ "^seq$" ]

output:
  file:
    path: "OUT/${! @asset_id }.jsonl"
    codec: lines
"""


def run(tmp_path: Path, text: str, name: str = "plant_line_1") -> int:
    load_builtins()
    config = tmp_path / f"{name}.yaml"
    config.write_text(text.replace("OUT", str(tmp_path / "out")))
    stream = load_stream(config)
    return run_streams([stream], RunOptions(http=False, configure_logging=False))


def envelopes(path: Path) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(docs, key=lambda d: d["metadata"]["seq"])


def test_stream_writes_one_envelope_file_per_asset(tmp_path: Path) -> None:
    assert run(tmp_path, STREAM) == 0

    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["boiler-1.jsonl", "boiler-2.jsonl"]
    odd = envelopes(tmp_path / "out" / "boiler-2.jsonl")
    even = envelopes(tmp_path / "out" / "boiler-1.jsonl")
    assert [d["value"] for d in odd] == [21, 23, 25, 27]
    assert [d["value"] for d in even] == [22, None, 26, None]

    for doc in odd + even:
        assert doc["parameter"] == ("temp_1" if doc in odd else "temp_0")
        assert doc["unit"] == "degC"
        assert doc["metadata"]["adapter_id"] == "plant_line_1"
        assert doc["timestamps"]["device_time"].endswith("Z")
        assert abs(doc["clock_skew_ms"]) < 10_000
    assert [d["classification"] for d in odd] == ["TELEMETRY"] * 3 + ["ALARM"]
    assert [d["quality"] for d in even] == ["GOOD", "BAD", "GOOD", "BAD"]
    assert even[1]["metadata"]["quality_reasons"] == ["modbus: illegal data address 4000"]
    assert even[1]["metadata"]["modbus_error"] == "illegal data address 4000"
    assert set(odd[0]["metadata"]) == {
        "adapter_id", "modbus_tag_name", "modbus_tag_slaveid", "modbus_read_time", "seq",
    }  # fmt: skip


def test_fixed_classification_outside_the_set_stops_the_stream_naming_the_place(
    tmp_path: Path,
) -> None:
    bad = STREAM.replace("""'${! if (this | 0) > 26 { "ALARM" } }'""", "WARNING")
    with pytest.raises(ConfigError) as info:
        run(tmp_path, bad)
    text = str(info.value)
    assert "plant_line_1.yaml:24:25: " in text
    assert 'classification: "WARNING" is not one of TELEMETRY, EVENT, ALARM' in text
    assert not (tmp_path / "out").exists()
