"""The documented examples of the cache, metric and rate_limit processors, the lru, ttlru and
redis caches and the local rate limit lint clean, and those needing no peer run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from streamforge.config import lint_paths, load_stream
from streamforge.engine.instantiate import StreamBuilder, close_stream_caches
from streamforge.message import Message
from streamforge.plugin import load_builtins, registry
from streamforge.plugin.chain import ProcessorChain

load_builtins()

COMPONENTS = [
    ("processor", "cache"),
    ("processor", "metric"),
    ("processor", "rate_limit"),
    ("cache", "lru"),
    ("cache", "ttlru"),
    ("cache", "redis"),
    ("rate_limit", "local"),
]
EXAMPLES = [
    pytest.param(text, id=f"{kind}-{name}-{i}")
    for kind, name in COMPONENTS
    for i, text in enumerate(registry.get(kind, name).examples)  # type: ignore[union-attr]
]


def as_stream(example: str) -> str:
    """The example with an input and an output when it has none."""
    doc = yaml.safe_load(example)
    doc.setdefault("input", {"generate": {"count": 1, "mapping": "root = {}"}})
    doc.setdefault("output", {"drop": {}})
    return yaml.safe_dump(doc, sort_keys=False)


def test_every_component_has_examples() -> None:
    for kind, name in COMPONENTS:
        spec = registry.get(kind, name)
        assert spec is not None and spec.examples, (kind, name)


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_lints_clean(tmp_path: Path, example: str) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(as_stream(example))
    assert [str(p) for p in lint_paths([str(path)])] == []


def test_hydration_from_a_static_lookup_table_runs(tmp_path: Path) -> None:
    example = next(e for e in registry.get("processor", "cache").examples if "branch" in e)  # type: ignore[union-attr]
    path = tmp_path / "hydrate.yaml"
    path.write_text(as_stream(example))
    stream = load_stream(path)
    builder = StreamBuilder(stream)
    try:
        chain = ProcessorChain(builder.build_processors(stream.processors))
        out = chain.process_batch(
            [Message.from_value({"asset_id": "press-1"}), Message.from_value({"asset_id": "x"})]
        )
    finally:
        close_stream_caches(stream)
    assert out[0].value == {"asset_id": "press-1", "asset": {"hall": "A"}}
    assert out[1].error is not None and "key does not exist" in out[1].error


def test_a_benthos_counter_with_metadata_labels_lints_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "counter.yaml"
    path.write_text(
        textwrap.dedent(
            """
            input:
              generate:
                count: 3
                mapping: |
                  root.document.type = "reading"
                  meta kafka_topic = "plant"
                  meta kafka_partition = 0
            pipeline:
              processors:
                - metric:
                    name: Foos_examples
                    type: counter
                    labels:
                      topic: ${! meta("kafka_topic") }
                      partition: ${! meta("kafka_partition") }
                      type: ${! json("document.type").or("unknown") }
            output:
              drop: {}
            """
        )
    )
    assert lint_paths([str(path)]) == []
    from streamforge.observability.metrics import REGISTRY

    stream = load_stream(path)
    [proc] = StreamBuilder(stream).build_processors(stream.processors)
    msg = Message.from_value({"document": {"type": "reading"}})
    msg.metadata.update({"kafka_topic": "plant", "kafka_partition": "0"})
    proc.process_batch([msg, msg.copy()])
    labels = {"topic": "plant", "partition": "0", "type": "reading"}
    assert REGISTRY.get_sample_value("Foos_examples", labels) == 2
