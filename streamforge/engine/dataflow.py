"""Stream configs -> one Bytewax Dataflow.

Each stream is a namespaced sub-graph (`streamforge.<stream>.input`, `.processors`,
`.output`). Input-level and pipeline processors that are stateless fuse into one
`flat_map_batch` step that runs a `ProcessorChain` over whole batches, so Bytewax sees
batches, never per-message operators. A stateful processor (`KeyedProcessor`) splits batches by
key, keeps each key's state in a Bytewax stateful step (snapshotted with recovery) and joins
its results back into batches (`StatefulStage`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator

from streamforge.config.model import ComponentConfig, StreamConfig
from streamforge.engine.acks import AckBatch, Acknowledgement
from streamforge.engine.buffer import build_buffer, split_marked
from streamforge.engine.controls import ControlSource
from streamforge.engine.instantiate import (
    BuildError,
    ComponentContext,
    StreamBuilder,
    close_stream_caches,
)
from streamforge.engine.keyed import (
    KeyedProcessor,
    PartAck,
    ShardLogic,
    SharedAck,
    can_chain,
    join_parts,
    split_by_shard,
)
from streamforge.engine.sinks import OutputSink, ResumableOutputSink
from streamforge.engine.sources import InputSource, Item
from streamforge.engine.tracing import BatchTrace, StageTracing, StreamTracing, stream_tracing
from streamforge.message import ErrorSource, Message
from streamforge.observability.benthos_names import describe_component
from streamforge.observability.heartbeat import busy, idle
from streamforge.observability.logging import RateLimitedErrorLogger
from streamforge.observability.metrics import ComponentMetrics, component_metrics
from streamforge.plugin import Input, Output, Processor
from streamforge.plugin.batches import Batches, parts_of
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.delivery import answering
from streamforge.plugin.operator import (
    OperatorEndpoint,
    register_endpoint,
    unregister_endpoint,
)

__all__ = [
    "CompileError",
    "CompiledFlow",
    "CompiledStream",
    "FusedStage",
    "StatefulStage",
    "compile_streams",
]

log = logging.getLogger("streamforge.pipeline")

FLOW_ID = "streamforge"


class CompileError(Exception):
    """Streams could not be compiled; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _ChainObserver:
    """Per-processor metrics and error logging, called by ProcessorChain after each step."""

    __slots__ = ("metrics", "errors", "sources", "_t", "_errored", "tracing", "trace")

    def __init__(
        self,
        metrics: list[ComponentMetrics],
        errors: list[RateLimitedErrorLogger],
        sources: Sequence[ErrorSource | None],
        tracing: StageTracing | None = None,
    ) -> None:
        self.metrics = metrics
        self.errors = errors
        self.sources = sources
        self._t = 0.0
        self._errored = 0
        self.tracing = tracing
        #: the trace of the batch being processed (None: not traced)
        self.trace: BatchTrace | None = None

    def start(self, batch: list[Message]) -> None:
        self._errored = len([m for m in batch if m.error is not None])
        self._t = time.perf_counter()

    def after(
        self, index: int, proc: Processor, batch_in: list[Message], batch_out: list[Message]
    ) -> None:
        elapsed = time.perf_counter() - self._t
        m = self.metrics[index]
        m.seconds.observe(elapsed)
        m.received.inc(len(batch_in))
        m.sent.inc(len(batch_out))
        errored = [msg for msg in batch_out if msg.error is not None]
        new = len(errored) - self._errored
        if self.trace is not None:
            self.tracing.processor(  # type: ignore[union-attr]
                self.trace, index, len(batch_in), len(batch_out), max(new, 0), elapsed
            )
        if new > 0:
            m.errors.inc(new)
            self.errors[index].report(new, errored[0])
            source = self.sources[index]
            if source is not None:
                for msg in errored:
                    if getattr(msg, "error_source", None) is None:
                        msg.error_source = source
        self._errored = len(errored)
        self._t = time.perf_counter()


