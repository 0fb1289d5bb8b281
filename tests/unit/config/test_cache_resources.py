"""`cache_resources`: validated with file:line:col problems, referenced by label, listed, echoed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from streamforge.cli import main
from streamforge.config import dump_yaml, lint_paths, load_stream, stream_schema, stream_to_dict
from streamforge.docs_gen import render_components_markdown

Write = Callable[..., Path]

STREAM = """
input:
  test_only_gen: {}
pipeline:
  processors:
    - dedupe:
        cache: seen_readings
        key: ${! json("asset_id") }-${! json("timestamps.device_time") }
output:
  test_only_sink: {path: x}
cache_resources:
  - label: seen_readings
    memory:
      default_ttl: 10m
      cap: 1000
"""


def problems(path: Path) -> list[str]:
    return [str(p).replace(str(path.parent) + "/", "") for p in lint_paths([str(path)])]


def test_cache_resources_load_with_defaults(write: Write) -> None:
    path = write(STREAM)
    assert problems(path) == []
    stream = load_stream(path)
    seen = stream.caches["seen_readings"]
    assert (seen.kind, seen.type, seen.label) == ("cache", "memory", "seen_readings")
    assert seen.conf == {
        "default_ttl": "10m", "compaction_interval": "60s", "cap": 1000, "init_values": {},
        "shards": 1,
    }  # fmt: skip
    assert stream.processors[0].conf["cache"] == "seen_readings"
    assert "cache_resources" not in stream_to_dict(stream)  # echoed under `resources`


def test_unknown_cache_label_is_reported_at_the_value_with_did_you_mean(write: Write) -> None:
    path = write(STREAM.replace("cache: seen_readings", "cache: seen_reading"))
    assert problems(path) == [
        'stream.yaml:6:16: field cache: cache resource "seen_reading" is not defined, '
        'did you mean "seen_readings"?'
    ]


def test_unknown_cache_label_lists_the_known_ones_or_says_where_to_declare(
    write: Write,
) -> None:
    path = write(STREAM.replace("cache: seen_readings", "cache: dup"))
    assert problems(path) == [
        'stream.yaml:6:16: field cache: cache resource "dup" is not defined (known: seen_readings)'
    ]
    without = STREAM.split("cache_resources:")[0]
    path = write(without)
    assert problems(path) == [
        'stream.yaml:6:16: field cache: cache resource "seen_readings" is not defined '
        "(declare it under cache_resources)"
    ]


def test_caches_under_resources_and_in_processor_resources_resolve(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        pipeline:
          processors:
            - resource: once
        output:
          test_only_sink: {path: x}
        processor_resources:
          - label: once
            dedupe: {cache: seen, key: "${! content() }"}
          - label: twice
            dedupe: {cache: sene, key: "${! content() }"}
        resources:
          cache_resources:
            - label: seen
              memory: {}
        """
    )
    assert problems(path) == [
        'stream.yaml:12:21: field cache: cache resource "sene" is not defined, did you mean "seen"?'
    ]


def test_cache_resource_problems_have_positions(write: Write) -> None:
    path = write(
        """
        input:
          test_only_gen: {}
        output:
          test_only_sink: {path: x}
        cache_resources:
          - label: a
            memroy: {}
          - memory: {}
          - label: b
            resource: a
          - label: c
            memory: {cap: -2, default_ttl: soon, compaction_interval: -1s, ttl: 5m}
            processors: []
          - label: c
            memory: {}
        """
    )
    assert problems(path) == [
        'stream.yaml:7:5: unknown cache type "memroy", did you mean "memory"? '
        "(valid: file, lru, memcached, memory, multilevel, redis, sql, ttlru)",
        "stream.yaml:8:5: cache resource needs a label to be referenced by",
        'stream.yaml:10:5: unknown cache type "resource" '
        "(valid: file, lru, memcached, memory, multilevel, redis, sql, ttlru)",
        "stream.yaml:12:19: field cap: expected a whole number of at least 0, got -2",
        "stream.yaml:12:36: field default_ttl: invalid duration 'soon': expected a number "
        "with a unit such as 500ms, 1s, 1m30s",
        "stream.yaml:12:63: field compaction_interval: '-1s' must not be negative",
        'stream.yaml:12:68: unknown field "ttl" in cache memory (valid: default_ttl, '
        "compaction_interval, cap, init_values, shards)",
        'stream.yaml:13:5: unknown field "processors" in cache memory',
        'stream.yaml:14:12: duplicate label "c" (first used at line 11)',
    ]


def test_echo_round_trips_and_the_schema_accepts_it(write: Write) -> None:
    stream = load_stream(write(STREAM))
    text = dump_yaml(stream_to_dict(stream))
    echoed = yaml.safe_load(text)
    assert echoed["resources"]["cache_resources"][0]["memory"]["cap"] == 1000
    jsonschema.validate(echoed, stream_schema())
    again = load_stream(write(text, "echoed.yaml"))
    assert stream_to_dict(again) == stream_to_dict(stream)


@pytest.mark.parametrize(
    "cache",
    [
        {"label": "c", "memroy": {}},
        {"label": "c", "resource": "d"},
        {"label": "c", "memory": {"cap": "many"}},
        {"label": "c", "memory": {}, "processors": []},
    ],
)
def test_schema_rejects_what_lint_rejects(cache: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"cache_resources": [cache]}, stream_schema())


def test_list_shows_the_cache_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert text.index("Outputs:") < text.index("Caches:")
    caches = text[text.index("Caches:") :].splitlines()
    assert any(line.split()[0] == "memory" for line in caches[1:])
    assert main(["list", "caches", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["caches"]
    memory = next(s for s in doc["caches"] if s["name"] == "memory")
    assert memory["kind"] == "cache"
    assert [f["name"] for f in memory["config"]["fields"]][:4] == [
        "default_ttl", "compaction_interval", "cap", "init_values",
    ]  # fmt: skip
    assert main(["list", "processors", "--format", "json"]) == 0
    dedupe = next(s for s in json.loads(capsys.readouterr().out)["processors"]
                  if s["name"] == "dedupe")  # fmt: skip
    assert dedupe["config"]["fields"][0]["references"] == "cache"


def test_components_reference_documents_caches() -> None:
    text = render_components_markdown()
    assert "## Caches" in text and "### `memory`" in text
    assert 'cache_resources:\n  - label: ""\n    memory:\n      default_ttl: 5m' in text
    assert "| `cache` | cache label | required |" in text
