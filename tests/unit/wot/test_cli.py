"""`streamforge td check` and `streamforge td generate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamforge.cli import main as cli_main
from streamforge.config.loader import lint_paths

from .conftest import td_path


def test_check_a_valid_td(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["td", "check", str(td_path("opcua-line"))]) == 0
    assert capsys.readouterr().out == ""


def test_check_prints_problems_at_json_paths(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["td", "check", str(td_path("invalid/misspelled-keys"))]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert '$.propertys: unknown term, did you mean "properties"?' in lines
    assert '$.securityDefinition: unknown term, did you mean "securityDefinitions"?' in lines


def test_check_invalid_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["td", "check", str(td_path("invalid/invalid-json"))]) == 1
    assert capsys.readouterr().out.startswith("$: invalid JSON at line 5, column 3")


def test_generate_prints_yaml_that_lints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = cli_main(
        ["td", "generate", str(td_path("modbus-boiler")), "--binding", "modbus",
         "--property", "temperature", "--property", "burnerOn", "--interval", "2s"]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    assert "poll_interval: 2s" in out.out and "name: burnerOn" in out.out
    assert "name: pressure" not in out.out
    stream = tmp_path / "boiler.yaml"
    stream.write_text(out.out)
    assert lint_paths([stream]) == []


def test_generate_with_a_credentials_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"basic_sc": {"username": "mixer", "password": "pw"}}))
    args = ["td", "generate", str(td_path("mqtt-secured")), "--binding", "mqtt"]
    assert cli_main(args) == 1
    assert "$.securityDefinitions.basic_sc: " in capsys.readouterr().out
    assert cli_main([*args, "--credentials-file", str(creds)]) == 0
    assert "user: mixer" in capsys.readouterr().out


def test_generate_warnings_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["td", "generate", str(td_path("http-meter")), "--binding", "http",
                     "--credentials-file", "/nonexistent.json"]) == 1  # fmt: skip
    capsys.readouterr()
    assert cli_main(["td", "generate", str(td_path("modbus-boiler")), "--binding", "modbus"]) == 0
    err = capsys.readouterr().err
    assert "warning: $.properties.setpoint.forms[0]: address 40010" in err


def test_missing_files_are_one_line_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.td.json"
    assert cli_main(["td", "check", str(missing)]) == 1
    assert f"{missing}: No such file or directory" in capsys.readouterr().err
    args = ["td", "generate", str(td_path("opcua-line")), "--binding", "opcua"]
    assert cli_main([*args, "--credentials-file", str(tmp_path / "nope.json")]) == 1
    err = capsys.readouterr().err
    assert "nope.json" in err and "Traceback" not in err
