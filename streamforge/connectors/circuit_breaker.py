"""A circuit breaker: stop calling a peer that keeps failing, try again after a pause.

closed    requests flow; `failures` consecutive failures open the circuit
open      requests fail at once; after `reset_after` seconds one trial request is let through
half-open the trial decides: success closes the circuit, failure opens it for another pause
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "State"]

State = Literal["closed", "open", "half-open"]
CLOSED: State = "closed"
OPEN: State = "open"
HALF_OPEN: State = "half-open"


class CircuitBreaker:
    """Thread-safe breaker; `failures <= 0` disables it. `clock` is injectable for tests."""

    def __init__(
        self,
        failures: int = 5,
        reset_after: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State, str, bool], None] | None = None,
    ) -> None:
        self.threshold = int(failures)
        self.reset_after = max(float(reset_after), 0.0)
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state: State = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial = False
        self.last_error = ""

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    @property
    def state(self) -> State:
        """The state as a caller would find it now (open turns half-open once the pause ends)."""
        with self._lock:
            if self._state == OPEN and self._clock() >= self._opened_at + self.reset_after:
                return HALF_OPEN
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a trial request through (0 when not open)."""
        with self._lock:
            if self._state != OPEN:
                return 0.0
            return max(self._opened_at + self.reset_after - self._clock(), 0.0)

    def allow(self) -> bool:
        """May a request be sent now? While half-open only the one trial request may."""
        if not self.enabled:
            return True
        change: State | None = None
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._state == OPEN:
                if self._clock() < self._opened_at + self.reset_after:
                    return False
                self._state, change = HALF_OPEN, HALF_OPEN
                self._trial = True
            elif self._trial:
                return False
            else:
                self._trial = True
        if change is not None:
            self._notify(change, self.last_error)
        return True

    def success(self) -> None:
        """The peer answered; a half-open circuit closes."""
        if not self.enabled:
            return
        change: State | None = None
        with self._lock:
            self._consecutive = 0
            self._trial = False
            if self._state != CLOSED:
                self._state, change = CLOSED, CLOSED
        if change is not None:
            self._notify(change, "")

    def failure(self, error: str = "") -> None:
        """The peer failed; opens the circuit at the threshold, or again after a failed trial."""
        if not self.enabled:
            return
        change: State | None = None
        with self._lock:
            self._consecutive += 1
            if error:
                self.last_error = error
            reopen = self._state == HALF_OPEN
            trip = self._state == CLOSED and self._consecutive >= self.threshold
            if reopen or trip:
                self._state, change = OPEN, OPEN
                self._opened_at = self._clock()
                self._trial = False
        if change is not None:
            self._notify(change, error, trial_failed=reopen)

    def release(self) -> None:
        """A trial request ended without telling whether the peer works; let another try."""
        with self._lock:
            self._trial = False

    def _notify(self, state: State, error: str, *, trial_failed: bool = False) -> None:
        """Tell `on_change(state, error, trial_failed)` about a transition."""
        if self._on_change is not None:
            self._on_change(state, error, trial_failed)
