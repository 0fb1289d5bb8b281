"""`lint` refuses what `run` refuses when it builds a stream; `run` needs an input and an output."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamforge.cli import main

CONFORMANCE = Path(__file__).resolve().parents[2] / "conformance" / "configs"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).splitlines()


@pytest.mark.parametrize(
    ("component", "line", "column"),
    [("output:\n  file:\n    path: out.txt\n    codec: 42\n", 8, 12),
     ("output:\n  stdout:\n    codec: 'delim:'\n", 7, 12)],
)  # fmt: skip
def test_lint_refuses_a_codec_run_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], component: str, line: int, column: int
) -> None:
    path = write(
        tmp_path,
        "input:\n  generate:\n    count: 1\n    mapping: root = 1\n" + component,
    )
    code, lines = cli(capsys, "lint", str(path))
    assert code == 1
    [problem] = lines
    assert problem.startswith(f"{path}:{line}:{column}: field codec: ")
    code, lines = cli(capsys, "run", str(path))
    assert code == 1


def test_lint_builds_the_processors_as_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """
        input:
          generate: {count: 1, mapping: "root = 1"}
        pipeline:
          processors:
            - mapping: root = this
            - avro:
                operator: from_json
                schema_path: ./missing.avsc
        output:
          drop: {}
        """,
    )
    code, lines = cli(capsys, "lint", str(path))
    assert code == 0  # the file may be there where the stream runs: a warning
    assert lines == [
        f"{path}:7:7: warning: processor 'avro' (pipeline.processors.1): schema_path: "
        "No such file or directory: missing.avsc; `run` needs it"
    ]


def test_an_empty_config_is_a_lint_problem_and_nothing_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "")
    assert cli(capsys, "lint", str(path)) == (
        1,
        [f"{path}:1:1: the config is empty: it has no input, output, pipeline, resources or tests"],
    )
    assert cli(capsys, "run", str(path)) == (
        1,
        [f"{path}:1:1: nothing to run: the config has no `input` and no `output`"],
    )


def test_run_refuses_a_stream_without_an_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "input:\n  generate:\n    count: 1\n    mapping: root = 1\n")
    assert cli(capsys, "run", str(path)) == (
        1,
        [f"{path}:1:1: nothing to run: the config has no `output`"],
    )


def test_a_file_of_processors_and_tests_is_linted_and_tested_not_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(CONFORMANCE / "proc_basics.yaml")
    assert cli(capsys, "lint", config) == (0, [])
    code, lines = cli(capsys, "test", config)
    assert code == 0 and lines[-1].endswith(" passed, 0 failed")
    code, lines = cli(capsys, "run", config)
    assert code == 1
    assert lines == [f"{config}:1:1: nothing to run: the config has no `input` and no `output`"]
