"""`streamforge run` with generate -> jq -> jmespath -> catch -> file: every document is
reshaped by both queries, metadata reaches the jq query, and a document jq cannot handle is
caught with jq's reason while the others go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_jq_then_jmespath_reshape_a_generated_stream_into_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = tmp_path / "queries.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            http: {{ enabled: false }}
            input:
              generate:
                count: 12
                interval: ""
                mapping: |
                  let n = counter()
                  meta asset = "press-" + $n.string()
                  root.n = $n
                  root.sensors = if $n % 4 == 0 {{ "offline" }} else {{ [
                    {{"name": "spindle", "line": "A", "temp": 60 + $n}},
                    {{"name": "coolant", "line": "B", "temp": 18}},
                    {{"name": "motor", "line": "A", "temp": 70 - $n}},
                  ] }}
            pipeline:
              processors:
                - jq:
                    query: |
                      {{n, asset: $metadata.asset,
                       line_a: [.sensors[] | select(.line == "A")]}}
                - jmespath:
                    query: "{{n: n, asset: asset, hottest: max_by(line_a, &temp).name}}"
                - catch:
                    - mapping: 'root = {{"n": this.n, "failed": error()}}'
            output:
              file: {{ path: "{out}" }}
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "streamforge", "run", str(config)],
        cwd=REPO,
        env={**os.environ, "HTTP_ADDRESS": "127.0.0.1:0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    docs = {d["n"]: d for d in map(json.loads, out.read_text().splitlines())}
    assert sorted(docs) == list(range(1, 13))
    for n, doc in docs.items():
        if n % 4 == 0:
            assert doc == {"n": n, "failed": 'jq: Cannot iterate over string ("offline")'}
        else:
            hottest = "spindle" if 60 + n >= 70 - n else "motor"  # the first on a tie
            assert doc == {"n": n, "asset": f"press-{n}", "hottest": hottest}
