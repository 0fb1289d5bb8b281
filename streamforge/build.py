"""Turn validated component configs into component instances (resolving `resource:`)."""

from __future__ import annotations

from typing import Any

from streamforge.components import Input, Output, Processor, registry
from streamforge.config.model import ComponentConfig, StreamConfig
from streamforge.message import Message

__all__ = ["BuildError", "ComponentContext", "OutputWithProcessors", "StreamBuilder"]


class BuildError(Exception):
    """A component could not be constructed from its (valid) config."""


class ComponentContext:
    """The BuildContext handed to one component factory."""

    def __init__(self, builder: StreamBuilder, conf: ComponentConfig) -> None:
        self._builder = builder
        self.stream = builder.stream_name
        self.label = conf.display_label
        self.path = conf.path
        self.config = conf

    def build_processors(self, confs: list[ComponentConfig]) -> list[Processor]:
        return [self._builder.build_processor(c) for c in confs]

    def build_output(self, conf: ComponentConfig) -> Output:
        return self._builder.build_output(conf)

    def build_input(self, conf: ComponentConfig) -> Input:
        return self._builder.build_input(conf)


class OutputWithProcessors(Output):
    """An output with output-level `processors:` that run right before it writes.

    They run on errored messages too: a dead-letter output's processors see what is
    routed to it (e.g. to add `error()` to the document).
    """

    def __init__(self, processors: list[Processor], output: Output) -> None:
        from streamforge.pipeline import ProcessorChain

        self.chain = ProcessorChain(processors, skip_errored=False)
        self.output = output

    def write_batch(self, batch: list[Message]) -> list[Message]:
        batch = self.chain.process_batch(batch)
        return self.output.write_batch(batch) if batch else []

    def flush(self) -> list[Message]:
        return self.output.flush()

    def buffered(self) -> int:
        return self.output.buffered()

    def take_failures(self) -> list[Message]:
        return self.output.take_failures()

    def close(self) -> None:
        self.chain.close()
        self.output.close()


class StreamBuilder:
    """Builds the components of one stream; resource references resolve to their config."""

    def __init__(self, stream: StreamConfig) -> None:
        self.stream = stream
        self.stream_name = stream.name

    def resolve(self, conf: ComponentConfig) -> ComponentConfig:
        """The component config a `resource:` reference points to (itself otherwise)."""
        return self._resolve(conf)

    def _resolve(self, conf: ComponentConfig) -> ComponentConfig:
        seen: set[str] = set()
        while conf.type == "resource":
            name = str(conf.conf)
            if name in seen:
                raise BuildError(f"{conf.location}: resource {name!r} refers to itself")
            seen.add(name)
            target = self.stream.resources.get(conf.kind, {}).get(name)
            if target is None:
                raise BuildError(f"{conf.location}: {conf.kind} resource {name!r} not found")
            conf = target
        return conf

    def _construct(self, conf: ComponentConfig) -> Any:
        conf = self._resolve(conf)
        spec = registry.get(conf.kind, conf.type)
        if spec is None:
            raise BuildError(f"{conf.location}: unknown {conf.kind} type {conf.type!r}")
        try:
            return spec.factory(conf.conf, ComponentContext(self, conf)), conf
        except BuildError:
            raise
        except Exception as exc:  # noqa: BLE001 - report the component that failed
            raise BuildError(
                f"{conf.location}: {conf.kind} {conf.type!r} ({conf.display_label}): {exc}"
            ) from exc

    def build_processor(self, conf: ComponentConfig) -> Processor:
        proc, _ = self._construct(conf)
        return proc  # type: ignore[no-any-return]

    def build_processors(self, confs: list[ComponentConfig]) -> list[Processor]:
        return [self.build_processor(c) for c in confs]

    def build_input(self, conf: ComponentConfig) -> Input:
        """The input itself; its input-level processors are compiled into the pipeline."""
        inp, _ = self._construct(conf)
        return inp  # type: ignore[no-any-return]

    def input_processors(self, conf: ComponentConfig) -> list[Processor]:
        """Input-level `processors:` (run first in the pipeline)."""
        return self.build_processors(self._resolve(conf).processors or conf.processors)

    def build_output(self, conf: ComponentConfig) -> Output:
        """The output, wrapped with its output-level processors when it has any."""
        out, resolved = self._construct(conf)
        procs = resolved.processors or conf.processors
        if procs:
            return OutputWithProcessors(self.build_processors(procs), out)
        return out  # type: ignore[no-any-return]
