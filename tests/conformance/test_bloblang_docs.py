"""Benthos' documented Bloblang language examples, run through StreamForge's Bloblang.

Each case of `bloblang_docs.yaml` gives a mapping, an input message and the documented result
(an output payload, a dropped message or an error); see the header of that file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamforge.bloblang import MappingError, ParseError, parse, parse_query
from streamforge.message import Message

CASES_FILE = Path(__file__).with_name("bloblang_docs.yaml")
_MODES = {"mapping", "mutation", "query"}
_RESULTS = ("output", "output_raw", "deleted", "error")


def _load_cases() -> list[dict[str, Any]]:
    with CASES_FILE.open(encoding="utf-8") as fh:
        cases = yaml.safe_load(fh)
    assert isinstance(cases, list)
    return cases


CASES = _load_cases()


def _message(case: dict[str, Any], value: Any = None, raw: str | None = None) -> Message:
    meta = dict(case.get("metadata") or {})
    if raw is not None:
        return Message(raw.encode("utf-8"), meta)
    return Message(json.dumps(value).encode("utf-8"), meta)


def _inputs(case: dict[str, Any]) -> tuple[list[Message], int]:
    if "batch" in case:
        batch = [_message(case, v) for v in case["batch"]]
        return batch, int(case.get("index", 0))
    if "input_raw" in case:
        return [_message(case, raw=str(case["input_raw"]))], 0
    return [_message(case, case.get("input"))], 0


def _run(case: dict[str, Any]) -> Any:
    """The outcome of a case: ("message", Message | None) or ("value", query result)."""
    mode = case.get("mode", "mapping")
    batch, index = _inputs(case)
    msg = batch[index]
    full_batch = batch if "batch" in case else None
    if mode == "query":
        value = parse_query(case["mapping"]).query_message(msg, full_batch, index)
        return "value", value
    exe = parse(case["mapping"], import_paths=[str(Path.cwd())])
    return "message", exe.apply_message(msg, full_batch, index, mutate=mode == "mutation")


def _payload_text(kind: str, result: Any) -> str:
    if kind == "value":
        if isinstance(result, bytes):
            return result.decode("utf-8")
        return result if isinstance(result, str) else json.dumps(result)
    assert result is not None, "the message was deleted"
    return bytes(result.payload).decode("utf-8")


def test_cases_are_well_formed() -> None:
    names = [c.get("name") for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for case in CASES:
        assert case.get("source"), case.get("name")
        assert isinstance(case.get("mapping"), str), case.get("name")
        assert case.get("mode", "mapping") in _MODES, case["name"]
        assert sum(k in case for k in _RESULTS) == 1, case["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_documented_example(
    case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for rel, text in (case.get("files") or {}).items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    if "error" in case:
        expected = case["error"]
        wanted = expected if isinstance(expected, list) else [expected]
        with pytest.raises((MappingError, ParseError)) as info:
            _run(case)
        text = str(info.value)
        for part in wanted:
            assert part in text, f"{part!r} not in error {text!r}"
        return

    kind, result = _run(case)
    if case.get("deleted"):
        assert result is None, "expected the message to be deleted"
        return
    if "output_raw" in case:
        assert _payload_text(kind, result) == str(case["output_raw"])
    else:
        text = _payload_text(kind, result)
        assert json.loads(text) == case["output"]
    if "output_metadata" in case:
        assert kind == "message" and result is not None
        expected_meta = case["output_metadata"]
        if case.get("output_metadata_exact"):
            assert result.metadata == expected_meta
        else:
            assert {k: result.metadata.get(k) for k in expected_meta} == expected_meta
