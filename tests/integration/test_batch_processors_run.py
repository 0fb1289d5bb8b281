"""`streamforge run`, end to end: a file is unarchived, split, grouped, archived, compressed,
enriched by a workflow and written back out; every message arrives once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_stream_of_batch_processors_runs_from_file_to_file(tmp_path: Path) -> None:
    source = tmp_path / "readings.jsonl"
    lines = [json.dumps({"id": i, "line": "press" if i % 3 else "oven"}) for i in range(40)]
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    config = tmp_path / "batches.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            http: {{ enabled: false }}
            input:
              file:
                paths: [ "{source}" ]
                codec: all-bytes
            pipeline:
              processors:
                - unarchive: {{ format: lines }}
                - split: {{ size: 8 }}
                - group_by_value:
                    value: '${{! json("line") }}'
                - archive: {{ format: json_array }}
                - mapping: 'meta group_size = this.length().string()'
                - compress: {{ algorithm: zstd }}
                - branch:
                    processors:
                      - decompress: {{ algorithm: zstd }}
                      - archive: {{ format: tar, path: 'batch.json' }}
                      - log: {{ message: 'archived ${{! content().length() }} bytes' }}
                - decompress: {{ algorithm: zstd }}
                - unarchive: {{ format: json_array }}
                - for_each:
                    - mutation: 'root.alone = batch_size() == 1'
                - workflow:
                    meta_path: meta.workflow
                    branches:
                      double:
                        request_map: 'root = this.id'
                        processors: [ {{ mapping: 'root = this * 2' }} ]
                        result_map: 'root.double = this'
                      label:
                        request_map: 'root = {{"d": this.double, "l": this.line}}'
                        processors: [ {{ mapping: 'root = "%s-%d".format(this.l, this.d)' }} ]
                        result_map: 'root.label = content().string()'
                - mutation: 'root.group_size = meta("group_size").number()'
            output:
              file: {{ path: "{out}" }}
            """
        )
    )
    env = {**os.environ, "HTTP_ADDRESS": "127.0.0.1:0"}
    run = subprocess.run(
        [sys.executable, "-m", "streamforge", "run", str(config)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(docs) == 40
    assert sorted(d["id"] for d in docs) == list(range(40))
    for d in docs:
        assert d["double"] == d["id"] * 2
        assert d["label"] == f"{d['line']}-{d['id'] * 2}"
        assert d["alone"] is True
        assert d["meta"]["workflow"] == {"succeeded": ["double", "label"]}
    # each batch of 8 readings was archived per line: the size of a reading's group
    for d in docs:
        first = d["id"] // 8 * 8
        peers = [i for i in range(first, first + 8) if (i % 3 == 0) == (d["id"] % 3 == 0)]
        assert d["group_size"] == len(peers), d
    assert "1 read, 40 written" in run.stderr + run.stdout, run.stderr
