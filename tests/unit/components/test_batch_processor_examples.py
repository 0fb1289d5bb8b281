"""The examples each batch processor documents lint and build in a stream."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from batch_helpers import stream_yaml

from streamforge.config.loader import lint_paths, load_stream
from streamforge.engine.instantiate import build_problems
from streamforge.plugin import registry

NAMES = [
    "archive",
    "unarchive",
    "compress",
    "decompress",
    "split",
    "group_by",
    "group_by_value",
    "for_each",
    "while",
    "parallel",
    "workflow",
]


@pytest.mark.parametrize("name", NAMES)
def test_documented_examples_lint_and_build(tmp_path: Path, name: str) -> None:
    spec = registry.get("processor", name)
    assert spec is not None and spec.examples
    for i, example in enumerate(spec.examples):
        config = tmp_path / f"{name}_{i}.yaml"
        config.write_text(stream_yaml("- " + textwrap.indent(example, "  ").lstrip()))
        assert [str(p) for p in lint_paths([config])] == [], example
        assert [str(p) for p in build_problems(load_stream(config))] == [], example
