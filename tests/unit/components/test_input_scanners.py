"""The Benthos `scanner` of the stdin and file inputs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from streamforge.connectors.scanners import scanner_codec
from streamforge.inputs.file import FileInput
from streamforge.inputs.stdin import StdinInput


def _read_all(reader) -> list[bytes]:  # type: ignore[no-untyped-def]
    out: list[bytes] = []
    for _ in range(2000):
        batch = reader.read()
        if batch is None:
            return out
        out.extend(m.payload for m in batch)
        if batch:
            reader.ack(batch, None)  # written, as the engine tells the file input
    raise AssertionError("the input did not end")


def test_scanner_codecs() -> None:
    assert scanner_codec({}, "lines", 10) == ("lines", 10)
    assert scanner_codec({"lines": {}}, "all-bytes", 10) == ("lines", 10)
    assert scanner_codec({"lines": {"custom_delimiter": "|", "max_buffer_size": 5}}, "", 10) == (
        "delim:|",
        5,
    )
    assert scanner_codec({"to_the_end": {}}, "lines", 10) == ("all-bytes", 10)
    assert scanner_codec({"lines": {"custom_delimiter": "\\t"}}, "", 1)[0] == "delim:\\\\t"


@pytest.mark.parametrize(
    ("scanner", "problem"),
    [
        ({"decompress": {}}, "`decompress` is a Benthos scanner StreamForge does not have (yet)"),
        ({"csv": {"custom_delimiter": ";;"}}, "csv: custom_delimiter: expected one character"),
        ({"csv": {"header": True}}, 'csv: unknown field "header"'),
        ({"line": {}}, 'unknown scanner "line", did you mean "lines"?'),
        ({"lines": {}, "to_the_end": {}}, "one scanner per input, got lines, to_the_end"),
        ({"lines": {"delimiter": "|"}}, 'lines: unknown field "delimiter"'),
    ],
)
def test_bad_scanners(scanner: dict, problem: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError) as err:
        scanner_codec(scanner, "lines", 10)
    assert str(err.value).startswith(problem)


def test_stdin_with_a_custom_delimiter() -> None:
    conf = {"scanner": {"lines": {"custom_delimiter": "||"}}}
    inp = StdinInput(conf, stream=io.BytesIO(b"a||b\\c||d"))
    assert _read_all(inp.open("0", None)) == [b"a", b"b\\c", b"d"]


def test_file_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(b"line one\nline two\n")
    inp = FileInput({"paths": [str(path)], "scanner": {"to_the_end": {}}})
    assert _read_all(inp.open(str(path), None)) == [b"line one\nline two\n"]
