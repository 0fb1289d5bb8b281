"""Run `streamforge run` as a child process from a test: logs, HTTP endpoint, graceful stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "streamforge", "run"]


def write(path: Path, text: str) -> Path:
    """Write a dedented config (or any text), making its folder, and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def stream_config(path: Path, body: str, out: Path | None = None) -> Path:
    """Write a stream config: `body` (dedented) with the HTTP server off and, given `out`, an
    output writing each message as a line of `out`; return its path."""
    text = textwrap.dedent(body).lstrip() + "http:\n  enabled: false\n"
    if out is not None:
        text += f'output:\n  file:\n    path: "{out}"\n    codec: lines\n'
    return write(path, text)


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `cond` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def out_lines(path: Path) -> list[str]:
    """Lines of an output file (none while it does not exist)."""
    return path.read_text().splitlines() if path.exists() else []


def run_to_end(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`streamforge run ARGS` until it exits (its inputs ended, or it refused to start), with
    `env` on top of this process's environment; stdout and stderr captured as text. A run still
    going after `timeout` seconds fails the test with its logs and its threads' stacks."""
    command = [*CLI, *map(str, args)]
    proc = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _stacks_then_kill(proc)
        raise AssertionError(
            f"streamforge run did not end within {timeout}s; its logs and stacks:\n{err[-6000:]}"
        ) from None
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _stacks_then_kill(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Ask a stuck run for its threads' stacks (SIGUSR1), then kill it; what it printed."""
    proc.send_signal(signal.SIGUSR1)
    try:
        return proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


class Run:
    """`streamforge run` in a subprocess, stopped with SIGTERM."""

    def __init__(
        self,
        config: Path,
        http_port: int | None = None,
        extra_args: tuple[str, ...] = (),
        log: Path | None = None,
    ) -> None:
        """`log` defaults to the config's path with `.log`; give one for configs in the repo."""
        self.http_port = http_port
        self.log = log or config.with_suffix(".log")
        self._fh = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*CLI, *extra_args, str(config)],
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.logs():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the logs:\n{self.logs()}")
            time.sleep(0.05)

    def get(self, path: str) -> tuple[int, str]:
        """GET on the stream's HTTP endpoint; (0, "") while it is not up yet."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except urllib.error.URLError:
            return 0, ""

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGUSR1)  # its stacks go to the log
                time.sleep(1)
                self.proc.kill()
            self._fh.close()
        return rc


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    """Runs a test started; any still running at the end are killed."""
    started: list[Run] = []
    yield started
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def run_stream(
    path: Path, body: str, out: Path | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Write a config as `stream_config` does, run it to its end and check that it exited 0;
    `kwargs` go to `run_to_end`."""
    done = run_to_end(stream_config(path, body, out), **kwargs)
    assert done.returncode == 0, done.stderr
    return done


def run_until(
    config: Path, cond: Callable[[], bool], timeout: float, what: str, linger: float = 0.0
) -> Run:
    """Run `config` until `cond` holds (failing naming `what` after `timeout` seconds), `linger`
    seconds more, then stop it; return the stopped run (for its logs)."""
    run = Run(config)
    try:
        wait_until(cond, timeout, what)
        time.sleep(linger)
    finally:
        run.stop()
    return run
