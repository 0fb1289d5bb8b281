"""`file` input: globs, partitions per file, metadata, codecs and resume by offset."""

from __future__ import annotations

from pathlib import Path

import pytest
from component_helpers import build

from streamforge.message import Message


def read_all(reader) -> list[Message]:  # type: ignore[no-untyped-def]
    """Every message of the file, each batch acknowledged as written (as the engine does)."""
    out: list[Message] = []
    for _ in range(10_000):
        batch = reader.read()
        if batch is None:
            return out
        out.extend(batch)
        if batch:
            reader.ack(batch, None)
    raise AssertionError("the input did not end")


def test_glob_gives_one_sorted_partition_per_file(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "sub/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    inp = build("input", "file", {"paths": [str(tmp_path / "**" / "*.txt")]})
    names = [Path(p).relative_to(tmp_path).as_posix() for p in inp.partitions()]
    assert names == ["a.txt", "b.txt", "sub/c.txt"]


def test_lines_with_benthos_metadata(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"a":1}\n{"a":2}\n')
    inp = build("input", "file", {"paths": [str(path)], "codec": "lines"})
    out = read_all(inp.open(inp.partitions()[0], None))
    assert [m.value for m in out] == [{"a": 1}, {"a": 2}]
    meta = out[0].metadata
    assert meta["path"] == str(path)
    assert meta["mod_time_unix"] == int(path.stat().st_mtime)
    assert meta["mod_time"].endswith("Z") and "T" in meta["mod_time"]


def test_all_bytes_reads_the_file_as_one_message(tmp_path: Path) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(b"line1\nline2\n")
    inp = build("input", "file", {"paths": [str(path)], "codec": "all-bytes"})
    out = read_all(inp.open(str(path), None))
    assert [m.payload for m in out] == [b"line1\nline2\n"]


def test_resume_from_snapshot_continues_after_last_record(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    lines = [f"line-{i}" for i in range(30000)]
    path.write_text("\n".join(lines) + "\n")
    inp = build("input", "file", {"paths": [str(path)]})
    reader = inp.open(str(path), None)
    first = reader.read()
    assert first and len(first) < len(lines)
    state = reader.snapshot()
    reader.close()
    rest = read_all(inp.open(str(path), state))
    got = [m.payload.decode() for m in first + rest]
    assert got == lines


def test_delete_on_finish_removes_the_file_once_its_messages_were_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "once.txt"
    path.write_text("a\nb")
    inp = build("input", "file", {"paths": [str(path)], "delete_on_finish": True})
    reader = inp.open(str(path), None)
    batches = []
    while batch := reader.read():
        batches.append(batch)
    assert [m.payload for b in batches for m in b] == [b"a", b"b"]
    assert reader.read() == []  # read to its end, not written yet
    assert path.exists()
    for batch in batches:
        reader.ack(batch, None)
    assert reader.read() is None
    assert not path.exists()


def test_missing_literal_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        build("input", "file", {"paths": [str(tmp_path / "nope.txt")]})


def test_overlong_line_becomes_an_errored_message(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("ok\n" + "x" * 50 + "\nafter\n")
    inp = build("input", "file", {"paths": [str(path)], "max_buffer": 10})
    out = read_all(inp.open(str(path), None))
    assert [m.payload for m in out if m.error is None] == [b"ok", b"after"]
    assert sum(m.error is not None for m in out) == 1
