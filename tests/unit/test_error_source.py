"""error_source_label/name/path(): the processor that failed a message, as Benthos reports it."""

from __future__ import annotations

import json
from pathlib import Path

from bytewax.testing import run_main

from streamforge.config.loader import load_stream
from streamforge.engine.dataflow import compile_streams

CONFIG = """\
http: { enabled: false }
input:
  generate: { count: 3, interval: "", mapping: 'root = {"n": counter()}' }
pipeline:
  processors:
    - mapping: 'root = this'
    - label: odd_ones
      mapping: 'root = if this.n % 2 == 1 { throw("odd") } else { this }'
    - mapping: 'root = if this.n == 2 { throw("two") } else { this }'
    - catch:
        - mapping: |
            root.n = this.n
            root.source = [error_source_label(), error_source_name(), error_source_path()]
    - mutation: 'root.after_catch = error_source_label()'
output:
  file: { path: "OUT" }
"""


def test_the_failing_processor_is_named_until_catch_clears_the_error(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = tmp_path / "stream.yaml"
    config.write_text(CONFIG.replace("OUT", str(out)))
    compiled = compile_streams([load_stream(config)])
    try:
        run_main(compiled.flow)
    finally:
        compiled.close()
    rows = {row["n"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows[1]["source"] == ["odd_ones", "mapping", "root.pipeline.processors.1"]
    assert rows[2]["source"] == ["", "mapping", "root.pipeline.processors.2"]
    assert rows[3]["source"] == ["odd_ones", "mapping", "root.pipeline.processors.1"]
    assert all(row["after_catch"] is None for row in rows.values())
