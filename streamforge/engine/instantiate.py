"""Turn validated component configs into component instances (resolving `resource:`)."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from streamforge.config.model import (
    ELSEWHERE_HINT,
    ComponentConfig,
    Location,
    Problem,
    StreamConfig,
)
from streamforge.message import Message
from streamforge.observability.logging import component_logger
from streamforge.observability.metrics import ComponentMetrics, component_metrics
from streamforge.plugin import Cache, Input, InputReader, Output, Processor, RateLimit, registry
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.delivery import answering
from streamforge.plugin.errors import UndefinedResourceError
from streamforge.plugin.spec import ComponentSpec, offline_check_of

__all__ = [
    "BuildError",
    "build_problems",
    "ComponentContext",
    "OutputWithProcessors",
    "StreamBuilder",
    "StreamCaches",
    "close_stream_caches",
    "stream_caches",
]


class BuildError(Exception):
    """A component could not be constructed from its (valid) config.

    `location` is the place of the component that refused, when known; the message then
    starts with it.
    """

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.location = location


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

    def cache(self, label: str) -> Cache:
        return self._builder.cache(label)

    def processor_resource(self, label: str) -> Processor:
        ref = ComponentConfig("processor", "resource", label, self.path, self.config.location)
        return self._builder.build_processor(ref)

    def has_processor_resource(self, label: str) -> bool:
        stream = self._builder.stream
        return (
            label in stream.resources.get("processor", {})
            or ("processor", label) in stream.defined_elsewhere
        )

    def rate_limit(self, label: str) -> RateLimit:
        return self._builder.rate_limit(label)

    def build_chain(self, confs: list[ComponentConfig], *, skip_errored: bool = True) -> Processor:
        return ProcessorChain(self.build_processors(confs), skip_errored=skip_errored)

    def section(self, name: str) -> dict[str, Any] | None:
        value = self._builder.stream.sections.get(name)
        return None if value is None else dict(value)

    @property
    def logger(self) -> logging.Logger:
        return component_logger(self.config.kind, self.config.type, self.label)

    @property
    def metrics(self) -> ComponentMetrics:
        return component_metrics(self.stream, self.label)


class StreamCaches:
    """The cache and rate limit resources of one stream, each built on first use and shared by
    every worker."""

    def __init__(self, stream: StreamConfig) -> None:
        self._confs = stream.resources.get("cache", {})
        self._lock = threading.Lock()
        self._built: dict[str, Cache] = {}
        self._limit_confs = stream.resources.get("rate_limit", {})
        self._limits: dict[str, RateLimit] = {}

    def get(self, label: str, builder: StreamBuilder) -> Cache:
        """The cache `label`, built with `builder` the first time it is asked for."""
        with self._lock:
            cache = self._built.get(label)
            if cache is None:
                conf = self._confs.get(label)
                if conf is None:
                    known = ", ".join(sorted(self._confs)) or "none"
                    raise BuildError(f"cache resource {label!r} is not defined (known: {known})")
                cache = builder.construct_cache(conf)
                self._built[label] = cache
            return cache

    def rate_limit(self, label: str, builder: StreamBuilder) -> RateLimit:
        """The rate limit `label`, built with `builder` the first time it is asked for."""
        with self._lock:
            limit = self._limits.get(label)
            if limit is None:
                conf = self._limit_confs.get(label)
                if conf is None:
                    known = ", ".join(sorted(self._limit_confs)) or "none"
                    raise BuildError(
                        f"rate limit resource {label!r} is not defined (known: {known})"
                    )
                limit = builder.construct_rate_limit(conf)
                self._limits[label] = limit
            return limit

    def close(self) -> None:
        """Close every cache and rate limit built so far; a later `get` builds a fresh one."""
        with self._lock:
            built, self._built = self._built, {}
            limits, self._limits = self._limits, {}
        for cache in built.values():
            cache.close()
        for limit in limits.values():
            limit.close()


#: reentrant: a stream collected while the lock is held runs `_forget` on the same thread
_caches_lock = threading.RLock()
_caches: dict[int, StreamCaches] = {}


def _forget(key: int) -> None:
    """Drop a collected stream's entry; components still holding its caches keep them."""
    with _caches_lock:
        _caches.pop(key, None)


