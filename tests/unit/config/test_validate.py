"""Validation of stream documents against component specs, with file:line:col problems."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streamforge.config import (
    ComponentConfig,
    ConfigError,
    lint_paths,
    load_stream,
    load_streams,
)

Write = Callable[..., Path]


def problems(path: Path) -> list[str]:
    """Problems with the directory stripped: `stream.yaml:3:5: message`."""
    return [str(p).replace(str(path.parent) + "/", "") for p in lint_paths([str(path)])]


def test_clean_config_fills_defaults_and_builds_nested_components(write: Write) -> None:
    path = write(
        """
        input:
          label: source
          test_only_gen:
            count: 3
          processors:
            - test_only_upper: {}
        pipeline:
          threads: 2
          processors:
            - test_only_cases:
                - check: ""
                  processors:
                    - test_only_upper:
                        field: a
                    - test_only_blobl: root = this
        output:
          test_only_fan:
            outputs:
              - test_only_sink:
                  path: /tmp/x
        """
    )
    assert problems(path) == []
    stream = load_stream(path)
    assert stream.name == "stream"
    assert stream.threads == 2
    assert stream.input.label == "source"
    assert stream.input.conf == {
        "mapping": "root = {}", "count": 3, "interval": "1s", "codec": "lines",
        "batching": {"count": 0, "period": ""},
    }  # fmt: skip
    assert [p.type for p in stream.input.processors] == ["test_only_upper"]
    cases = stream.processors[0]
    nested = cases.conf[0]["processors"]
    assert all(isinstance(c, ComponentConfig) for c in nested)
    assert [c.path for c in nested] == [
        "pipeline.processors.0.test_only_cases.0.processors.0",
        "pipeline.processors.0.test_only_cases.0.processors.1",
    ]
    assert nested[0].conf == {"field": "a", "message": "", "ratio": 1.0, "enabled": True}
    assert nested[1].conf == "root = this"
    assert (nested[0].location.line, nested[0].location.column) == (13, 15)
    sink = stream.output.conf["outputs"][0]
    assert (sink.kind, sink.type, sink.conf["path"]) == ("output", "test_only_sink", "/tmp/x")
    assert stream.http == {
        "enabled": True, "address": "0.0.0.0:4195", "root_path": "/benthos",
        "debug_endpoints": False,
    }  # fmt: skip
    assert stream.logger["level"] == "INFO" and stream.logger["format"] == "logfmt"


def test_every_problem_is_reported_sorted_with_positions(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen:
            count: abc
            intervl: 1s
            codec: line
            interval: soon
        pipeline:
          threads: many
          processors:
            - test_only_uper: {}
            - test_only_upper:
                ratio: high
                enabled: "yes"
        output:
          test_only_sink: {}
        inptu: {}
        """
    )
    found = problems(path)
    assert found[5].startswith(
        'stream.yaml:10:7: unknown processor type "test_only_uper", did you mean "test_only_upper"?'
    )
    del found[5]
    assert found == [
        "stream.yaml:3:12: field count: expected int, got string",
        'stream.yaml:4:5: unknown field "intervl" in input test_only_gen, did you mean "interval"?',
        'stream.yaml:5:12: field codec: "line" is not one of lines, all-bytes, '
        'did you mean "lines"?',
        "stream.yaml:6:15: field interval: invalid duration 'soon': expected a number "
        "with a unit such as 500ms, 1s, 1m30s",
        "stream.yaml:8:12: field pipeline.threads: expected int, got string",
        "stream.yaml:12:16: field ratio: expected number, got string",
        "stream.yaml:13:18: field enabled: expected bool, got string",
        'stream.yaml:15:3: output test_only_sink: missing required field "path"',
        'stream.yaml:16:1: unknown field "inptu" in stream, did you mean "input"?',
    ]


def test_unknown_type_lists_choices_when_few(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        output:
          test_only_sink: {path: x}
        cache_resources:
          - label: c
            zzz_nothing_like_it: {}
        """
    )
    [line] = problems(path)
    assert line.startswith('stream.yaml:7:5: unknown cache type "zzz_nothing_like_it" (valid: ')
    assert "memory" in line and "did you mean" not in line


def test_component_shape_problems(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        pipeline:
          processors:
            - test_only_upper: {}
              test_only_blobl: root = this
            - {}
            - "mapping"
            - lable: x
              test_only_upper: {}
        output:
          test_only_sink: {path: x}
        """
    )
    found = problems(path)
    assert found[1].startswith("stream.yaml:7:7: processor has no type")
    del found[1]
    assert found == [
        "stream.yaml:6:7: processor has more than one type: test_only_upper, test_only_blobl "
        "(use one per processor)",
        "stream.yaml:8:7: expected a processor config (an object), got string",
        'stream.yaml:9:7: unknown field "lable" in processor test_only_upper, '
        'did you mean "label"?',
    ]


