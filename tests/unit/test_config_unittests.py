"""`streamforge test`: Benthos-format config unit tests, discovery, targets, mocks, conditions."""

from __future__ import annotations

import argparse
import os
import re
import textwrap
from pathlib import Path

import pytest

from streamforge.cli import main as cli_main
from streamforge.commands import test as unittest_command
from streamforge.configtest.conditions import (
    DefinitionError,
    json_contains,
    json_equal,
    parse_condition_set,
    parse_input_part,
)
from streamforge.configtest.discover import discover, path_pair
from streamforge.configtest.targets import (
    TargetError,
    apply_mocks,
    parse_pointer,
    resolve_target,
)
from streamforge.message import Message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "unittests"


def run_cli(capsys: pytest.CaptureFixture[str], *paths: str | Path) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    unittest_command.add_parser(parser.add_subparsers(), "test")
    code = unittest_command.main(parser.parse_args(["test", *(str(p) for p in paths)]))
    return code, capsys.readouterr().out


def status_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- discovery ------------------------------------------------------------------------------


def test_pairs_config_and_test_file_both_ways(tmp_path: Path) -> None:
    conf = write(tmp_path / "foo.yaml", "input: {}\n")
    bt = write(tmp_path / "foo_benthos_test.yaml", "tests: []\n")
    assert path_pair(conf) == (conf, bt)
    assert path_pair(bt) == (conf, bt)
    other = write(tmp_path / "bar.yaml", "input: {}\n")
    t = write(tmp_path / "bar_test.yaml", "tests: []\n")
    assert path_pair(other) == (other, t)
    assert path_pair(t) == (other, t)
    lone = write(tmp_path / "cities_test.yaml", "tests: []\n")
    assert path_pair(lone) == (lone, lone)


def test_folder_is_searched_recursively_and_each_definition_found_once() -> None:
    files, missing = discover([str(FIXTURES)])
    assert missing == []
    found = sorted(str(tf.definition.relative_to(FIXTURES)) for tf in files)
    assert found == [
        "failing/broken.yaml",
        "failing/mismatch.yaml",
        "inline/gateway.yaml",
        "mapping/envelope_test.yaml",
        "nested/deeper/deep.yaml",
        "paired/telemetry_benthos_test.yaml",
        "standalone/tests/more_checks.yaml",
    ]
    paired = next(tf for tf in files if tf.definition.name == "telemetry_benthos_test.yaml")
    assert paired.config.name == "telemetry.yaml"
    assert [c.name for c in paired.cases][:2] == [
        "builds the envelope",
        "environment reaches the config",
    ]
    assert paired.cases[0].line == 2


def test_dot_dot_dot_and_globs_select_files() -> None:
    dots, _ = discover([str(FIXTURES / "nested") + "/..."])
    assert [tf.definition.name for tf in dots] == ["deep.yaml"]
    globbed, _ = discover([str(FIXTURES / "paired" / "*.yaml")])
    assert [tf.definition.name for tf in globbed] == ["telemetry_benthos_test.yaml"]


def test_unparsable_yaml_without_tests_is_skipped_in_a_walk(tmp_path: Path) -> None:
    write(tmp_path / "bad.yaml", "input: [unclosed\n")
    write(tmp_path / "bad_tests.yaml", "tests:\n  - name: x\n    input_batch: [\n")
    files, _ = discover([str(tmp_path)])
    assert [tf.definition.name for tf in files] == ["bad_tests.yaml"]
    assert files[0].error is not None
    assert re.search(r"bad_tests\.yaml:\d+:\d+: ", files[0].error)
    explicit, _ = discover([str(tmp_path / "bad.yaml")])
    assert explicit[0].error is not None


# -- config paths and mocks -----------------------------------------------------------------

CONF = {
    "input": {"label": "in", "generate": {"mapping": "root = 1"}, "processors": [{"noop": {}}]},
    "pipeline": {
        "processors": [
            {"label": "first", "mapping": "root = 1"},
            {"switch": [{"check": "true", "processors": [{"label": "inner", "noop": {}}]}]},
        ]
    },
    "resources": {"processor_resources": [{"label": "shared", "mapping": "root = 2"}]},
    "tests": [{"label": "not_a_component", "name": "x"}],
}