def stream_caches(stream: StreamConfig) -> StreamCaches:
    """The caches of this stream config object, shared by every builder of it in the process."""
    key = id(stream)
    with _caches_lock:
        caches = _caches.get(key)
        if caches is None:
            caches = _caches[key] = StreamCaches(stream)
            weakref.finalize(stream, _forget, key)
        return caches


def close_stream_caches(stream: StreamConfig) -> None:
    """Close the stream's caches (when it stops); building it again starts with empty ones."""
    with _caches_lock:
        caches = _caches.get(id(stream))
    if caches is not None:
        caches.close()


class OutputWithProcessors(Output):
    """An output with output-level `processors:` that run right before it writes.

    They run on errored messages too: a dead-letter output's processors see what is
    routed to it (e.g. to add `error()` to the document). Messages of inputs that answer
    their peer (`http_server`) are processed per input batch, which the messages the
    processors make stay marked with, so a `sync_response` after them still answers.
    """

    def __init__(self, processors: list[Processor], output: Output) -> None:
        self.chain = ProcessorChain(processors, skip_errored=False)
        self.output = output

    def write_batch(self, batch: list[Message]) -> list[Message]:
        parts = _parts_by_origin(batch)
        if parts is None:
            batch = self.chain.process_batch(batch)
        else:
            batch = [m for origin, part in parts for m in self._answering(origin, part)]
        return self.output.write_batch(batch) if batch else []

    def _answering(self, origin: object | None, part: list[Message]) -> list[Message]:
        if origin is None:
            return self.chain.process_batch(part)
        with answering(origin):
            out = self.chain.process_batch(part)
        for msg in out:
            if getattr(msg, "origin", None) is None:
                msg.origin = origin
        return out

    def flush(self) -> list[Message]:
        return self.output.flush()

    def buffered(self) -> int:
        return self.output.buffered()

    def take_failures(self) -> list[Message]:
        return self.output.take_failures()

    def close(self) -> None:
        self.chain.close()
        self.output.close()


def _parts_by_origin(batch: list[Message]) -> list[tuple[object | None, list[Message]]] | None:
    """The batch's messages by the input batch they answer, in order of appearance; None when
    none answers an input."""
    parts: dict[int, tuple[object | None, list[Message]]] = {}
    for msg in batch:
        origin = getattr(msg, "origin", None)
        parts.setdefault(id(origin), (origin, []))[1].append(msg)
    if len(parts) == 1 and id(None) in parts:
        return None
    return list(parts.values())


class StreamBuilder:
    """Builds the components of one stream; resource references resolve to their config."""

    def __init__(self, stream: StreamConfig, caches: StreamCaches | None = None) -> None:
        self.stream = stream
        self.stream_name = stream.name
        self.caches = caches if caches is not None else stream_caches(stream)

    def resolve(self, conf: ComponentConfig) -> ComponentConfig:
        """The component config a `resource:` reference points to (itself otherwise)."""
        return self._resolve(conf)

    def _resolve(self, conf: ComponentConfig) -> ComponentConfig:
        seen: set[str] = set()
        while conf.type == "resource":
            name = str(conf.conf)
            if name in seen:
                raise BuildError(
                    f"{conf.location}: resource {name!r} refers to itself", conf.location
                )
            seen.add(name)
            target = self.stream.resources.get(conf.kind, {}).get(name)
            if target is None:
                raise BuildError(
                    f"{conf.location}: {conf.kind} resource {name!r} not found", conf.location
                )
            conf = target
        return conf

    def _construct(self, conf: ComponentConfig) -> Any:
        conf = self._resolve(conf)
        spec = registry.get(conf.kind, conf.type)
        if spec is None:
            raise BuildError(
                f"{conf.location}: unknown {conf.kind} type {conf.type!r}", conf.location
            )
        try:
            return spec.factory(conf.conf, ComponentContext(self, conf)), conf
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError(
                f"{conf.location}: {conf.kind} {conf.type!r} ({conf.display_label}): {exc}",
                conf.location,
            ) from exc

    def cache(self, label: str) -> Cache:
        """The stream's cache resource `label` (one instance per stream and process)."""
        return self.caches.get(label, self)

    def construct_cache(self, conf: ComponentConfig) -> Cache:
        """A new cache from its resource config (StreamCaches calls it once per label)."""
        cache, _ = self._construct(conf)
        if not isinstance(cache, Cache):
            raise BuildError(
                f"{conf.location}: cache {conf.type!r} ({conf.display_label}) built a "
                f"{type(cache).__name__}, not a Cache"
            )
        return cache

    def rate_limit(self, label: str) -> RateLimit:
        """The stream's rate limit resource `label` (one instance per stream and process)."""
        return self.caches.rate_limit(label, self)

    def construct_rate_limit(self, conf: ComponentConfig) -> RateLimit:
        """A new rate limit from its resource config (StreamCaches calls it once per label)."""
        limit, _ = self._construct(conf)
        if not isinstance(limit, RateLimit):
            raise BuildError(
                f"{conf.location}: rate limit {conf.type!r} ({conf.display_label}) built a "
                f"{type(limit).__name__}, not a RateLimit"
            )
        return limit

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


