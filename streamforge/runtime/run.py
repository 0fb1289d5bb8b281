"""Run compiled streams: workers, a Bytewax cluster of processes, recovery, HTTP endpoint.

The first SIGINT/SIGTERM ends every input at its next read so outputs flush and close
(graceful); a second one aborts the dataflow. As in Benthos, `shutdown_delay` waits (reporting
not ready) before the graceful stop begins, and `shutdown_timeout` aborts a graceful stop that
takes longer. SIGUSR1 prints every Python thread's stack to stderr and goes on (a stream that
seems stuck tells where it waits).
"""

from __future__ import annotations

import contextlib
import faulthandler
import fcntl
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from streamforge.config.model import StreamConfig
from streamforge.engine.dataflow import CompiledFlow, CompileError, compile_streams
from streamforge.engine.instantiate import StreamBuilder
from streamforge.engine.keyed import KEEP_STATE_AT_STOP
from streamforge.observability.exposition import exposition_for
from streamforge.observability.logging import configure_logging
from streamforge.observability.metrics import stream_totals, summary_line
from streamforge.plugin.cluster import set_process
from streamforge.runtime.cloudwatch import CloudWatchPush, metrics_push
from streamforge.runtime.http import DEFAULT_ADDRESS, HttpServer, Readiness, start_http_server
from streamforge.runtime.lock import recovery_lock
from streamforge.runtime.pushgateway import GatewayPush, gateway_push

if TYPE_CHECKING:
    from streamforge.license.watch import LicenseWatch

__all__ = ["RunOptions", "prepare_recovery", "run_compiled", "run_streams", "worker_count"]

log = logging.getLogger("streamforge.run")

#: Bytewax's own default epoch length when no recovery is configured
DEFAULT_EPOCH_SECONDS = 10.0


@dataclass
class RunOptions:
    """How to run: workers per process, cluster membership, recovery, the HTTP endpoint.

    `http_address` replaces the config's `http.address` and serves the endpoint even when the
    config disables it; `http=False` serves none whatever the config says.
    """

    workers: int | None = None
    process_id: int | None = None
    addresses: list[str] = field(default_factory=list)
    recovery_dir: Path | None = None
    snapshot_interval: float = DEFAULT_EPOCH_SECONDS
    backup_interval: float = 0.0
    configure_logging: bool = True
    http: bool = True
    http_address: str | None = None

    @property
    def process_count(self) -> int:
        return max(len(self.addresses), 1)


