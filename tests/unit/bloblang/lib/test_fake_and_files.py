"""`fake` (Benthos' documented kinds) and `file_rel` (paths relative to the mapping)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.lib.general import FAKE_KINDS


def run(mapping: str, doc: Any = None) -> Any:
    return parse(mapping).query(doc)


FORMATS = {
    "time_string": r"\d\d:\d\d:\d\d",
    "date": r"\d{4}-\d\d-\d\d",
    "timestamp": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    "year_string": r"\d{4}",
    "email": r"[^@\s]+@[^@\s]+\.[a-z]+",
    "ipv4": r"\d{1,3}(\.\d{1,3}){3}",
    "mac_address": r"([0-9a-f]{2}:){5}[0-9a-f]{2}",
    "uuid_hyphenated": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
    "uuid_digit": r"[0-9a-f]{32}",
    "jwt": r"[\w-]+\.[\w-]+\.[\w-]+",
    "century": r"[IVXLC]+",
    "time_period": r"AM|PM",
    "e164_phone_number": r"\+\d{11}",
}


def test_every_documented_kind_generates_a_value() -> None:
    mapping = "root = {" + ", ".join(f'"{k}": fake("{k}")' for k in FAKE_KINDS) + "}"
    out = run(mapping)
    assert set(out) == set(FAKE_KINDS)
    for kind, value in out.items():
        if kind in ("latitude", "longitude"):
            assert isinstance(value, float)
        elif kind == "unix_time":
            assert isinstance(value, int)
        else:
            assert isinstance(value, str) and value, kind
        if kind in FORMATS:
            assert re.fullmatch(FORMATS[kind], value), (kind, value)
    assert -90 <= out["latitude"] <= 90 and -180 <= out["longitude"] <= 180


def test_fake_named_argument_and_unknown_kind() -> None:
    assert re.fullmatch(FORMATS["email"], run('root = fake(function: "email")'))
    with pytest.raises(MappingError, match="invalid faker function: nope"):
        run('root = fake("nope")')


def test_file_rel_reads_relative_to_the_mapping_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "doc.json").write_text('{"foo":"bar"}')
    (mappings / "m.blobl").write_text('root.doc = file_rel("doc.json").parse_json()\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert parse(f'from "{mappings / "m.blobl"}"').query({}) == {"doc": {"foo": "bar"}}
    # a mapping inside a config resolves from the config's directory (its import path)
    exe = parse(
        'root.doc = file_rel(path: "doc.json", no_cache: true).parse_json()',
        import_paths=[str(mappings)],
    )
    assert exe.query({}) == {"doc": {"foo": "bar"}}
    # `file` still resolves from the working directory
    with pytest.raises(MappingError, match="doc.json"):
        parse('root = file("doc.json")', import_paths=[str(mappings)]).query({})


def test_file_rel_absolute_path_and_missing_file(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    target.write_text("hello")
    assert run(f'root = file_rel("{target}").string()') == "hello"
    with pytest.raises(MappingError, match="missing.txt"):
        run('root = file_rel("missing.txt")')