class _Unbuilt(Output):
    """Stands in for an output lint checked instead of building (it writes nothing)."""

    def write_batch(self, batch: list[Message]) -> list[Message]:
        return []


class _NotBuilt(Input):
    """Stands in for an input lint left alone (a plugin's, whose building may connect)."""

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        raise BuildError("an input lint did not build cannot be opened")


class _ElsewhereProcessor(Processor):
    """Stands in for a processor resource defined in a file lint was not given."""

    def process_batch(self, batch: list[Message]) -> list[Message]:
        return batch


class _ElsewhereCache(Cache):
    """Stands in for a cache resource defined in a file lint was not given; never used."""

    def get(self, key: str) -> bytes | None:
        raise BuildError("a cache resource lint did not find cannot be read")

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        raise BuildError("a cache resource lint did not find cannot be written")

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        raise BuildError("a cache resource lint did not find cannot be written")

    def delete(self, key: str) -> None:
        raise BuildError("a cache resource lint did not find cannot be written")


class _ElsewhereRateLimit(RateLimit):
    """Stands in for a rate limit resource defined in a file lint was not given."""

    def access(self) -> float:
        return 0.0


def _problem(conf: ComponentConfig, exc: BuildError, stream: StreamConfig) -> Problem:
    """The problem at the place of the component that refused (`conf`'s when not known).

    A file or directory that is not there is a warning: lint checks the config (as Benthos'
    lint does), and the file may be there where and when the stream runs; `run` refuses it.
    So is a resource named by label when lint checks one file: another file may define it.
    """
    location = exc.location or conf.location
    text = str(exc)
    prefix = f"{location}: "
    text = text[len(prefix) :] if text.startswith(prefix) else text
    if _caused_by(exc, FileNotFoundError):
        return Problem(location, f"{text}; `run` needs it", True)
    if stream.resources_elsewhere and _caused_by(exc, UndefinedResourceError):
        return Problem(location, f"{text}; {ELSEWHERE_HINT}", True)
    return Problem(location, text)


