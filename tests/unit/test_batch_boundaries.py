"""Benthos' batch boundaries: each line a file or stdin reads is a batch of its own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from bytewax.testing import run_main

from streamforge.config.loader import load_stream
from streamforge.engine.dataflow import compile_streams

MAPPING = (
    'root = "%s %d/%d %d".format(content().string(), batch_index(), batch_size(), '
    "content().from_all().length())"
)


def run(tmp_path: Path, input_yaml: str, processors: str = f"- mapping: '{MAPPING}'") -> list[str]:
    out = tmp_path / "out.txt"
    config = tmp_path / "stream.yaml"
    config.write_text(
        "http: { enabled: false }\n"
        f"input:\n{textwrap.indent(input_yaml, '  ')}\n"
        f"pipeline:\n  processors:\n{textwrap.indent(processors, '    ')}\n"
        f'output:\n  file: {{ path: "{out}" }}\n'
    )
    compiled = compile_streams([load_stream(config)])
    try:
        run_main(compiled.flow)
    finally:
        compiled.close()
    return out.read_text().splitlines()


def test_lines_of_a_file_are_batches_of_one_for_batch_functions(tmp_path: Path) -> None:
    source = tmp_path / "lines.txt"
    source.write_text("a\nb\nc\n")
    assert run(tmp_path, f'file: {{ paths: [ "{source}" ] }}') == ["a 0/1 1", "b 0/1 1", "c 0/1 1"]


def test_inputs_that_make_batches_keep_them(tmp_path: Path) -> None:
    generated = run(
        tmp_path, 'generate: { count: 3, batch_size: 3, interval: "", mapping: root = "g" }'
    )
    assert generated == ["g 0/3 3", "g 1/3 3", "g 2/3 3"]


NESTED = {
    "try": f"- try:\n    - mapping: '{MAPPING}'",
    "switch case": f"- switch:\n    - processors:\n        - mapping: '{MAPPING}'",
    "switch check": (
        "- switch:\n    - check: batch_size() == 1\n      processors:\n"
        "        - mapping: 'root = content().string() + \" alone\"'\n"
        "    - processors:\n        - mapping: 'root = content().string() + \" together\"'"
    ),
    "branch": (
        "- branch:\n    request_map: 'root = batch_size()'\n"
        "    processors: [ { mapping: 'root = this' } ]\n"
        "    result_map: 'root = \"size %d\".format(this)'"
    ),
    "catch": (f"- mapping: 'root = throw(\"no\")'\n- catch:\n    - mapping: '{MAPPING}'"),
}


@pytest.mark.parametrize("where", sorted(NESTED))
def test_batch_functions_nested_in_other_processors_see_batches_of_one(
    tmp_path: Path, where: str
) -> None:
    source = tmp_path / "lines.txt"
    source.write_text("a\nb\n")
    out = run(tmp_path, f'file: {{ paths: [ "{source}" ] }}', NESTED[where])
    expected = {
        "switch check": ["a alone", "b alone"],
        "branch": ["size 1", "size 1"],
    }.get(where, ["a 0/1 1", "b 0/1 1"])
    assert out == expected