class FusedStage:
    """Consecutive stateless processors run as one batch function.

    Each worker thread gets its own processor instances; the ones built at compile time
    (which proved the config builds) go to the first worker.
    """

    def __init__(
        self,
        stream: str,
        labels: Sequence[str],
        build: Callable[[], list[Processor]],
        first: list[Processor] | None = None,
        *,
        one_message_per_batch: bool = False,
        sources: Sequence[ErrorSource | None] = (),
    ) -> None:
        self.labels = list(labels)
        #: what error_source_*() answer for a message each processor fails
        self.sources = list(sources) or [None] * len(self.labels)
        # Benthos' batch boundaries: a batch-aware processor (a mapping calling batch_size()
        # or from_all()) sees each message of a line input as a batch of its own
        self.split = one_message_per_batch and any(p.batch_aware for p in first or [])
        self.metrics = [component_metrics(stream, label) for label in self.labels]
        self.errors = [RateLimitedErrorLogger(log, stream, label) for label in self.labels]
        self._build = build
        self._first = first
        self._lock = threading.Lock()
        # keyed by OS thread id: Bytewax worker threads are not Python threads, so their
        # thread-local storage does not survive between calls
        self._by_thread: dict[int, tuple[ProcessorChain, _ChainObserver]] = {}
        self._chains: list[ProcessorChain] = []
        #: spans of each processor per batch (`tracer:`); None: no tracing
        self.tracing: StageTracing | None = None

    def _new_chain(self) -> tuple[ProcessorChain, _ChainObserver]:
        with self._lock:
            procs, self._first = self._first, None
        if procs is None:
            procs = self._build()
        observer = _ChainObserver(self.metrics, self.errors, self.sources, self.tracing)
        chain = ProcessorChain(procs, hook=observer.after, on_part=observer.start)
        with self._lock:
            self._chains.append(chain)
            self._by_thread[threading.get_ident()] = (chain, observer)
        return chain, observer

    def __call__(self, items: list[Item]) -> list[Item]:
        state = self._by_thread.get(threading.get_ident())
        chain, observer = state if state is not None else self._new_chain()
        out: list[Item] = []
        tracing = self.tracing
        busy()
        try:
            for batch in items:
                if not batch:
                    continue
                ack = batch.ack if type(batch) is AckBatch else None
                if tracing is not None:
                    observer.trace = tracing.take(batch)
                observer.start(batch)
                if type(ack) is Acknowledgement and ack.answers:
                    with answering(ack):  # a `sync_response` processor answers through it
                        result, parts = self._process(chain, batch)
                else:
                    result, parts = self._process(chain, batch)
                if len(parts) > 1:  # a processor split the batch: each goes on its own
                    if ack is None:
                        out.extend(parts)
                    else:
                        shared = SharedAck(ack, len(parts))
                        out.extend(AckBatch(p, PartAck(shared)) for p in parts)
                elif ack is None:
                    if result:
                        out.append(result)
                elif result:
                    out.append(AckBatch(result, ack))
                else:
                    ack(None)  # every message was dropped: the stream is done with the batch
                trace = observer.trace
                if trace is not None:
                    observer.trace = None
                    tracing.passed(trace, parts if result else [])  # type: ignore[union-attr]
        finally:
            idle()
        return out

    def _process(
        self, chain: ProcessorChain, batch: list[Message]
    ) -> tuple[list[Message], list[list[Message]]]:
        """The chain's result for one input batch, and the batches it came out as."""
        if self.split and len(batch) > 1:
            parts = [p for msg in batch for p in parts_of(chain.process_batch([msg]))]
            return [m for p in parts for m in p], parts
        result = chain.process_batch(batch)
        return result, (result.parts if type(result) is Batches else [result])

    def close(self) -> None:
        """Close every processor instance and log failures not yet reported."""
        with self._lock:
            chains, self._chains = self._chains, []
            first, self._first = self._first, None
        for chain in chains:
            chain.close()
        for proc in first or []:
            proc.close()
        for errors in self.errors:
            errors.flush()


@dataclass
class CompiledStream:
    """One stream's Bytewax pieces."""

    name: str
    config: StreamConfig
    source: InputSource
    stages: list[FusedStage | StatefulStage]
    sink: OutputSink | ResumableOutputSink
    step_ids: list[str] = field(default_factory=list)
    #: what a kill and a resume with the same recovery directory do to the output
    guarantee: str = "at least once"
    #: the stream's spans (`tracer:`); None: no tracing
    tracing: StreamTracing | None = None


@dataclass
class CompiledFlow:
    """The Dataflow of all streams and what is needed to run and close it."""

    flow: Dataflow
    streams: list[CompiledStream]

    @property
    def threads(self) -> int:
        """Workers the streams ask for (`pipeline.threads`; -1 or 0 count as 1)."""
        return max([max(s.config.threads, 1) for s in self.streams] or [1])

    def close(self) -> None:
        """Release processors, and outputs no worker took over."""
        for stream in self.streams:
            for stage in stream.stages:
                if isinstance(stage, StatefulStage):
                    stage.withdraw()
                stage.close()
            stream.sink.discard_unused()
            close_stream_caches(stream.config)
            if stream.tracing is not None:
                stream.tracing.close()


def _step_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_\-]", "_", name)
    return cleaned or "stream"


