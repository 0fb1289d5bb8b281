"""`-r/--resources` files, as `benthos -r`: run, lint and test configs with shared resources."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streamforge.cli import main as cli_main

SHARED = """\
processor_resources:
  - label: shout
    mapping: root = content().uppercase()
  - label: tag
    mapping: 'root = content().string() + "!"'
cache_resources:
  - label: seen
    memory: {}
"""

STREAM = """\
input:
  generate:
    count: 2
    interval: ""
    mapping: root = "hi"
pipeline:
  processors:
    - resource: shout
    - resource: tag
output:
  stdout: {}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_run_uses_resources_from_a_resource_file(tmp_path: Path) -> None:
    shared = _write(tmp_path, "res/shared.yaml", SHARED)
    stream = _write(
        tmp_path, "stream.yaml", STREAM.replace("stdout: {}", "stdout: {}\nhttp:\n  enabled: false")
    )
    done = subprocess.run(
        [sys.executable, "-m", "streamforge", "run", "-r", str(shared), str(stream)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["HI!", "HI!"]


def test_lint_warns_of_resources_from_files_it_was_not_given_and_accepts_globs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As Benthos' lint checks file by file, a resource from another file is no lint error;
    lint says `run` needs it, and `run` without the file refuses the stream."""
    _write(tmp_path, "res/shared.yaml", SHARED)
    stream = _write(tmp_path, "stream.yaml", STREAM)
    assert cli_main(["lint", str(stream)]) == 0
    out = capsys.readouterr().out
    assert (
        f'{stream}:8:17: warning: processor resource "shout" is not defined; `run` needs it' in out
    )
    assert cli_main(["lint", "--resources", str(tmp_path / "res" / "*.yaml"), str(stream)]) == 0
    assert capsys.readouterr().out == ""
    assert cli_main(["run", str(stream)]) == 1
    assert f'{stream}:8:17: processor resource "shout" is not defined' in capsys.readouterr().err


def test_a_problem_in_a_resource_file_names_that_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(
        tmp_path,
        "bad.yaml",
        """\
        processor_resources:
          - label: shout
            mapping: root = content(.uppercase()
          - label: tag
            mapping: root = content()
        """,
    )
    stream = _write(tmp_path, "stream.yaml", STREAM)
    assert cli_main(["lint", "-r", str(bad), str(stream)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:3:29: field mapping: bad Bloblang" in out
    assert str(stream) not in out


def test_a_resource_file_holds_only_resources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = _write(tmp_path, "wrong.yaml", "processor_resources: []\ninput:\n  stdin: {}\n")
    stream = _write(tmp_path, "stream.yaml", STREAM)
    assert cli_main(["run", "-r", str(wrong), str(stream)]) == 1
    err = capsys.readouterr().err
    assert f"{wrong}:2:1: field input is not allowed in a resources file" in err
    assert cli_main(["run", "-r", str(tmp_path / "missing.yaml"), str(stream)]) == 1
    assert "missing.yaml" in capsys.readouterr().err


def test_unit_tests_target_labels_from_resource_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = _write(tmp_path, "res/shared.yaml", SHARED)
    _write(
        tmp_path,
        "tests/shout_test.yaml",
        """\
        tests:
          - name: by label
            target_processors: shout
            input_batch:
              - content: hello
            output_batches:
              - - content_equals: HELLO
          - name: by pointer into the merged resources
            target_processors: /processor_resources/1
            input_batch:
              - content: hello
            output_batches:
              - - content_equals: hello!
          - name: a label nobody defines
            target_processors: whisper
            input_batch:
              - content: hello
        """,
    )
    assert cli_main(["test", "-r", str(shared), str(tmp_path / "tests")]) == 1
    out = capsys.readouterr().out
    assert "PASS  " in out and ": by label" in out
    assert ": by pointer into the merged resources" in out
    assert "FAIL  " in out and "whisper" in out
    assert out.rstrip().endswith("2 passed, 1 failed")
    # without the resource file the tests have nothing to run against
    assert cli_main(["test", str(tmp_path / "tests")]) == 1
    assert "0 passed, 3 failed" in capsys.readouterr().out


def test_a_config_and_a_resource_file_defining_one_label_conflict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = _write(tmp_path, "shared.yaml", SHARED)
    stream = _write(
        tmp_path,
        "stream.yaml",
        STREAM
        + "processor_resources:\n  - label: shout\n    mapping: root = content().lowercase()\n",
    )
    assert cli_main(["lint", "-r", str(shared), str(stream)]) == 1
    out = capsys.readouterr().out
    assert f'{shared}:2:12: duplicate label "shout" (first used at {stream}:13:12)' in out
