"""`stdout`, `file` and `drop` outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from component_helpers import build, msgs

from streamforge.message import Message


def test_stdout_writes_lines(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    out = build("output", "stdout", {"codec": "lines"})
    assert out.write_batch([Message(b"a"), Message.from_value({"x": 1})]) == []
    assert capsysbinary.readouterr().out == b'a\n{"x":1}\n'


def test_stdout_custom_delimiter(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    out = build("output", "stdout", {"codec": "delim:|"})
    out.write_batch(msgs("a", "b"))
    assert capsysbinary.readouterr().out == b"a|b|"


def test_stdout_with_batching_writes_on_count(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    out = build("output", "stdout", {"batching": {"count": 2}})
    out.write_batch(msgs("a"))
    assert capsysbinary.readouterr().out == b""
    out.write_batch(msgs("b"))
    assert capsysbinary.readouterr().out == b"a\nb\n"


def test_file_appends_lines_and_creates_parent_dirs(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "out.jsonl"
    out = build("output", "file", {"path": str(target), "codec": "lines"})
    out.write_batch([Message.from_value({"n": 1})])
    out.write_batch(msgs("two"))
    assert target.read_bytes() == b'{"n":1}\ntwo\n'
    out.close()
    out = build("output", "file", {"path": str(target)})
    out.write_batch(msgs("three"))
    out.close()
    assert target.read_bytes().endswith(b"two\nthree\n")


def test_file_all_bytes_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "latest.json"
    out = build("output", "file", {"path": str(target), "codec": "all-bytes"})
    out.write_batch(msgs("first"))
    out.write_batch(msgs("second"))
    assert target.read_bytes() == b"second"


def test_file_write_failure_fails_the_messages(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    out = build("output", "file", {"path": str(blocker / "out.txt")})
    failed = out.write_batch(msgs("a", "b"))
    assert len(failed) == 2
    assert "failed to write file" in (failed[0].error or "")


def test_file_closes_idle_handles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamforge.outputs import file as file_output

    writer = file_output.FileWriter(str(tmp_path / "a.txt"))
    writer.write_batch(msgs("x"))
    assert writer.open_files == [str(tmp_path / "a.txt")]
    monkeypatch.setattr(file_output, "IDLE_SECONDS", -1.0)
    writer.write_batch(msgs("y"))
    assert writer.open_files == []
    assert (tmp_path / "a.txt").read_text() == "x\ny\n"
    assert os.path.exists(tmp_path / "a.txt")


def test_drop_discards_everything() -> None:
    out = build("output", "drop", {})
    assert out.write_batch(msgs("a", "b")) == []


# -- file: resuming from a recovery snapshot ------------------------------------------------


def test_file_resume_drops_what_was_written_after_the_snapshot(tmp_path: Path) -> None:
    workdir = str(tmp_path / "recovery" / "outputs")
    keep = tmp_path / "keep.txt"
    keep.write_text("written before the stream started\n")
    out = build("output", "file", {"path": str(tmp_path) + '/${! meta("to") }.txt'})
    assert out.resumable
    out.resume(None, workdir)
    out.write_batch([Message(b"a", {"to": "keep"}), Message(b"b", {"to": "keep"})])
    state = out.snapshot()
    out.write_batch([Message(b"c", {"to": "keep"}), Message(b"new", {"to": "later"})])
    out.close()  # or killed: either way the resumed stream writes c and new again

    resumed = build("output", "file", {"path": str(tmp_path) + '/${! meta("to") }.txt'})
    resumed.resume(state, workdir)
    assert keep.read_text() == "written before the stream started\na\nb\n"
    assert (tmp_path / "later.txt").read_text() == ""  # first written after the snapshot
    resumed.write_batch([Message(b"c", {"to": "keep"}), Message(b"new", {"to": "later"})])
    assert keep.read_text() == "written before the stream started\na\nb\nc\n"
    assert (tmp_path / "later.txt").read_text() == "new\n"
    resumed.close()


def test_file_resume_without_a_snapshot_keeps_only_what_was_there_before(tmp_path: Path) -> None:
    """A kill before the first snapshot: the input starts over, so the output does too."""
    workdir = str(tmp_path / "outputs")
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    first = build("output", "file", {"path": str(target)})
    first.resume(None, workdir)
    first.write_batch(msgs("x", "y"))
    with open(Path(workdir) / "files.journal", "ab") as journal:
        journal.write(b'["cut off by a ki')  # a kill in the middle of a journal line
    second = build("output", "file", {"path": str(target)})
    second.resume(None, workdir)
    assert target.read_text() == "old\n"
    second.write_batch(msgs("x", "y"))
    third = build("output", "file", {"path": str(target)})
    third.resume(second.snapshot(), workdir)
    assert target.read_text() == "old\nx\ny\n"
    for out in (first, second, third):
        out.close()
