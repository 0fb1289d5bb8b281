"""StreamForge's component metrics under Benthos' names as well, so dashboards, alerts and
`metrics.mapping`s written for Benthos read a StreamForge process unchanged.

`streamforge_received{stream, component}` of an input is also served as
`input_received{label, path, stream}`, a processor's `streamforge_errors` as `processor_error`,
an output's `streamforge_processing_seconds` as `output_latency_ns` (in nanoseconds), and so
on (see `_NAMES`). The series are derived when /metrics is read from the families that
components update; nothing extra happens per message. Components are described when a stream
is compiled (`describe_component`); a series of a component nobody described stays as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from streamforge.observability.metrics import REGISTRY

__all__ = ["BENTHOS_COUNTERS", "BENTHOS_FAMILIES", "describe_component"]


@dataclass(frozen=True)
class _Component:
    kind: str
    label: str
    path: str


#: (StreamForge family, component kind) -> Benthos' family
_NAMES: dict[tuple[str, str], str] = {
    ("streamforge_received", "input"): "input_received",
    ("streamforge_connected", "input"): "input_connection_up",
    ("streamforge_connection_failures", "input"): "input_connection_failed",
    ("streamforge_reconnects", "input"): "input_connection_lost",
    ("streamforge_received", "processor"): "processor_received",
    ("streamforge_sent", "processor"): "processor_sent",
    ("streamforge_errors", "processor"): "processor_error",
    ("streamforge_processing_seconds", "processor"): "processor_latency_ns",
    ("streamforge_sent", "output"): "output_sent",
    ("streamforge_errors", "output"): "output_error",
    ("streamforge_processing_seconds", "output"): "output_latency_ns",
    ("streamforge_connected", "output"): "output_connection_up",
    ("streamforge_connection_failures", "output"): "output_connection_failed",
    ("streamforge_reconnects", "output"): "output_connection_lost",
}

#: every Benthos family served, for documentation and tests
BENTHOS_FAMILIES = tuple(sorted(set(_NAMES.values())))
#: the Benthos families that count (served untyped, under their exact name, as Benthos does)
BENTHOS_COUNTERS = frozenset(
    name
    for (source, _), name in _NAMES.items()
    if source != "streamforge_connected" and not name.endswith("_ns")
)

_lock = threading.Lock()
_components: dict[tuple[str, str], _Component] = {}


def describe_component(stream: str, component: str, kind: str, label: str, path: str) -> None:
    """Record what the series labelled (`stream`, `component`) belong to: Benthos' `label`
    (empty when the config gives none) and `path` (`root.pipeline.processors.0`)."""
    with _lock:
        _components[(stream, component)] = _Component(kind, label, f"root.{path}" if path else "")


def _bucket_bound(bound: str, ns: bool) -> str:
    """A histogram bucket's upper bound, in nanoseconds for a latency."""
    if not ns or bound == "+Inf":
        return bound
    return repr(float(bound) * 1e9)


class _BenthosNames(Collector):
    """Collects the Benthos-named families from the registry's StreamForge ones."""

    def collect(self) -> Iterator[Metric]:
        with _lock:
            components = dict(_components)
        if not components or getattr(_collecting, "active", False):
            return
        families: dict[str, Metric] = {}
        for family in _sources():
            for sample in family.samples:
                stream = sample.labels.get("stream", "")
                described = components.get((stream, sample.labels.get("component", "")))
                name = None if described is None else _NAMES.get((family.name, described.kind))
                suffix = sample.name[len(family.name) :]
                if described is None or name is None or suffix == "_created":
                    continue
                kind = family.type
                if kind == "counter":
                    # Benthos' counters carry no `_total`; an untyped family keeps the name
                    suffix, kind = "", "unknown"
                ns = name.endswith("_ns")
                target = families.get(name)
                if target is None:
                    target = families[name] = Metric(name, family.documentation, kind)
                labels = {"label": described.label, "path": described.path, "stream": stream}
                if "le" in sample.labels:
                    labels["le"] = _bucket_bound(sample.labels["le"], ns)
                value = sample.value * 1e9 if ns and suffix == "_sum" else sample.value
                target.samples.append(
                    sample._replace(name=name + suffix, labels=labels, value=value)
                )
        yield from families.values()


_SOURCE_FAMILIES = frozenset(family for family, _ in _NAMES)
_collecting = threading.local()


def _sources() -> list[Metric]:
    """The StreamForge families the Benthos names are derived from (this collector, asked
    again by the registry while it collects, answers nothing)."""
    _collecting.active = True
    try:
        return [family for family in REGISTRY.collect() if family.name in _SOURCE_FAMILIES]
    finally:
        _collecting.active = False


REGISTRY.register(_BenthosNames())