def test_labels_must_be_valid_and_unique(write: Write) -> None:
    path = write(
        """
        input:
          label: gen
          test_only_gen: {}
        pipeline:
          processors:
            - label: Upper-Case
              test_only_upper: {}
            - label: gen
              test_only_upper: {}
            - label: _hidden
              test_only_upper: {}
        output:
          test_only_sink: {path: x}
        """
    )
    assert problems(path) == [
        'stream.yaml:6:14: label "Upper-Case" is invalid: labels must match /^[a-z0-9_]+$/ '
        "and must not start with an underscore",
        'stream.yaml:8:14: duplicate label "gen" (first used at line 2)',
        'stream.yaml:10:14: label "_hidden" is invalid: labels must match /^[a-z0-9_]+$/ '
        "and must not start with an underscore",
    ]


def test_resources_resolve_and_unknown_references_are_reported(write: Write) -> None:
    path = write(
        """
        input:
          resource: gen
        pipeline:
          processors:
            - resource: upper
            - resource: uper
        output:
          resource: sink
        input_resources:
          - label: gen
            test_only_gen: {}
        resources:
          processor_resources:
            - label: upper
              test_only_upper: {}
            - test_only_upper: {}
        """
    )
    assert problems(path) == [
        'stream.yaml:6:17: processor resource "uper" is not defined, did you mean "upper"?',
        'stream.yaml:8:13: output resource "sink" is not defined',
        "stream.yaml:16:7: processor resource needs a label to be referenced by",
    ]
    path.write_text(
        path.read_text().replace("uper\n", "upper\n")
        + "output_resources:\n  - label: sink\n    test_only_sink: {path: x}\n"
    )
    text = path.read_text().replace("    - test_only_upper: {}\n", "")
    path.write_text(text)
    assert problems(path) == []
    stream = load_stream(path)
    assert stream.input.type == "resource" and stream.input.conf == "gen"
    assert set(stream.resources["processor"]) == {"upper"}
    assert stream.resources["input"]["gen"].type == "test_only_gen"


def test_benthos_top_level_keys_are_accepted(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        output:
          test_only_sink: {path: x}
        metrics:
          prometheus: {}
        tracer:
          none: {}
        shutdown_timeout: 20s
        logger:
          level: debug
          format: json
        http:
          enabled: false
        """
    )
    assert problems(path) == []
    stream = load_stream(path)
    assert stream.logger["level"] == "DEBUG"
    assert stream.http["enabled"] is False
    assert stream.raw["metrics"] == {"prometheus": {}}


def test_logger_options_are_checked(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        output:
          test_only_sink: {path: x}
        logger:
          level: LOUD
          format: xml
        """
    )
    assert problems(path) == [
        'stream.yaml:6:10: field logger.level: "LOUD" is not one of TRACE, DEBUG, INFO, WARN, '
        "ERROR, OFF",
        'stream.yaml:7:11: field logger.format: "xml" is not one of logfmt, json',
    ]


def test_missing_input_defaults_to_stdin_and_stdout(write: Write) -> None:
    path = write("pipeline:\n  processors: []\n")
    stream = load_stream(path)
    assert (stream.input.type, stream.output.type) == ("stdin", "stdout")


def test_top_level_must_be_an_object(write: Write) -> None:
    path = write("- a\n- b\n")
    assert problems(path) == [
        "stream.yaml:1:1: expected an object at the top of the config, got array"
    ]


