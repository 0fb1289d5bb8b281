"""The run-time licence watch: expiry and a changed licence file install a new state and stop
the streams it refuses; base-feature streams go on."""

from __future__ import annotations

import logging
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from gate_helpers import write, write_license
from license_helpers import KeyPair

from streamforge.config.loader import load_stream
from streamforge.config.model import StreamConfig
from streamforge.license import state
from streamforge.license.settings import LicenseSettings
from streamforge.license.state import LicenseState, build_state
from streamforge.license.watch import LicenseWatch, WatchedStream
from streamforge.observability.metrics import REGISTRY

ALARMS = textwrap.dedent(
    """
    input:
      generate: {mapping: 'root = {"t": 60}', interval: 1s}
    pipeline:
      processors:
        - alarm:
            rules: [{name: hot, parameter: t, above: 50}]
    output:
      drop: {}
    """
)
KAFKA = textwrap.dedent(
    """
    input:
      generate: {mapping: root = 1, interval: 1s}
    output:
      kafka: {addresses: ["localhost:9092"], topic: t}
    """
)
BASE = textwrap.dedent(
    """
    input:
      generate: {mapping: root = 1, interval: 1s}
    output:
      drop: {}
    """
)
GRANTS = {"bindings": ["kafka"], "processors": ["alarm"]}


pytestmark = pytest.mark.usefixtures("no_license")


@pytest.fixture
def ed(key_pairs: dict[str, KeyPair]) -> KeyPair:
    return key_pairs["EdDSA"]


