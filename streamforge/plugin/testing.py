"""A build context for a component's own tests, outside any stream.

    from streamforge.plugin import Message, registry
    from streamforge.plugin.testing import PluginTestContext

    ctx = PluginTestContext(label="upper")
    proc = registry.get("processor", "upper").factory({"field": "name"}, ctx)
    assert proc.process_batch([Message(value={"name": "ada"})])[0].value == {"name": "ADA"}

Nested components are given built, or as `{type: config}` of a registered component.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streamforge.observability.logging import component_logger
from streamforge.observability.metrics import ComponentMetrics, component_metrics
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.interfaces import Cache, Input, Output, Processor, RateLimit
from streamforge.plugin.registry import registry
from streamforge.plugin.spec import Kind

__all__ = ["PluginTestContext"]


class PluginTestContext:
    """A BuildContext: a stream name, a label, a logger, metrics, nested components, caches,
    rate limits and top-level sections."""

    def __init__(
        self,
        *,
        stream: str = "test",
        label: str = "component",
        path: str = "pipeline.processors.0",
        kind: Kind = "processor",
        type_name: str = "test",
        caches: Mapping[str, Cache] | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        processor_resources: Mapping[str, Any] | None = None,
        sections: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.stream = stream
        self.label = label
        self.path = path
        self.kind = kind
        self.type_name = type_name
        self.caches = dict(caches or {})
        self.rate_limits = dict(rate_limits or {})
        self.processor_resources = dict(processor_resources or {})
        self.sections = dict(sections or {})

    @property
    def logger(self) -> logging.Logger:
        return component_logger(self.kind, self.type_name, self.label)

    @property
    def metrics(self) -> ComponentMetrics:
        return component_metrics(self.stream, self.label)

    def build(self, kind: Kind, conf: Any) -> Any:
        """A nested component: `conf` itself when built, else `{type: config}` from the registry."""
        if isinstance(conf, (Processor, Output, Input)):
            return conf
        ((name, value),) = conf.items()
        spec = registry.get(kind, name)
        if spec is None:
            raise LookupError(f"unknown {kind} {name!r}")
        return spec.factory(value, self)

    def build_processors(self, confs: list[Any]) -> list[Processor]:
        return [self.build("processor", c) for c in confs]

    def processor_resource(self, label: str) -> Processor:
        """A processor built from `processor_resources[label]` ({type: config})."""
        if label not in self.processor_resources:
            raise LookupError(f"processor resource {label!r} is not defined")
        proc: Processor = self.build("processor", self.processor_resources[label])
        return proc

    def has_processor_resource(self, label: str) -> bool:
        return label in self.processor_resources

    def build_output(self, conf: Any) -> Output:
        output: Output = self.build("output", conf)
        return output

    def build_input(self, conf: Any) -> Input:
        inp: Input = self.build("input", conf)
        return inp

    def build_chain(self, confs: list[Any], *, skip_errored: bool = True) -> Processor:
        return ProcessorChain(self.build_processors(confs), skip_errored=skip_errored)

    def cache(self, label: str) -> Cache:
        try:
            return self.caches[label]
        except KeyError:
            raise LookupError(f"no cache resource {label!r} in this test context") from None

    def rate_limit(self, label: str) -> RateLimit:
        try:
            return self.rate_limits[label]
        except KeyError:
            raise LookupError(f"no rate limit resource {label!r} in this test context") from None

    def section(self, name: str) -> dict[str, Any] | None:
        """The top-level section `name` given to this context (None when not given)."""
        value = self.sections.get(name)
        return None if value is None else dict(value)