def worker_count(options: RunOptions, compiled: CompiledFlow) -> int:
    """`-w` wins when given; otherwise the largest `pipeline.threads` (-1 counts as 1)."""
    if options.workers is not None and options.workers > 0:
        return options.workers
    return compiled.threads


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    with open(directory / ".streamforge-init.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_recovery(directory: Path, partitions: int, backup_interval: float) -> RecoveryConfig:
    """A RecoveryConfig for `directory`, creating it and its partitions when empty."""
    directory.mkdir(parents=True, exist_ok=True)
    with _dir_lock(directory):
        if not any(directory.glob("part-*.sqlite3")):
            init_db_dir(directory, max(partitions, 1))
            log.info(
                "initialised %d recovery partition(s) in %s",
                partitions,
                directory,
                extra={"fields": {"recovery_dir": str(directory)}},
            )
    return RecoveryConfig(directory, timedelta(seconds=backup_interval))


def _shutdown_settings(streams: Sequence[StreamConfig]) -> tuple[float, float]:
    """(shutdown_timeout, shutdown_delay) in seconds: the longest any stream asks for."""
    if not streams:
        return 20.0, 0.0
    return (
        max(s.shutdown_timeout for s in streams),
        max(s.shutdown_delay for s in streams),
    )


class _Signals:
    """First signal: graceful stop (after `delay`, aborted after `timeout`); second: abort
    (KeyboardInterrupt)."""

    def __init__(
        self,
        stop: threading.Event,
        keep_state: bool = False,
        *,
        timeout: float = 0.0,
        delay: float = 0.0,
        readiness: Readiness | None = None,
    ) -> None:
        self.stop = stop
        self.keep_state = keep_state
        self.timeout = timeout
        self.delay = delay
        self.readiness = readiness
        self._previous: dict[int, Any] = {}
        self._dumps_stacks = False
        self._timers: list[threading.Timer] = []
        self._signalled = False
        #: the stop took longer than `timeout` and was aborted
        self.aborted = False

    def _later(self, seconds: float, action: Any) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _abort(self) -> None:
        log.warning("stopping took longer than shutdown_timeout (%.3gs): aborting", self.timeout)
        self.aborted = True
        os.kill(os.getpid(), signal.SIGINT)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set() or self._signalled:
            raise KeyboardInterrupt
        self._signalled = True
        if self.delay > 0:
            if self.readiness is not None:
                self.readiness.set(False)
            log.info("stopping in %.3gs (shutdown_delay)", self.delay)
            self._later(self.delay, self._begin)
        else:
            self._begin()

    def _begin(self) -> None:
        if self.timeout > 0:
            self._later(self.timeout, self._abort)
        if self.keep_state:
            # with recovery, open windows and other keyed state wait in the snapshot
            KEEP_STATE_AT_STOP.set()
            log.info("stopping: inputs end now, outputs flush, keyed state is kept for the resume")
        else:
            log.info("stopping: inputs end now, outputs flush (signal again to abort)")
        self.stop.set()

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
            self._dumps_stacks = _dump_stacks_on(signal.SIGUSR1)
        return self

    def __exit__(self, *exc: object) -> None:
        for timer in self._timers:
            timer.cancel()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._dumps_stacks:
            faulthandler.unregister(signal.SIGUSR1)
        KEEP_STATE_AT_STOP.clear()


def _dump_stacks_on(sig: int) -> bool:
    """Print every thread's stack to stderr on `sig`; False when stderr is no file (an
    embedding application's stand-in), which leaves `sig` as it was."""
    try:
        faulthandler.register(sig, file=sys.stderr, all_threads=True)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False
    return True


def _http_settings(
    streams: Sequence[StreamConfig], override: str | None = None
) -> tuple[bool, str]:
    """Whether to serve the endpoint and where: `override` (the operator's flag) wins."""
    if override is not None:
        return True, override
    conf = dict(streams[0].http or {}) if streams else {}
    return bool(conf.get("enabled", True)), str(conf.get("address") or DEFAULT_ADDRESS)


def run_compiled(
    compiled: CompiledFlow,
    options: RunOptions,
    stop: threading.Event,
    readiness: Readiness,
) -> int:
    """Execute a compiled flow until every input ended (0), or it failed (1)/was aborted (130)."""
    workers = worker_count(options, compiled)
    recovery = None
    epoch = timedelta(seconds=DEFAULT_EPOCH_SECONDS)
    if options.recovery_dir is not None:
        recovery = prepare_recovery(
            options.recovery_dir, workers * options.process_count, options.backup_interval
        )
        epoch = timedelta(seconds=options.snapshot_interval)
    cluster: dict[str, Any] = {}
    if options.addresses:
        cluster = {"process_id": options.process_id or 0, "addresses": options.addresses}
    names = ", ".join(s.name for s in compiled.streams)
    log.info(
        "running %d stream(s): %s",
        len(compiled.streams),
        names,
        extra={
            "fields": {
                "workers": workers,
                "processes": options.process_count,
                "process_id": options.process_id or 0,
            }
        },
    )
    if recovery is not None:
        for compiled_stream in compiled.streams:
            log.info(
                "stream %s: output written %s across a kill and a resume",
                compiled_stream.name,
                compiled_stream.guarantee,
                extra={"fields": {"guarantee": compiled_stream.guarantee.split(" (")[0]}},
            )
    timeout, delay = _shutdown_settings([s.config for s in compiled.streams])
    signals = _Signals(
        stop, keep_state=recovery is not None, timeout=timeout, delay=delay, readiness=readiness
    )
    try:
        with signals:
            cli_main(
                compiled.flow,
                workers_per_process=workers,
                epoch_interval=epoch,
                recovery_config=recovery,
                **cluster,
            )
    except KeyboardInterrupt:
        log.warning("aborted")
        return 130
    except Exception as exc:
        if signals.aborted:  # the abort interrupted a processor mid-batch
            log.warning("aborted")
            return 130
        log.error("dataflow failed: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
        return 1
    finally:
        readiness.set(False)
    log.info("all inputs ended; streams finished")
    for compiled_stream in compiled.streams:
        stream = compiled_stream.config
        builder = StreamBuilder(stream)
        totals = stream_totals(
            stream.name,
            builder.resolve(stream.input).display_label,
            builder.resolve(stream.output).display_label,
        )
        log.info("%s", summary_line(stream.name, totals))
    return 0


def _metrics_push(
    streams: Sequence[StreamConfig], collect: Any, options: RunOptions
) -> CloudWatchPush | GatewayPush | None:
    """The started push of the metrics elsewhere (`metrics: aws_cloudwatch`, or a
    Pushgateway's `push_url`), if any."""
    pushed: CloudWatchPush | GatewayPush | None
    try:
        pushed = metrics_push((s.metrics for s in streams), collect)
    except ValueError as exc:  # MissingExtra: boto3 is not installed
        raise CompileError([f"{streams[0].path}: {exc}"]) from None
    if pushed is None:
        clustered = options.process_count > 1
        pushed = gateway_push(
            (s.metrics for s in streams),
            collect,
            process=(options.process_id or 0) if clustered else None,
        )
    if pushed is not None:
        pushed.start()
    return pushed


def run_streams(
    streams: Sequence[StreamConfig],
    options: RunOptions | None = None,
    *,
    license_watch: LicenseWatch | None = None,
) -> int:
    """Compile `streams` into one dataflow and run it with the HTTP endpoint beside it.

    With `licence_watch`, a stream the licence stops allowing (expiry, a new licence) is
    stopped on its own while the others go on. Raises `CompileError` (nothing started) when a
    component cannot be built, and `RecoveryDirInUse` (nothing started) when another live
    process runs on the same recovery directory as the same cluster member.
    """
    options = options or RunOptions()
    if options.configure_logging and streams:
        logger_conf = streams[0].logger or {}
        configure_logging(
            logger_conf.get("level", "INFO"),
            logger_conf.get("format", "logfmt"),
            static_fields=logger_conf.get("static_fields"),
        )
    stop = threading.Event()
    readiness = Readiness()

    def on_worker_start(index: int, count: int) -> None:
        readiness.set(True)

    # the recovery directory is ours before anything reads or writes it, until the run ends;
    # a stop asked for while the streams are still being built ends them at their first read
    timeout, delay = _shutdown_settings(streams)
    with (
        recovery_lock(options.recovery_dir, options.process_id),
        _Signals(
            stop,
            keep_state=options.recovery_dir is not None,
            timeout=timeout,
            delay=delay,
            readiness=readiness,
        ),
    ):
        set_process(options.process_id or 0)
        compiled = compile_streams(
            streams,
            on_worker_start=on_worker_start,
            stop=stop,
            processes=options.process_count,
            recovery=options.recovery_dir,
        )
        http: HttpServer | None = None
        enabled, address = _http_settings(streams, options.http_address)
        metrics = exposition_for(s.metrics for s in streams)
        pushed: CloudWatchPush | GatewayPush | None = None
        try:
            pushed = _metrics_push(streams, metrics.collect, options)
            if options.http and enabled:
                http = start_http_server(address, readiness, metrics.render)
            if license_watch is not None:
                from streamforge.license.watch import WatchedStream

                license_watch.start(
                    [WatchedStream(s.config, s.source.halt) for s in compiled.streams]
                )
            return run_compiled(compiled, options, stop, readiness)
        finally:
            if license_watch is not None:
                license_watch.stop()
            compiled.close()
            if pushed is not None:
                pushed.stop()
            metrics.write_file()
            if http is not None:
                http.stop()
