"""`archive`, `unarchive`, `compress` and `decompress` processors on batches."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import tarfile
import zipfile
import zlib
from pathlib import Path

import cramjam
import lz4.frame
import pytest
import zstandard
from batch_helpers import chain_of, messages, payloads, stream_yaml

from streamforge.config.loader import lint_paths, load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.message import Message
from streamforge.processors.archive import pack_binary, unpack_binary

# -- archive -------------------------------------------------------------------------------


def test_lines_concatenate_and_json_array_join_a_batch_into_one_message(tmp_path: Path) -> None:
    batch = [
        Message(b'{"n":1}', {"site": "hh", "first": "yes"}),
        Message(b'{"n":2}', {"site": "b"}),
        Message(b'{"n":3}', {"site": "m"}),
    ]
    for fmt, expected in (
        ("lines", b'{"n":1}\n{"n":2}\n{"n":3}'),
        ("concatenate", b'{"n":1}{"n":2}{"n":3}'),
    ):
        [out] = chain_of(tmp_path, f"- archive: {{ format: {fmt} }}").process_batch(
            [m.copy() for m in batch]
        )
        assert out.payload == expected
        assert out.metadata == {"site": "hh", "first": "yes"}  # the first message's
    [out] = chain_of(tmp_path, "- archive: { format: json_array }").process_batch(batch)
    assert out.value == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_json_array_flags_the_batch_when_a_message_is_not_json(tmp_path: Path) -> None:
    out = chain_of(tmp_path, "- archive: { format: json_array }").process_batch(
        messages('{"a":1}', "not json")
    )
    assert payloads(out) == [b'{"a":1}', b"not json"]
    assert all(m.error and m.error.startswith("archive: ") for m in out)


def test_tar_names_each_file_by_the_interpolated_path(tmp_path: Path) -> None:
    chain = chain_of(
        tmp_path,
        """\
        - archive:
            format: tar
            path: '${! meta("device") }-${! batch_index() }.json'
        """,
    )
    batch = [Message(b'{"t":20.5}', {"device": "press"}), Message(b'{"t":7}', {"device": "oven"})]
    [out] = chain.process_batch(batch)
    with tarfile.open(fileobj=io.BytesIO(out.payload)) as tar:
        files = {i.name: tar.extractfile(i).read() for i in tar}  # type: ignore[union-attr]
    assert files == {"press-0.json": b'{"t":20.5}', "oven-1.json": b'{"t":7}'}


def test_zip_archives_one_file_per_message(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- archive: { format: zip, path: '${! content() }.txt' }")
    [out] = chain.process_batch(messages("alpha", "beta"))
    with zipfile.ZipFile(io.BytesIO(out.payload)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    assert files == {"alpha.txt": b"alpha", "beta.txt": b"beta"}


def test_binary_is_benthos_framing() -> None:
    assert pack_binary([b"hi", b""]) == b"\x00\x00\x00\x02\x00\x00\x00\x02hi\x00\x00\x00\x00"
    assert unpack_binary(pack_binary([b"a", b"bc", b""])) == [b"a", b"bc", b""]
    with pytest.raises(ValueError, match="inside part 0"):
        unpack_binary(b"\x00\x00\x00\x01\x00\x00\x00\x09abc")


@pytest.mark.parametrize("fmt", ["tar", "zip", "binary", "lines", "json_array"])
def test_archive_then_unarchive_gives_the_batch_back(tmp_path: Path, fmt: str) -> None:
    chain = chain_of(
        tmp_path,
        f"""\
        - archive: {{ format: {fmt}, path: 'part-${{! batch_index() }}' }}
        - unarchive: {{ format: {fmt} }}
        """,
    )
    docs = ['{"id":1}', '{"id":2}', '{"id":3}']
    out = chain.process_batch(messages(*docs, source="plc"))
    assert [json.loads(p) for p in payloads(out)] == [json.loads(d) for d in docs]
    assert all(m.metadata["source"] == "plc" for m in out)
    if fmt in ("tar", "zip"):
        assert [m.metadata["archive_filename"] for m in out] == ["part-0", "part-1", "part-2"]


# -- unarchive -----------------------------------------------------------------------------


def test_unarchive_lines_replaces_the_message_in_its_batch(tmp_path: Path) -> None:
    chain = chain_of(tmp_path, "- unarchive: { format: lines }")
    out = chain.process_batch(messages("before", "a\nb\nc\n", "after"))
    assert payloads(out) == [b"before", b"a", b"b", b"c", b"after"]


def test_unarchive_json_documents_map_and_array(tmp_path: Path) -> None:
    out = chain_of(tmp_path, "- unarchive: { format: json_documents }").process_batch(
        messages('{"a":1} {"b":2}\n[3]\n"four"')
    )
    assert [m.value for m in out] == [{"a": 1}, {"b": 2}, [3], "four"]
    out = chain_of(tmp_path, "- unarchive: { format: json_map }").process_batch(
        messages('{"temp":{"v":20},"rpm":{"v":1200}}', line="7")
    )
    assert [(m.metadata["archive_filename"], m.value) for m in out] == [
        ("temp", {"v": 20}),
        ("rpm", {"v": 1200}),
    ]
    assert all(m.metadata["line"] == "7" for m in out)
    out = chain_of(tmp_path, "- unarchive: { format: json_array }").process_batch(
        messages('[{"x":1},2,"three"]')
    )
    assert [m.value for m in out] == [{"x": 1}, 2, "three"]


def test_unarchive_csv_rows_become_objects(tmp_path: Path) -> None:
    out = chain_of(tmp_path, "- unarchive: { format: csv }").process_batch(
        messages("device,temp\npress,20.5\noven,180\n")
    )
    assert [m.value for m in out] == [
        {"device": "press", "temp": "20.5"},
        {"device": "oven", "temp": "180"},
    ]
    out = chain_of(tmp_path, '- unarchive: { format: "csv:\\t" }').process_batch(
        messages("a\tb\n1\t2\n")
    )
    assert [m.value for m in out] == [{"a": "1", "b": "2"}]


def test_a_message_that_does_not_unarchive_stays_flagged(tmp_path: Path) -> None:
    out = chain_of(tmp_path, "- unarchive: { format: json_array }").process_batch(
        messages('{"not":"an array"}', "[1,2]")
    )
    assert payloads(out) == [b'{"not":"an array"}', b"1", b"2"]
    assert out[0].error == "unarchive json_array: expected a JSON array, got dict"
    assert [m.error for m in out[1:]] == [None, None]
    out = chain_of(tmp_path, "- unarchive: { format: tar }").process_batch(messages("no tar"))
    assert out[0].payload == b"no tar" and out[0].error is not None


def _lint(tmp_path: Path, processors: str) -> list[str]:
    config = tmp_path / "bad.yaml"
    config.write_text(stream_yaml(processors))
    problems = [str(p) for p in lint_paths([config])]
    if not problems:
        problems = [str(p) for p in build_problems(load_stream(config))]
    return problems


def test_bad_formats_are_config_errors_with_their_place(tmp_path: Path) -> None:
    [problem] = _lint(tmp_path, "- archive: { format: rar }")
    assert problem.startswith(f"{tmp_path / 'bad.yaml'}:6:")
    assert '"rar" is not one of' in problem
    [problem] = _lint(tmp_path, "- unarchive: { format: 'csv:ab' }")
    assert f"{tmp_path / 'bad.yaml'}:6:" in problem
    assert "a csv delimiter must be one character" in problem
    [problem] = _lint(tmp_path, "- compress: { algorithm: brotli }")
    assert '"brotli" is not one of' in problem


# -- compress / decompress -----------------------------------------------------------------

TEXT = b"temperature=20.5 " * 50

READERS = {
    "gzip": gzip.decompress,
    "pgzip": gzip.decompress,
    "zlib": zlib.decompress,
    "flate": lambda b: zlib.decompress(b, -15),
    "snappy": lambda b: bytes(cramjam.snappy.decompress_raw(b)),
    "lz4": lz4.frame.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}


@pytest.mark.parametrize("algorithm", sorted(READERS))
def test_compress_writes_the_algorithms_format(tmp_path: Path, algorithm: str) -> None:
    chain = chain_of(tmp_path, f"- compress: {{ algorithm: {algorithm} }}")
    [out] = chain.process_batch([Message(TEXT, {"k": "v"})])
    assert len(out.payload) < len(TEXT)
    assert READERS[algorithm](out.payload) == TEXT
    assert out.metadata == {"k": "v"}


@pytest.mark.parametrize("algorithm", sorted(READERS))
def test_decompress_reverses_compress_per_message(tmp_path: Path, algorithm: str) -> None:
    chain = chain_of(
        tmp_path,
        f"""\
        - compress: {{ algorithm: {algorithm}, level: 9 }}
        - decompress: {{ algorithm: {algorithm} }}
        """,
    )
    out = chain.process_batch(messages("one", "two" * 100, ""))
    assert payloads(out) == [b"one", b"two" * 100, b""]


def test_levels_change_the_output_and_bzip2_decompresses(tmp_path: Path) -> None:
    fast = chain_of(tmp_path, "- compress: { algorithm: zlib, level: 0 }").process_batch(
        [Message(TEXT)]
    )
    best = chain_of(tmp_path, "- compress: { algorithm: zlib, level: 9 }").process_batch(
        [Message(TEXT)]
    )
    assert len(best[0].payload) < len(fast[0].payload)
    [out] = chain_of(tmp_path, "- decompress: { algorithm: bzip2 }").process_batch(
        [Message(bz2.compress(TEXT))]
    )
    assert out.payload == TEXT


def test_a_message_that_does_not_decompress_keeps_its_content_flagged(tmp_path: Path) -> None:
    out = chain_of(tmp_path, "- decompress: { algorithm: gzip }").process_batch(
        [Message(b"plain"), Message(gzip.compress(b"zipped"))]
    )
    assert payloads(out) == [b"plain", b"zipped"]
    assert out[0].error is not None and out[0].error.startswith("decompress gzip: ")
    assert out[1].error is None
