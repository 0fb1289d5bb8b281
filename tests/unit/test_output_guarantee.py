"""Which streams write exactly once across a kill, and why the others write at least once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamforge.config.loader import load_stream
from streamforge.engine.dataflow import compile_streams


def guarantee(tmp_path: Path, body: str, recovery: bool = True, processes: int = 1) -> str:
    config = tmp_path / "stream.yaml"
    config.write_text("http: { enabled: false }\n" + textwrap.dedent(body))
    compiled = compile_streams(
        [load_stream(config)],
        recovery=tmp_path / "recovery" if recovery else None,
        processes=processes,
    )
    try:
        return compiled.streams[0].guarantee
    finally:
        compiled.close()


FILE_TO_FILE = """
input:
  file: { paths: [ "{src}" ] }
output:
  file: { path: "{dst}" }
"""


@pytest.fixture
def file_to_file(tmp_path: Path) -> str:
    (tmp_path / "in.txt").write_text("a\n")
    return FILE_TO_FILE.replace("{src}", str(tmp_path / "in.txt")).replace(
        "{dst}", str(tmp_path / "out.txt")
    )


def test_a_replaying_input_and_a_file_output_write_exactly_once(
    tmp_path: Path, file_to_file: str
) -> None:
    assert guarantee(tmp_path, file_to_file) == "exactly once"
    generate = 'input:\n  generate: { count: 3, mapping: root = "x" }\n'
    batched = f'output:\n  file: {{ path: "{tmp_path}/o", batching: {{ count: 5 }} }}\n'
    assert guarantee(tmp_path, generate + batched) == "exactly once"


def test_without_recovery_or_in_a_cluster_it_is_at_least_once(
    tmp_path: Path, file_to_file: str
) -> None:
    assert guarantee(tmp_path, file_to_file, recovery=False) == (
        "at least once (no recovery directory)"
    )
    assert guarantee(tmp_path, file_to_file, processes=2) == (
        "at least once (a cluster of processes)"
    )


def test_an_input_that_acknowledges_to_its_peer_keeps_what_was_written(tmp_path: Path) -> None:
    mqtt = f"""
    input:
      mqtt: {{ urls: [ tcp://127.0.0.1:1 ], topics: [ t ] }}
    output:
      file: {{ path: "{tmp_path}/out.txt" }}
    """
    assert guarantee(tmp_path, mqtt) == (
        "at least once (the input does not replay from the recovery snapshot)"
    )


def test_an_output_that_cannot_rewind_is_at_least_once(tmp_path: Path) -> None:
    fallback = f"""
    input:
      generate: {{ count: 3, mapping: root = "x" }}
    output:
      fallback:
        - file: {{ path: "{tmp_path}/a.txt" }}
        - file: {{ path: "{tmp_path}/b.txt" }}
    """
    assert guarantee(tmp_path, fallback) == (
        "at least once (the output cannot rewind to the recovery snapshot)"
    )