def test_environment_variables_in_config(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_TEST_COUNT", "7")
    monkeypatch.delenv("SF_TEST_UNSET", raising=False)
    path = write(
        """
        input:
          test_only_gen:
            count: ${SF_TEST_COUNT}
            interval: ${SF_TEST_INTERVAL:250ms}
        output:
          test_only_sink:
            path: /out/${SF_TEST_UNSET}.log
        """
    )
    assert problems(path) == [
        'stream.yaml:7:11: environment variable "SF_TEST_UNSET" is not set and has no default '
        "(write ${SF_TEST_UNSET:default} to give one)"
    ]
    monkeypatch.setenv("SF_TEST_UNSET", "x")
    stream = load_stream(path)
    assert stream.input.conf["count"] == 7
    assert stream.input.conf["interval"] == "250ms"
    assert stream.output.conf["path"] == "/out/x.log"


def test_plugins_load_relative_to_the_config_before_validation(write: Write) -> None:
    write(
        """
        from streamforge.plugin import Field, register_processor

        @register_processor("test_only_plugin_proc", fields=[Field("n", "int", default=1)])
        def make(conf, ctx):
            return conf
        """,
        name="plugs/my_plugin.py",
    )
    path = write(
        """
        plugins:
          - plugs/my_plugin.py
          - plugs/missing.py
        input:
          test_only_gen: {}
        pipeline:
          processors:
            - test_only_plugin_proc: {n: 2}
        output:
          test_only_sink: {path: x}
        """
    )
    [line] = problems(path)
    assert line.startswith("stream.yaml:3:5: plugin file 'plugs/missing.py'")
    path.write_text(path.read_text().replace("  - plugs/missing.py\n", ""))
    stream = load_stream(path)
    assert stream.processors[0].conf == {"n": 2}
    assert stream.plugins == ["plugs/my_plugin.py"]


def test_load_stream_raises_with_all_problems(write: Write) -> None:
    path = write("input:\n  nope: {}\noutput:\n  nada: {}\n")
    with pytest.raises(ConfigError) as info:
        load_stream(path)
    assert [p.location.line for p in info.value.problems] == [2, 4]
    assert str(info.value).count("\n") == 1


def test_load_streams_expands_globs_and_names_streams_uniquely(write: Write) -> None:
    text = "input:\n  test_only_gen: {}\noutput:\n  test_only_sink: {path: x}\n"
    a = write(text, name="a/plant.yaml")
    write(text, name="b/plant.yaml")
    write(text, name="b/other.yaml")
    streams = load_streams([str(a.parent.parent / "*" / "*.yaml")])
    assert sorted(s.name for s in streams) == ["other", "plant", "plant_2"]
    with pytest.raises(ConfigError) as info:
        load_streams([str(a.parent / "nothing*.yaml"), str(a.parent / "missing.yaml")])
    assert {p.message for p in info.value.problems} == {
        "no files match this pattern",
        "file not found",
    }


def test_bad_bloblang_is_reported_at_its_place_in_the_file(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen:
            mapping: root = this.foo +
        pipeline:
          processors:
            - test_only_blobl: |
                root.a = this.a
                root.b = this.b.(
            - test_only_cases:
                - check: 'this.a == '
        output:
          test_only_sink:
            path: 'out/${! this.a + }.log'
        """
    )
    found = problems(path)
    assert [p.split(": field ")[0] for p in found] == [
        "stream.yaml:3:31",
        "stream.yaml:8:26",
        "stream.yaml:10:29",
        "stream.yaml:13:29",
    ]
    assert all(": bad Bloblang: " in p for p in found[:3])
    assert ": bad interpolation: " in found[3]


def test_echoed_config_loads_back_to_the_same_stream(write: Write) -> None:
    from streamforge.config import dump_yaml, stream_to_dict

    path = write(
        """
        input:
          label: gen
          test_only_gen:
            mapping: |
              root.a = 1
              root.b = "two"
        pipeline:
          processors:
            - resource: up
        output:
          test_only_sink: {path: out.log, tags: {site: a}}
        processor_resources:
          - label: up
            test_only_upper: {field: x}
        shutdown_timeout: 5s
        """
    )
    first = stream_to_dict(load_stream(path))
    again = write(dump_yaml(first), name="again.yaml")
    assert problems(again) == []
    assert stream_to_dict(load_stream(again)) == first
    assert first["input"]["test_only_gen"]["mapping"] == 'root.a = 1\nroot.b = "two"\n'
    assert first["shutdown_timeout"] == "5s"


def test_grouped_digits_are_numbers_and_numbers_in_text_fields_keep_their_text(
    write: Write,
) -> None:
    """`byte_size: 5_000_000` is a number (as Benthos reads it); a topic or client id written
    `007` or `0x1F` stays the text written, not the number it also reads as."""
    path = write(
        """
        input:
          generate:
            count: 1_000
            interval: ""
            mapping: 'root = {}'
        output:
          mqtt:
            urls: [ tcp://localhost:1883 ]
            topic: 007
            client_id: 0x1F
        pipeline:
          processors:
            - split:
                size: 5_000
        """
    )
    assert problems(path) == []
    stream = load_stream(path)
    assert stream.input.conf["count"] == 1000
    assert stream.output.conf["topic"] == "007"
    assert stream.output.conf["client_id"] == "0x1F"
    assert stream.processors[0].conf["size"] == 5000
