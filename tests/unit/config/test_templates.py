"""Config templates: template files are checked, registered, expanded where they are used, and
their problems reported at file:line:col."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bytewax.testing import run_main

from streamforge.cli import main as cli_main
from streamforge.config.loader import lint_paths, load_stream
from streamforge.config.model import ConfigError, Problem
from streamforge.config.schema import stream_schema
from streamforge.config.templates import (
    Template,
    load_shipped_templates,
    load_template_file,
    load_templates,
    shipped_template_files,
    template_of,
    unregister_template,
)
from streamforge.engine.dataflow import compile_streams
from streamforge.plugin import KINDS, registry

ROOT = Path(__file__).resolve().parents[3]

#: a processor template: tags each message with a field and a value
TAGGER = """
name: tt_tagger
type: processor
status: beta
categories: [ Testing ]
summary: Sets one field of every message.
fields:
  - name: field
    type: string
    description: The field to set.
  - name: value
    type: unknown
    default: tagged
  - name: times
    type: int
    default: 1
mapping: |
  root.mapping = "root = this\\nroot.%s = %s".format(this.field, this.value.format_json())
tests:
  - name: a string value
    config: { field: who }
    expected:
      mapping: "root = this\\nroot.who = \\"tagged\\""
"""


@pytest.fixture()
def templates(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """templates(text, name) -> path of a template file; every template loaded is forgotten."""
    before = {kind: set(registry.names(kind)) for kind in KINDS}

    def _write(text: str, name: str = "t.yaml") -> Path:
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    yield _write
    for kind in KINDS:
        for name in set(registry.names(kind)) - before[kind]:
            unregister_template(kind, name)


def lines(problems: list[Problem], base: Path) -> list[str]:
    return [str(p).replace(f"{base}{os.sep}", "") for p in problems]


def load(path: Path) -> list[str]:
    return lines(load_templates([str(path)], run_tests=True), path.parent)


# -- the shipped templates -------------------------------------------------------------------


SHIPPED = shipped_template_files()


def test_the_shipped_templates_load() -> None:
    assert {p.stem for p in SHIPPED} >= {
        "td_modbus", "td_opcua", "td_mqtt", "td_http_server",
        "log_message", "to_telemetry", "dead_letter_file",
    }  # fmt: skip
    assert load_shipped_templates() == []
    for path in SHIPPED:
        specs = [registry.get(kind, path.stem) for kind in KINDS]
        assert any(template_of(spec) is not None for spec in specs), path.stem


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_template_passes_its_own_tests(path: Path) -> None:
    template, problems = load_template_file(path)
    assert problems == []
    assert isinstance(template, Template)
    assert template.tests, f"{path.name} has no tests"
    assert template.summary and template.description
    assert [str(p) for p in template.run_tests()] == []


def test_the_shipped_templates_are_package_data() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"streamforge.templates" = "templates"' in text
    assert '"streamforge.templates" = ["*.yaml"]' in text


# -- listing, specs and the JSON Schema ------------------------------------------------------


def test_a_template_is_listed_and_in_the_schema(templates: Callable[..., Path], capsys) -> None:  # type: ignore[no-untyped-def]
    path = templates(TAGGER)
    assert cli_main(["list", "processors", "-t", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tt_tagger" in out and "Sets one field of every message." in out
    assert "to_telemetry" in out  # shipped ones come without asking

    assert cli_main(["list", "processors", "--format", "json", "--templates", str(path)]) == 0
    specs = {s["name"]: s for s in json.loads(capsys.readouterr().out)["processors"]}
    tagger = specs["tt_tagger"]
    assert tagger["status"] == "beta"
    assert tagger["plugin"] == f"template:{path}"
    fields = {f["name"]: f for f in tagger["config"]["fields"]}
    assert fields["field"] == {
        "name": "field", "type": "string", "required": True, "description": "The field to set.",
    }  # fmt: skip
    assert fields["value"]["type"] == "any" and fields["value"]["default"] == "tagged"
    assert fields["times"]["default"] == 1

    schema = stream_schema()["$defs"]["processor"]["properties"]["tt_tagger"]
    assert schema["required"] == ["field"]
    assert schema["properties"]["times"] == {"type": "integer", "default": 1}


def test_list_and_object_fields_become_arrays_maps_and_objects(
    templates: Callable[..., Path],
) -> None:
    path = templates("""
        name: tt_shapes
        type: output
        fields:
          - { name: names, type: string, kind: list }
          - { name: tags, type: string, kind: map, default: {} }
          - { name: extra, type: object, default: {} }
          - name: points
            type: object
            kind: list
            fields:
              - { name: name, type: string }
              - { name: scale, type: float, default: 1.0 }
        mapping: 'root.drop = {}'
    """)
    assert load(path) == []
    spec = registry.get("output", "tt_shapes")
    assert spec is not None
    shapes = {f.name: f for f in spec.fields}
    assert shapes["names"].type == "array" and shapes["names"].item is not None
    assert shapes["names"].item.type == "string"
    assert shapes["tags"].type == "map" and shapes["tags"].item is not None
    assert shapes["extra"].type == "map" and shapes["extra"].item is None
    points = shapes["points"].item
    assert points is not None and points.type == "object"
    assert [f.name for f in points.fields] == ["name", "scale"]


# -- using templates in streams --------------------------------------------------------------


def run_stream(path: Path) -> None:
    stream = load_stream(path)
    compiled = compile_streams([stream])
    try:
        run_main(compiled.flow)
    finally:
        compiled.close()


def test_a_processor_template_runs_as_the_component_it_maps_to(
    templates: Callable[..., Path], write: Callable[..., Path], tmp_path: Path
) -> None:
    templates(TAGGER)
    load_templates([str(tmp_path / "templates" / "*.yaml")])
    out = tmp_path / "out.jsonl"
    stream = write(f"""
        http: {{ enabled: false }}
        input:
          generate: {{ count: 3, interval: "", mapping: 'root = {{"n": counter()}}' }}
        pipeline:
          processors:
            - label: tag_site
              tt_tagger: {{ field: site, value: plant-7 }}
            - tt_tagger: {{ field: checked, value: true }}
        output:
          file: {{ path: {out} }}
    """)
    config = load_stream(stream)
    first, second = config.processors
    assert (first.type, first.label, first.path) == ("mapping", "tag_site", "pipeline.processors.0")
    assert first.conf == 'root = this\nroot.site = "plant-7"'
    assert (second.type, second.location.line) == ("mapping", 8)
    run_stream(stream)
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got == [{"n": n, "site": "plant-7", "checked": True} for n in (1, 2, 3)]


def test_an_input_template_with_processors_keeps_both_sets(
    templates: Callable[..., Path], write: Callable[..., Path], tmp_path: Path
) -> None:
    path = templates("""
        name: tt_counter
        type: input
        fields:
          - { name: count, type: int }
          - { name: start, type: int, default: 0 }
        mapping: |
          root.generate.count = this.count
          root.generate.interval = ""
          root.generate.mapping = "root = {\\"n\\": counter() + %d}".format(this.start - 1)
          root.processors = [ { "mapping": "root = this.merge({\\"from\\": \\"template\\"})" } ]
    """)
    assert load(path) == []
    out = tmp_path / "out.jsonl"
    stream = write(f"""
        http: {{ enabled: false }}
        input:
          label: counted
          tt_counter: {{ count: 2, start: 10 }}
          processors:
            - mapping: 'root = this.merge({{"user": true}})'
        output:
          file: {{ path: {out} }}
    """)
    config = load_stream(stream)
    assert (config.input.type, config.input.label) == ("generate", "counted")
    assert [p.conf for p in config.input.processors] == [
        'root = this.merge({"from": "template"})',
        'root = this.merge({"user": true})',
    ]
    run_stream(stream)
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got == [{"n": n, "from": "template", "user": True} for n in (10, 11)]


def test_an_output_template_with_nested_outputs_and_processors(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    good, dlq = tmp_path / "good.jsonl", tmp_path / "dlq.jsonl"
    stream = write(f"""
        http: {{ enabled: false }}
        input:
          generate: {{ count: 3, interval: "", mapping: 'root = {{"n": counter()}}' }}
        pipeline:
          processors:
            - mapping: 'root = if this.n == 2 {{ throw("two is bad") }} else {{ this }}'
        output:
          fallback:
            - reject_errored:
                file: {{ path: {good} }}
            - dead_letter_file: {{ path: {dlq}, with_metadata: false }}
    """)
    config = load_stream(stream)
    dead = config.output.conf[1]
    assert (dead.type, [p.type for p in dead.processors]) == ("file", ["mapping"])
    run_stream(stream)
    assert [json.loads(line) for line in good.read_text().splitlines()] == [{"n": 1}, {"n": 3}]
    (record,) = [json.loads(line) for line in dlq.read_text().splitlines()]
    assert record["message"] == {"n": 2}
    assert "two is bad" in record["error"]
    assert set(record) == {"error", "dead_lettered_at", "message"}


SHIPPED_INPUTS = {
    "td_modbus": (
        "modbus",
        "controller: tcp://127.0.0.1:5020\n"
        "properties: [ { name: temperature, register: InputRegister, address: 3, type: float32 } ]",
    ),
    "td_opcua": (
        "opcua",
        'endpoint: opc.tcp://127.0.0.1:4840\nnode_ids: [ "ns=2;s=T" ]\nsubscribe: true',
    ),
    "td_mqtt": ("mqtt", "broker: mqtt://127.0.0.1:1883\ntopics: [ plant/# ]"),
    "td_http_server": ("http_server", "address: 127.0.0.1:0"),
}


@pytest.mark.parametrize("name", sorted(SHIPPED_INPUTS))
def test_shipped_input_templates_expand_to_valid_components(
    name: str, write: Callable[..., Path]
) -> None:
    component, fields = SHIPPED_INPUTS[name]
    body = textwrap.indent(fields, " " * 4)
    stream = write(
        f"input:\n  {name}:\n{body}\n"
        "pipeline:\n  processors:\n"
        "    - to_telemetry: { asset_id: boiler-1 }\n"
        "    - log_message: { level: DEBUG }\n"
        "output:\n  drop: {}\n"
    )
    config = load_stream(stream)
    assert config.input.type == component
    assert [p.type for p in config.processors] == ["telemetry", "log"]
    assert lint_paths([stream]) == []


def test_templates_inside_resources_and_nested_components(
    templates: Callable[..., Path], write: Callable[..., Path]
) -> None:
    assert load(templates(TAGGER)) == []
    stream = write("""
        input:
          generate: { count: 1, interval: "", mapping: "root = {}" }
        pipeline:
          processors:
            - resource: tagger
            - try:
                - tt_tagger: { field: inner }
        output:
          drop: {}
        processor_resources:
          - label: tagger
            tt_tagger: { field: outer }
    """)
    config = load_stream(stream)
    resource = config.resources["processor"]["tagger"]
    assert (resource.type, resource.label) == ("mapping", "tagger")
    assert config.processors[1].conf[0].type == "mapping"


# -- problems --------------------------------------------------------------------------------


def test_bad_yaml_in_a_template(templates: Callable[..., Path]) -> None:
    path = templates("""
        name: tt_bad
        type: processor
        mapping: root = this
          oops: [
    """)
    (problem,) = load(path)
    assert problem.startswith("t.yaml:4:7: invalid YAML:")


def test_unknown_field_type_and_misspelt_keys(templates: Callable[..., Path]) -> None:
    path = templates("""
        name: tt_bad
        type: processor
        fields:
          - name: a
            type: strng
          - name: b
            type: int
            defualt: 3
          - name: c
            type: int
            default: three
        mapping: root.noop = {}
        summery: typo
    """)
    assert load(path) == [
        't.yaml:5:11: field type: "strng" is not one of string, int, float, bool, object, array, '
        'unknown, did you mean "string"?',
        't.yaml:8:5: unknown field "defualt" in template field, did you mean "default"?',
        "t.yaml:11:14: field c: default: expected int, got string",
        't.yaml:13:1: unknown field "summery" in template, did you mean "summary"?',
    ]


def test_a_mapping_that_does_not_compile(templates: Callable[..., Path]) -> None:
    path = templates("""
        name: tt_bad
        type: processor
        mapping: |
          root.mapping = "root = this"
          root.other = this.(
    """)
    (problem,) = load(path)
    assert problem.startswith("t.yaml:5:")
    assert "mapping: bad Bloblang:" in problem


def test_template_file_level_problems(templates: Callable[..., Path]) -> None:
    assert load(templates("name: log\ntype: processor\nmapping: root.noop = {}\n")) == [
        't.yaml:1:7: processor "log" is already a component (streamforge.processors.log); '
        "a template needs a name of its own"
    ]
    assert load(templates("name: tt_limit\ntype: rate_limit\nmapping: root = {}\n")) == [
        't.yaml:2:7: template type "rate_limit" is not supported: StreamForge has no rate_limit '
        "components (valid: input, processor, output, cache)"
    ]
    assert load(templates("name: Bad-Name\ntype: input\n")) == [
        't.yaml:1:1: template: missing required field "mapping"',
        't.yaml:1:7: template name "Bad-Name" is invalid: names must match /^[a-z0-9_]+$/ and '
        "must not start with an underscore",
    ]
    assert load(templates("")) == ["t.yaml:1:1: the template file is empty"]
    assert registry.get("processor", "tt_limit") is None


def test_a_failing_template_test_is_reported_at_its_expectation(
    templates: Callable[..., Path],
) -> None:
    path = templates("""
        name: tt_sleepy
        type: processor
        fields:
          - { name: for, type: string, default: 1s }
        mapping: 'root.sleep.duration = this.for'
        tests:
          - name: right
            config: {}
            expected: { sleep: { duration: 1s } }
          - name: wrong
            config: { for: 2s }
            expected:
              sleep: { duration: 3s }
          - name: bad config
            config: { for: [ 1 ] }
            expected: {}
    """)
    assert load(path) == [
        't.yaml:12:5: test \'wrong\': the mapping gave "2s" at sleep.duration, expected "3s"',
        "t.yaml:15:20: test 'bad config': field for: expected string, got array",
    ]
    assert registry.get("processor", "tt_sleepy") is None  # a template failing its tests


def test_problems_where_a_template_is_used(
    templates: Callable[..., Path], write: Callable[..., Path], tmp_path: Path
) -> None:
    templates(TAGGER, "tagger.yaml")
    templates("""
        name: tt_thrower
        type: processor
        fields:
          - { name: limit, type: int }
        mapping: |
          root.sleep.duration = if this.limit > 5 { throw("limit too high") } else { "1s" }
          root.sleep.extra = this.limit
    """, "thrower.yaml")  # fmt: skip
    templates("""
        name: tt_text
        type: processor
        mapping: 'root = "not an object"'
    """, "text.yaml")  # fmt: skip
    assert load_templates([str(tmp_path / "templates" / "*.yaml")]) == []
    stream = write("""
        input:
          generate: { count: 1, interval: "", mapping: "root = {}" }
        pipeline:
          processors:
            - tt_tagger: {}
            - tt_tagger: { field: [ a ], times: many }
            - tt_thrower: { limit: 9 }
            - tt_thrower: { limit: 1 }
            - tt_text: {}
            - tt_tagger: { field: ok, colour: red }
        output:
          drop: {}
    """)
    with pytest.raises(ConfigError) as err:
        load_stream(stream)
    assert lines(err.value.problems, stream.parent) == [
        'stream.yaml:5:7: processor tt_tagger: missing required field "field"',
        "stream.yaml:6:27: field field: expected string, got array",
        "stream.yaml:6:41: field times: expected int, got string",
        "stream.yaml:7:7: processor tt_thrower: the mapping of template 'tt_thrower' failed: "
        "failed assignment (line 1): limit too high",
        "stream.yaml:8:7: processor tt_thrower: the mapping of template 'tt_thrower' gave an "
        'invalid processor: unknown field "extra" in processor sleep (valid: duration)',
        "stream.yaml:9:7: processor tt_text: the mapping of template 'tt_text' gave a string, "
        "not a processor config (an object)",
        'stream.yaml:10:31: unknown field "colour" in processor tt_tagger (valid: field, value, '
        "times)",
    ]


def test_nested_object_fields_are_checked_where_they_are_written(
    write: Callable[..., Path],
) -> None:
    stream = write("""
        input:
          td_modbus:
            properties:
              - { name: temperature, address: 3 }
              - { name: pressure, adress: 4 }
        output:
          drop: {}
    """)
    assert lines(lint_paths([stream]), stream.parent) == [
        'stream.yaml:5:9: input td_modbus: missing required field "properties.1.address"',
        'stream.yaml:5:27: unknown field "adress" in input td_modbus.properties.1, did you mean '
        '"address"?',
    ]


def test_templates_that_expand_into_each_other_are_stopped(
    templates: Callable[..., Path], write: Callable[..., Path], tmp_path: Path
) -> None:
    templates("name: tt_ping\ntype: processor\nmapping: 'root.tt_pong = {}'\n", "ping.yaml")
    templates("name: tt_pong\ntype: processor\nmapping: 'root.tt_ping = {}'\n", "pong.yaml")
    assert load_templates([str(tmp_path / "templates" / "p*.yaml")]) == []
    stream = write("""
        pipeline:
          processors:
            - tt_ping: {}
    """)
    with pytest.raises(ConfigError) as err:
        load_stream(stream)
    (problem,) = lines(err.value.problems, stream.parent)
    assert problem.startswith("stream.yaml:3:7: processor tt_ping: ")
    assert "templates expand into each other (tt_ping -> tt_pong -> tt_ping)" in problem


def test_a_later_template_replaces_an_earlier_one_of_the_same_name(
    templates: Callable[..., Path],
) -> None:
    first = templates("name: tt_twice\ntype: processor\nmapping: 'root.noop = {}'\n", "a.yaml")
    assert load(first) == []
    second = templates(
        "name: tt_twice\ntype: processor\nsummary: second\nmapping: 'root.noop = {}'\n", "b.yaml"
    )
    assert load(second) == []
    spec = registry.get("processor", "tt_twice")
    assert spec is not None and spec.summary == "second"
    # the same name twice in one load is a mistake
    problems = load_templates([str(first.parent / "*.yaml")])
    assert [p.message for p in problems] == [
        f'processor template "tt_twice" is defined twice (first in {first}:1:7)'
    ]


# -- the command line ------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMFORGE_LICENSE": "", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "streamforge", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_lint_with_templates_on_the_command_line(
    templates: Callable[..., Path], write: Callable[..., Path], tmp_path: Path
) -> None:
    templates(TAGGER, "tagger.yaml")
    write("""
        input:
          generate: { count: 1, interval: "", mapping: "root = {}" }
        pipeline:
          processors:
            - tt_tagger: { field: site }
        output:
          drop: {}
    """, "cfg.yaml")  # fmt: skip
    clean = _cli("lint", "--templates", "templates/*.yaml", "cfg.yaml", cwd=tmp_path)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")

    without = _cli("lint", "cfg.yaml", cwd=tmp_path)
    assert without.returncode == 1
    assert without.stdout.startswith('cfg.yaml:5:7: unknown processor type "tt_tagger"')

    templates("name: tt_broken\ntype: processor\nmapping: 'root = this.('\n", "broken.yaml")
    broken = _cli("lint", "-t", "templates/*.yaml", "cfg.yaml", cwd=tmp_path)
    assert broken.returncode == 1
    assert broken.stdout.startswith("templates/broken.yaml:3:")
    assert "mapping: bad Bloblang:" in broken.stdout


def test_run_refuses_templates_that_do_not_load(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: tt_x\ntype: processor\n")
    (tmp_path / "cfg.yaml").write_text("input: { stdin: {} }\noutput: { drop: {} }\n")
    result = _cli("run", "-t", "bad.yaml", "cfg.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert 'bad.yaml:1:1: template: missing required field "mapping"' in result.stderr


def test_config_unit_tests_run_through_templates(
    templates: Callable[..., Path], write: Callable[..., Path], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    templates(TAGGER, "tagger.yaml")
    write("""
        pipeline:
          processors:
            - tt_tagger: { field: site, value: lyon }
        tests:
          - name: tags the site
            target_processors: /pipeline/processors
            input_batch:
              - content: '{"n": 1}'
            output_batches:
              - - json_equals: { n: 1, site: lyon }
    """, "tagged.yaml")  # fmt: skip
    pattern = str(tmp_path / "templates" / "*.yaml")
    assert cli_main(["test", "-t", pattern, str(tmp_path / "tagged.yaml")]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_a_template_config_built_directly_expands_first() -> None:
    from streamforge.config.model import ComponentConfig, Location, StreamConfig
    from streamforge.engine.instantiate import BuildError, StreamBuilder

    assert load_shipped_templates() == []
    at = Location("api.yaml", 3, 5)
    log = ComponentConfig("processor", "log_message", {"message": "hi", "level": "INFO",
                          "with_metadata": False}, "pipeline.processors.0", at)  # fmt: skip
    stream = StreamConfig("s", Path("api.yaml"), ComponentConfig("input", "stdin", {}, "input", at),
                          [log], ComponentConfig("output", "drop", {}, "output", at))  # fmt: skip
    builder = StreamBuilder(stream)
    assert type(builder.build_processor(log)).__name__ == "LogProcessor"
    log.conf = {**log.conf, "level": "LOUD"}
    with pytest.raises(BuildError) as err:
        builder.build_processor(log)
    where = "api.yaml:3:5: processor 'log_message' (pipeline.processors.0)"
    assert str(err.value).startswith(where)
    assert "the mapping of template 'log_message' gave an invalid processor" in str(err.value)
