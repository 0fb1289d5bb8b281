"""One child process per stream, restarted with backoff while it should run.

A stream runs as `python -m streamforge run` in its own process, so a crash, a hang or a kill
of one stream never takes the API or another stream down. The child gets its own directory
under the manager's home (its config, its recovery snapshots), an HTTP endpoint on a loopback
port the supervisor chooses (its /metrics), the data root as working directory, and dies with
the manager (a parent-death signal on Linux).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streamforge.runtime.operator_http import CONTROL_TOKEN_ENV

__all__ = ["ChildState", "StreamProcess", "Supervisor"]

log = logging.getLogger("streamforge.manager.supervisor")

#: log lines kept per stream for /logs
LOG_LINES = 500
#: a child that ran shorter than this before it exited counts as failing to start
QUICK_EXIT = 10.0
#: restart backoff: first wait, cap
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
#: seconds without a heartbeat after which a child counts as stuck and is killed
HANG_TIMEOUT = 60.0
#: how often the supervisor looks at a child's memory and heartbeat
WATCH_INTERVAL = 2.0
#: environment variables every child gets, besides the operator's allow-list
CHILD_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "SSL_CERT_FILE",
    "STREAMFORGE_LICENSE", "STREAMFORGE_LICENSE_FILE", "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE",
    "STREAMFORGE_POLICY_DIR", "STREAMFORGE_OPA_URL",
)  # fmt: skip
_RUNNING_LINE = "running 1 stream(s)"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ChildState:
    """What the API shows of a stream's process."""

    status: str  # starting, running, restarting, stopped, failed
    uptime_s: float
    finished: bool
    restarts: int
    last_error: str | None
    pid: int | None
    http_port: int | None


