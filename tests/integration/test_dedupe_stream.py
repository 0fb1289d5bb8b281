"""A YAML stream with a cache resource and `dedupe`: resent readings are written once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamforge.config.loader import load_stream
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams

# Readings 1..6 of one boiler tag; a flaky link resends some of them: within a batch (2),
# across batches (3, 4) and much later (1). Four per batch.
STREAM = """
input:
  label: plc
  generate:
    count: 10
    interval: ""
    batch_size: 4
    mapping: |
      let r = [1, 2, 2, 3, 4, 5, 3, 4, 6, 1].index(counter() - 1)
      root = 20 + $r
      meta modbus_tag_name = "temp"
      meta modbus_tag_slaveid = 1
      meta modbus_read_time = "2024-05-01T10:00:0%d.5Z".format($r)

pipeline:
  processors:
    - telemetry:
        asset_id: boiler-${! @modbus_tag_slaveid }
        unit: degC
        device_time: '@modbus_read_time'
    - label: once
      dedupe:
        cache: seen_readings
        key: ${! json("asset_id") }-${! json("parameter") }-${! json("timestamps.device_time") }
        action: ACTION

output:
  switch:
    cases:
      - check: '@dedupe_duplicate == true'
        output:
          file: {path: "OUT/duplicates.jsonl", codec: lines}
      - output:
          file: {path: "OUT/readings.jsonl", codec: lines}

cache_resources:
  - label: seen_readings
    memory:
      default_ttl: 10m
      cap: 10000
"""


def run(tmp_path: Path, action: str) -> int:
    load_builtins()
    config = tmp_path / "boiler.yaml"
    text = STREAM.replace("OUT", str(tmp_path / "out")).replace("ACTION", action)
    config.write_text(text)
    return run_streams([load_stream(config)], RunOptions(http=False, configure_logging=False))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_each_reading_is_written_once(tmp_path: Path) -> None:
    assert run(tmp_path, "drop") == 0
    written = lines(tmp_path / "out" / "readings.jsonl")
    assert [d["value"] for d in written] == [21, 22, 23, 24, 25, 26]
    assert [d["timestamps"]["device_time"] for d in written] == [
        f"2024-05-01T10:00:0{r}.5Z" for r in range(1, 7)
    ]
    assert not (tmp_path / "out" / "duplicates.jsonl").exists()


def test_flagged_duplicates_can_be_routed_to_their_own_file(tmp_path: Path) -> None:
    assert run(tmp_path, "flag") == 0
    assert [d["value"] for d in lines(tmp_path / "out" / "readings.jsonl")] == [
        21, 22, 23, 24, 25, 26,
    ]  # fmt: skip
    assert [d["value"] for d in lines(tmp_path / "out" / "duplicates.jsonl")] == [22, 23, 24, 21]
