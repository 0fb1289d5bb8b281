"""Processors tried on sample messages, in a worker process that is killed when it takes too long.

`POST /processors/test` runs a user's processors; a mapping may be slow without end, and a
thread cannot be stopped, so the processors run in a separate, warm process: answered within
the time limit, or killed (and started again for the next request) with a clear error.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

__all__ = ["TrialRunner", "run_trial"]

#: how long one trial may take before its process is killed
TRIAL_SECONDS = 2.0


def run_trial(processors_yaml: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the processors on each message (its own batch); outputs or errors per message.

    Returns {"lint_errors": [...]} when the processors do not check, else {"results": [...]}.
    """
    from streamforge.config.loader import load_stream
    from streamforge.config.model import ConfigError
    from streamforge.engine.instantiate import BuildError, StreamBuilder
    from streamforge.message import Message
    from streamforge.plugin.chain import ProcessorChain

    with tempfile.TemporaryDirectory(prefix="sf-trial-") as tmp:
        path = Path(tmp) / "trial.yaml"
        path.write_text(processors_yaml, encoding="utf-8")
        try:
            stream = load_stream(path, name="trial")
        except ConfigError as exc:
            return {"lint_errors": [_problem(p) for p in exc.problems]}
    try:
        chain = ProcessorChain(StreamBuilder(stream).build_processors(list(stream.processors)))
    except BuildError as exc:
        return {"lint_errors": [{"line": 1, "column": 1, "message": str(exc)}]}
    results = []
    try:
        for sample in messages:
            message = Message(
                str(sample.get("content", "")).encode(), dict(sample.get("metadata") or {})
            )
            started = time.perf_counter()
            out = chain.process_batch([message])
            took = (time.perf_counter() - started) * 1000
            results.append(
                {
                    "outputs": [
                        {
                            "content": m.payload.decode("utf-8", "replace"),
                            "metadata": {k: _plain(v) for k, v in m.metadata.items()},
                            "error": m.error,
                        }
                        for m in out
                    ],
                    "took_ms": round(took, 3),
                }
            )
    finally:
        chain.close()
    return {"results": results}


def _problem(problem: Any) -> dict[str, Any]:
    loc = problem.location
    return {"line": loc.line, "column": loc.column, "message": problem.message}


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the worker process
    from streamforge.plugin.loading import load_builtins

    load_builtins()
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        try:
            conn.send(run_trial(*request))
        except Exception as exc:  # noqa: BLE001 - one failed trial, not the worker
            conn.send({"error": f"{type(exc).__name__}: {exc}"})


class TrialRunner:
    """One warm worker process; a trial that overruns kills it."""

    def __init__(self, limit: float = TRIAL_SECONDS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        return parent

    def run(self, processors_yaml: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            conn = self._conn
            if conn is None or self._process is None or not self._process.is_alive():
                conn = self._start()
                first = True
            else:
                first = False
            conn.send((processors_yaml, messages))
            # a fresh worker first imports StreamForge; that is not the processors' time
            if conn.poll(self.limit + (15.0 if first else 0.0)):
                try:
                    answer: dict[str, Any] = conn.recv()
                except EOFError:
                    answer = {"error": "the trial process ended unexpectedly"}
                    self._stop()
                return answer
            self._stop()
            return {
                "error": f"the processors did not finish within {self.limit:g}s and were "
                "stopped (does a mapping do unbounded work?)"
            }

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process = None
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._stop()
