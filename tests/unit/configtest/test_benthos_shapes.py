"""Each shape of Benthos' config unit-test format, as `benthos test` runs it.

Targets (labels, JSON Pointers into the same file or another one, resources), mapping
files, the four input fields, every output condition and mocks; every file is written
here, in tmp_path.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from streamforge.commands.test import run_tests


def write(path: Path, *parts: str) -> Path:
    """A file of the parts, each dedented on its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(textwrap.dedent(p) for p in parts), encoding="utf-8")
    return path


def run(*paths: Path) -> tuple[int, int, str]:
    """(passed, failed, output) of `streamforge test PATH...`."""
    lines: list[str] = []
    passed, failed = run_tests([str(p) for p in paths], lines.append)
    return passed, failed, "\n".join(lines)


RESOURCES_ONLY = """\
    processor_resources:
      - label: upper
        mapping: 'root = content().uppercase()'
      - label: suffix
        mapping: 'root = content() + " end"'
    """


# -- targets -----------------------------------------------------------------------------------


def test_a_file_of_processor_resources_tests_itself(tmp_path: Path) -> None:
    path = write(
        tmp_path / "resources.yaml",
        RESOURCES_ONLY,
        """\
    tests:
      - name: by label
        target_processors: upper
        input_batch: [{content: hello}]
        output_batches: [[{content_equals: HELLO}]]
      - name: one resource by pointer
        target_processors: /processor_resources/1
        input_batch: [{content: hello}]
        output_batches: [[{content_equals: hello end}]]
      - name: all resources in order
        target_processors: /processor_resources
        input_batch: [{content: hello}]
        output_batches: [[{content_equals: HELLO end}]]
    """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (3, 0), out
    assert "no config to test" not in out


def test_resources_nested_under_resources_are_found_by_benthos_pointers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "nested.yaml",
        """\
        resources:
          processor_resources:
            - label: twice
              mapping: 'root = content().repeat(2)'
        tests:
          - name: by pointer
            target_processors: /processor_resources/0
            input_batch: [{content: ab}]
            output_batches: [[{content_equals: abab}]]
          - name: by label
            target_processors: twice
            input_batch: [{content: ab}]
            output_batches: [[{content_equals: abab}]]
        """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (2, 0), out


def test_pipeline_pointers_and_labels_beside_resources(tmp_path: Path) -> None:
    path = write(
        tmp_path / "stream.yaml",
        """\
        pipeline:
          processors:
            - resource: tag
            - label: second
              mapping: 'root = content() + " two"'
        processor_resources:
          - label: tag
            mapping: 'root = "tag:" + content()'
        tests:
          - name: the default target is the pipeline
            input_batch: [{content: x}]
            output_batches: [[{content_equals: 'tag:x two'}]]
          - name: the whole pipeline
            target_processors: /pipeline/processors
            input_batch: [{content: x}]
            output_batches: [[{content_equals: 'tag:x two'}]]
          - name: one pipeline processor
            target_processors: /pipeline/processors/1
            input_batch: [{content: x}]
            output_batches: [[{content_equals: x two}]]
          - name: a pipeline label
            target_processors: second
            input_batch: [{content: x}]
            output_batches: [[{content_equals: x two}]]
          - name: a resource label
            target_processors: tag
            input_batch: [{content: x}]
            output_batches: [[{content_equals: 'tag:x'}]]
        """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (5, 0), out


def test_targets_in_another_file(tmp_path: Path) -> None:
    write(tmp_path / "resources.yaml", RESOURCES_ONLY)
    write(
        tmp_path / "stream.yaml",
        """\
        pipeline:
          processors:
            - mapping: 'root = content().lowercase()'
            - resource: suffix
        processor_resources:
          - label: suffix
            mapping: 'root = content() + "!"'
        """,
    )
    definition = write(
        tmp_path / "tests" / "fragment.yaml",
        """\
        tests:
          - name: another file's pipeline
            target_processors: ../stream.yaml#/pipeline/processors
            input_batch: [{content: ABC}]
            output_batches: [[{content_equals: abc!}]]
          - name: another file's resources
            target_processors: ../resources.yaml#/processor_resources
            input_batch: [{content: a}]
            output_batches: [[{content_equals: A end}]]
          - name: another file's resource by index
            target_processors: ../resources.yaml#/processor_resources/0
            input_batch: [{content: a}]
            output_batches: [[{content_equals: A}]]
          - name: another file's label
            target_processors: '../resources.yaml#suffix'
            input_batch: [{content: a}]
            output_batches: [[{content_equals: a end}]]
        """,
    )
    passed, failed, out = run(definition)
    assert (passed, failed) == (4, 0), out


def test_a_resources_file_and_its_paired_test_file(tmp_path: Path) -> None:
    write(tmp_path / "procs.yaml", RESOURCES_ONLY)
    write(
        tmp_path / "procs_benthos_test.yaml",
        """\
        tests:
          - name: paired
            target_processors: suffix
            input_batch: [{content: a}]
            output_batches: [[{content_equals: a end}]]
        """,
    )
    for arg in ("procs.yaml", "procs_benthos_test.yaml"):
        passed, failed, out = run(tmp_path / arg)
        assert (passed, failed) == (1, 0), out


def test_target_mapping_is_relative_to_the_test_file(tmp_path: Path) -> None:
    write(
        tmp_path / "maps" / "cities.blobl",
        """\
        let wa = this.locations.filter(loc -> loc.state == "WA")
        root.Cities = $wa.map_each(loc -> loc.name).sort().join(", ")
        """,
    )
    definition = write(
        tmp_path / "maps" / "cities_test.yaml",
        """\
        tests:
          - name: cities
            target_mapping: './cities.blobl'
            input_batch:
              - json_content:
                  locations:
                    - {name: Seattle, state: WA}
                    - {name: New York, state: NY}
                    - {name: Bellevue, state: WA}
            output_batches:
              - - json_equals: {"Cities": "Bellevue, Seattle"}
        """,
    )
    passed, failed, out = run(definition)
    assert (passed, failed) == (1, 0), out


# -- inputs ------------------------------------------------------------------------------------


def test_input_definitions(tmp_path: Path) -> None:
    write(tmp_path / "data" / "body.txt", "from a file\n")
    path = write(
        tmp_path / "inputs.yaml",
        """\
        pipeline:
          processors:
            - mapping: |
                root = content()
                meta seen = @
        tests:
          - name: content and metadata
            input_batch:
              - content: raw text
                metadata: {site: plant-a, line: 2}
            output_batches:
              - - content_equals: raw text
                  metadata_equals: {site: plant-a, line: 2}
          - name: json_content is marshalled as Benthos marshals it
            input_batch:
              - json_content: {b: 1, a: {d: 2.0, c: [3, 1]}, e: ok}
              - json_content: '{"kept": "as written",   "a": 1}'
              - json_content: [z, a]
            output_batches:
              - - content_equals: '{"a":{"c":[3,1],"d":2},"b":1,"e":"ok"}'
                - content_equals: '{"kept": "as written",   "a": 1}'
                - content_equals: '["z","a"]'
          - name: file_content is relative to the test file
            input_batch:
              - file_content: ./data/body.txt
            output_batches:
              - - content_equals: "from a file\\n"
          - name: input_batches run in order, then input_batch
            input_batches:
              - [{content: a}, {content: b}]
              - [{content: c}]
            input_batch: [{content: d}]
            output_batches:
              - [{content_equals: a}, {content_equals: b}]
              - [{content_equals: c}]
              - [{content_equals: d}]
        """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (4, 0), out


def test_string_fields_keep_the_literal_text_of_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "literal.yaml",
        """\
        pipeline:
          processors:
            - mapping: 'root = content().string() + "|" + env("LEVEL").or("unset")'
        tests:
          - name: 1.10
            environment:
              LEVEL: 0x1F
            input_batch:
              - content: 1.10
              - content: 0x1F
              - content: True
              - content: 007
              - json_content: {v: 1.10}
            output_batches:
              - - content_equals: 1.10|0x1F
                - content_equals: 0x1F|0x1F
                - content_equals: True|0x1F
                - content_equals: 007|0x1F
                - content_equals: '{"v":1.1}|0x1F'
        """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (1, 0), out
    assert "PASS  " in out and ": 1.10" in out


# -- output conditions -------------------------------------------------------------------------


def test_every_output_condition_passes_and_fails(tmp_path: Path) -> None:
    write(tmp_path / "expect" / "exact.json", '{"id":7,"tags":["b","a"],"unit":"C"}')
    write(tmp_path / "expect" / "loose.json", '{ "unit": "C", "tags": ["b", "a"], "id": 7.0 }')
    write(tmp_path / "expect" / "part.json", '{"unit": "C"}')
    write(tmp_path / "expect" / "other.json", '{"unit": "F"}')
    good = {
        "content_equals": '{"id":7,"tags":["b","a"],"unit":"C"}',
        "content_matches": r'^\{"id":\d+,',
        "metadata_equals": {"kind": "reading", "n": 3},
        "json_equals": {"unit": "C", "id": 7, "tags": ["b", "a"]},
        "json_contains": '{"unit": "C"}',
        "file_equals": "./expect/exact.json",
        "file_json_equals": "./expect/loose.json",
        "file_json_contains": "./expect/part.json",
        "bloblang": 'this.id == 7 && @kind == "reading"',
    }
    bad = {
        "content_equals": '{"unit":"C","id":7}',
        "content_matches": r"^\d+$",
        "metadata_equals": {"kind": "other"},
        "json_equals": {"unit": "C"},
        "json_contains": {"unit": "F"},
        "file_equals": "./expect/loose.json",
        "file_json_equals": "./expect/part.json",
        "file_json_contains": "./expect/other.json",
        "bloblang": "this.id > 100",
    }
    assert sorted(good) == sorted(bad)
    reading = {"content": '{"unit": "C", "tags": ["b", "a"], "id": 7}'}
    tests = [{"name": "all pass", "input_batch": [reading], "output_batches": [[good]]}]
    tests += [
        {"name": f"{name} fails", "input_batch": [reading], "output_batches": [[{name: value}]]}
        for name, value in bad.items()
    ]
    mapping = 'root = this\nmeta kind = "reading"\nmeta n = 3'
    doc = {"pipeline": {"processors": [{"mapping": mapping}]}, "tests": tests}
    path = tmp_path / "conditions.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    passed, failed, out = run(path)
    assert (passed, failed) == (1, len(bad)), out
    for name in bad:
        assert f"conditions.yaml: {name} fails" in out
        assert f"batch 0 message 0: {name}: " in out, name


def test_batch_and_message_counts_must_match(tmp_path: Path) -> None:
    path = write(
        tmp_path / "counts.yaml",
        """\
        pipeline:
          processors:
            - mapping: 'root = content().uppercase()'
        tests:
          - name: too few batches expected
            input_batches: [[{content: a}], [{content: b}]]
            output_batches: [[{content_equals: A}]]
          - name: too many messages expected
            input_batch: [{content: a}]
            output_batches: [[{content_equals: A}, {content_equals: B}]]
        """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (0, 2), out
    assert "unexpected batch 1" in out
    assert "batch 0: wrong message count, expected 2, got 1" in out


def test_environment_is_set_while_the_config_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "env.yaml",
        """\
        pipeline:
          processors:
            - mapping: 'root = content() + "${SUFFIX:-none}"'
        tests:
          - name: with the variable
            environment: {SUFFIX: "!"}
            input_batch: [{content: a}]
            output_batches: [[{content_equals: a!}]]
          - name: without it
            input_batch: [{content: a}]
            output_batches: [[{content_equals: a-none}]]
        """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (2, 0), out


# -- mocks -------------------------------------------------------------------------------------


MOCKED_STREAM = """\
    pipeline:
      processors:
        - mapping: 'root = "simon says: " + content()'
        - label: get_foobar_api
          http:
            url: http://foobar.invalid/
            verb: GET
        - resource: submit
        - mapping: 'root = content().uppercase()'
    processor_resources:
      - label: submit
        http:
          url: http://submit.invalid/
          verb: POST
    """


def test_mocks_by_label_and_by_pointer(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mocked.yaml",
        MOCKED_STREAM,
        """\
    tests:
      - name: labels, a resource among them
        mocks:
          get_foobar_api:
            mapping: 'root = content() + " this is some mock content"'
          submit:
            mapping: 'root = content() + " sent"'
        input_batch: [{content: hello world}]
        output_batches:
          - - content_equals: 'SIMON SAYS: HELLO WORLD THIS IS SOME MOCK CONTENT SENT'
              bloblang: '!errored()'
      - name: pointers, a resource among them
        mocks:
          /pipeline/processors/1:
            mapping: 'root = content() + " mocked"'
          /processor_resources/0:
            mapping: 'root = content() + " posted"'
        input_batch: [{content: hi}]
        output_batches:
          - - content_equals: 'SIMON SAYS: HI MOCKED POSTED'
      - name: a mocked label can be the target
        target_processors: get_foobar_api
        mocks:
          get_foobar_api:
            mapping: 'root = "mocked"'
        input_batch: [{content: hi}]
        output_batches: [[{content_equals: mocked}]]
      - name: a mocked resource can be the target
        target_processors: submit
        mocks:
          submit:
            mapping: 'root = "posted"'
        input_batch: [{content: hi}]
        output_batches: [[{content_equals: posted}]]
    """,
    )
    passed, failed, out = run(path)
    assert (passed, failed) == (4, 0), out


def test_mocks_apply_to_the_file_another_file_targets(tmp_path: Path) -> None:
    write(tmp_path / "mocked.yaml", MOCKED_STREAM)
    definition = write(
        tmp_path / "elsewhere" / "more.yaml",
        """\
        tests:
          - name: mocked from a fragment
            target_processors: ../mocked.yaml#/pipeline/processors
            mocks:
              get_foobar_api: {mapping: 'root = content() + " a"'}
              submit: {mapping: 'root = content() + " b"'}
            input_batch: [{content: x}]
            output_batches: [[{content_equals: 'SIMON SAYS: X A B'}]]
          - name: a label that is not there
            target_processors: ../mocked.yaml#/pipeline/processors
            mocks:
              nothing_here: {mapping: 'root = ""'}
            input_batch: [{content: x}]
            output_batches: [[{content_equals: ''}]]
        """,
    )
    passed, failed, out = run(definition)
    assert (passed, failed) == (1, 1), out
    assert "no component with label 'nothing_here'" in out


# -- the command -------------------------------------------------------------------------------


def test_streamforge_test_runs_a_resources_file(tmp_path: Path) -> None:
    write(
        tmp_path / "resources.yaml",
        RESOURCES_ONLY,
        """\
    tests:
      - name: by label
        target_processors: upper
        input_batch: [{json_content: {b: 1.0, a: x}}]
        output_batches: [[{content_equals: '{"A":"X","B":1}'}]]
      - name: by pointer
        target_processors: /processor_resources
        input_batch: [{content: a}]
        output_batches: [[{content_equals: A end}]]
    """,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "streamforge", "test", "resources.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "PASS  resources.yaml: by label",
        "PASS  resources.yaml: by pointer",
        "",
        "2 passed, 0 failed",
    ]
