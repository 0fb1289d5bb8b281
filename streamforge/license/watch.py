"""Keep the licence in effect current while streams run: expiry, a new licence file or token.

A daemon thread wakes when the licence expires (after the configured leeway) and every
`interval` seconds to see whether the licence file, public key or token changed. Either way it
installs a new licence state (listeners such as `license_check` hear of it), updates the
licence metrics and stops every running stream that now uses a component the licence does not
allow; streams using only base features go on.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from prometheus_client import Gauge

from streamforge.config.model import StreamConfig
from streamforge.license.decisions import Decisions
from streamforge.license.gate import Denial, denials, subject_of
from streamforge.license.loading import LicenseStatus
from streamforge.license.policy import PolicyError
from streamforge.license.settings import LicenseSettings, LicenseSettingsError
from streamforge.license.state import LicenseState, build_state, install
from streamforge.license.token import format_time
from streamforge.observability.metrics import REGISTRY, STREAMS_STOPPED

__all__ = [
    "CHECK_INTERVAL",
    "LICENSE_EXPIRY",
    "LICENSE_VALID",
    "LicenseWatch",
    "WatchedStream",
    "expired_state",
    "publish_state",
]

log = logging.getLogger("streamforge.license")

#: how often (seconds) the licence file and token are checked for a change
CHECK_INTERVAL = 30.0

LICENSE_VALID = Gauge(
    "streamforge_license_valid",
    "1 while a verified licence is in effect, 0 while the base features apply.",
    registry=REGISTRY,
)
LICENSE_EXPIRY = Gauge(
    "streamforge_license_expiry_timestamp_seconds",
    "When the licence in effect expires, in seconds since 1970; 0 without a licence.",
    registry=REGISTRY,
)


@dataclass(frozen=True)
class WatchedStream:
    """A running stream and how to stop it (its inputs end; it drains and flushes)."""

    config: StreamConfig
    halt: Callable[[], None]


def publish_state(state: LicenseState) -> None:
    """Set the licence gauges from a state."""
    expires = state.expires_at
    LICENSE_VALID.set(0 if state.status.license is None else 1)
    LICENSE_EXPIRY.set(expires.timestamp() if expires is not None else 0)


def expired_state(state: LicenseState, now: datetime | None = None) -> LicenseState:
    """The state once the licence of `state` has expired: the base defaults, same policies."""
    moment = now or datetime.now(timezone.utc)
    expires = state.expires_at
    reason = f"expired at {format_time(expires)}" if expires is not None else "expired"
    status = LicenseStatus(None, state.status.source, reason, moment)
    processors = state.decisions.input_document().get("processors") or []
    return LicenseState(
        state.settings, status, Decisions(state.engine, None, processors), state.engine
    )


def _file_mark(path: str | None) -> tuple[str, int, int] | None:
    if not path:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, info.st_mtime_ns, info.st_size)


def _fingerprint(settings: LicenseSettings) -> tuple[Any, ...]:
    """What a change of licence shows in: the settings, the token, the files' mtime and size."""
    return (
        settings.token,
        settings.issuer,
        settings.leeway,
        _file_mark(settings.file),
        _file_mark(settings.public_key_file),
    )


class LicenseWatch:
    """Watches the licence of a running process and stops streams it no longer allows."""

    def __init__(
        self,
        state: LicenseState,
        settings_source: Callable[[], LicenseSettings] | None = None,
        *,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        """`state` is the one installed when the streams started; `settings_source` gives
        the current settings (default: the state's), read again at every check so a changed
        environment token is seen."""
        self.state = state
        self.interval = interval
        self._settings_source = settings_source or (lambda: state.settings)
        self._settings = state.settings
        self._seen = _fingerprint(state.settings)
        self._streams: list[WatchedStream] = []
        self._stopped_streams: set[int] = set()
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopped(self) -> list[str]:
        """Names of the streams this watch stopped."""
        with self._lock:
            return [
                w.config.name for i, w in enumerate(self._streams) if i in self._stopped_streams
            ]

    def start(self, streams: Sequence[WatchedStream]) -> None:
        """Publish the licence metrics and watch in a daemon thread until `stop()`."""
        with self._lock:
            self._streams = list(streams)
        publish_state(self.state)
        self._thread = threading.Thread(
            target=self._loop, name="streamforge-licence-watch", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """End the watch (the process is shutting down)."""
        self._done.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _deadline(self) -> datetime | None:
        """When the licence in effect stops being valid (expiry plus leeway)."""
        expires = self.state.expires_at
        if expires is None or self.state.status.license is None:
            return None
        return expires + timedelta(seconds=self.state.settings.leeway)

    def _loop(self) -> None:
        while not self._done.is_set():
            now = datetime.now(timezone.utc)
            wait = self.interval
            deadline = self._deadline()
            if deadline is not None:
                wait = min(wait, (deadline - now).total_seconds())
            if self._done.wait(max(wait, 0.0)):
                return
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the watch must outlive a failed check
                log.error("checking the licence failed: %s: %s", type(exc).__name__, exc)

    def check(self, now: datetime | None = None) -> LicenseState | None:
        """One look at the licence: a change or an expiry installs a new state and stops the
        streams it refuses. Returns the new state, None when nothing changed."""
        moment = now or datetime.now(timezone.utc)
        with self._lock:
            try:
                settings = self._settings_source()
            except LicenseSettingsError as exc:
                log.warning("licence settings cannot be read again: %s; keeping them", exc)
                settings = self._settings
            mark = _fingerprint(settings)
            deadline = self._deadline()
            if mark != self._seen:
                new = build_state(settings, engine=self.state.engine, now=moment)
                self._seen, self._settings = mark, settings
                why = f"the licence changed, now in effect: {subject_of(new.decisions)}"
                if new.status.reason:
                    why += f" ({new.status.reason})"
                log.info("%s", why)
            elif deadline is not None and moment >= deadline:
                new = expired_state(self.state, moment)
                why = f"licence {self.state.subject} {new.status.reason}; base features apply"
                log.warning("%s", why, extra={"fields": {"subject": self.state.subject or ""}})
            else:
                return None
            self.state = new
            install(new)
            publish_state(new)
            self._stop_refused(new, why)
            return new

    def _stop_refused(self, state: LicenseState, why: str) -> None:
        for index, watched in enumerate(self._streams):
            if index in self._stopped_streams:
                continue
            try:
                refused = denials(watched.config, state.decisions)
            except PolicyError as exc:
                log.error("the policies failed for stream %s: %s", watched.config.name, exc)
                continue
            if refused:
                self._stop_stream(index, watched, refused, why)

    def _stop_stream(
        self, index: int, watched: WatchedStream, refused: list[Denial], why: str
    ) -> None:
        name = watched.config.name
        needs = "; ".join(
            f"{d.use.component} ({d.use.location}) needs licence feature "
            f"{d.use.category}/{d.use.feature}"
            for d in refused
        )
        first = refused[0].use
        log.error(
            "stream %s stopped: %s; %s",
            name,
            needs,
            why,
            extra={
                "fields": {
                    "stream": name,
                    "component": first.component,
                    "feature": f"{first.category}/{first.feature}",
                }
            },
        )
        STREAMS_STOPPED.labels(stream=name, reason="license").inc()
        self._stopped_streams.add(index)
        watched.halt()
