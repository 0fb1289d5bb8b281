"""`lint` checks each file on its own, as Benthos' lint: a resource the file uses but does not
define is a warning (it may come from `-r` at run time), and everything else is still checked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streamforge.cli import main as cli_main

STREAM = """\
input:
  resource: plant_feed
pipeline:
  processors:
    - resource: enrich
    - branch:
        processors:
          - resource: lookup
        result_map: root.extra = this
    - cache:
        resource: seen
        operator: add
        key: ${! json("id") }
        value: "1"
    - rate_limit:
        resource: slow
output:
  switch:
    cases:
      - check: errored()
        output:
          resource: dead_letters
      - output:
          stdout: {}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_every_kind_of_resource_from_elsewhere_is_a_warning_and_lint_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = _write(tmp_path, "stream.yaml", STREAM)
    assert cli_main(["lint", str(stream)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert all(": warning: " in line and "`run` needs it" in line for line in lines)
    assert lines[0].startswith(f'{stream}:2:13: warning: input resource "plant_feed"')
    assert any('cache resource "seen"' in line for line in lines)
    assert any('rate_limit resource "slow"' in line for line in lines)
    assert any('processor resource "lookup"' in line for line in lines)
    assert any('output resource "dead_letters"' in line for line in lines)


def test_the_rest_of_the_file_is_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown_field = STREAM.replace("stdout: {}", "stdout:\n              bogus: 1")
    stream = _write(tmp_path, "fields.yaml", unknown_field)
    assert cli_main(["lint", str(stream)]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if ": warning: " not in line]
    assert errors == [
        f'{stream}:25:15: unknown field "bogus" in output stdout (valid: codec, batching)'
    ]
    # what only building finds is found too, beside the resources lint did not see
    bad_ttl = STREAM.replace('value: "1"', 'value: "1"\n        ttl: soon')
    stream = _write(tmp_path, "build.yaml", bad_ttl)
    assert cli_main(["lint", str(stream)]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if ": warning: " not in line]
    assert len(errors) == 1 and "soon" in errors[0], errors


def test_a_misspelt_resource_still_gets_a_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = _write(
        tmp_path,
        "stream.yaml",
        """\
        input:
          generate:
            count: 1
            mapping: root = "x"
        pipeline:
          processors:
            - resource: enrihc
        output:
          drop: {}
        processor_resources:
          - label: enrich
            mapping: root = this
        """,
    )
    assert cli_main(["lint", str(stream)]) == 0
    out = capsys.readouterr().out
    assert 'warning: processor resource "enrihc" is not defined' in out
    assert "enrich" in out.split("enrihc", 1)[1]
    assert cli_main(["run", str(stream)]) == 1


def test_resource_files_given_to_lint_leave_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = _write(
        tmp_path,
        "resources.yaml",
        """\
        input_resources:
          - label: plant_feed
            generate:
              count: 1
              mapping: 'root = {"id": 1}'
        processor_resources:
          - label: enrich
            mapping: root = this
          - label: lookup
            mapping: root = {}
        cache_resources:
          - label: seen
            memory: {}
        rate_limit_resources:
          - label: slow
            local:
              count: 10
              interval: 1s
        output_resources:
          - label: dead_letters
            drop: {}
        """,
    )
    stream = _write(tmp_path, "stream.yaml", STREAM)
    assert cli_main(["lint", "-r", str(resources), str(stream)]) == 0
    assert capsys.readouterr().out == ""


WORKFLOW = """\
input:
  generate:
    count: 1
    mapping: 'root = {"id": 1}'
pipeline:
  processors:
    - workflow:
        order: [ [ local_lookup, shared_lookup ] ]
        branches:
          local_lookup:
            request_map: root = this.id
            processors:
              - mapping: root = this + 1
            result_map: root.next = this
output:
  drop: {}
"""


def test_a_workflow_ordering_branch_resources_of_another_file_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = _write(tmp_path, "workflow.yaml", WORKFLOW)
    assert cli_main(["lint", str(stream)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{stream}:7:7: warning: ")
    assert "shared_lookup" in out and "`run` needs it" in out
    assert "local_lookup" not in out
    run = subprocess.run(
        [sys.executable, "-m", "streamforge", "run", str(stream)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and "shared_lookup" in run.stderr

    resources = _write(
        tmp_path,
        "branches.yaml",
        """\
        processor_resources:
          - label: shared_lookup
            branch:
              request_map: root = this.id
              processors:
                - mapping: root = this * 10
              result_map: root.tenfold = this
        """,
    )
    assert cli_main(["lint", "-r", str(resources), str(stream)]) == 0
    assert capsys.readouterr().out == ""
