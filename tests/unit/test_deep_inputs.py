"""Documents nested deeper than a parser follows are one clear error each, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamforge.message import Message, PayloadError

DEPTH = 100_000


def streamforge(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamforge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_deep_json_payload_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="nested deeper than 1024 levels"):
        _ = Message("[" * DEPTH + "]" * DEPTH).value
    assert Message("[" * 1000 + "]" * 1000).value is not None


def test_blobl_reports_a_deep_line_and_goes_on() -> None:
    deep = "[" * DEPTH + "]" * DEPTH
    done = streamforge("blobl", "root = this", stdin=f'{deep}\n{{"a":1}}\n')
    assert done.returncode == 0
    assert done.stdout.splitlines() == ['{"a":1}']
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("failed to execute map:")
    assert "nested deeper than 1024 levels" in line


@pytest.mark.parametrize("command", ["lint", "echo", "run", "test"])
def test_a_deep_config_is_one_problem_at_its_start(tmp_path: Path, command: str) -> None:
    config = tmp_path / "deep.yaml"
    config.write_text(
        "input:\n  generate: {count: 1, mapping: root = 1}\n"
        f"output:\n  drop: {'[' * DEPTH}{']' * DEPTH}\n"
    )
    done = streamforge(command, str(config))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert f"{config}:1:1: invalid YAML: the document is nested too deeply" in (
        done.stderr + done.stdout
    )


def test_an_unexpected_error_in_a_command_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamforge import cli
    from streamforge.commands import listing

    def broken(args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(listing, "main", broken)
    monkeypatch.delenv("STREAMFORGE_DEBUG", raising=False)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "streamforge list: unexpected error: RuntimeError: disk on fire "
        "(STREAMFORGE_DEBUG=1 shows the traceback)"
    ]
    monkeypatch.setenv("STREAMFORGE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="disk on fire"):
        cli.main(["list"])