def _segments(
    procs: list[tuple[ComponentConfig, Processor]],
) -> list[list[tuple[ComponentConfig, Processor]]]:
    """Split processors into runs of stateless ones and runs of keyed ones that can share a
    stateful step (`can_chain`; usually one)."""
    segments: list[list[tuple[ComponentConfig, Processor]]] = []
    current: list[tuple[ComponentConfig, Processor]] = []
    for conf, proc in procs:
        if proc.stateful:
            if current and not _chains(current[-1][1], proc):
                segments.append(current)
                current = []
            current.append((conf, proc))
        else:
            if current and current[-1][1].stateful:
                segments.append(current)
                current = []
            current.append((conf, proc))
    if current:
        segments.append(current)
    return segments


def _chains(previous: Processor, proc: Processor) -> bool:
    """Whether a keyed processor joins the keyed one before it in one stateful step."""
    return (
        isinstance(previous, KeyedProcessor)
        and isinstance(proc, KeyedProcessor)
        and can_chain(previous, proc)
    )


class StatefulStage:
    """Keyed processors as Bytewax steps: split by shard -> stateful step -> batches again.

    Usually one processor; consecutive ones that key alike share the step (`can_chain`).
    """

    def __init__(
        self,
        stream: str,
        members: list[tuple[ComponentConfig, Processor]],
        processes: int,
    ) -> None:
        procs: list[KeyedProcessor] = []
        for conf, proc in members:
            if not isinstance(proc, KeyedProcessor):
                raise CompileError(
                    [
                        f"{conf.location}: processor {conf.type!r} ({conf.display_label}) says "
                        "it is stateful but is not a KeyedProcessor"
                    ]
                )
            procs.append(proc)
        self.procs = procs
        self.labels = [conf.display_label for conf, _ in members]
        self.hand_over = processes > 1
        self.observers = [_Observer(stream, label) for label in self.labels]
        #: operator actions reach the processors in one process only (not across a cluster)
        self.inlets = [] if self.hand_over else [p.control_inlet for p in procs if p.control_inlet]
        self.stream = stream
        self._offered: list[OperatorEndpoint] = []

    def shard_logic(self, resume: Any | None) -> ShardLogic:
        return ShardLogic(self.procs, resume, self.observers)

    def wire(
        self, name: str, items: Stream[Item], flow: Dataflow, ended: threading.Event
    ) -> Stream[Item]:
        """Split by shard -> Bytewax `stateful_batch` -> one batch per activation again; the
        processors' control inlets join just before the split."""
        for i, inlet in enumerate(self.inlets):
            controls = op.input(f"{name}_controls_{i}", flow, ControlSource(inlet, ended))
            items = op.merge(f"{name}_with_controls_{i}", items, controls)
        if not self.hand_over:
            for label, proc in zip(self.labels, self.procs):
                offered = proc.operator_endpoint()
                if offered is not None and offered[1] not in self._offered:
                    register_endpoint(offered[0], self.stream, label, offered[1])
                    self._offered.append(offered[1])
        sharded = op.flat_map_batch(
            f"{name}_key", items, split_by_shard(self.procs[0], hand_over=self.hand_over)
        )
        results = op.stateful_batch(name, sharded, self.shard_logic)
        joined = op.flat_map_batch(f"{name}_batches", results, join_parts)
        if self.emits_batches:
            # a buffer: each batch it flushed reaches the pipeline as a batch of its own
            return op.flat_map_batch(f"{name}_split", joined, split_marked)
        return joined

    @property
    def emits_batches(self) -> bool:
        """Whether the step's output is cut into the batches its processor marked (buffers)."""
        return bool(getattr(self.procs[-1], "emits_batches", False))

    def withdraw(self) -> None:
        """Stop offering the processors' operator endpoints (the stream is over)."""
        for endpoint in self._offered:
            unregister_endpoint(endpoint)
        self._offered = []

    def close(self) -> None:
        for proc in self.procs:
            proc.close()
        for observer in self.observers:
            observer.errors.flush()


class _Observer:
    """One keyed processor's metrics and error log in a stateful step."""

    def __init__(self, stream: str, label: str) -> None:
        self.metrics = component_metrics(stream, label)
        self.errors = RateLimitedErrorLogger(log, stream, label)

    def __call__(self, taken: int, batch_out: list[Message], seconds: float) -> None:
        m = self.metrics
        m.seconds.observe(seconds)
        m.received.inc(taken)
        m.sent.inc(len(batch_out))
        errored = [msg for msg in batch_out if msg.error is not None]
        if errored:
            m.errors.inc(len(errored))
            self.errors.report(len(errored), errored[0])


