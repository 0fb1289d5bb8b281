"""Building processors the way a stream does: from YAML, validated, defaults filled in."""

from __future__ import annotations

import textwrap
from pathlib import Path

from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import StreamBuilder
from streamforge.message import Message
from streamforge.plugin.batches import parts_of
from streamforge.plugin.chain import ProcessorChain


def stream_yaml(processors: str, resources: str = "") -> str:
    return (
        "http: { enabled: false }\n"
        "input:\n  generate: { count: 1, interval: '', mapping: 'root = 1' }\n"
        f"pipeline:\n  processors:\n{textwrap.indent(textwrap.dedent(processors), '    ')}\n"
        "output:\n  drop: {}\n" + textwrap.dedent(resources)
    )


def chain_of(tmp_path: Path, processors: str, resources: str = "") -> ProcessorChain:
    """The pipeline processors of a stream file holding `processors`, as one chain."""
    config = tmp_path / "stream.yaml"
    config.write_text(stream_yaml(processors, resources))
    stream = load_stream(config)
    return ProcessorChain(StreamBuilder(stream).build_processors(stream.processors))


def payloads(batch: list[Message]) -> list[bytes]:
    return [m.payload for m in batch]


def batch_payloads(result: list[Message]) -> list[list[bytes]]:
    """The payloads of each batch a result stands for."""
    return [payloads(p) for p in parts_of(result)]


def messages(*payloads: bytes | str, **metadata: str) -> list[Message]:
    return [Message(p, dict(metadata)) for p in payloads]