def test_json_pointer_unescapes_segments() -> None:
    assert parse_pointer("/a~1b/c~0d/0") == ["a/b", "c~d", "0"]
    with pytest.raises(TargetError):
        parse_pointer("pipeline/processors")


def test_targets_by_pointer_label_and_resource() -> None:
    all_procs = resolve_target(CONF, "/pipeline/processors")
    assert [t for t, _ in all_procs] == CONF["pipeline"]["processors"]  # type: ignore[index]
    assert all_procs[1][1] == ["pipeline", "processors", 1]
    [(inner, path)] = resolve_target(CONF, "inner")
    assert inner == {"label": "inner", "noop": {}}
    assert path == ["pipeline", "processors", 1, "switch", 0, "processors", 0]
    nested = resolve_target(CONF, "/pipeline/processors/1/switch/0/processors")
    assert [t for t, _ in nested] == [{"label": "inner", "noop": {}}]
    assert resolve_target(CONF, "shared") == [({"resource": "shared"}, None)]
    # Benthos keeps resources at the top level; that spelling works too
    assert resolve_target(CONF, "/processor_resources/0") == [({"resource": "shared"}, None)]
    with pytest.raises(TargetError, match="index 5 out of range"):
        resolve_target(CONF, "/pipeline/processors/5")
    with pytest.raises(TargetError, match="no component with label 'nope'"):
        resolve_target(CONF, "nope")
    with pytest.raises(TargetError, match="no component with label 'not_a_component'"):
        resolve_target(CONF, "not_a_component")


def test_mocks_replace_by_label_and_pointer_on_a_copy() -> None:
    mocked, paths = apply_mocks(
        CONF,
        {"first": {"mapping": "root = 9"}, "/input/processors/0": {"mapping": "root = 8"}},
    )
    assert mocked["pipeline"]["processors"][0] == {"mapping": "root = 9"}
    assert mocked["input"]["processors"][0] == {"mapping": "root = 8"}
    assert sorted(map(str, paths)) == sorted(
        [str(["pipeline", "processors", 0]), str(["input", "processors", 0])]
    )
    assert CONF["pipeline"]["processors"][0]["label"] == "first"  # type: ignore[index]
    with pytest.raises(TargetError):
        apply_mocks(CONF, {"/pipeline/nothing_here": {"noop": {}}})


# -- conditions -----------------------------------------------------------------------------


def check(conditions: dict[str, object], msg: Message, base: Path = FIXTURES) -> list[str]:
    return parse_condition_set(conditions).check(msg, base)


def test_json_contains_is_a_superset_check() -> None:
    actual = {"a": 1, "b": {"c": [1, 2, 3], "d": "x"}}
    assert json_contains(actual, {"b": {"c": [1, 2]}}) == []
    assert json_contains(actual, {"b": {"d": "y"}}) == ['b.d: expected "y", got "x"']
    assert json_contains(actual, {"e": 1}) == ["e: missing, expected 1"]
    assert json_contains(actual, {"b": {"c": [2]}}) != []  # arrays compare index by index


def test_json_equal_treats_numbers_by_value_but_not_bools() -> None:
    assert json_equal({"v": 1}, {"v": 1.0}) == []
    assert json_equal({"v": True}, {"v": 1}) != []
    assert json_equal({"v": 1, "w": 2}, {"v": 1}) == ["w: unexpected field with value 2"]


def test_content_and_json_conditions_report_what_differed() -> None:
    msg = Message('{"name":"pump","v":3}')
    assert check({"content_equals": '{"name":"pump","v":3}'}, msg) == []
    assert check({"content_matches": "pump"}, msg) == []  # unanchored, as re2 MatchString
    [reason] = check({"json_equals": {"name": "pump", "v": 4}}, msg)
    assert (
        reason.startswith("json_equals: JSON content mismatch") and "v: expected 4, got 3" in reason
    )
    assert check({"json_equals": '{"v": 3, "name": "pump"}'}, msg) == []
    [reason] = check({"json_contains": {"v": 3}}, Message("not json"))
    assert "message is not valid JSON" in reason


