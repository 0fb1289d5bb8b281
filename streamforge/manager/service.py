"""The manager's operations: stored streams and their running children, kept in step.

A change is checked (lint, the manager's policy, the licence, an offline build) before it is
stored; it is stored (committed) before it is answered; only then does the running child change.
A change that fails its checks leaves both the store and the running stream as they were.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streamforge.config.dump import dump_yaml
from streamforge.config.model import Problem
from streamforge.config.secrets import REDACTED, redact_yaml, restore
from streamforge.engine.instantiate import StreamBuilder
from streamforge.manager.checks import (
    CheckResult,
    ConfigPolicy,
    check_config,
    config_text,
    listen_addresses,
)
from streamforge.manager.figures import RateWindow, fetch_metrics, merge_metrics, stream_figures
from streamforge.manager.store import Conflict, StoredStream, StreamStore
from streamforge.manager.supervisor import ChildState, StreamProcess, Supervisor

__all__ = [
    "ID_PATTERN",
    "Invalid",
    "LicenceRefused",
    "Manager",
    "StreamView",
    "shown",
]

ID_PATTERN = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$")


class Invalid(Exception):
    """The config has problems (lint, policy, build): a 400 with `lint_errors`."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class LicenceRefused(Exception):
    """The licence does not allow what the config uses, or more streams: a 402."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class StreamView:
    """A stream as the API shows it: stored record and running state."""

    stored: StoredStream
    child: ChildState

    @property
    def status(self) -> str:
        if self.stored.desired == "stopped":
            return "stopped"
        return self.child.status


def _keep_secrets(text: str, stored: StoredStream | None) -> str:
    """`text` with each redaction placeholder replaced by the stored secret at its place."""
    if REDACTED not in text:
        return text
    try:
        new = yaml.safe_load(text)
        old = yaml.safe_load(stored.config_yaml) if stored is not None else None
    except yaml.YAMLError:
        return text  # the check reports the YAML problem at its place
    if not isinstance(new, dict):
        return text
    return dump_yaml(restore(new, old if isinstance(old, dict) else None))


def _loaded(stored: StoredStream) -> Any:
    try:
        return yaml.safe_load(stored.config_yaml)
    except yaml.YAMLError:
        return None


def shown(config_yaml: str) -> str:
    """A stored config as the API shows it: secrets redacted."""
    try:
        return redact_yaml(config_yaml)
    except yaml.YAMLError:
        return config_yaml


class Manager:
    """Streams stored in the database and run by the supervisor."""

    def __init__(
        self,
        store: StreamStore,
        supervisor: Supervisor,
        policy: ConfigPolicy,
        *,
        decisions: Any | None = None,
        staging: Path | None = None,
    ) -> None:
        self.store = store
        self.supervisor = supervisor
        self.policy = policy
        self.decisions = decisions
        self.staging = staging
        self._labels: dict[str, tuple[str, str]] = {}
        self._rates: dict[str, RateWindow] = {}
        self._lock = threading.RLock()

    # -- checks -----------------------------------------------------------------------------
    def check(
        self, stream_id: str, config: Any, stored: StoredStream | None = None
    ) -> tuple[str, CheckResult]:
        """The config as YAML text and its check; raises Invalid or LicenceRefused.

        Secrets sent back as the redaction placeholder keep the value `stored` has there.
        """
        text = _keep_secrets(config_text(config), stored)
        own = frozenset(a for _, a in listen_addresses(_loaded(stored))) if stored else frozenset()
        result = check_config(
            stream_id, text, self.policy, decisions=self.decisions, staging=self.staging,
            own_addresses=own,
        )  # fmt: skip
        if result.lint:
            raise Invalid(result.lint)
        if result.licence:
            raise LicenceRefused(result.licence)
        return text, result

    def _remember_labels(self, stream_id: str, result: CheckResult) -> None:
        stream = result.stream
        if stream is None:
            return
        builder = StreamBuilder(stream)
        self._labels[stream_id] = (
            builder.resolve(stream.input).display_label,
            builder.resolve(stream.output).display_label,
        )

    def _check_stream_limit(self, adding: int) -> None:
        if self.decisions is None:
            return
        from streamforge.config.model import Location
        from streamforge.license.gate import check_limit

        message = check_limit(self.decisions, "streams", self.store.count() + adding)
        if message is not None:
            raise LicenceRefused([Problem(Location("license", 1, 1), message)])

    # -- lifecycle ----------------------------------------------------------------------------
    def boot(self) -> None:
        """Start every stored stream whose desired state is running (at manager start)."""
        after: str | None = None
        while True:
            page = self.store.page(after=after, limit=500)
            if not page:
                return
            for stored in page:
                if self.supervisor.get(stored.id) is None:
                    self._start_stored(stored)
            after = page[-1].id

    def _start_stored(self, stored: StoredStream) -> None:
        try:
            _, result = self.check(stored.id, stored.config_yaml)
        except (Invalid, LicenceRefused) as exc:
            proc = self.supervisor.keep(stored.id, stored.config_yaml)
            proc.last_error = f"not started: {exc}"
            return
        self._remember_labels(stored.id, result)
        if stored.desired == "running":
            self.supervisor.run(stored.id, stored.config_yaml)
        else:
            self.supervisor.keep(stored.id, stored.config_yaml)

    def shutdown(self) -> None:
        self.supervisor.stop_all()

    # -- operations ---------------------------------------------------------------------------
    def create(
        self, stream_id: str | None, config: Any, *, by: str = "admin", tags: tuple[str, ...] = ()
    ) -> StreamView:
        stream_id = stream_id or f"stream-{uuid.uuid4().hex[:12]}"
        if not ID_PATTERN.match(stream_id):
            raise ValueError(f"stream id {stream_id!r} must match [A-Za-z0-9._-]{{1,128}}")
        with self._lock:
            if self.supervisor.get(stream_id) is not None:
                raise Conflict(f"stream {stream_id!r} exists already")
            self._check_stream_limit(1)
            text, result = self.check(stream_id, config)
            stored = self.store.create(stream_id, text, by=by, tags=tags)
            self._remember_labels(stream_id, result)
            proc = self.supervisor.run(stream_id, text)
            return StreamView(stored, proc.state)

    def replace(
        self, stream_id: str, config: Any, *, expected_version: int | None = None,
        by: str = "admin", tags: tuple[str, ...] | None = None,
    ) -> StreamView:  # fmt: skip
        with self._lock:
            current = self.store.get(stream_id)
            if expected_version is not None and current.version != expected_version:
                raise Conflict(f"stream {stream_id!r} is at version {current.version}")
            text, result = self.check(stream_id, config, current)
            stored = self.store.replace(
                stream_id, text, expected_version=current.version, by=by, tags=tags
            )
            self._remember_labels(stream_id, result)
            return self._apply(stored)

    def _apply(self, stored: StoredStream) -> StreamView:
        if stored.desired == "running":
            proc = self.supervisor.run(stored.id, stored.config_yaml)
        else:
            proc = self.supervisor.keep(stored.id, stored.config_yaml)
        return StreamView(stored, proc.state)

    def delete(self, stream_id: str, timeout: float = 20.0) -> None:
        """Stop the stream gracefully, then remove it (other changes wait only for the lookup)."""
        with self._lock:
            self.store.get(stream_id)
            proc = self.supervisor.get(stream_id)
        if proc is not None:
            proc.stop(timeout)
        with self._lock:
            self.supervisor.remove(stream_id, timeout)
            self.store.delete(stream_id)
            self._labels.pop(stream_id, None)
            self._rates.pop(stream_id, None)

    def set_desired(self, stream_id: str, desired: str) -> StreamView:
        with self._lock:
            stored = self.store.set_desired(stream_id, desired)
            proc = self.supervisor.get(stream_id)
            if desired == "stopped":
                if proc is not None:
                    proc.stop()
                else:
                    proc = self.supervisor.keep(stored.id, stored.config_yaml)
            elif proc is None or proc.state.status == "stopped":
                proc = self.supervisor.run(stored.id, stored.config_yaml)
            return StreamView(stored, proc.state)

    def restart(self, stream_id: str) -> StreamView:
        with self._lock:
            stored = self.store.set_desired(stream_id, "running")
            proc = self.supervisor.run(stored.id, stored.config_yaml)
            return StreamView(stored, proc.state)

    def restore(self, stream_id: str, version: int, *, by: str = "admin") -> StreamView:
        old = self.store.version(stream_id, version)
        return self.replace(stream_id, old.config_yaml, by=by)

    # -- views --------------------------------------------------------------------------------
    def view(self, stream_id: str) -> StreamView:
        stored = self.store.get(stream_id)
        return StreamView(stored, self._child(stored).state)

    def _child(self, stored: StoredStream) -> StreamProcess:
        proc = self.supervisor.get(stored.id)
        if proc is None:
            proc = self.supervisor.keep(stored.id, stored.config_yaml)
        return proc

    def page(self, *, after: str | None, limit: int, q: str) -> list[StreamView]:
        return [
            StreamView(s, self._child(s).state)
            for s in self.store.page(after=after, limit=limit, q=q)
        ]

    def figures(self, stream_id: str) -> dict[str, Any]:
        view = self.view(stream_id)
        input_label, output_label = self._labels.get(stream_id, ("input", "output"))
        figures = stream_figures(fetch_metrics(view.child.http_port), input_label, output_label)
        rate = self._rates.setdefault(stream_id, RateWindow()).add(figures.received)
        return {
            "received": figures.received,
            "sent": figures.sent,
            "errors": figures.errors,
            "rate_1m": rate,
            "latency_ms": figures.latency_ms,
            "uptime_s": view.child.uptime_s,
        }

    def logs(self, stream_id: str, limit: int) -> list[str]:
        stored = self.store.get(stream_id)
        lines = list(self._child(stored).lines)
        return lines[-limit:] if limit > 0 else []

    def metrics_text(self) -> str:
        """Every running child's /metrics, merged."""
        with self.supervisor._lock:
            procs = list(self.supervisor._streams.values())
        return merge_metrics([fetch_metrics(p.state.http_port) for p in procs])

    def not_ready(self) -> list[str]:
        """One line per stream that should run and is failing or not running yet."""
        lines: list[str] = []
        after: str | None = None
        while True:
            page = self.store.page(after=after, limit=500)
            if not page:
                return lines
            for stored in page:
                if stored.desired != "running":
                    continue
                state = self._child(stored).state
                if state.status != "running" and not state.finished:
                    why = f": {state.last_error}" if state.last_error else ""
                    lines.append(f"{stored.id}: {state.status}{why}")
            after = page[-1].id
