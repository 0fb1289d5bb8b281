"""Old import paths of moved modules: they still import, with a DeprecationWarning, until 0.3.

Plugins written against the paths of StreamForge 0.1 keep loading; each old path names the
module that replaced it. (`streamforge.components` and `streamforge.stateful` are modules of
their own, since their contents were split.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["MOVED", "install"]

#: old module path -> the module that replaced it
MOVED: dict[str, str] = {
    "streamforge.acks": "streamforge.engine.acks",
    "streamforge.batching": "streamforge.plugin.batching",
    "streamforge.build": "streamforge.engine.instantiate",
    "streamforge.compile": "streamforge.engine.dataflow",
    "streamforge.pipeline": "streamforge.plugin.chain",
    "streamforge.quality": "streamforge.processors.telemetry.quality",
    "streamforge.http_settings": "streamforge.connectors.http",
    "streamforge.unittest": "streamforge.configtest",
    "streamforge.unittest.conditions": "streamforge.configtest.conditions",
    "streamforge.unittest.discover": "streamforge.configtest.discover",
    "streamforge.unittest.runner": "streamforge.configtest.runner",
    "streamforge.unittest.targets": "streamforge.configtest.targets",
    "streamforge.bloblang.gotime": "streamforge.timefmt.gotime",
    "streamforge.bloblang.strftime": "streamforge.timefmt.strftime",
    "streamforge.config.fields": "streamforge.plugin.spec",
    "streamforge.runtime.connection": "streamforge.plugin.connection",
    "streamforge.runtime.logging": "streamforge.observability.logging",
    "streamforge.runtime.metrics": "streamforge.observability.metrics",
    "streamforge.runtime.queued_reader": "streamforge.plugin.readers",
    "streamforge.runtime.sinks": "streamforge.engine.sinks",
    "streamforge.runtime.sources": "streamforge.engine.sources",
    "streamforge.inputs._codecs": "streamforge.connectors.codecs",
    "streamforge.inputs._kafka_client": "streamforge.connectors.kafka",
    "streamforge.inputs._mqtt_client": "streamforge.connectors.mqtt",
    "streamforge.inputs._tls_spec": "streamforge.connectors.tls",
    "streamforge.outputs._delivery": "streamforge.plugin.delivery",
    "streamforge.outputs._circuit_breaker": "streamforge.connectors.circuit_breaker",
    "streamforge.processors._ordering": "streamforge.plugin.ordering",
    "streamforge.processors._errors": "streamforge.bloblang.error_calls",
}


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module that replaced it."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(
            f"{module.__name__} is deprecated and goes away in StreamForge 0.3; "
            f"import {self.new} instead",
            DeprecationWarning,
            stacklevel=2,
        )
        sys.modules[module.__name__] = importlib.import_module(self.new)


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths in MOVED (before the path finders, which no longer would)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> ModuleSpec | None:
        new = MOVED.get(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    """Put the finder of old paths first on `sys.meta_path` (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
