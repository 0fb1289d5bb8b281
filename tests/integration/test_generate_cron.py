"""`generate` with a cron `interval` through `streamforge run`: `* * * * * *` makes about one
message a second, each on the second; a bad expression stops the run before it starts, at the
field."""

from __future__ import annotations

import json
from pathlib import Path

from peers.stream_run import Run, out_lines, run_to_end, stream_config, wait_until


def test_every_second_cron_makes_one_message_a_second(tmp_path: Path, runs: list[Run]) -> None:
    out = tmp_path / "ticks.jsonl"
    config = stream_config(
        tmp_path / "cron.yaml",
        """
        input:
          generate:
            interval: '* * * * * *'
            mapping: 'root = {"n": counter(), "at": timestamp_unix_milli()}'
        """,
        out,
    )
    run = Run(config)
    runs.append(run)
    wait_until(lambda: len(out_lines(out)) >= 4, 30, "four ticks")
    assert run.stop() == 0
    ticks = [json.loads(line) for line in out_lines(out)]
    assert [t["n"] for t in ticks] == list(range(1, len(ticks) + 1))
    stamps = [t["at"] for t in ticks]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # about one a second (a busy machine may wake late, never early): no burst, no pause
    assert all(500 <= gap <= 2500 for gap in gaps), gaps
    assert sum(gaps) / len(gaps) < 1500, gaps
    assert all(at % 1000 < 700 for at in stamps), stamps  # made at the top of a second


def test_a_bad_cron_expression_stops_the_run_at_the_field(tmp_path: Path) -> None:
    config = stream_config(
        tmp_path / "bad.yaml",
        """
        input:
          generate:
            interval: '0 */3 * * * * *'
            mapping: 'root = "tick"'
        output:
          drop: {}
        """,
    )
    done = run_to_end(config)
    assert done.returncode == 1
    assert f"{config}:3:15: field interval: interval '0 */3 * * * * *': a cron expression" in (
        done.stderr
    )
