"""What /metrics serves, as the stream's `metrics:` section says (Benthos v4).

`prometheus` serves the registry, optionally with the process' and the runtime's own
collectors; `none` serves nothing. `metrics.mapping` is a Bloblang mapping run on each series:
`this` is the metric name and metadata are its labels; `root = "x"` renames it,
`root = deleted()` drops it, and `meta` assignments change its labels. Results are kept per
name and label set, so the mapping runs once per series, not once per scrape.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from streamforge.observability.metrics import REGISTRY

__all__ = ["MetricsExposition", "exposition_for"]

log = logging.getLogger("streamforge.metrics")

#: labels that belong to the sample's shape, not to the series (kept as they are)
_SHAPE_LABELS = ("le", "quantile")

_extra_lock = threading.Lock()
_extra_added: set[str] = set()


def _add_runtime_collectors(process: bool, runtime: bool) -> None:
    """Register the process and runtime collectors in the registry, once per process."""
    wanted: list[tuple[str, Any]] = []
    if process:
        wanted.append(("process", PROCESS_COLLECTOR))
    if runtime:
        wanted += [("gc", GC_COLLECTOR), ("platform", PLATFORM_COLLECTOR)]
    with _extra_lock:
        for name, collector in wanted:
            if name not in _extra_added:
                REGISTRY.register(collector)
                _extra_added.add(name)


class _Mapped:
    """A collector view of the registry with the mapping applied."""

    def __init__(self, mapping: Any) -> None:
        self.mapping = mapping
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
        self._lock = threading.Lock()

    def _map(self, name: str, labels: dict[str, str]) -> tuple[str, dict[str, str]] | None:
        from streamforge.bloblang import DELETED, NOTHING

        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            hit = self._cache.get(key, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[no-any-return]
        result: tuple[str, dict[str, str]] | None
        meta: dict[str, Any] = dict(labels)
        try:
            root = self.mapping.query(name, meta)
        except Exception as exc:  # noqa: BLE001 - a failing mapping keeps the series as it is
            log.warning("metrics.mapping failed for %s: %s", name, exc)
            result = (name, labels)
        else:
            if root is DELETED:
                result = None
            else:
                new_name = name if root is NOTHING or root is None else str(root)
                result = (new_name, {str(k): str(v) for k, v in meta.items()})
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = result
        return result

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for family in REGISTRY.collect():
            for sample in family.samples:
                suffix = sample.name[len(family.name) :]
                shape = {k: v for k, v in sample.labels.items() if k in _SHAPE_LABELS}
                series = {k: v for k, v in sample.labels.items() if k not in _SHAPE_LABELS}
                mapped = self._map(family.name, series)
                if mapped is None:
                    continue
                name, labels = mapped
                target = families.get(name)
                if target is None:
                    target = families[name] = Metric(name, family.documentation, family.type)
                    target.unit = family.unit
                target.samples.append(
                    sample._replace(name=name + suffix, labels={**labels, **shape})
                )
        yield from families.values()


_MISS = object()


class MetricsExposition:
    """Renders /metrics for a `metrics:` section; `enabled` is False for `none`."""

    def __init__(self, kind: str = "prometheus", conf: Any = None, mapping: str = "") -> None:
        conf = conf or {}
        self.enabled = kind != "none"
        self.file_output_path = str(conf.get("file_output_path") or "")
        if self.enabled:
            _add_runtime_collectors(
                bool(conf.get("add_process_metrics")), bool(conf.get("add_go_metrics"))
            )
        self._view: Any = REGISTRY
        if mapping.strip():
            from streamforge.bloblang import parse

            self._view = _Mapped(parse(mapping))

    def render(self) -> bytes | None:
        """The exposition text, or None when metrics are off."""
        if not self.enabled:
            return None
        return generate_latest(self._view)

    def collect(self) -> Iterable[Metric]:
        """The metric families /metrics serves, after the mapping (for pushing elsewhere)."""
        return self._view.collect()  # type: ignore[no-any-return]

    def write_file(self) -> None:
        """Write the metrics to `file_output_path` (at the end of a run), when one is set."""
        if not self.file_output_path or not self.enabled:
            return
        try:
            with open(self.file_output_path, "wb") as fh:
                fh.write(generate_latest(self._view))
        except OSError as exc:
            log.warning("cannot write metrics to %s: %s", self.file_output_path, exc)


def exposition_for(sections: Iterable[dict[str, Any]]) -> MetricsExposition:
    """The exposition of a process running streams: the first stream's `metrics:` decides
    (one /metrics serves them all, as with `http:`)."""
    for section in sections:
        return MetricsExposition(
            str(section.get("type") or "prometheus"),
            section.get("conf") or {},
            str(section.get("mapping") or ""),
        )
    return MetricsExposition()
