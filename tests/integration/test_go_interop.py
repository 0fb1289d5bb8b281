"""Bytes exchanged with Benthos: compression and JSON checked against a real Go toolchain.

A small Go program (go_interop/main.go, standard library only) is built once per session and
plays Benthos' side: it compresses and decompresses with compress/gzip, compress/zlib and
compress/flate, and writes JSON the way Benthos writes a structured payload (encoding/json,
HTML characters unescaped, numbers kept as written with `UseNumber`, or as float64).
"""

from __future__ import annotations

import functools
import os
import random
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamforge.bloblang import parse
from streamforge.message import Message, serialise_value
from streamforge.plugin import load_builtins
from streamforge.plugin.testing import PluginTestContext

GO_SOURCE = Path(__file__).parent / "go_interop"

ALGORITHMS = ["gzip", "zlib", "flate"]
#: Benthos' level numbers: -2 Huffman only, -1 default, 0 stored, 1 best speed, 9 best size
LEVELS = [-2, -1, 0, 1, 5, 9]
MIB = 1 << 20
PAYLOADS = {
    "empty": b"",
    "small-text": "hello hello hello, StreamForge ✓\n".encode(),
    "1mb-repetitive": (b"temperature=21.5;pressure=1013.25;state=RUNNING\n" * (MIB // 40))[:MIB],
    "1mb-random": random.Random(7).randbytes(MIB),
    "binary": bytes(range(256)) * 16,
}


@pytest.fixture(scope="session")
def go_interop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go side, built with its caches in the session's temporary directory."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("the Go toolchain is not installed (apt-get install golang-go)")
    out = tmp_path_factory.mktemp("go_interop")
    env = {
        **os.environ,
        "GOCACHE": str(out / "cache"),
        "GOPATH": str(out / "gopath"),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    binary = out / "go_interop"
    started = time.monotonic()
    subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=GO_SOURCE,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    print(f"go build of go_interop: {time.monotonic() - started:.1f}s")
    return binary


def run_go(binary: Path, *args: str | int, data: bytes) -> bytes:
    proc = subprocess.run(
        [str(binary), *map(str, args)], input=data, capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


@functools.cache
def go_version() -> tuple[int, int]:
    found = re.search(
        rb"go(\d+)\.(\d+)", subprocess.run(["go", "version"], capture_output=True).stdout
    )
    assert found is not None
    return int(found[1]), int(found[2])


# ---------------------------------------------------------------------------------------
# compression


def bloblang_compress(data: bytes, algorithm: str, level: int) -> bytes:
    out = parse(f'root = content().compress("{algorithm}", {level})').apply_message(Message(data))
    assert out is not None
    return out.payload


def bloblang_decompress(data: bytes, algorithm: str) -> bytes:
    out = parse(f'root = content().decompress("{algorithm}")').apply_message(Message(data))
    assert out is not None
    return out.payload


def processor_compress(data: bytes, algorithm: str, level: int) -> bytes:
    """Compressed by a `mapping` processor, as a stream's pipeline writes it out."""
    load_builtins()
    ctx = PluginTestContext()
    (proc,) = ctx.build_processors(
        [{"mapping": f'root = content().compress("{algorithm}", {level})'}]
    )
    (out,) = proc.process_batch([Message(data)])
    assert out.error is None
    return out.payload


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_go_decompresses_what_streamforge_compresses(
    go_interop: Path, algorithm: str, payload: str
) -> None:
    data = PAYLOADS[payload]
    for level in LEVELS:
        packed = bloblang_compress(data, algorithm, level)
        assert run_go(go_interop, "decompress", algorithm, data=packed) == data, level
    packed = processor_compress(data, algorithm, -1)
    assert run_go(go_interop, "decompress", algorithm, data=packed) == data


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_streamforge_decompresses_what_go_compresses(
    go_interop: Path, algorithm: str, payload: str
) -> None:
    data = PAYLOADS[payload]
    for level in LEVELS:
        packed = run_go(go_interop, "compress", algorithm, level, data=data)
        assert bloblang_decompress(packed, algorithm) == data, level


@pytest.mark.parametrize("level", LEVELS)
def test_gzip_header_and_trailer_are_gos(go_interop: Path, level: int) -> None:
    """Magic, CM, FLG, MTIME, XFL and OS as Go writes them; CRC-32 and size trailer too."""
    for data in PAYLOADS.values():
        ours = bloblang_compress(data, "gzip", level)
        gos = run_go(go_interop, "compress", "gzip", level, data=data)
        assert ours[:10] == gos[:10], (level, ours[:10].hex(), gos[:10].hex())
        assert ours[-8:] == gos[-8:] == struct.pack("<II", zlib.crc32(data), len(data))


@pytest.mark.parametrize("level", LEVELS)
def test_zlib_header_and_adler32_are_gos(go_interop: Path, level: int) -> None:
    for data in PAYLOADS.values():
        ours = bloblang_compress(data, "zlib", level)
        gos = run_go(go_interop, "compress", "zlib", level, data=data)
        assert ours[:2] == gos[:2], (level, ours[:2].hex(), gos[:2].hex())
        assert ours[-4:] == gos[-4:] == zlib.adler32(data).to_bytes(4, "big")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_stored_and_empty_outputs_are_byte_identical_to_gos(
    go_interop: Path, algorithm: str
) -> None:
    """Level 0 and an empty payload: the whole output, not only its framing, is Go's."""
    for name, data in PAYLOADS.items():
        gos = run_go(go_interop, "compress", algorithm, 0, data=data)
        assert bloblang_compress(data, algorithm, 0) == gos, name
    for level in LEVELS:
        gos = run_go(go_interop, "compress", algorithm, level, data=b"")
        assert bloblang_compress(b"", algorithm, level) == gos, level


def test_flate_is_raw_deflate_as_in_benthos(go_interop: Path) -> None:
    """`flate` is a bare DEFLATE stream: no zlib or gzip wrapper on either side."""
    data = PAYLOADS["small-text"]
    ours = bloblang_compress(data, "flate", -1)
    gos = run_go(go_interop, "compress", "flate", -1, data=data)
    for packed in (ours, gos):
        assert packed[:2] != b"\x1f\x8b"
        assert zlib.decompress(packed, -15) == data


# ---------------------------------------------------------------------------------------
# JSON: structured payloads as Benthos writes them

#: documents whose bytes StreamForge writes exactly as Benthos does (numbers kept as written)
BENTHOS_DOCUMENTS = [
    '{"zeta":1,"alpha":{"z":[3,2,1],"a":{"y":true,"b":null}},"mid":"x"}',
    '{"ünïcödé":"Grüße, 世界 🌍","emoji":"\\ud83d\\ude00","\\u00e9":"é"}',
    '{"html":"<script>alert(1)</script> & <b>","amp":"a&&b"}',
    '{"separators":"\\u2028 and \\u2029","escaped":"\\/path\\/"}',
    '{"controls":"\\u0000\\u0001\\u001f\\u007f","ws":"\\t\\n\\r"}',
    '{"lone":"\\ud800 then \\udfff"}',
    '{"quotes":"\\"q\\" \\\\ back"}',
    '{"ints":[0,-1,9007199254740993,9223372036854775807,-9223372036854775808]}',
    '{"u64":18446744073709551615,"floats":[0.5,-12.75,3.14159,0.1,0.000015,123.456]}',
    '[{"b":2,"a":1},[],{},"",[[[]]]]',
    '{"keys":{"10":1,"9":2,"A":3,"a":4,"_":5,"é":6," ":7}}',
]

#: numbers a mapping computes: StreamForge writes them as Go writes a float64
FLOAT_DOCUMENTS = [
    "[1.0,-1.0,100.0,123456789.0,9007199254740994.0]",
    "[1e21,1e20,1e16,1.2345678901234568e+20,9.999999e+16,1e15]",
    "[0.000001,0.0000015,1e-7,1.23e-6,0.00001,0.0001,5e-324]",
    "[1.7976931348623157e308,-2.2250738585072014e-308,1.5e300,-0.0,0.0]",
    '{"t":20.0,"nested":{"p":1013.25,"q":[2.5e-6,3e18]}}',
]


def streamforge_json(document: bytes) -> bytes:
    out = parse("root = this").apply_message(Message(document))
    assert out is not None
    return out.payload


def benthos_json(go_interop: Path, document: bytes, mode: str = "json") -> bytes:
    written = run_go(go_interop, mode, data=document)
    if go_version() < (1, 22):
        # Go 1.22 writes \b and \f as short escapes (as StreamForge does); older Go spells them out
        written = written.replace(b"\\u0008", b"\\b").replace(b"\\u000c", b"\\f")
    return written


@pytest.mark.parametrize("document", BENTHOS_DOCUMENTS)
def test_structured_payload_bytes_match_benthos(go_interop: Path, document: str) -> None:
    raw = document.encode()
    assert streamforge_json(raw) == benthos_json(go_interop, raw)


def test_integers_wider_than_64_bits_are_written_exactly(go_interop: Path) -> None:
    """A mapping's big integers keep every digit, as Benthos keeps the number it read."""
    value = {"big": 2**70, "neg": -(2**64) - 1, "list": [10**30, 1.0]}
    raw = f'{{"big":{2**70},"neg":{-(2**64) - 1},"list":[{10**30},1]}}'.encode()
    assert serialise_value(value) == benthos_json(go_interop, raw)


def test_backspace_and_form_feed_are_short_escapes(go_interop: Path) -> None:
    raw = b'{"s":"\\b\\f"}'
    assert streamforge_json(raw) == benthos_json(go_interop, raw) == b'{"s":"\\b\\f"}'


@pytest.mark.parametrize("document", FLOAT_DOCUMENTS)
def test_computed_floats_are_written_as_go_writes_float64(go_interop: Path, document: str) -> None:
    raw = document.encode()
    assert streamforge_json(raw) == benthos_json(go_interop, raw, "json-float")


def test_random_float64s_are_written_as_go_writes_them(go_interop: Path) -> None:
    rng = random.Random(11)
    values: list[Any] = []
    while len(values) < 5000:
        (value,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if value == value and abs(value) != float("inf"):
            values.append(value)
    values += [m * 10.0**e for e in range(-25, 25) for m in (1.0, -2.5, 9.999999999)]
    document = orjson.dumps(values)
    assert serialise_value(values) == benthos_json(go_interop, document, "json-float")
