"""`streamforge blobl`: one result per stdin line, errors on stderr, the stream goes on."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streamforge import cli


def _run(argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()

    class _Out(io.StringIO):
        buffer = out

    class _In:
        buffer = io.BytesIO(stdin.encode())

    monkeypatch.setattr(sys, "stdin", _In())
    monkeypatch.setattr(sys, "stdout", _Out())
    monkeypatch.setattr(sys, "stderr", err)
    code = cli.main(["blobl", *argv])
    return code, out.getvalue().decode(), err.getvalue()


def test_maps_each_line(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _run(
        ["root.b = this.a + 1\nroot.s = this.s.uppercase()"],
        '{"a":1,"s":"x"}\n{"a":2,"s":"y"}\n',
        monkeypatch,
    )
    assert code == 0
    assert out.splitlines() == ['{"b":2,"s":"X"}', '{"b":3,"s":"Y"}']
    assert err == ""


def test_errors_go_to_stderr_and_the_next_line_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _run(["root.b = this.a + 1"], '{"a":"x"}\n{"a":41}\n', monkeypatch)
    assert code == 0
    assert out.splitlines() == ['{"b":42}']
    assert "cannot add types string" in err


def test_raw_lines_and_string_results(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(['root = content().string() + "!"'], "plain text\n", monkeypatch)
    assert code == 0
    assert out == "plain text!\n"


def test_query_shorthand_and_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(
        ["if this.drop { root = deleted() } else { root = this.v }"],
        '{"drop":true,"v":1}\n{"drop":false,"v":2}\n',
        monkeypatch,
    )
    assert code == 0
    assert out == "2\n"
    code, out, _ = _run(["this.foo.(bar | baz)"], '{"foo":{"baz":"buz"}}\n', monkeypatch)
    assert out == "buz\n"


def test_mapping_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.blobl"
    path.write_text("root.n = this.n * 2\n")
    code, out, _ = _run(["-f", str(path)], '{"n":21}\n', monkeypatch)
    assert code == 0 and out == '{"n":42}\n'


def test_bad_mapping_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _run(["root = ("], "{}\n", monkeypatch)
    assert code == 1
    assert out == ""
    assert "line 1 char 9" in err


def test_subprocess_round_trip(tmp_path: Any) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streamforge", "blobl", "root.id = this.id\nmeta x = 1"],
        input=b'{"id":"a"}\nnot json\n{"id":"b"}\n',
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines() == ['{"id":"a"}', '{"id":"b"}']
    assert "unable to reference message as structured" in proc.stderr.decode()