def test_metadata_equals_and_bloblang_conditions() -> None:
    msg = Message("{}", {"kind": "temp", "n": 3})
    assert check({"metadata_equals": {"kind": "temp", "n": 3.0}}, msg) == []
    [missing] = check({"metadata_equals": {"site": "a"}}, msg)
    assert "metadata key 'site' expected but not found" in missing
    msg = Message('{"age": 12}', {"foo": "bar"})
    assert check({"bloblang": "this.age > 10 && @foo.length() > 0"}, msg) == []
    [false] = check({"bloblang": "this.age > 20"}, msg)
    assert "bloblang expression was false" in false
    [not_bool] = check({"bloblang": "this.age"}, msg)
    assert "rather than a boolean" in not_bool
    assert check({"bloblang": "root = this.age == 12"}, msg) == []  # a mapping works too
    with pytest.raises(DefinitionError, match="bloblang"):
        parse_condition_set({"bloblang": "this.age >"})


def test_file_conditions_read_relative_to_the_test_file() -> None:
    base = FIXTURES / "standalone" / "tests"
    msg = Message('{"value":7,"asset_id":"X","quality":"good"}')
    assert check({"file_json_equals": "./expected.json"}, msg, base) == []
    assert check({"file_json_contains": "expected_part.json"}, msg, base) == []
    [reason] = check({"file_equals": "./missing.txt"}, msg, base)
    assert "failed to read comparison file" in reason


def test_bad_definitions_are_rejected_with_the_reason() -> None:
    with pytest.raises(DefinitionError, match="unknown output condition 'content_is'"):
        parse_condition_set({"content_is": "x"})
    with pytest.raises(DefinitionError, match="bad regular expression"):
        parse_condition_set({"content_matches": "("})
    with pytest.raises(DefinitionError, match="input message field not recognised"):
        parse_input_part({"contents": "x"}, FIXTURES)


def test_input_parts_build_messages() -> None:
    m = parse_input_part(
        {"json_content": {"b": 1, "a": [1, "x"]}, "metadata": {"k": "v"}}, FIXTURES
    )
    assert m.payload == b'{"a":[1,"x"],"b":1}'
    assert m.metadata == {"k": "v"}
    f = parse_input_part({"file_content": "standalone/tests/reading.json"}, FIXTURES)
    assert f.value == {"value": 7, "asset_id": "X"}


# -- the command ----------------------------------------------------------------------------


def test_paired_test_file_passes_and_is_equivalent_to_the_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, FIXTURES / "paired" / "telemetry.yaml")
    assert code == 0, out
    lines = status_lines(out)
    assert len(lines) == 4 and all(line.startswith("PASS  ") for line in lines)
    assert lines[0].endswith("telemetry_benthos_test.yaml: builds the envelope")
    assert out.rstrip().endswith("4 passed, 0 failed")
    code2, out2 = run_cli(capsys, FIXTURES / "paired" / "telemetry_benthos_test.yaml")
    assert (code2, status_lines(out2)) == (code, lines)


def test_inline_tests_with_mocks_resources_and_section_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, FIXTURES / "inline" / "gateway.yaml")
    assert code == 0, out
    assert len(status_lines(out)) == 7
    assert "7 passed, 0 failed" in out


def test_standalone_file_targets_and_mapping_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(
        capsys, FIXTURES / "standalone" / "...", FIXTURES / "mapping" / "envelope_test.yaml"
    )
    assert code == 0, out
    assert "3 passed, 0 failed" in out


def test_failures_name_the_batch_message_and_difference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, FIXTURES / "failing" / "mismatch.yaml")
    assert code == 1
    assert len(status_lines(out)) == 5
    assert all(line.startswith("FAIL  ") for line in status_lines(out))
    assert "mismatch.yaml: content differs (line 12)" in out
    assert "    batch 0 message 0: content_equals: content mismatch" in out
    assert "      expected: hello\n      received: HELLO" in out
    assert "    wrong batch count, expected 2, got 1" in out
    assert "    batch 0: wrong message count, expected 1, got 2" in out
    assert "    batch 0 message 1: unexpected message: B" in out
    assert "metadata key 'kind' expected but not found" in out
    assert "bad test definition: unknown output condition 'content_is'" in out
    assert out.rstrip().endswith("0 passed, 5 failed")


