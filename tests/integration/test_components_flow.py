"""Built-in components in whole runs: file input -> processors -> routing outputs."""

from __future__ import annotations

import json
from pathlib import Path

from streamforge.config.loader import load_stream
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams


def run(tmp_path: Path, yaml_text: str, workers: int = 1) -> int:
    load_builtins()
    config = tmp_path / "stream.yaml"
    config.write_text(yaml_text)
    stream = load_stream(config)
    return run_streams([stream], RunOptions(workers=workers, http=False, configure_logging=False))


def lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_files_through_switch_and_dead_letter_queue(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl").write_text('{"id": 1, "v": 10}\n{"id": 2, "v": "bad"}\n')
    (data / "b.jsonl").write_text('{"id": 3, "v": 30}\nnot json\n')
    rc = run(
        tmp_path,
        f"""
input:
  file:
    paths: [ "{data}/*.jsonl" ]
pipeline:
  processors:
    - mapping: |
        root.id = this.id
        root.double = this.v * 2
        meta source = @path.filepath_split().index(-1)
    - switch:
        - check: this.double > 40
          processors:
            - mutation: root.big = true
output:
  fallback:
    - reject_errored:
        file:
          path: "{tmp_path}/ok/${{! @source }}"
          batching: {{ count: 10, period: 50ms }}
    - file:
        path: "{tmp_path}/dead_letter.jsonl"
      processors:
        - catch:
            - mapping: |
                root.payload = content().string()
                root.error = error()
                root.reason = @fallback_error
http:
  enabled: false
""",
        workers=2,
    )
    assert rc == 0
    ok = sorted(
        (row for f in sorted((tmp_path / "ok").iterdir()) for row in lines(f)),
        key=lambda r: r["id"],
    )
    assert ok == [{"id": 1, "double": 20}, {"id": 3, "double": 60, "big": True}]
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["a.jsonl", "b.jsonl"]
    dead = lines(tmp_path / "dead_letter.jsonl")
    assert sorted(d["payload"] for d in dead) == sorted(['{"id": 2, "v": "bad"}', "not json"])
    assert all(d["error"] and d["reason"] == d["error"] for d in dead)


def test_generate_count_ends_the_run_and_broker_fans_out(tmp_path: Path) -> None:
    rc = run(
        tmp_path,
        f"""
input:
  generate:
    count: 25
    interval: ""
    batch_size: 4
    mapping: 'root = {{"n": counter()}}'
pipeline:
  processors:
    - branch:
        request_map: root = this.n
        processors:
          - mapping: 'root = {{"sq": this * this}}'
        result_map: root.sq = this.sq
    - log:
        level: DEBUG
        message: ${{! this.n }}
output:
  broker:
    pattern: fan_out
    outputs:
      - file: {{ path: "{tmp_path}/one.jsonl" }}
      - file: {{ path: "{tmp_path}/two.jsonl", codec: "delim:;" }}
http:
  enabled: false
""",
    )
    assert rc == 0
    rows = lines(tmp_path / "one.jsonl")
    assert [r["n"] for r in rows] == list(range(1, 26))
    assert all(r["sq"] == r["n"] ** 2 for r in rows)
    second = (tmp_path / "two.jsonl").read_text().rstrip(";").split(";")
    assert [json.loads(s) for s in second] == rows
