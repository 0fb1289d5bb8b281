"""Encoding, hashing, compression and HMAC JWT methods: documented examples and errors."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any

import pytest

from streamforge.bloblang.errors import MappingError

ASCII85 = 'FD,B0+DGm>FDl80Ci"A>F`)8BEckl6F`M&(+Cno&@/'
LZ4_DOC = "BCJNGGRwuRgAAIBoZWxsbyB3b3JsZCBJIGxvdmUgc3BhY2UAAAAAGoETLg=="
HS256_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3V"
    "iIjoiMTIzNDU2Nzg5MCJ9.YwXOM8v3gHVWcQRRRQc_zDlhmLnM62fwhFYGpiA0J1A"
)
CLAIMS = {"iat": 1516239022, "mood": "Disdainful", "sub": "1234567890"}


def test_encode_and_decode_documented_examples(run: Any, run_doc: Any) -> None:
    assert run('root.encoded = this.value.encode("hex")', {"value": "hello world"}) == {
        "encoded": "68656c6c6f20776f726c64"
    }
    assert run_doc(
        'root.encoded = content().encode("ascii85")', "this is totally unstructured data"
    ) == ('{"encoded":"FD,B0+DGm>FDl80Ci\\"A>F`)8BEckl6F`M&(+Cno&@/"}')
    assert run(
        'root.decoded = this.value.decode("hex").string()', {"value": "68656c6c6f20776f726c64"}
    ) == {"decoded": "hello world"}
    assert (
        run_doc(
            'root = this.encoded.decode("ascii85")',
            json.dumps({"encoded": ASCII85}),
        )
        == "this is totally unstructured data"
    )


@pytest.mark.parametrize(
    ("scheme", "encoded"),
    [
        ("base64", "aGk/Pz4+"),
        ("base64url", "aGk_Pz4-"),
        ("base64rawurl", "aGk_Pz4-"),
        ("hex", "68693f3f3e3e"),
    ],
)
def test_encode_schemes_round_trip(run: Any, scheme: str, encoded: str) -> None:
    assert run(f'root = this.v.encode("{scheme}")', {"v": "hi??>>"}) == encoded
    assert run(f'root = this.v.decode("{scheme}")', {"v": encoded}) == b"hi??>>"


def test_base64_padding_rules(run: Any) -> None:
    assert run('root = this.v.encode("base64url")', {"v": "a"}) == "YQ=="
    assert run('root = this.v.encode("base64rawurl")', {"v": "a"}) == "YQ"
    assert run('root = this.v.decode("base64rawurl")', {"v": "YQ"}) == b"a"
    with pytest.raises(MappingError):
        run('root = this.v.decode("base64")', {"v": "YQ"})


def test_hash_documented_examples(run: Any) -> None:
    mapping = (
        'root.h1 = this.value.hash("sha1").encode("hex")\n'
        'root.h2 = this.value.hash("hmac_sha1","static-key").encode("hex")'
    )
    assert run(mapping, {"value": "hello world"}) == {
        "h1": "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed",
        "h2": "d87e5f068fa08fe90bb95bc7c8344cb809179d76",
    }
    mapping = (
        'root.h1 = this.value.hash(algorithm: "crc32", polynomial: "Castagnoli").encode("hex")\n'
        'root.h2 = this.value.hash(algorithm: "crc32", polynomial: "Koopman").encode("hex")'
    )
    assert run(mapping, {"value": "hello world"}) == {"h1": "c99465aa", "h2": "df373d3c"}


@pytest.mark.parametrize(
    ("algorithm", "expected_hex"),
    [
        ("md5", "5eb63bbbe01eeed093cb22bb8f5acdc3"),
        ("sha256", "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"),
        ("crc32", "0d4a1185"),
    ],
)
def test_hash_algorithms(run: Any, algorithm: str, expected_hex: str) -> None:
    out = run(f'root = this.v.hash("{algorithm}").encode("hex")', {"v": "hello world"})
    assert out == expected_hex


def test_xxhash64_is_the_decimal_text_of_the_hash(run: Any) -> None:
    assert run('root = this.v.hash("xxhash64").string()', {"v": "hello world"}) == (
        "5020219685658847592"
    )
    assert run('root = "".hash("xxhash64").string()', None) == "17241709254077376921"
    long_text = "Nobody inspects the spammish repetition"
    assert run('root = this.v.hash("xxhash64").string()', {"v": long_text}) == (
        str(0xFBCEA83C8A378BF1)
    )


def test_hmac_sha512_and_sha256(run: Any) -> None:
    import hmac

    for algo in ("sha256", "sha512"):
        expected = hmac.new(b"k", b"data", algo).hexdigest()
        assert run(f'root = this.v.hash("hmac_{algo}", "k").encode("hex")', {"v": "data"}) == (
            expected
        )


def test_compress_documented_examples(run_doc: Any) -> None:
    mapping = (
        'let long_content = range(0, 1000).map_each(content()).join(" ")\n'
        "root.a_len = $long_content.length()\n"
        'root.b_len = $long_content.compress("gzip").length()'
    )
    out = run_doc(mapping, "hello world this is some content")
    assert out.startswith('{"a_len":32999,"b_len":1')
    assert run_doc(
        'root.compressed = content().compress("lz4").encode("base64")',
        "hello world I love space",
    ) == json.dumps({"compressed": LZ4_DOC}, separators=(",", ":"))


def test_decompress_documented_examples(run: Any, run_doc: Any) -> None:
    assert (
        run_doc(
            'root = this.compressed.decode("base64").decompress("lz4")',
            json.dumps({"compressed": LZ4_DOC}, separators=(",", ":")),
        )
        == "hello world I love space"
    )
    assert run(
        'root.result = this.compressed.decode("base64").decompress("lz4").string()',
        {"compressed": LZ4_DOC},
    ) == {"result": "hello world I love space"}


@pytest.mark.parametrize("algorithm", ["gzip", "pgzip", "zlib", "flate", "lz4", "snappy", "zstd"])
def test_compression_round_trips(run: Any, algorithm: str) -> None:
    text = "the quick brown fox jumps over the lazy dog " * 200 + "tail"
    packed = run(f'root = this.v.compress("{algorithm}")', {"v": text})
    assert isinstance(packed, bytes) and len(packed) < len(text)
    assert (
        run(
            f'root = this.v.compress("{algorithm}").decompress("{algorithm}").string()', {"v": text}
        )
        == text
    )


def test_decompress_reads_standard_formats(run: Any) -> None:
    import bz2

    data = b"standard library output"
    for algorithm, packed in (
        ("gzip", gzip.compress(data)),
        ("zlib", zlib.compress(data)),
        ("bzip2", bz2.compress(data)),
    ):
        b64 = __import__("base64").b64encode(packed).decode()
        assert run(f'root = this.v.decode("base64").decompress("{algorithm}")', {"v": b64}) == data


def test_lz4_reads_concatenated_frames_and_honours_levels(run: Any) -> None:
    frame = base64.b64decode(LZ4_DOC)
    b64 = base64.b64encode(frame + frame).decode()
    assert run('root = this.v.decode("base64").decompress("lz4").string()', {"v": b64}) == (
        "hello world I love space" * 2
    )
    text = "abcdefgh" * 500
    packed = run('root = this.v.compress("lz4", 9)', {"v": text})
    assert run('root = this.v.decompress("lz4").string()', {"v": packed}) == text


def test_snappy_reads_the_block_format(run: Any) -> None:
    # Hand-assembled from the format description: length varint, literal tag, copy-1 tag.
    literal = bytes([11, (11 - 1) << 2]) + b"hello world"
    copy = bytes([12, (4 - 1) << 2]) + b"abcd" + bytes([((8 - 4) << 2) | 1, 4])
    for packed, expected in ((literal, b"hello world"), (copy, b"abcdabcdabcd")):
        b64 = base64.b64encode(packed).decode()
        assert run('root = this.v.decode("base64").decompress("snappy")', {"v": b64}) == expected


def test_zstd_reads_streamed_and_concatenated_frames(run: Any) -> None:
    import io

    import zstandard

    sink = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(sink, closefd=False) as w:
        w.write(b"streamed, size unknown;")
    data = sink.getvalue() + zstandard.ZstdCompressor().compress(b" second frame")
    b64 = base64.b64encode(data).decode()
    assert run('root = this.v.decode("base64").decompress("zstd")', {"v": b64}) == (
        b"streamed, size unknown; second frame"
    )
    with pytest.raises(MappingError, match="failed to decompress zstd data"):
        run('root = this.v.decompress("zstd")', {"v": "not zstd"})


def test_z85_matches_the_zeromq_reference_vector(run: Any) -> None:
    assert run('root = this.v.decode("hex").encode("z85")', {"v": "864fd26fb559f75b"}) == (
        "HelloWorld"
    )
    assert run('root = this.v.decode("z85").encode("hex")', {"v": "HelloWorld"}) == (
        "864fd26fb559f75b"
    )
    for bad, message in (("Hello", "illegal character"), ("Hell~", "illegal character")):
        with pytest.raises(MappingError, match=message):
            run('root = this.v.decode("z85")', {"v": bad.replace("o", "_")})
    with pytest.raises(MappingError, match="multiple of 4"):
        run('root = "abc".encode("z85")', None)


def test_compress_level_is_applied(run: Any) -> None:
    text = "abcdefgh" * 500
    fast = run('root = this.v.compress("zlib", 0)', {"v": text})
    best = run('root = this.v.compress("zlib", 9)', {"v": text})
    assert len(best) < len(fast)


def test_jwt_hs_documented_examples(run: Any) -> None:
    for bits, sig in (
        ("256", "hUl-nngPMY_3h9vveWJUPsCcO5PeL6k9hWLnMYeFbFQ"),
        ("384", "zGYLr83aToon1efUNq-hw7XgT20lPvZb8sYei8x6S6mpHwb433SJdXJXx0Oio8AZ"),
    ):
        out = run(
            f'root.signed = this.claims.sign_jwt_hs{bits}("""dont-tell-anyone""")',
            {"claims": {"sub": "user123"}},
        )
        assert out["signed"].endswith("." + sig)
    assert run(
        'root.claims = this.signed.parse_jwt_hs256("""dont-tell-anyone""")', {"signed": HS256_TOKEN}
    ) == {"claims": CLAIMS}


def test_jwt_round_trip_and_bad_secret(run: Any) -> None:
    token = run('root = this.sign_jwt_hs512("s3cret")', {"a": 1})
    assert run('root = this.t.parse_jwt_hs512("s3cret")', {"t": token}) == {"a": 1}
    with pytest.raises(MappingError, match="signature is invalid"):
        run('root = this.t.parse_jwt_hs512("wrong")', {"t": token})
    with pytest.raises(MappingError, match="signing method"):
        run('root = this.t.parse_jwt_hs256("s3cret")', {"t": token})


@pytest.mark.parametrize(
    ("mapping", "doc", "message"),
    [
        ('root = this.v.encode("rot13")', {"v": "x"}, "unrecognized encoding type: rot13"),
        ('root = this.v.decode("hex")', {"v": "zz"}, "invalid byte"),
        ('root = this.v.hash("sha3")', {"v": "x"}, "unrecognized hash type: sha3"),
        ('root = this.v.hash("hmac_sha256")', {"v": "x"}, "requires a key"),
        ('root = this.v.hash("crc32", polynomial: "nope")', {"v": "x"}, "unsupported crc32"),
        ('root = this.v.compress("brotli")', {"v": "x"}, "compression type not recognised: brotli"),
        ('root = this.v.compress("bzip2")', {"v": "x"}, "compression type not recognised: bzip2"),
        ('root = this.v.decompress("lz4")', {"v": "not lz4"}, "failed to decompress lz4"),
        ('root = this.v.decompress("snappy")', {"v": "\xff"}, "failed to decompress snappy"),
        ('root = this.v.decompress("gzip")', {"v": "not gzip"}, "failed to decompress"),
        (
            'root = this.v.encode("hex")',
            {"v": 12},
            "expected string value, got number from field `this.v` (12)",
        ),
    ],
)
def test_errors(run: Any, mapping: str, doc: Any, message: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, doc)
    assert message in str(info.value)