class StreamProcess:
    """Runs one stream's child, restarting it with backoff until it is stopped."""

    def __init__(
        self,
        stream_id: str,
        config_yaml: str,
        workdir: Path,
        *,
        data_root: Path,
        env: dict[str, str],
        memory_limit_mb: int | None = None,
        extra_args: tuple[str, ...] = (),
        hang_timeout: float | None = HANG_TIMEOUT,
    ) -> None:
        self.stream_id = stream_id
        self.extra_args = extra_args
        self.hang_timeout = hang_timeout
        self.heartbeat = workdir / "heartbeat"
        self._killed_because: str | None = None
        self.config_yaml = config_yaml
        self.workdir = workdir
        self.data_root = data_root
        self.env = env
        self.memory_limit_mb = memory_limit_mb
        #: what the child's /operator/ endpoint wants as bearer token (operator actions)
        self.control_token = secrets.token_urlsafe(24)
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.restarts = 0
        self.last_error: str | None = None
        #: the child exited 0 (its inputs ended); it is not restarted
        self.finished = False
        self._status = "stopped"
        self._proc: subprocess.Popen[str] | None = None
        self._started_at = 0.0
        self._http_port: int | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------
    def start(self) -> None:
        """Run the child (again) until `stop`; does nothing while it runs."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self.finished = False
            self._status = "starting"
            self._thread = threading.Thread(
                target=self._supervise, name=f"stream-{self.stream_id}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop gracefully (SIGTERM: inputs stop, outputs flush); SIGKILL after `timeout`."""
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            late = self._proc
            self._status = "stopped"
        if late is not None and late is not proc and late.poll() is None:
            late.kill()  # started just before the stop was seen
            late.wait(timeout=10)

    def kill_child(self) -> None:
        """End the current child at once (the supervisor restarts it): a manual restart."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)

    # -- state ------------------------------------------------------------------------------
    @property
    def state(self) -> ChildState:
        with self._lock:
            proc = self._proc
            running = proc is not None and proc.poll() is None
            uptime = time.monotonic() - self._started_at if running else 0.0
            return ChildState(
                self._status,
                round(uptime, 3),
                self.finished,
                self.restarts,
                self.last_error,
                proc.pid if running and proc is not None else None,
                self._http_port if running else None,
            )

    # -- the supervising thread ---------------------------------------------------------------
    def _child_config(self, port: int) -> Path:
        data = yaml.safe_load(self.config_yaml) or {}
        data["http"] = {**(data.get("http") or {}), "enabled": True, "address": f"127.0.0.1:{port}"}
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"{self.stream_id}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return path

    def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stop.is_set():
            port = _free_port()
            config = self._child_config(port)
            args = [
                sys.executable, "-m", "streamforge", "run",
                "--recovery-dir", str(self.workdir / "recovery"),
                "--heartbeat-file", str(self.heartbeat), *self.extra_args, str(config),
            ]  # fmt: skip
            with self._lock:  # a stop() either sees this child or stops the loop first
                if self._stop.is_set():
                    break
                try:
                    proc = subprocess.Popen(
                        args,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        text=True,
                        errors="replace",
                        cwd=self.data_root,
                        env={**self.env, CONTROL_TOKEN_ENV: self.control_token},
                        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                    )
                except OSError as exc:
                    proc = None
                    failure = f"cannot start: {exc}"
                else:
                    self._proc, self._http_port = proc, port
                    self._started_at = time.monotonic()
                    self._status = "starting"
            if proc is None:
                self._exited(failure, quick=True)
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            self._follow(proc)
            code = proc.wait()
            ran = time.monotonic() - self._started_at
            if self._stop.is_set():
                break
            if code == 0:  # every input ended: the stream is done, not broken
                with self._lock:
                    self.finished = True
                log.info(
                    "stream %s finished: its inputs ended", self.stream_id,
                    extra={"fields": {"stream": self.stream_id}},
                )  # fmt: skip
                break
            reason = self._exit_reason(code)
            self._exited(reason, quick=ran < QUICK_EXIT)
            backoff = BACKOFF_FIRST if ran > 60 else backoff
            log.warning(
                "stream %s exited (%s); restarting in %.0fs", self.stream_id, reason, backoff,
                extra={"fields": {"stream": self.stream_id}},
            )  # fmt: skip
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, BACKOFF_MAX)
        with self._lock:
            self._status = "stopped"

    def _follow(self, proc: subprocess.Popen[str]) -> None:
        """Collect the child's log lines until it exits; watch its memory."""
        assert proc.stdout is not None
        watcher = threading.Thread(target=self._watch, args=(proc,), daemon=True)
        watcher.start()
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if _RUNNING_LINE in line:
                with self._lock:
                    if self._status == "starting" or self._status == "restarting":
                        self._status = "running"

    def _watch(self, proc: subprocess.Popen[str]) -> None:
        """Kill the child when it exceeds its memory limit or its heartbeat goes stale."""
        limit = self.memory_limit_mb
        started = time.time()
        while proc.poll() is None and not self._stop.wait(WATCH_INTERVAL):
            if limit:
                rss = _rss_mb(proc.pid)
                if rss is not None and rss > limit:
                    self._kill(proc, f"memory limit exceeded ({rss:.0f} MB > {limit} MB)")
                    return
            if self.hang_timeout:
                try:
                    last = max(self.heartbeat.stat().st_mtime, started)
                except OSError:
                    last = started
                if time.time() - last > self.hang_timeout:
                    self._kill(proc, f"stuck: no heartbeat for {self.hang_timeout:g}s")
                    return

    def _kill(self, proc: subprocess.Popen[str], reason: str) -> None:
        self.lines.append(f"{reason}; killed")
        self.last_error = reason
        self._killed_because = reason
        proc.kill()

    def _exit_reason(self, code: int) -> str:
        if self._killed_because:
            reason, self._killed_because = self._killed_because, None
            return reason
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        errors = [line for line in self.lines if "level=error" in line or ": " in line][-3:]
        tail = errors[-1] if errors else (self.lines[-1] if self.lines else "")
        return f"exit code {code}" + (f": {tail}" if tail else "")

    def _exited(self, reason: str, *, quick: bool) -> None:
        with self._lock:
            self.restarts += 1
            self.last_error = reason
            self._status = "failed" if quick else "restarting"


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Supervisor:
    """The running streams of a manager, by id."""

    def __init__(
        self,
        home: Path,
        data_root: Path,
        env_allow: frozenset[str],
        memory_limit_mb: int | None = None,
        hang_timeout: float | None = HANG_TIMEOUT,
    ) -> None:
        self.home = home
        self.data_root = data_root
        self.memory_limit_mb = memory_limit_mb
        self.hang_timeout = hang_timeout
        names = set(CHILD_ENV) | set(env_allow)
        self.env: dict[str, Any] = {k: v for k, v in os.environ.items() if k in names}
        self._streams: dict[str, StreamProcess] = {}
        self._lock = threading.Lock()

    def child_args(self) -> tuple[str, ...]:
        """`run` options every child gets: the templates added through the API."""
        templates = self.home / "templates"
        if templates.is_dir() and any(templates.glob("*.yaml")):
            return ("--templates", str(templates / "*.yaml"))
        return ()

    def workdir(self, stream_id: str) -> Path:
        return self.home / "streams" / stream_id

    def get(self, stream_id: str) -> StreamProcess | None:
        with self._lock:
            return self._streams.get(stream_id)

    def run(self, stream_id: str, config_yaml: str) -> StreamProcess:
        """Start `stream_id` with `config_yaml`, replacing (stopping) a running one first."""
        proc = self.keep(stream_id, config_yaml)
        proc.start()
        return proc

    def keep(self, stream_id: str, config_yaml: str) -> StreamProcess:
        """Known but not running (desired: stopped); replaces (stops) a running one."""
        self.remove(stream_id)
        proc = StreamProcess(
            stream_id, config_yaml, self.workdir(stream_id), data_root=self.data_root,
            env=self.env, memory_limit_mb=self.memory_limit_mb, extra_args=self.child_args(),
            hang_timeout=self.hang_timeout,
        )  # fmt: skip
        with self._lock:
            self._streams[stream_id] = proc
        return proc

    def remove(self, stream_id: str, timeout: float = 20.0) -> None:
        with self._lock:
            proc = self._streams.pop(stream_id, None)
        if proc is not None:
            proc.stop(timeout)

    def stop_all(self, timeout: float = 20.0) -> None:
        """Stop every stream gracefully, in parallel."""
        with self._lock:
            procs = list(self._streams.values())
        threads = [threading.Thread(target=p.stop, args=(timeout,)) for p in procs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout + 10)
