"""The shape every metrics pusher of a run shares (CloudWatch, a Prometheus Pushgateway):
push on a thread of its own every `interval` seconds, once more at `stop()`; a push that
fails is logged at most once a minute while failures go on (and always at stop), and the
recovery once. The stream never waits for a push."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from typing import Any

__all__ = ["PeriodicPush"]

log = logging.getLogger("streamforge.metrics")

#: while pushes keep failing, a warning at most this often (seconds)
WARN_EVERY = 60.0


class PeriodicPush(ABC):
    """A pusher of metrics to `target` (named in its log lines) every `interval` seconds
    (never when it is 0); subclasses say how one push goes in `push_once`."""

    #: where the metrics go, as the log lines name it ("CloudWatch", "the Pushgateway")
    target = ""
    #: what the log says once pushes get through again, after "metrics reach <target> again"
    recovered_note = ""

    def __init__(self, interval: float, *, join_timeout: float) -> None:
        self.interval = interval
        self._join_timeout = join_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failing_since: float | None = None
        self._warned = 0.0
        #: pushes the target accepted, and failed ones (for tests and the logs)
        self.pushes = 0
        self.failures = 0

    @abstractmethod
    def push_once(self) -> None:
        """Push the metrics of this moment; raise when the target refused or was away."""

    def describe(self, exc: BaseException) -> str:
        """A failed push's reason, for the log."""
        return f"{type(exc).__name__}: {exc}"

    def log_fields(self) -> dict[str, Any]:
        """Fields every log line of this pusher carries."""
        return {}

    def start(self) -> None:
        if self.interval <= 0:
            return
        name = f"streamforge-{self.target.removeprefix('the ').lower()}"
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.push()

    def push(self) -> bool:
        """One push now; False when it failed (the next push sends the values of its time)."""
        with self._lock:
            try:
                self.push_once()
            except Exception as exc:  # noqa: BLE001 - any failure waits for the next push
                self._failed(exc)
                return False
            self._recovered()
            return True

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._warned >= WARN_EVERY or self._stop.is_set():
            self._warned = now
            retry = "" if self._stop.is_set() else f" (retrying every {self.interval:.3g}s)"
            log.warning(
                "pushing metrics to %s failed%s: %s",
                self.target,
                retry,
                self.describe(exc),
                extra={"fields": self.log_fields()},
            )

    def _recovered(self) -> None:
        if self._failing_since is not None:
            down = time.monotonic() - self._failing_since
            self._failing_since = None
            self._warned = 0.0
            log.info(
                "metrics reach %s again after %.1fs%s",
                self.target,
                down,
                self.recovered_note,
                extra={"fields": self.log_fields()},
            )

    def stop(self) -> None:
        """End the periodic pushes and push once more (the run's last counts)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout)
        self.push()
