"""`streamforge run` and the licence, as a user runs it: refused streams, and a licence that
expires while two streams run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from peers.ports import free_port
from peers.stream_run import Run, out_lines, wait_until, write
from prometheus_client.parser import text_string_to_metric_families

from streamforge.license.token import issue_token

CLI = [sys.executable, "-m", "streamforge", "run"]
LICENCE_VARIABLES = (
    "STREAMFORGE_LICENSE",
    "STREAMFORGE_LICENSE_FILE",
    "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE",
    "STREAMFORGE_POLICY_DIR",
    "STREAMFORGE_OPA_URL",
)


def _without_license() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in LICENCE_VARIABLES}


def _license(directory: Path, features: dict[str, object], expires: datetime) -> str:
    """Write a licence and its public key into `directory`; the config section naming them."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "licensing.pub.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = issue_token(pem, subject="acme-001", features=features, expires=expires)
    (directory / "licence.jwt").write_text(token + "\n")
    return "license:\n  file: licence.jwt\n  public_key_file: licensing.pub.pem\n  leeway: 0s\n"


def _metric(run: Run, name: str, **labels: str) -> float | None:
    status, body = run.get("/metrics")
    assert status == 200
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def _with_section(path: Path, section: str) -> Path:
    with path.open("a") as fh:
        fh.write(section)
    return path


def _alarm_stream(tmp_path: Path, section: str, http: str = "http: {enabled: false}") -> Path:
    config = write(
        tmp_path / "alarms.yaml",
        f"""
        input:
          generate:
            mapping: 'root = {{"asset_id": "pump", "parameter": "t", "value": 60 + counter() % 2}}'
            interval: 50ms
        pipeline:
          processors:
            - alarm:
                rules: [{{name: hot, parameter: t, above: 50}}]
                pass_through: true
        output:
          file: {{path: "{tmp_path}/alarms.txt"}}
        {http}
        """,
    )
    return _with_section(config, section)


def test_run_refuses_unlicensed_components(tmp_path: Path) -> None:
    config = write(
        tmp_path / "plant.yaml",
        f"""
        input:
          generate: {{mapping: root = 1, count: 1}}
        pipeline:
          processors:
            - alarm:
                rules: [{{name: hot, parameter: t, above: 50}}]
        output:
          file: {{path: "{tmp_path}/out.txt"}}
        """,
    )
    done = subprocess.run(
        [*CLI, str(config)], capture_output=True, text=True, timeout=60, env=_without_license()
    )
    assert done.returncode == 1
    assert (
        f"{config}:5:7: processor 'alarm': processor "
        "'alarm' needs a licence feature processors/alarm (no licence in effect); licence "
        "subject: none (base features)"
    ) in done.stderr.splitlines()
    assert not (tmp_path / "out.txt").exists()


def test_license_expiring_while_two_streams_run(tmp_path: Path, runs: list[Run]) -> None:
    port = free_port()
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=8)
    section = _license(tmp_path, {"processors": ["alarm"]}, expires)
    base = write(
        tmp_path / "base.yaml",
        f"""
        input:
          generate: {{mapping: 'root = {{"n": counter()}}', interval: 50ms}}
        output:
          file: {{path: "{tmp_path}/base.txt"}}
        http: {{address: "127.0.0.1:{port}"}}
        """,
    )
    _with_section(base, section)
    alarms = _alarm_stream(tmp_path, section)
    run = Run(alarms, http_port=port, extra_args=(str(base),), log=tmp_path / "run.log")
    runs.append(run)
    wait_until(lambda: run.get("/ready")[0] == 200, 20, "the streams to be ready")
    assert _metric(run, "streamforge_license_valid") == 1
    assert _metric(run, "streamforge_license_expiry_timestamp_seconds") == expires.timestamp()
    wait_until(lambda: len(out_lines(tmp_path / "alarms.txt")) > 0, 20, "alarm stream output")

    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    run.wait_log(f"licence acme-001 expired at {stamp}; base features apply", timeout=30)
    run.wait_log("stream alarms stopped: processor 'alarm'", timeout=10)
    logs = run.logs()
    stopped = next(line for line in logs.splitlines() if "stream alarms stopped" in line)
    assert "needs licence feature processors/alarm" in stopped
    assert "level=error" in stopped
    assert "stream base stopped" not in logs
    wait_until(
        lambda: _metric(run, "streamforge_streams_stopped_total", stream="alarms") == 1,
        10,
        "the stopped-streams metric",
    )
    assert _metric(run, "streamforge_license_valid") == 0
    assert _metric(run, "streamforge_streams_stopped_total", stream="base") is None

    # the alarm stream drained and stopped; the base stream keeps writing
    time.sleep(1.0)
    alarms_written = len(out_lines(tmp_path / "alarms.txt"))
    base_written = len(out_lines(tmp_path / "base.txt"))
    time.sleep(1.5)
    assert len(out_lines(tmp_path / "alarms.txt")) == alarms_written
    assert len(out_lines(tmp_path / "base.txt")) > base_written + 5
    assert run.proc.poll() is None
    assert run.stop() == 0


def test_process_exits_when_its_only_stream_is_stopped(tmp_path: Path, runs: list[Run]) -> None:
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=6)
    alarms = _alarm_stream(tmp_path, _license(tmp_path, {"processors": ["alarm"]}, expires))
    run = Run(alarms, log=tmp_path / "run.log")
    runs.append(run)
    try:
        rc = run.proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not end after the licence expired:\n{run.logs()}")
    assert rc == 0, run.logs()
    assert "stream alarms stopped" in run.logs()
    assert len(out_lines(tmp_path / "alarms.txt")) > 0
