"""A JavaScript block that runs out of memory fails its message, never the stream: the engine
recovers a fresh context each time and the other messages go on."""

from __future__ import annotations

from pathlib import Path

import pytest
from peers.stream_run import out_lines, run_to_end, write

pytest.importorskip("quickjs")


def test_a_stream_outlives_a_block_that_runs_out_of_memory_again_and_again(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.txt"
    config = write(
        tmp_path / "hog.yaml",
        f"""
        input:
          generate:
            count: 120
            interval: ""
            mapping: 'root = {{"n": count("hog"), "hog": count("hog_flag") % 2 == 1}}'
        pipeline:
          processors:
            - nodered_js:
                memory_limit_mb: 16
                timeout: 5s
                code: |
                  if (msg.payload.hog) {{
                    var held = [];
                    while (true) {{ held.push('x'.repeat(1000)); }}
                  }}
                  return msg;
            - catch:
                - log:
                    level: DEBUG
                    message: '${{! error() }}'
                - mapping: root = deleted()
        output:
          file:
            path: {out}
            codec: lines
        http: {{ enabled: false }}
        """,
    )
    done = run_to_end(config, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    kept = out_lines(out)
    assert len(kept) == 60
    assert all('"hog":false' in line for line in kept)
