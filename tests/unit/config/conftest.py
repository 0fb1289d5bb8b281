"""Test-only components registered once for the config tests, and file helpers."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamforge.plugin import (
    Field,
    register_input,
    register_output,
    register_processor,
    registry,
)


def _factory(conf: Any, ctx: Any) -> Any:
    return conf


if registry.get("input", "test_only_gen") is None:
    register_input(
        "test_only_gen",
        fields=[
            Field("mapping", "mapping", default="root = {}"),
            Field("count", "int", default=0),
            Field("interval", "duration", default="1s"),
            Field("codec", "string", default="lines", options=("lines", "all-bytes")),
            Field("batching", "object", default={}, fields=(
                Field("count", "int", default=0),
                Field("period", "duration", default=""),
            )),
        ],
        summary="Generates test messages.",
    )(_factory)  # fmt: skip
    register_processor(
        "test_only_upper",
        fields=[
            Field("field", "string", default="value"),
            Field("message", "string", default="", interpolable=True),
            Field("ratio", "float", default=1.0),
            Field("enabled", "bool", default=True),
        ],
        summary="Upper-cases a field.",
    )(_factory)
    register_processor(
        "test_only_blobl",
        config=Field("test_only_blobl", "mapping"),
        summary="A bare Bloblang mapping.",
    )(_factory)
    register_processor(
        "test_only_cases",
        config=Field("test_only_cases", "array", item=Field("case", "object", fields=(
            Field("check", "query", default=""),
            Field("processors", "array", default=[], item=Field("p", "processor")),
        ))),
        summary="Switch-like cases.",
    )(_factory)  # fmt: skip
    register_output(
        "test_only_sink",
        fields=[Field("path", "string", interpolable=True), Field("tags", "map", default={})],
        summary="Writes nowhere.",
    )(_factory)
    register_output(
        "test_only_fan",
        fields=[Field("outputs", "array", default=[], item=Field("o", "output"))],
        summary="Fans out.",
    )(_factory)


@pytest.fixture()
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(text, name="stream.yaml") -> path of a dedented config file."""

    def _write(text: str, name: str = "stream.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write