Stage = FusedStage | StatefulStage


@dataclass
class _StreamPlan:
    source: InputSource
    stages: list[tuple[str, Stage]]
    sink: OutputSink | ResumableOutputSink


def _one_partition(item: Item) -> str:
    return ResumableOutputSink.PART


@operator
def _stream_graph(step_id: str, flow: Dataflow, plan: _StreamPlan) -> None:
    """One stream: input -> fused processor stages -> output, namespaced by stream name."""
    items: Stream[Item] = op.input("input", flow, plan.source)
    for name, stage in plan.stages:
        if isinstance(stage, StatefulStage):
            items = stage.wire(name, items, flow, plan.source.ended)
        else:
            items = op.flat_map_batch(name, items, stage)
    if isinstance(plan.sink, ResumableOutputSink):
        op.output("output", op.key_on("output_key", items, _one_partition), plan.sink)
    else:
        op.output("output", items, plan.sink)


def _fuse(
    stream: StreamConfig,
    proc_confs: list[ComponentConfig],
    procs: list[tuple[ComponentConfig, Processor]],
    processes: int = 1,
    one_message_per_batch: bool = False,
) -> list[tuple[str, Stage]]:
    """Named stages: runs of stateless processors fuse; each stateful one is its own stage.

    After a buffer, batches are the buffer's (windows, batches of its policy): a line input's
    one-message batches no longer apply.
    """
    stage_list: list[tuple[str, Stage]] = []
    segments = _segments(procs)
    offset = 0
    for seg in segments:
        seg_confs = proc_confs[offset : offset + len(seg)]
        offset += len(seg)
        name = "processors" if len(segments) == 1 else f"processors_{len(stage_list)}"
        if seg[0][1].stateful:
            stage_list.append((name, StatefulStage(stream.name, seg, processes)))
            continue

        def build(confs: list[ComponentConfig] = seg_confs) -> list[Processor]:
            return StreamBuilder(stream).build_processors(confs)

        buffered = any(
            getattr(s, "emits_batches", False)
            for _, s in stage_list
            if isinstance(s, StatefulStage)
        )
        stage = FusedStage(
            stream.name,
            [c.display_label for c, _ in seg],
            build,
            [p for _, p in seg],
            one_message_per_batch=one_message_per_batch and not buffered,
            sources=[(c.label or "", c.type, f"root.{c.path}") for c, _ in seg],
        )
        stage_list.append((name, stage))
    return stage_list


def _output_guarantee(inp: Input, output: Output, recovery: Path | None, processes: int) -> str:
    """ "exactly once" when a kill and a resume rewind the output to the input's snapshot;
    else "at least once" and why."""
    if recovery is None:
        return "at least once (no recovery directory)"
    if not inp.replays_from_snapshot:
        return "at least once (the input does not replay from the recovery snapshot)"
    if not output.resumable:
        return "at least once (the output cannot rewind to the recovery snapshot)"
    if processes > 1:
        return "at least once (a cluster of processes)"
    return "exactly once"


def _describe_components(
    stream: str,
    input_conf: ComponentConfig,
    procs: Sequence[tuple[ComponentConfig, Processor]],
    output_conf: ComponentConfig,
) -> None:
    """Tell the metrics what each labelled component is, for its series' Benthos names."""
    parts = [("input", input_conf), *(("processor", c) for c, _ in procs), ("output", output_conf)]
    for kind, conf in parts:
        describe_component(stream, conf.display_label, kind, conf.label or "", conf.path)