def test_config_that_fails_to_load_prints_its_problems(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, FIXTURES / "failing" / "broken.yaml")
    assert code == 1
    assert "FAIL  " in out and "broken.yaml: cannot load" in out
    assert re.search(r"broken\.yaml:7:7: .*mappin", out), out
    assert "0 passed, 1 failed" in out


def test_whole_tree_counts_every_test(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, FIXTURES)
    assert code == 1
    assert out.rstrip().endswith("16 passed, 6 failed")


def test_no_tests_and_missing_paths_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path / "plain.yaml", "input:\n  stdin: {}\n")
    code, out = run_cli(capsys, tmp_path)
    assert code == 1 and "No tests were found" in out
    code, out = run_cli(capsys, tmp_path / "nope.yaml")
    assert code == 1 and "nope.yaml: no such file or folder" in out


def test_each_test_is_isolated_and_environment_restored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    os.environ.pop("SF_UT_GREETING", None)
    write(
        tmp_path / "counter.yaml",
        """\
        input:
          generate: {count: 1, mapping: 'root = ""'}
        pipeline:
          processors:
            - mapping: 'root = "${SF_UT_GREETING:hi} " + counter().string()'
        output:
          drop: {}
        tests:
          - name: first
            environment: {SF_UT_GREETING: hello}
            input_batch: [{content: x}, {content: y}]
            output_batches: [[{content_equals: hello 1}, {content_equals: hello 2}]]
          - name: second starts afresh
            input_batch: [{content: x}]
            output_batches: [[{content_equals: hi 1}]]
        """,
    )
    code, out = run_cli(capsys, tmp_path / "counter.yaml")
    assert code == 0, out
    assert "SF_UT_GREETING" not in os.environ


def test_dropped_messages_produce_no_batch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(
        tmp_path / "drop.yaml",
        """\
        input:
          generate: {count: 1, mapping: 'root = ""'}
        pipeline:
          processors:
            - mapping: 'root = if this.keep { this } else { deleted() }'
        output:
          drop: {}
        tests:
          - name: only kept messages come out
            input_batches:
              - [{content: '{"keep": false}'}]
              - [{content: '{"keep": true}'}, {content: '{"keep": false}'}]
            output_batches:
              - [{json_equals: {keep: true}}]
          - name: expecting a dropped batch fails
            input_batch: [{content: '{"keep": false}'}]
            output_batches: [[{content_equals: x}]]
        """,
    )
    code, out = run_cli(capsys, tmp_path / "drop.yaml")
    assert code == 1
    assert "PASS  " in out and "only kept messages come out" in out
    assert "wrong batch count, expected 1, got 0" in out


def test_mock_problems_and_bad_targets_fail_the_test(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(
        tmp_path / "svc.yaml",
        """\
        input:
          generate: {count: 1, mapping: 'root = ""'}
        pipeline:
          processors:
            - label: lookup
              mapping: 'root = this'
        output:
          drop: {}
        tests:
          - name: mock with an unknown processor
            mocks:
              lookup:
                not_a_processor: {}
            input_batch: [{content: x}]
          - name: target label missing
            target_processors: nothing_here
            input_batch: [{content: x}]
        """,
    )
    code, out = run_cli(capsys, tmp_path / "svc.yaml")
    assert code == 1
    assert "not_a_processor" in out
    assert "no component with label 'nothing_here'" in out


def test_streamforge_test_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["test", str(FIXTURES / "mapping")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS  " in out and "mapping file with an import" in out


def test_standalone_test_file_without_a_config_says_how_to_name_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(
        tmp_path / "orphan_test.yaml",
        """\
        tests:
          - name: no target
            input_batch: [{content: x}]
        """,
    )
    code, out = run_cli(capsys, tmp_path / "orphan_test.yaml")
    assert code == 1
    assert "no config to test" in out and "target_mapping" in out
