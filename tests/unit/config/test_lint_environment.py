"""`streamforge lint -e FILE` and `--skip-env-var-check`, as Benthos' lint takes them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamforge.cli import main

CONFIG = """\
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
"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (out.out + out.err).splitlines()


def test_unset_variables_are_lint_problems_unless_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OUT_DIR", "PLANT_TOPIC", "PLANT_SITE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "s.yaml"
    config.write_text(CONFIG)
    code, lines = cli(capsys, "lint", str(config))
    assert code == 1
    assert any(":8:11:" in line and '"OUT_DIR" is not set' in line for line in lines), lines
    assert any('"PLANT_TOPIC" is not set' in line for line in lines), lines
    assert cli(capsys, "lint", "--skip-env-var-check", str(config)) == (0, [])


def test_an_unset_variable_is_one_problem_not_also_its_empty_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SF_TEST_REGION", "SF_TEST_DSN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "s.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            input:
              sql_select:
                driver: postgres
                dsn: ${SF_TEST_DSN}
                table: readings
                columns: [ "*" ]
            output:
              aws_s3:
                bucket: plant
                region: ${SF_TEST_REGION}
                path: x
            """
        )
    )
    code, lines = cli(capsys, "lint", str(config))
    assert code == 1
    assert len(lines) == 2, lines  # not also `expected string, got null` or `dsn ''`
    assert lines[0].endswith(
        's.yaml:4:10: environment variable "SF_TEST_DSN" is not set and has no default '
        "(write ${SF_TEST_DSN:default} to give one)"
    )
    assert '"SF_TEST_REGION" is not set' in lines[1]
    # skipped, the empty values they leave are not reported either
    assert cli(capsys, "lint", "--skip-env-var-check", str(config)) == (0, [])


def test_env_files_give_configs_their_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OUT_DIR", "PLANT_TOPIC", "PLANT_SITE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "s.yaml"
    config.write_text(CONFIG)
    env = tmp_path / "plant.env"
    env.write_text(
        textwrap.dedent(
            f"""\
            # the north plant
            OUT_DIR={tmp_path}
            export PLANT_TOPIC="north/line-1"
            PLANT_SITE=north
            """
        )
    )
    assert cli(capsys, "lint", "-e", str(env), str(config)) == (0, [])
    code, lines = cli(capsys, "lint", "-e", str(tmp_path / "missing.env"), str(config))
    assert code == 1 and "missing.env: no such env file" in lines[-1]