def _compile_one(
    flow: Dataflow,
    stream: StreamConfig,
    step_name: str,
    on_worker_start: Callable[[int, int], None] | None,
    stop: threading.Event | None,
    processes: int = 1,
    recovery: Path | None = None,
) -> CompiledStream:
    builder = StreamBuilder(stream)
    input_conf = builder.resolve(stream.input)
    inp = builder.build_input(stream.input)
    input_procs = list(input_conf.processors or stream.input.processors)
    proc_confs = input_procs + list(stream.processors)
    procs: list[tuple[ComponentConfig, Processor]] = []
    try:
        for c in proc_confs:
            procs.append((builder.resolve(c), builder.build_processor(c)))
        buffer = build_buffer(stream, lambda cc: ComponentContext(builder, cc))
        if buffer is not None:  # between the input's processors and the pipeline
            proc_confs.insert(len(input_procs), buffer[0])
            procs.insert(len(input_procs), buffer)
        stage_list = _fuse(stream, proc_confs, procs, processes, inp.one_message_per_batch)
        output_conf = builder.resolve(stream.output)
        first_output = builder.build_output(stream.output)
        _describe_components(stream.name, input_conf, procs, output_conf)
        try:
            tracing = stream_tracing(stream)
        except ValueError as exc:  # MissingExtra: the OpenTelemetry SDK is not installed
            raise BuildError(f"{stream.path}: {exc}") from None
    except BaseException:
        for _, proc in procs:
            proc.close()
        raise

    def build_output() -> Any:
        return StreamBuilder(stream).build_output(stream.output)

    source = InputSource(inp, component_metrics(stream.name, input_conf.display_label), stop)
    guarantee = _output_guarantee(inp, first_output, recovery, processes)
    output_metrics = component_metrics(stream.name, output_conf.display_label)
    sink: OutputSink | ResumableOutputSink
    if guarantee == "exactly once" and recovery is not None:
        sink = ResumableOutputSink(
            build_output,
            output_metrics,
            first=first_output,
            on_build=on_worker_start,
            workdir=str(recovery / "outputs" / step_name),
        )
    else:
        sink = OutputSink(
            build_output, output_metrics, first=first_output, on_build=on_worker_start
        )
    if tracing is not None:
        resolved = [c for c, _ in procs]
        _trace_steps(tracing, input_conf, resolved, stage_list, output_conf, source, sink)
    _stream_graph(step_name, flow, _StreamPlan(source, stage_list, sink))
    prefix = f"{flow.flow_id}.{step_name}"
    step_ids = [f"{prefix}.input"]
    for n, stage in stage_list:
        if isinstance(stage, StatefulStage):
            for i in range(len(stage.inlets)):
                step_ids += [f"{prefix}.{n}_controls_{i}", f"{prefix}.{n}_with_controls_{i}"]
            step_ids += [f"{prefix}.{n}_key", f"{prefix}.{n}", f"{prefix}.{n}_batches"]
            if stage.emits_batches:
                step_ids.append(f"{prefix}.{n}_split")
        else:
            step_ids.append(f"{prefix}.{n}")
    if isinstance(sink, ResumableOutputSink):
        step_ids.append(f"{prefix}.output_key")
    step_ids.append(f"{prefix}.output")
    stages = [s for _, s in stage_list]
    return CompiledStream(
        stream.name, stream, source, stages, sink, step_ids, guarantee, tracing=tracing
    )


def _trace_steps(
    tracing: StreamTracing,
    input_conf: ComponentConfig,
    proc_confs: list[ComponentConfig],
    stage_list: list[tuple[str, Stage]],
    output_conf: ComponentConfig,
    source: InputSource,
    sink: OutputSink | ResumableOutputSink,
) -> None:
    """Give each step of a stream its part of the stream's tracing."""
    described = []
    offset = 0
    for _, stage in stage_list:
        count = len(stage.labels)
        described.append((proc_confs[offset : offset + count], isinstance(stage, StatefulStage)))
        offset += count
    source.tracing, stage_hooks, sink.tracing = tracing.hooks(input_conf, described, output_conf)
    for (_, stage), hook in zip(stage_list, stage_hooks):
        if isinstance(stage, FusedStage):
            stage.tracing = hook


def compile_streams(
    streams: Sequence[StreamConfig],
    *,
    flow_id: str = FLOW_ID,
    on_worker_start: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    processes: int = 1,
    recovery: Path | None = None,
) -> CompiledFlow:
    """Build every stream's components and wire them into one Dataflow.

    Raises `CompileError` listing every stream that failed to build; nothing is left open.
    `on_worker_start(worker_index, worker_count)` runs when a worker starts its output;
    setting `stop` ends every input at its next read (graceful shutdown). `processes` > 1
    (a cluster) acknowledges input batches when a stateful step takes them over, since a part
    moving to another process cannot carry its acknowledgement. With `recovery` (the recovery
    directory), a resumable output fed by an input that replays from its snapshot rewinds to
    the snapshot on resume (`CompiledStream.guarantee` says which streams do).
    """
    flow = Dataflow(flow_id)
    compiled: list[CompiledStream] = []
    problems: list[str] = []
    used: set[str] = set()
    for stream in streams:
        step_name = _step_name(stream.name)
        base, n = step_name, 2
        while step_name in used:
            step_name, n = f"{base}_{n}", n + 1
        used.add(step_name)
        try:
            compiled.append(
                _compile_one(flow, stream, step_name, on_worker_start, stop, processes, recovery)
            )
        except CompileError as exc:
            problems.extend(exc.problems)
        except BuildError as exc:
            problems.append(str(exc))
    if problems:
        CompiledFlow(flow, compiled).close()
        raise CompileError(problems)
    return CompiledFlow(flow, compiled)
