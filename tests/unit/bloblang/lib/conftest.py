"""Helpers for running documented Bloblang examples through the language."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from streamforge.message import Message


def _run(mapping: str, value: Any) -> Any:
    from streamforge.bloblang import parse

    return parse(mapping).query(value)


def _run_doc(mapping: str, doc: str) -> str:
    """Apply a mapping to a raw message and return the payload text, as `benthos blobl`."""
    from streamforge.bloblang import parse

    out = parse(mapping).apply_message(Message(doc.encode(), {}))
    assert out is not None
    return out.payload.decode("utf-8")


@pytest.fixture
def run() -> Callable[[str, Any], Any]:
    """`run(mapping, value)`: the new root of `mapping` applied to `value`."""
    return _run


@pytest.fixture
def run_doc() -> Callable[[str, str], str]:
    """`run_doc(mapping, payload_text)`: the output payload text."""
    return _run_doc


@pytest.fixture
def run_json() -> Callable[[str, str], Any]:
    """`run_json(mapping, json_text)`: the output payload parsed as JSON."""

    def go(mapping: str, doc: str) -> Any:
        return json.loads(_run_doc(mapping, doc))

    return go


def _document(text: str) -> Any:
    """A payload as JSON when it is JSON, else as its text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@pytest.fixture
def doc_example() -> Callable[[str, str, str], None]:
    """`doc_example(mapping, input, expected)`: the documented output, compared as JSON
    when it is JSON (key order and spacing aside), else as text."""

    def check(mapping: str, given: str, expected: str) -> None:
        assert _document(_run_doc(mapping, given)) == _document(expected)

    return check
