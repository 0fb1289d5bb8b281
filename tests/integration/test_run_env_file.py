"""`streamforge run -e FILE`: a dotenv file's variables fill the config's `${VAR}` references
and Bloblang's env() sees them too."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from peers.stream_run import run_to_end, write


def test_an_env_file_gives_the_run_its_variables(tmp_path: Path) -> None:
    config = write(
        tmp_path / "s.yaml",
        """
        input:
          generate:
            count: 2
            interval: ""
            mapping: 'root = {"site": env("PLANT_SITE")}'
        output:
          file:
            path: ${OUT_DIR}/readings.jsonl
            codec: lines
          processors:
            - mapping: 'root = this.merge({"topic": "${PLANT_TOPIC}"})'
        http:
          enabled: false
        """,
    )
    env = tmp_path / "plant.env"
    env.write_text(
        textwrap.dedent(
            f"""\
            OUT_DIR={tmp_path}
            export PLANT_TOPIC="north/line-1"
            PLANT_SITE=north
            """
        )
    )
    done = run_to_end("-e", env, config)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "readings.jsonl").read_text().splitlines()]
    assert rows == [{"site": "north", "topic": "north/line-1"}] * 2
    missing = run_to_end("-e", tmp_path / "nope.env", config)
    assert missing.returncode != 0 and "nope.env: no such env file" in missing.stderr
