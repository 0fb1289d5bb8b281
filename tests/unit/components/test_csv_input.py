"""The `csv` input and the `csv` scanner of the file and stdin inputs: rows, metadata,
batches, acknowledgements, delete_on_finish, resuming, and lint at the bad field."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from component_helpers import build, lint_stream

import streamforge.connectors.files as files
from streamforge.inputs.stdin import StdinInput
from streamforge.message import Message

EXPORT = (
    "timestamp,machine,temperature,status\n"
    '2024-05-01T08:00:00Z,press-1,71.5,"running, normal"\n'
    '2024-05-01T08:01:00Z,press-1,72.0,"note:\nvalve checked"\n'
    "2024-05-01T08:02:00Z,press-2,68.25,idle\n"
)


def drain(reader: Any, *, ack: bool = True) -> list[list[Message]]:
    """Every batch the reader gives until it ends (acknowledging each as written)."""
    batches: list[list[Message]] = []
    for _ in range(10_000):
        batch = reader.read()
        if batch is None:
            return batches
        if batch:
            batches.append(batch)
            if ack:
                reader.ack(batch, None)
    raise AssertionError("the input did not end")


def export(tmp_path: Path, text: str = EXPORT, name: str = "plant.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rows_become_objects_with_the_header_and_file_metadata(tmp_path: Path) -> None:
    path = export(tmp_path)
    inp = build("input", "csv", {"paths": [str(tmp_path / "*.csv")]})
    assert inp.partitions() == [str(path)]
    [batch] = drain(inp.open(str(path), None))
    assert [m.value for m in batch] == [
        {"timestamp": "2024-05-01T08:00:00Z", "machine": "press-1", "temperature": "71.5",
         "status": "running, normal"},
        {"timestamp": "2024-05-01T08:01:00Z", "machine": "press-1", "temperature": "72.0",
         "status": "note:\nvalve checked"},
        {"timestamp": "2024-05-01T08:02:00Z", "machine": "press-2", "temperature": "68.25",
         "status": "idle"},
    ]  # fmt: skip
    meta = batch[0].metadata
    assert meta["header"] == ["timestamp", "machine", "temperature", "status"]
    assert meta["path"] == str(path)
    assert meta["mod_time_unix"] == int(path.stat().st_mtime)
    assert meta["mod_time"].endswith("Z")
    assert "csv_row" not in meta  # the csv input's metadata is Connect's


def test_without_a_header_rows_are_arrays_and_carry_no_header(tmp_path: Path) -> None:
    path = export(tmp_path, "a;1\nb;2\n")
    inp = build("input", "csv", {"paths": [str(path)], "parse_header_row": False,
                                 "delimiter": ";"})  # fmt: skip
    msgs = [m for b in drain(inp.open(str(path), None)) for m in b]
    assert [m.value for m in msgs] == [["a", "1"], ["b", "2"]]
    assert "header" not in msgs[0].metadata


def test_a_malformed_row_is_an_errored_message_and_reading_goes_on(tmp_path: Path) -> None:
    path = export(tmp_path, 'a,b\n1,2\n3,"x"y\n5\n')
    inp = build("input", "csv", {"paths": [str(path)]})
    msgs = [m for b in drain(inp.open(str(path), None)) for m in b]
    assert [(m.value, m.error is None) for m in msgs] == [
        ({"a": "1", "b": "2"}, True),
        ({}, False),
        ({"a": "5"}, True),  # fewer fields than the header: the keys it has
    ]
    assert msgs[1].error is not None and f"row 1 of {path} (line 3)" in msgs[1].error


def test_batch_count_groups_rows(tmp_path: Path) -> None:
    path = export(tmp_path, "n\n" + "".join(f"{i}\n" for i in range(7)))
    inp = build("input", "csv", {"paths": [str(path)], "batch_count": 3})
    assert inp.one_message_per_batch is False
    sizes = [len(b) for b in drain(inp.open(str(path), None))]
    assert sizes == [3, 3, 1]
    assert build("input", "csv", {"paths": [str(path)]}).one_message_per_batch is True


def test_delete_on_finish_waits_until_every_row_was_written(tmp_path: Path) -> None:
    path = export(tmp_path, "n\n1\n2\n3\n")
    inp = build("input", "csv", {"paths": [str(path)], "delete_on_finish": True,
                                 "batch_count": 2})  # fmt: skip
    reader = inp.open(str(path), None)
    batches = drain_until_waiting(reader)
    assert [len(b) for b in batches] == [2, 1]
    reader.ack(batches[1], None)
    assert reader.read() == [] and path.exists()  # the first batch is not written yet
    reader.ack(batches[0], None)
    assert reader.read() is None
    assert not path.exists()


def drain_until_waiting(reader: Any) -> list[list[Message]]:
    batches = []
    while batch := reader.read():
        batches.append(batch)
    return batches


def test_a_failed_batch_is_sent_again_and_the_file_deleted_once_written(
    tmp_path: Path,
) -> None:
    path = export(tmp_path, "n\n1\n2\n")
    inp = build("input", "csv", {"paths": [str(path)], "delete_on_finish": True})
    reader = inp.open(str(path), None)
    [first] = drain_until_waiting(reader)
    reader.ack(first, "output down")
    again = []
    for _ in range(500):  # the replay comes after a short backoff
        again = reader.read() or []
        if again:
            break
        time.sleep(0.01)
    assert [m.value for m in again] == [{"n": "1"}, {"n": "2"}]
    assert path.exists()
    reader.ack(again, None)
    assert reader.read() is None and not path.exists()


def test_without_replays_a_failed_batch_is_dropped_and_the_file_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = export(tmp_path, "n\n1\n")
    inp = build("input", "csv", {"paths": [str(path)], "delete_on_finish": True,
                                 "auto_replay_nacks": False})  # fmt: skip
    reader = inp.open(str(path), None)
    [batch] = drain_until_waiting(reader)
    with caplog.at_level(logging.WARNING):
        reader.ack(batch, "output down")
    assert reader.read() is None
    assert path.exists()
    assert "not written (output down); dropping them, the file is kept" in caplog.text


def test_resuming_from_a_snapshot_keeps_the_header_and_reads_the_rest(tmp_path: Path) -> None:
    rows = "".join(f"{i},{'x' * 50}\n" for i in range(3000))
    path = export(tmp_path, "n,pad\n" + rows)
    inp = build("input", "csv", {"paths": [str(path)]})
    reader = inp.open(str(path), None)
    first = reader.read()
    assert first and len(first) < 3000
    state = reader.snapshot()
    reader.close()
    rest = [m for b in drain(inp.open(str(path), state)) for m in b]
    got = [m.value["n"] for m in first + rest]
    assert got == [str(i) for i in range(3000)]


def test_the_file_input_csv_scanner_numbers_rows(tmp_path: Path) -> None:
    path = export(tmp_path, "\ufefftag;value\nt1;1,5\nt2;2,25\n")
    inp = build("input", "file", {"paths": [str(path)],
                                  "scanner": {"csv": {"custom_delimiter": ";"}}})  # fmt: skip
    msgs = [m for b in drain(inp.open(str(path), None)) for m in b]
    assert [m.value for m in msgs] == [{"tag": "t1", "value": "1,5"},
                                       {"tag": "t2", "value": "2,25"}]  # fmt: skip
    assert [m.metadata["csv_row"] for m in msgs] == [0, 1]
    assert msgs[0].metadata["path"] == str(path)


def test_a_scanner_error_ends_the_file_logged_with_file_and_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = export(tmp_path, 'a,b\n1,2\n3,4"\n5,6\n')
    inp = build("input", "file", {"paths": [str(path)], "scanner": {"csv": {}},
                                  "delete_on_finish": True})  # fmt: skip
    with caplog.at_level(logging.ERROR):
        msgs = [m for b in drain(inp.open(str(path), None)) for m in b]
    assert [m.value for m in msgs] == [{"a": "1", "b": "2"}]
    assert f"csv row 1 of {path} (line 3): a quote in a field that is not quoted" in caplog.text
    assert "the rest of the file is not read and the file is kept" in caplog.text
    assert path.exists()


def test_stdin_with_the_csv_scanner() -> None:
    conf = {"scanner": {"csv": {"parse_header_row": False, "continue_on_error": True}}}
    inp = StdinInput(conf, stream=io.BytesIO(b'1,2\n3,"x"y\n5,6'))
    msgs = [m for b in drain(inp.open("0", None), ack=False) for m in b]
    assert [(m.value, m.metadata["csv_row"]) for m in msgs] == [
        (["1", "2"], 0), ([], 1), (["5", "6"], 2)
    ]  # fmt: skip
    assert msgs[1].error is not None and "csv row 1 of stdin (line 2)" in msgs[1].error


def test_lint_names_the_bad_field_where_it_is(tmp_path: Path) -> None:
    path = export(tmp_path)
    problems = lint_stream(
        tmp_path,
        f"""
        input:
          csv:
            paths: [ "{path}" ]
            delimiter: ";;"
            batch_count: 0
        output:
          drop: {{}}
        """,
    )
    where = str(tmp_path / "stream.yaml")
    assert f"{where}:4:16: field delimiter: expected one character, got ';;'" in problems
    assert any(p.startswith(f"{where}:5:18: field batch_count:") for p in problems), problems
    problems = lint_stream(
        tmp_path,
        f"""
        input:
          file:
            paths: [ "{path}" ]
            scanner:
              csv:
                custom_delimiter: ";;"
                parse_header_row: "yes"
                lazy_quote: true
        output:
          drop: {{}}
        """,
    )
    # the scanner's problems are reported where it names the scanner
    unknown = 'field scanner: csv: unknown field "lazy_quote", did you mean "lazy_quotes"?'
    assert f"{where}:5:7: {unknown}" in problems, problems
    problems = lint_stream(
        tmp_path,
        """
        input:
          stdin:
            scanner:
              csv:
                custom_delimiter: ";;"
        output:
          drop: {}
        """,
    )
    assert problems == [
        f"{where}:4:7: field scanner: csv: custom_delimiter: expected one character, got ';;'"
    ]


def test_a_csv_input_without_files_is_refused(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        f"""
        input:
          csv:
            paths: [ "{tmp_path}/*.csv" ]
        output:
          drop: {{}}
        """,
    )
    assert any("no file matches" in p for p in problems), problems


def test_a_reader_without_news_of_its_batches_ends_and_deletes_when_they_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. a broker holding the last batch until its inputs end."""
    monkeypatch.setattr(files, "_LINGER", 0.05)
    path = export(tmp_path, "n\n1\n")
    inp = build("input", "csv", {"paths": [str(path)], "delete_on_finish": True})
    reader = inp.open(str(path), None)
    [batch] = drain_until_waiting(reader)
    time.sleep(0.1)
    assert reader.read() is None and path.exists()
    reader.close()
    reader.ack(batch, None)  # written after all
    assert not path.exists()


def test_the_snapshot_is_after_the_last_row_handed_over_not_the_rows_read_ahead(
    tmp_path: Path,
) -> None:
    path = export(tmp_path, "n\n" + "".join(f"{i}\n" for i in range(1000)))
    inp = build("input", "csv", {"paths": [str(path)], "batch_count": 3})
    reader = inp.open(str(path), None)
    first = reader.read()  # the whole file was read ahead; three rows handed over
    assert [m.value["n"] for m in first] == ["0", "1", "2"]
    state = reader.snapshot()
    rest = [m for b in drain(inp.open(str(path), state)) for m in b]
    assert [m.value["n"] for m in rest] == [str(i) for i in range(3, 1000)]
