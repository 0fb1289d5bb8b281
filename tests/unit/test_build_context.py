"""What the build context hands a component built for a stream: its logger, its metrics, chains."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamforge.config.loader import load_stream
from streamforge.engine.instantiate import StreamBuilder
from streamforge.observability.metrics import REGISTRY, render_metrics
from streamforge.plugin import BuildContext, Field, Message, Processor, register_processor

SEEN: dict[str, Any] = {}


@register_processor(
    "ctx_probe",
    fields=[Field("then", "array", default=[], item=Field("processor", "processor"))],
)
class CtxProbe(Processor):
    """Counts and logs what it sees through its build context; runs `then` as a chain."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.log = ctx.logger
        self.seen = ctx.metrics.counter("ctx_probe_seen", "Messages ctx_probe saw.")
        self.last = ctx.metrics.gauge("ctx_probe_last_size", "Size of ctx_probe's last batch.")
        self.then = ctx.build_chain(list(conf.get("then") or []))
        SEEN["logger"] = self.log.name

    def process_batch(self, batch: list[Message]) -> list[Message]:
        self.seen.inc(len(batch))
        self.last.set(len(batch))
        self.log.info("saw %d", len(batch))
        return self.then.process_batch(batch)


def stream_file(tmp_path: Path) -> Path:
    path = tmp_path / "probe.yaml"
    path.write_text(
        textwrap.dedent(
            """
            input:
              generate: {count: 1, mapping: "root = 1"}
            pipeline:
              processors:
                - label: probe
                  ctx_probe:
                    then:
                      - mapping: 'root = if this == 2 { throw("two") } else { this * 10 }'
                      - mapping: "root = this + 1"
            output:
              drop: {}
            """
        )
    )
    return path


def test_a_component_gets_its_logger_metrics_and_nested_chain(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stream = load_stream(stream_file(tmp_path), name="ctxs")
    proc = StreamBuilder(stream).build_processor(stream.processors[0])
    assert SEEN["logger"] == "streamforge.processors.ctx_probe.probe"

    with caplog.at_level(logging.INFO, logger="streamforge.processors.ctx_probe"):
        out = proc.process_batch([Message("1"), Message("2"), Message("3")])
    assert [r.getMessage() for r in caplog.records if r.name.endswith(".probe")] == ["saw 3"]

    # the nested chain flags the failing message and skips it in the next processor
    assert [m.value if m.error is None else m.error for m in out][::2] == [11, 31]
    assert "two" in str(out[1].error)

    labels = {"stream": "ctxs", "component": "probe"}
    assert REGISTRY.get_sample_value("streamforge_ctx_probe_seen_total", labels) == 3
    assert REGISTRY.get_sample_value("streamforge_ctx_probe_last_size", labels) == 3
    assert b'streamforge_ctx_probe_seen_total{component="probe",stream="ctxs"} 3.0' in (
        render_metrics()
    )


def test_a_level_set_on_the_component_type_applies_to_every_instance(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stream = load_stream(stream_file(tmp_path), name="quiet")
    proc = StreamBuilder(stream).build_processor(stream.processors[0])
    caplog.set_level(logging.INFO)
    type_logger = logging.getLogger("streamforge.processors.ctx_probe")
    try:
        type_logger.setLevel(logging.WARNING)
        proc.process_batch([Message("1")])
        assert not [r for r in caplog.records if r.name.startswith(type_logger.name)]
        type_logger.setLevel(logging.INFO)
        proc.process_batch([Message("1")])
    finally:
        type_logger.setLevel(logging.NOTSET)
    assert [r.getMessage() for r in caplog.records if r.name.startswith(type_logger.name)] == [
        "saw 1"
    ]
