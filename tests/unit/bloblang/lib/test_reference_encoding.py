"""Benthos' reference for the "Encoding and Encryption" methods: every documented example."""

from __future__ import annotations

import base64
import gzip
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError, ParseError

#: the methods Benthos (Redpanda Connect) lists under "Encoding and Encryption"
REFERENCE_METHODS = [
    "compress", "decode", "decompress", "decrypt_aes", "encode", "encrypt_aes", "hash", "uuid_v5",
]  # fmt: skip

_AES = (
    'let key = "2b7e151628aed2a6abf7158809cf4f3c".decode("hex")\n'
    'let vector = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff".decode("hex")\n'
)
_GZIPPED = "H4sIAN12MWkAA8tIzcnJVyjPL8pJUfBUyMkvS1UoLkhMTgUAQpDxbxgAAAA="
_ASCII85 = 'FD,B0+DGm>FDl80Ci\\"A>F`)8BEckl6F`M&(+Cno&@/'

#: (mapping, input payload, output payload) as the reference writes them
EXAMPLES: list[tuple[str, str, str]] = [
    ('root = this.compressed.decode("base64").decompress("gzip")',
     f'{{"compressed":"{_GZIPPED}"}}', "hello world I love space"),
    ('root.message = this.compressed.decode("base64").decompress("gzip").string()',
     f'{{"compressed":"{_GZIPPED}"}}', '{"message":"hello world I love space"}'),
    ('root.decoded = this.value.decode("hex").string()', '{"value":"68656c6c6f20776f726c64"}',
     '{"decoded":"hello world"}'),
    ('root = this.encoded.decode("ascii85")', f'{{"encoded":"{_ASCII85}"}}',
     "this is totally unstructured data"),
    ('root.encoded = this.value.encode("hex")', '{"value":"hello world"}',
     '{"encoded":"68656c6c6f20776f726c64"}'),
    ('root.encoded = content().encode("ascii85")', "this is totally unstructured data",
     f'{{"encoded":"{_ASCII85}"}}'),
    (_AES + 'root.decrypted = this.value.decode("hex").decrypt_aes("ctr", $key, $vector).string()',
     '{"value":"84e9b31ff7400bdf80be7254"}', '{"decrypted":"hello world!"}'),
    (_AES + 'root.encrypted = this.value.encrypt_aes("ctr", $key, $vector).encode("hex")',
     '{"value":"hello world!"}', '{"encrypted":"84e9b31ff7400bdf80be7254"}'),
    ('root.h1 = this.value.hash("sha1").encode("hex")\n'
     'root.h2 = this.value.hash("hmac_sha1","static-key").encode("hex")',
     '{"value":"hello world"}',
     '{"h1":"2aae6c35c94fcfb415dbe95f408b9ce91ee846ed",'
     '"h2":"d87e5f068fa08fe90bb95bc7c8344cb809179d76"}'),
    ('root.h1 = this.value.hash(algorithm: "crc32", polynomial: "Castagnoli").encode("hex")\n'
     'root.h2 = this.value.hash(algorithm: "crc32", polynomial: "Koopman").encode("hex")',
     '{"value":"hello world"}', '{"h1":"c99465aa","h2":"df373d3c"}'),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "given", "expected"), EXAMPLES)
def test_documented_example(
    doc_example: Callable[[str, str, str], None], mapping: str, given: str, expected: str
) -> None:
    doc_example(mapping, given, expected)


def test_compress_then_encode_gives_gzip_of_the_payload(
    run_json: Callable[[str, str], Any],
) -> None:
    # Benthos' example output bytes come from Go's compressor; any valid gzip stream of the
    # payload is an equally correct answer, so the round trip is what is checked.
    doc = '{"message":"hello world I love space"}'
    out = run_json('root.compressed = content().bytes().compress("gzip").encode("base64")', doc)
    assert gzip.decompress(base64.b64decode(out["compressed"])) == doc.encode()


def test_compression_sizes_can_be_compared(run_json: Callable[[str, str], Any]) -> None:
    text = " ".join(["The quick brown fox jumps over the lazy dog."] * 2)
    out = run_json(
        "root.original_size = content().length()\n"
        'root.gzip_size = content().compress("gzip").length()\n'
        'root.lz4_size = content().compress("lz4").length()',
        text,
    )
    assert out["original_size"] == 89
    assert isinstance(out["gzip_size"], int) and out["gzip_size"] > 0
    assert isinstance(out["lz4_size"], int) and out["lz4_size"] > 0


@pytest.mark.parametrize(
    ("mapping", "namespace"),
    [
        ('root.id = "example".uuid_v5()', uuid.UUID(int=0)),
        ('root.id = "example".uuid_v5("x500")', uuid.NAMESPACE_X500),
        ('root.id = "example".uuid_v5("dns")', uuid.NAMESPACE_DNS),
        (
            'root.id = "example".uuid_v5("77f836b7-9f61-46c0-851e-9b6ca3535e69")',
            uuid.UUID("77f836b7-9f61-46c0-851e-9b6ca3535e69"),
        ),
    ],
)
def test_uuid_v5_is_the_name_based_uuid_in_the_namespace(
    run_json: Callable[[str, str], Any], mapping: str, namespace: uuid.UUID
) -> None:
    assert run_json(mapping, "{}") == {"id": str(uuid.uuid5(namespace, "example"))}


def test_uuid_v5_is_stable_for_the_same_name() -> None:
    assert parse('root = this.uuid_v5("url")').query("https://example.com") == (
        "4fd35a71-71ef-5a55-a9d9-aa75c889a6d0"
    )


def test_every_reference_method_is_registered() -> None:
    missing = [name for name in REFERENCE_METHODS if name not in registry.methods]
    assert missing == []


@pytest.mark.parametrize(
    ("mapping", "value", "message"),
    [
        ('root = this.hash("hmac_sha256")', "x", "requires a key argument"),
        ('root = this.hash("sha3")', "x", "unrecognized hash type"),
        ('root = this.encode("base32")', "x", "unrecognized encoding type"),
        ('root = this.uuid_v5("galaxy")', "x", "invalid namespace"),
        ('root = this.decompress("gzip")', "not gzip", "failed to decompress"),
    ],
)
def test_documented_errors(mapping: str, value: Any, message: str) -> None:
    with pytest.raises((MappingError, ParseError), match=message):
        parse(mapping).query(value)
