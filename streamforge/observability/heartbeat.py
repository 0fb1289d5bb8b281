"""A heartbeat file that stays fresh while the dataflow is not stuck (`run --heartbeat-file`).

Stages mark a worker thread busy while they read, process or write a batch (`busy`/`idle`,
two clock reads per batch). A thread touches the file every second unless some worker has
been busy with one call for longer than `STUCK_AFTER`: then it logs, once, where that worker
is stuck, and stops touching. A supervisor that sees the file go stale knows the stream hangs
even though its process lives; an idle stream keeps beating.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import threading
import time

__all__ = ["busy", "idle", "set_heartbeat_file", "stuck_for"]

log = logging.getLogger("streamforge.heartbeat")

#: seconds one call may take before the heartbeat stops
STUCK_AFTER = 5.0
#: seconds between touches
INTERVAL = 1.0

_busy: dict[int, float] = {}
_thread: threading.Thread | None = None


def busy() -> None:
    """This worker thread starts a call (a read, a batch through processors, a write)."""
    _busy[threading.get_ident()] = time.monotonic()


def idle() -> None:
    """This worker thread's call returned."""
    _busy.pop(threading.get_ident(), None)


def stuck_for() -> tuple[float, int | None]:
    """The longest running call's seconds and its thread (0, None when every worker is idle)."""
    now = time.monotonic()
    longest, ident = 0.0, None
    for thread_id, since in list(_busy.items()):
        if now - since > longest:
            longest, ident = now - since, thread_id
    return longest, ident


_STDLIB = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})


def _where(ident: int | None) -> str:
    """The innermost frame of the thread outside the standard library (the stuck code)."""
    frame = sys._current_frames().get(ident) if ident is not None else None
    while frame is not None and frame.f_code.co_filename.startswith(_STDLIB):
        frame = frame.f_back
    if frame is None:
        return "an unknown place"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _touch(path: str) -> None:
    try:
        with open(path, "a"):
            os.utime(path)
    except OSError:
        pass


def _run(path: str, stop: threading.Event) -> None:
    reported = False
    while not stop.wait(INTERVAL):
        seconds, ident = stuck_for()
        if seconds < STUCK_AFTER:
            _touch(path)
            reported = False
        elif not reported:
            log.error(
                "the dataflow is stuck: one call has run for %.0fs, at %s",
                seconds, _where(ident),
            )  # fmt: skip
            reported = True


def set_heartbeat_file(path: str) -> threading.Event:
    """Start beating into `path`; set the returned event to stop."""
    global _thread
    stop = threading.Event()
    _touch(path)
    _thread = threading.Thread(target=_run, args=(path, stop), name="heartbeat", daemon=True)
    _thread.start()
    return stop