def _caused_by(exc: BaseException, cause: type[BaseException]) -> bool:
    """Whether an exception of type `cause` is `exc` or led to it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, cause):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _CheckingBuilder(StreamBuilder):
    """Builds what `run` builds, but connects, binds and writes nothing; collects problems.

    A component with an `offline_check` is checked by it instead of being built. Other
    built-in inputs and outputs build without touching a peer (inputs connect in `open`,
    outputs that connect declare a check), so they are built; a plugin's input or output
    without a check is left alone, as its building may connect. A nested output that fails
    is reported at its own place and replaced, so its siblings are checked too.
    """

    def __init__(self, stream: StreamConfig) -> None:
        super().__init__(stream)
        self.problems: list[Problem] = []

    def _elsewhere(self, conf: ComponentConfig) -> bool:
        """Whether `conf` refers to a resource defined in a file lint was not given."""
        try:
            self._resolve(conf)
        except BuildError:
            return (conf.kind, str(conf.conf)) in self.stream.defined_elsewhere
        return False

    def cache(self, label: str) -> Cache:
        if ("cache", label) in self.stream.defined_elsewhere:
            return _ElsewhereCache()
        return super().cache(label)

    def rate_limit(self, label: str) -> RateLimit:
        if ("rate_limit", label) in self.stream.defined_elsewhere:
            return _ElsewhereRateLimit()
        return super().rate_limit(label)

    def build_processor(self, conf: ComponentConfig) -> Processor:
        if conf.type == "resource" and self._elsewhere(conf):
            return _ElsewhereProcessor()
        return super().build_processor(conf)

    def _checked(self, conf: ComponentConfig) -> tuple[Any, ComponentConfig] | None:
        if conf.type == "resource" and self._elsewhere(conf):
            return None
        resolved = self._resolve(conf)
        spec = registry.get(resolved.kind, resolved.type)
        if spec is None:
            return self._construct(conf)  # raises the BuildError run raises
        check = offline_check_of(spec.factory)
        if check is None:
            if not _builtin(spec):
                return None
            return self._construct(conf)
        try:
            checked = check(resolved.conf, ComponentContext(self, resolved))
            if isinstance(checked, Output):  # a check that builds (no peer touched)
                checked.close()
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError(
                f"{resolved.location}: {resolved.kind} {resolved.type!r} "
                f"({resolved.display_label}): {exc}",
                resolved.location,
            ) from exc
        return _Unbuilt(), resolved

    def build_input(self, conf: ComponentConfig) -> Input:
        built = self._checked(conf)
        return built[0] if built is not None else _NotBuilt()  # type: ignore[no-any-return]

    def build_output(self, conf: ComponentConfig) -> Output:
        try:
            built = self._checked(conf)
            if built is None:
                return _Unbuilt()
            out, resolved = built
            procs = resolved.processors or conf.processors
            if procs:
                return OutputWithProcessors(self.build_processors(procs), out)
            return out  # type: ignore[no-any-return]
        except BuildError as exc:
            self.problems.append(_problem(conf, exc, self.stream))
            return _Unbuilt()


def _resolved(builder: StreamBuilder, conf: ComponentConfig) -> ComponentConfig:
    """What a `resource:` reference points to (itself when it points nowhere: building says)."""
    try:
        return builder.resolve(conf)
    except BuildError:
        return conf


def _builtin(spec: ComponentSpec) -> bool:
    return spec.plugin.startswith(("streamforge.inputs.", "streamforge.outputs."))


def build_problems(stream: StreamConfig) -> list[Problem]:
    """What building the stream refuses, at each component's place, without a peer.

    `lint` runs it so it reports what `run` refuses when it builds the stream: a processor's
    schema file that does not load, a file input's path that does not exist, an MQTT QoS of
    3, a TLS file that cannot be read, a `fallback` without outputs ... Nothing connects,
    binds or writes a file: see `_CheckingBuilder`.
    """
    builder = _CheckingBuilder(stream)
    problems = builder.problems
    input_conf = _resolved(builder, stream.input)
    steps: list[tuple[ComponentConfig, Any]] = [
        (stream.input, builder.build_input),
        *((c, builder.build_processor) for c in input_conf.processors or stream.input.processors),
        *((c, builder.build_processor) for c in stream.processors),
        (stream.output, builder.build_output),
    ]
    referenced = {id(input_conf), id(_resolved(builder, stream.output))}
    for kind, build in (("input", builder.build_input), ("output", builder.build_output)):
        for conf in stream.resources.get(kind, {}).values():  # type: ignore[call-overload]
            if id(conf) not in referenced:
                steps.append((conf, build))
    try:
        for conf, build in steps:
            try:
                built = build(conf)
            except BuildError as exc:
                problems.append(_problem(conf, exc, stream))
                continue
            close = getattr(built, "close", None)
            if callable(close):
                close()
    finally:
        close_stream_caches(stream)
    unique = {(p.location, p.message): p for p in problems}
    return list(unique.values())
