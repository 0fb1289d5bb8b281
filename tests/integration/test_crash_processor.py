"""`crash` ends `streamforge run` with its fatal message when a message reaches it, and only
then (behind a switch, as Benthos' docs place it)."""

from __future__ import annotations

from pathlib import Path

from peers.stream_run import out_lines, run_to_end, stream_config


def _config(tmp_path: Path, limit: int) -> Path:
    return stream_config(
        tmp_path / "crash.yaml",
        f"""
        input:
          generate:
            count: 10
            interval: ""
            mapping: 'root = {{"n": counter()}}'
        pipeline:
          processors:
            - switch:
                - check: this.n > {limit}
                  processors:
                    - crash: 'reading ${{! this.n }} is past the limit'
        """,
        tmp_path / "out.jsonl",
    )


def test_a_message_reaching_crash_ends_the_process_with_its_message(tmp_path: Path) -> None:
    done = run_to_end(_config(tmp_path, 5))
    assert done.returncode == 1
    assert "reading 6 is past the limit" in done.stderr
    assert len(out_lines(tmp_path / "out.jsonl")) <= 5


def test_no_message_reaching_crash_runs_to_the_end(tmp_path: Path) -> None:
    done = run_to_end(_config(tmp_path, 100))
    assert done.returncode == 0, done.stderr
    assert len(out_lines(tmp_path / "out.jsonl")) == 10