class Halts:
    """Records which streams were told to stop."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.event = threading.Event()

    def watched(self, stream: StreamConfig) -> WatchedStream:
        def halt() -> None:
            self.names.append(stream.name)
            self.event.set()

        return WatchedStream(stream, halt)


def _streams(tmp_path: Path, **texts: str) -> list[StreamConfig]:
    return [load_stream(write(tmp_path / f"{name}.yaml", text)) for name, text in texts.items()]


def _stopped_total(stream: str) -> float:
    value = REGISTRY.get_sample_value(
        "streamforge_streams_stopped_total", {"stream": stream, "reason": "license"}
    )
    return value or 0.0


def _state(settings: LicenseSettings) -> LicenseState:
    built = build_state(settings)
    state.install(built)
    return built


def test_expiry_stops_licensed_streams_only(
    tmp_path: Path, ed: KeyPair, caplog: pytest.LogCaptureFixture
) -> None:
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    license_file = write_license(ed, tmp_path / "l.jwt", GRANTS, expires=expires)
    settings = LicenseSettings(file=str(license_file), public_key_file=str(ed.public_file))
    initial = _state(settings)
    assert initial.subject == "acme-001"
    streams = _streams(tmp_path, alarms_w1=ALARMS, kafka_w1=KAFKA, base_w1=BASE)
    halts = Halts()
    heard: list[LicenseState] = []
    state.subscribe(heard.append)
    watch = LicenseWatch(initial)
    try:
        watch.start([halts.watched(s) for s in streams])
        assert REGISTRY.get_sample_value("streamforge_license_valid") == 1
        assert REGISTRY.get_sample_value(
            "streamforge_license_expiry_timestamp_seconds"
        ) == pytest.approx(expires.timestamp())
        before = _stopped_total("alarms_w1")

        # within the leeway (60 s by default) the licence still holds
        assert watch.check(now=expires + timedelta(seconds=30)) is None
        assert halts.names == []

        with caplog.at_level(logging.INFO, logger="streamforge.license"):
            new = watch.check(now=expires + timedelta(seconds=61))
    finally:
        watch.stop()
        state.unsubscribe(heard.append)
    assert new is not None and new.subject is None
    assert state.current() is new
    assert heard == [new]
    assert halts.names == ["alarms_w1", "kafka_w1"]
    assert watch.stopped == ["alarms_w1", "kafka_w1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert warnings == [f"licence acme-001 expired at {stamp}; base features apply"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"stream alarms_w1 stopped: processor 'alarm' ({tmp_path / 'alarms_w1.yaml'}:5:7) needs "
        f"licence feature processors/alarm; licence acme-001 expired at {stamp}; base features "
        "apply",
        f"stream kafka_w1 stopped: output 'kafka' ({tmp_path / 'kafka_w1.yaml'}:4:3) needs "
        f"licence feature bindings/kafka; licence acme-001 expired at {stamp}; base features "
        "apply",
    ]
    assert _stopped_total("alarms_w1") == before + 1
    assert _stopped_total("base_w1") == 0
    assert REGISTRY.get_sample_value("streamforge_license_valid") == 0
    assert REGISTRY.get_sample_value("streamforge_license_expiry_timestamp_seconds") == 0
    # expired once: later checks change nothing
    assert watch.check(now=expires + timedelta(hours=1)) is None
    assert halts.names == ["alarms_w1", "kafka_w1"]


def test_a_changed_license_file_is_picked_up(tmp_path: Path, ed: KeyPair) -> None:
    license_file = write_license(ed, tmp_path / "l.jwt", GRANTS)
    settings = LicenseSettings(file=str(license_file), public_key_file=str(ed.public_file))
    initial = _state(settings)
    streams = _streams(tmp_path, alarms_w2=ALARMS, kafka_w2=KAFKA, base_w2=BASE)
    halts = Halts()
    watch = LicenseWatch(initial)
    watch.start([halts.watched(s) for s in streams])
    try:
        assert watch.check() is None
        # the renewed licence keeps kafka but drops the alarm processor
        write_license(ed, license_file, {"bindings": ["kafka"]}, subject="acme-002")
        new = watch.check()
    finally:
        watch.stop()
    assert new is not None and new.subject == "acme-002"
    assert state.current() is new
    assert halts.names == ["alarms_w2"]
    assert REGISTRY.get_sample_value("streamforge_license_valid") == 1


def test_a_license_file_that_goes_away(tmp_path: Path, ed: KeyPair) -> None:
    license_file = write_license(ed, tmp_path / "l.jwt", GRANTS)
    settings = LicenseSettings(file=str(license_file), public_key_file=str(ed.public_file))
    watch = LicenseWatch(_state(settings))
    halts = Halts()
    watch.start([halts.watched(s) for s in _streams(tmp_path, kafka_w3=KAFKA, base_w3=BASE)])
    try:
        license_file.unlink()
        new = watch.check()
    finally:
        watch.stop()
    assert new is not None and new.subject is None
    assert new.status.reason == f"licence file {license_file}: not found"
    assert halts.names == ["kafka_w3"]


def test_the_thread_wakes_at_expiry(tmp_path: Path, ed: KeyPair) -> None:
    """No polling needed: the watch sleeps until the licence's expiry (leeway 0)."""
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    license_file = write_license(ed, tmp_path / "l.jwt", GRANTS, expires=expires)
    settings = LicenseSettings(
        file=str(license_file), public_key_file=str(ed.public_file), leeway=0.0
    )
    initial = _state(settings)
    assert initial.subject == "acme-001"
    halts = Halts()
    watch = LicenseWatch(initial, interval=3600)
    watch.start([halts.watched(s) for s in _streams(tmp_path, alarms_w4=ALARMS, base_w4=BASE)])
    try:
        assert halts.event.wait(timeout=15), "the licensed stream was not stopped"
    finally:
        watch.stop()
    assert datetime.now(timezone.utc) >= expires
    assert halts.names == ["alarms_w4"]
    assert state.current().subject is None


def test_stop_ends_the_thread_promptly(tmp_path: Path) -> None:
    watch = LicenseWatch(_state(LicenseSettings()), interval=3600)
    watch.start([])
    started = time.monotonic()
    watch.stop()
    assert time.monotonic() - started < 2
