"""Spans of stream batches sent to OpenTelemetry collectors (`tracer: open_telemetry_collector`).

A trace follows one input batch. Its root span is the input's: it starts when the input
begins the read and ends when the output has written what the batch became. Each processor
gets a child span per batch it works on and the output one per write, all carrying the
message count (`messaging.batch.message_count`), so a trace shows where a batch spent its
time and how many messages each step kept. Spans are per batch, never per message: a batch
of 500 costs what a batch of 1 costs.

A stateful step (window, dedupe, a buffer ...) regroups messages by key and time, so the
traces of the batches it takes end there; each batch it emits starts a new trace, rooted at
a span named after it.

Traces travel between Bytewax steps beside the batches: a step leaves each batch's trace
under the batch's first message, and the next step takes it from there. With `tracer: none`
nothing of this exists; the steps see no tracing object at all.

Every span is made once it is over, as the SDK's finished-span record (`ReadableSpan`), and
handed to a `BatchSpanProcessor` per collector, whose OTLP exporter sends it from a thread of
its own. Skipping the SDK's live-span bookkeeping makes a span cost a few microseconds on the
stream's thread; encoding and sending happen on the exporter's. Whether a trace is kept
(`sampling.ratio`) is decided once at its root, before anything is built.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamforge.config.telemetry import collector_url
from streamforge.plugin.optional import require

if TYPE_CHECKING:
    from streamforge.config.model import ComponentConfig, StreamConfig
    from streamforge.message import Message

__all__ = [
    "MESSAGE_COUNT",
    "BatchTrace",
    "InputTracing",
    "OutputTracing",
    "StageTracing",
    "StreamTracing",
    "stream_tracing",
]

#: the attribute a span's message count is under (OpenTelemetry's messaging convention)
MESSAGE_COUNT = "messaging.batch.message_count"
#: traces waiting between two steps beyond this many are dropped, oldest first (a guard:
#: each one is taken by the next step, so only an aborted run leaves any behind)
_HANDOFF_LIMIT = 100_000
#: seconds an exporter waits for a collector before giving up on one export
_EXPORT_TIMEOUT = 5.0
#: links a write's span keeps to the other traces it wrote (beyond its parent)
_MAX_LINKS = 32


@dataclass(frozen=True)
class _Component:
    """What the spans of one component are called and carry."""

    name: str
    attributes: dict[str, Any]

    @classmethod
    def of(cls, conf: ComponentConfig) -> _Component:
        return cls(
            conf.label or conf.type,
            {
                "streamforge.component.type": conf.type,
                "streamforge.component.label": conf.display_label,
            },
        )


class BatchTrace:
    """The trace of one batch: its root span, sent when the last of its parts is done."""

    __slots__ = ("tracing", "component", "kind", "count", "start_ns", "context", "_pending",
                 "_lock")  # fmt: skip

    def __init__(
        self,
        tracing: StreamTracing,
        component: _Component,
        kind: str,
        count: int,
        start_ns: int,
        context: Any,
    ) -> None:
        self.tracing = tracing
        self.component = component
        self.kind = kind
        self.count = count
        self.start_ns = start_ns
        #: the root span's SpanContext: the parent of every other span of the trace
        self.context = context
        self._pending = 1
        self._lock = threading.Lock()

    def hold(self, more: int) -> None:
        """`more` parts of the batch go on besides the one already counted."""
        if more:
            with self._lock:
                self._pending += more

    def release(self, end_ns: int | None = None) -> None:
        """One part is done (written, dropped, or handed to a stateful step)."""
        with self._lock:
            self._pending -= 1
            done = self._pending == 0
        if done:
            self.tracing.finish_root(self, end_ns or time.time_ns())


class _Handoff:
    """Traces between two steps, kept under the identity of each batch's first message.

    The first message is held until the next step takes the trace, so its identity cannot
    be reused meanwhile; dict operations are atomic, so workers share one hand-off.
    """

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[int, tuple[Message, BatchTrace]] = {}

    def put(self, batch: Sequence[Message], trace: BatchTrace) -> None:
        if not batch:
            trace.release()
            return
        waiting = self._waiting
        if len(waiting) >= _HANDOFF_LIMIT:
            try:
                _msg, stale = waiting.pop(next(iter(waiting)))
            except (StopIteration, KeyError, RuntimeError):
                pass
            else:
                stale.release()
        first = batch[0]
        waiting[id(first)] = (first, trace)

    def take(self, batch: Sequence[Message]) -> BatchTrace | None:
        if not batch:
            return None
        first = batch[0]
        entry = self._waiting.pop(id(first), None)
        if entry is None or entry[0] is not first:
            return None
        return entry[1]


class _Otel:
    """The parts of the OpenTelemetry API and SDK the spans are made of (imported lazily)."""

    def __init__(self, what: str) -> None:
        api = require("opentelemetry.trace", "tracing", what)
        sdk = require("opentelemetry.sdk.trace", "tracing", what)
        self.SpanContext = api.SpanContext
        self.sampled = api.TraceFlags(api.TraceFlags.SAMPLED)
        self.kinds = {k: getattr(api.SpanKind, k) for k in ("CONSUMER", "INTERNAL", "PRODUCER")}
        self.Link = api.Link
        self.Status = api.Status
        self.error = api.StatusCode.ERROR
        self.ReadableSpan = sdk.ReadableSpan


class StreamTracing:
    """One stream's span processors (one per collector) and the spans its steps make.

    `ratio` is the share of traces kept: the decision is taken here, once per trace, before
    any span exists, so a trace left out costs a random number and nothing else.
    """

    def __init__(
        self, otel: _Otel, resource: Any, scope: Any, processors: list[Any], ratio: float = 1.0
    ) -> None:
        self._otel = otel
        self.resource = resource
        self.scope = scope
        self.processors = processors
        self.ratio = ratio
        self._closed = False

    def _context(self, trace_id: int) -> Any:
        return self._otel.SpanContext(
            trace_id, random.getrandbits(64) or 1, False, self._otel.sampled
        )

    def _emit(
        self,
        component: _Component,
        kind: str,
        count: int,
        start_ns: int,
        end_ns: int,
        context: Any,
        parent: Any,
        extra: dict[str, Any] | None = None,
        links: Sequence[BatchTrace] = (),
    ) -> None:
        otel = self._otel
        attributes = dict(component.attributes)
        attributes[MESSAGE_COUNT] = count
        status = None
        if extra:
            errors = extra.pop("errors", 0)
            attributes.update(extra)
            if errors:
                attributes["streamforge.errors"] = errors
                status = otel.Status(otel.error, f"{errors} messages failed")
        span = otel.ReadableSpan(
            component.name,
            context=context,
            parent=parent,
            resource=self.resource,
            attributes=attributes,
            links=[otel.Link(t.context) for t in links[:_MAX_LINKS]],
            kind=otel.kinds[kind],
            instrumentation_scope=self.scope,
            start_time=start_ns,
            end_time=end_ns,
            **({"status": status} if status is not None else {}),
        )
        for processor in self.processors:
            processor.on_end(span)

    def root(
        self, component: _Component, kind: str, count: int, start_ns: int
    ) -> BatchTrace | None:
        """A new trace rooted at a span of `component`; None when sampling leaves it out."""
        if self.ratio < 1.0 and random.random() >= self.ratio:
            return None
        context = self._context(random.getrandbits(128) or 1)
        return BatchTrace(self, component, kind, count, start_ns, context)

    def finish_root(self, trace: BatchTrace, end_ns: int) -> None:
        """Send the root span of `trace`, which ended at `end_ns`."""
        if not self._closed:
            self._emit(
                trace.component, trace.kind, trace.count, trace.start_ns, end_ns,
                trace.context, None,
            )  # fmt: skip

    def child(
        self,
        trace: BatchTrace,
        component: _Component,
        kind: str,
        count: int,
        start_ns: int,
        end_ns: int,
        extra: dict[str, Any] | None = None,
        links: Sequence[BatchTrace] = (),
    ) -> None:
        """Send a span of `component` under the root of `trace`."""
        if not self._closed:
            context = self._context(trace.context.trace_id)
            self._emit(
                component, kind, count, start_ns, end_ns, context, trace.context, extra, links
            )

    def hooks(
        self,
        input_conf: ComponentConfig,
        stages: Sequence[tuple[Sequence[ComponentConfig], bool]],
        output_conf: ComponentConfig,
    ) -> tuple[InputTracing, list[StageTracing | None], OutputTracing]:
        """The tracing of each step of a stream: `stages` lists each stage's processors and
        whether it is a stateful step (which takes no tracing of its own)."""
        stateful = [is_stateful for _, is_stateful in stages]
        # the hand-off into each step after the input; None where a stateful step comes
        handoffs: list[_Handoff | None] = [None if s else _Handoff() for s in stateful]
        into_output = _Handoff()
        handoffs.append(into_output)
        inp = InputTracing(self, _Component.of(input_conf), handoffs[0])
        stage_hooks: list[StageTracing | None] = []
        for i, (confs, is_stateful) in enumerate(stages):
            if is_stateful:
                stage_hooks.append(None)
                continue
            origin = None if i == 0 else _origin(stages[i - 1])
            components = [_Component.of(c) for c in confs]
            stage_hooks.append(StageTracing(self, components, handoffs[i], origin, handoffs[i + 1]))
        last = _origin(stages[-1]) if stages else None
        out = OutputTracing(self, _Component.of(output_conf), into_output, last)
        return inp, stage_hooks, out

    def close(self) -> None:
        """Send the spans still queued and stop the exporters (each waits at most its
        timeout for a collector that does not answer)."""
        if self._closed:
            return
        self._closed = True
        for processor in self.processors:
            processor.shutdown()


def _origin(stage: tuple[Sequence[ComponentConfig], bool]) -> _Component | None:
    """The component a new trace is rooted at after a stateful stage (None after others)."""
    confs, is_stateful = stage
    if not is_stateful or not confs:
        return None
    return _Component.of(confs[-1])


class InputTracing:
    """Starts a trace per batch the input reads."""

    __slots__ = ("spans", "component", "out")

    def __init__(self, spans: StreamTracing, component: _Component, out: _Handoff | None) -> None:
        self.spans = spans
        self.component = component
        #: None when a stateful step comes next: the trace ends with the read
        self.out = out

    def read(self, batch: list[Message], start_ns: int) -> None:
        """The input read `batch`, having begun at `start_ns`."""
        trace = self.spans.root(self.component, "CONSUMER", len(batch), start_ns)
        if trace is None:
            return
        if self.out is None:
            trace.release()
        else:
            self.out.put(batch, trace)


class StageTracing:
    """The spans of a run of fused stateless processors."""

    __slots__ = ("spans", "components", "inp", "origin", "out")

    def __init__(
        self,
        spans: StreamTracing,
        components: list[_Component],
        inp: _Handoff | None,
        origin: _Component | None,
        out: _Handoff | None,
    ) -> None:
        self.spans = spans
        self.components = components
        self.inp = inp
        #: after a stateful step: the component new traces are rooted at
        self.origin = origin
        self.out = out

    def take(self, batch: list[Message]) -> BatchTrace | None:
        """The trace of `batch` as it enters the stage (a new one after a stateful step)."""
        if self.origin is not None:
            return self.spans.root(self.origin, "INTERNAL", len(batch), time.time_ns())
        if self.inp is None:
            return None
        return self.inp.take(batch)

    def processor(
        self, trace: BatchTrace, index: int, taken: int, kept: int, errors: int, seconds: float
    ) -> None:
        """Processor `index` took `taken` messages, passed on `kept`, flagged `errors`."""
        end = time.time_ns()
        extra = {"streamforge.messages_out": kept, "errors": errors}
        self.spans.child(
            trace, self.components[index], "INTERNAL", taken, end - int(seconds * 1e9), end, extra
        )

    def passed(self, trace: BatchTrace, parts: Sequence[Sequence[Message]]) -> None:
        """The stage turned the batch into `parts` (none: every message was dropped)."""
        out = self.out
        if not parts or out is None:
            trace.release()
            return
        trace.hold(len(parts) - 1)
        for part in parts:
            out.put(part, trace)


class OutputTracing:
    """A span per write of the output; ends the traces of what it wrote."""

    __slots__ = ("spans", "component", "inp", "origin")

    def __init__(
        self,
        spans: StreamTracing,
        component: _Component,
        inp: _Handoff,
        origin: _Component | None,
    ) -> None:
        self.spans = spans
        self.component = component
        self.inp = inp
        #: a stateful step right before the output: what it emits starts a trace here
        self.origin = origin

    def take(self, items: Sequence[Sequence[Message]]) -> list[BatchTrace]:
        """The traces of the batches about to be written (sampled-out ones have none)."""
        if self.origin is not None:
            n = sum(len(item) for item in items)
            trace = self.spans.root(self.origin, "INTERNAL", n, time.time_ns())
            return [] if trace is None else [trace]
        found = []
        for item in items:
            trace = self.inp.take(item)
            if trace is not None:
                found.append(trace)
        return found

    def wrote(self, traces: list[BatchTrace], count: int, failed: int, start_ns: int) -> None:
        """The output wrote `count` messages (`failed` of them not), from `start_ns` on."""
        if not traces:
            return
        end = time.time_ns()
        extra = {"errors": failed} if failed else None
        self.spans.child(
            traces[0], self.component, "PRODUCER", count, start_ns, end, extra, traces[1:]
        )
        for trace in traces:
            trace.release(end)


def stream_tracing(stream: StreamConfig) -> StreamTracing | None:
    """The tracing of a stream as its `tracer:` section says; None for `none`.

    Raises MissingExtra (a ValueError: a config problem) when the OpenTelemetry SDK is not
    installed.
    """
    section = stream.tracer or {}
    if section.get("type") != "open_telemetry_collector":
        return None
    conf = section.get("conf") or {}
    what = "tracer open_telemetry_collector"
    otel = _Otel(what)
    export = require("opentelemetry.sdk.trace.export", "tracing", what)
    resources = require("opentelemetry.sdk.resources", "tracing", what)
    instrumentation = require("opentelemetry.sdk.util.instrumentation", "tracing", what)
    from streamforge import __version__

    attributes: dict[str, Any] = {
        "service.name": str(conf.get("service") or "streamforge"),
        "service.version": __version__,
        "streamforge.stream": stream.name,
    }
    attributes.update({str(k): str(v) for k, v in (conf.get("tags") or {}).items()})
    ratio = 1.0
    sampling = conf.get("sampling") or {}
    if sampling.get("enabled") and sampling.get("ratio") is not None:
        ratio = float(sampling["ratio"])
    processors = []
    for entry in conf.get("http") or []:
        http = require("opentelemetry.exporter.otlp.proto.http.trace_exporter", "tracing", what)
        exporter = http.OTLPSpanExporter(
            endpoint=collector_url("http", entry), timeout=_EXPORT_TIMEOUT
        )
        processors.append(export.BatchSpanProcessor(exporter))
    for entry in conf.get("grpc") or []:
        grpc = require("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "tracing", what)
        exporter = grpc.OTLPSpanExporter(
            endpoint=collector_url("grpc", entry),
            insecure=not entry.get("secure"),
            timeout=_EXPORT_TIMEOUT,
        )
        processors.append(export.BatchSpanProcessor(exporter))
    return StreamTracing(
        otel,
        resources.Resource.create(attributes),
        instrumentation.InstrumentationScope("streamforge", __version__),
        processors,
        ratio,
    )
