"""The `kafka` input and output with TLS and SASL against a real broker (Tansu).

See peers/tansu_secure.py for what Tansu supports: TLS is served by a terminator in front of
the broker, and a broker that requires SASL has no users, so only wrong credentials are tested.
"""

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

import pytest
from peers.ports import free_port
from peers.tansu_secure import AuthTansu, TlsTansu

pytest.importorskip("confluent_kafka")

CLI = [sys.executable, "-m", "streamforge", "run"]


class Run:
    """`streamforge run` in a subprocess with its HTTP endpoint on a free port."""

    def __init__(self, tmp_path: Path, name: str, body: str) -> None:
        self.http_port = free_port()
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(
            textwrap.dedent(body).lstrip() + f"http:\n  address: 127.0.0.1:{self.http_port}\n"
        )
        self.log_path = tmp_path / f"{name}.log"
        self._fh = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*CLI, str(cfg)], stdout=self._fh, stderr=subprocess.STDOUT, env=dict(os.environ)
        )

    @property
    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended while waiting for {what}:\n{self.logs}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.logs}")
            time.sleep(0.05)

    def wait_log(self, text: str) -> None:
        self.wait_for(lambda: text in self.logs, f"{text!r} in the logs")

    def wait_down(self, component: str) -> None:
        self.wait_for(lambda: self.connected(component) == 0.0, f"{component} down in metrics")

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except urllib.error.URLError:
            return 0, ""  # the endpoint starts after the components are built: not yet

    def connected(self, component: str) -> float | None:
        """The `streamforge_connected` gauge of a component, None before it exists."""
        _, metrics = self.get("/metrics")
        for line in metrics.splitlines():
            if line.startswith("streamforge_connected{") and f'component="{component}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._fh.close()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        run._fh.close()


def tls_block(ca: Path | None, enabled: bool = True) -> str:
    ca_line = f", root_cas_file: {ca}" if ca else ""
    return f"tls: {{ enabled: {str(enabled).lower()}{ca_line} }}"


def test_tls_input_and_output_carry_every_record_end_to_end(
    tansu_tls: TlsTansu, tmp_path: Path, runs: list[Run]
) -> None:
    assert tansu_tls.tls is not None
    source = tansu_tls.create_topic(tansu_tls.new_topic_name("tls-in"), partitions=2)
    sink = tansu_tls.create_topic(tansu_tls.new_topic_name("tls-out"))
    n = 2000
    tansu_tls.produce(source, [(i % 2, None, f"m{i}".encode(), None) for i in range(n)])
    tls = tls_block(tansu_tls.tls.ca)
    run = Run(
        tmp_path,
        "tls",
        f"""
        input:
          label: kin
          kafka:
            addresses: [ "{tansu_tls.address}" ]
            topics: [ "{source}" ]
            start_from_oldest: true
            {tls}
        pipeline:
          processors:
            - mapping: 'root = content().string().uppercase()'
        output:
          label: kout
          kafka:
            addresses: [ "{tansu_tls.address}" ]
            topic: "{sink}"
            {tls}
        """,
    )
    runs.append(run)
    got = tansu_tls.consume_all(sink, expect=n, timeout=15)
    assert sorted(m.value() for m in got) == sorted(f"M{i}".encode() for i in range(n))
    assert run.connected("kin") == 1.0 and run.connected("kout") == 1.0
    assert run.get("/ready")[0] == 200
    assert run.stop() == 0, run.logs
    assert "level=error" not in run.logs


@pytest.mark.parametrize("side", ["input", "output"])
def test_tls_failures_are_clear_errors_and_the_stream_keeps_running(
    side: str, tansu_tls: TlsTansu, tmp_path: Path, runs: list[Run]
) -> None:
    assert tansu_tls.tls is not None
    cases = {
        # a CA that did not sign the broker's certificate
        "wrong_ca": (tansu_tls.address, tls_block(tansu_tls.tls.other_ca), "certificate verify"),
        # TLS towards a port nothing listens on
        "unreachable": (f"127.0.0.1:{free_port()}", tls_block(None), "Connection refused"),
    }
    started: dict[str, Run] = {}
    for case, (address, tls, _) in cases.items():
        body = _stream(side, address, tls, tmp_path / f"{case}.dlq")
        started[case] = Run(tmp_path, f"{side}-{case}", body)
    runs.extend(started.values())
    label = "kin" if side == "input" else "kout"
    for case, run in started.items():
        expected = cases[case][2]
        run.wait_log(expected)
        line = next(ln for ln in run.logs.splitlines() if expected in ln)
        assert "level=error" in line and f"component={label}" in line, line
        assert f"kafka {side} {label}" in line and cases[case][0] in line, line
        run.wait_down(label)
        status, body = run.get("/ready")
        assert status == 503 and label in body and expected in body, body
        if side == "output":
            _check_dead_letters(run, tmp_path / f"{case}.dlq", expected)
    time.sleep(0.5)
    for case, run in started.items():
        assert run.proc.poll() is None, f"{case}: the stream stopped:\n{run.logs}"
        assert run.stop() == 0, run.logs


def test_wrong_sasl_credentials_are_a_clear_error_and_the_stream_keeps_running(
    tansu_auth: AuthTansu, tmp_path: Path, runs: list[Run]
) -> None:
    sasl = "sasl: { mechanism: SCRAM-SHA-256, user: intruder, password: wrong }"
    dlq = tmp_path / "sasl.dlq"
    started = {
        side: Run(tmp_path, f"sasl-{side}", _stream(side, tansu_auth.address, sasl, dlq))
        for side in ("input", "output")
    }
    runs.extend(started.values())
    expected = "SASL authentication error"
    for side, run in started.items():
        label = "kin" if side == "input" else "kout"
        run.wait_log(expected)
        line = next(ln for ln in run.logs.splitlines() if expected in ln)
        assert "level=error" in line and f"component={label}" in line, line
        assert f"kafka {side} {label}" in line and tansu_auth.address in line, line
        assert "unknown-user" in line, line
        run.wait_down(label)
        status, body = run.get("/ready")
        assert status == 503 and label in body and expected in body, body
    _check_dead_letters(started["output"], dlq, expected)
    time.sleep(0.5)
    for side, run in started.items():
        assert run.proc.poll() is None, f"{side}: the stream stopped:\n{run.logs}"
        assert run.stop() == 0, run.logs


def _check_dead_letters(run: Run, path: Path, expected: str) -> None:
    """Messages the output could not deliver reached the fallback, naming output and cause."""

    def lines() -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    run.wait_for(lambda: bool(lines()), f"dead letters in {path.name}")
    for line in lines():
        assert line.startswith("kafka output kout: delivery to topic 'secured' failed"), line
        assert expected in line, line


def _stream(side: str, address: str, security: str, dead_letters: Path | None = None) -> str:
    """A stream whose kafka input (or output) talks to `address` with `security` settings.

    The output's failed messages go to `dead_letters`, one `fallback_error` per line.
    """
    if side == "input":
        return f"""
        input:
          label: kin
          kafka:
            addresses: [ "{address}" ]
            topics: [ "secured" ]
            {security}
        output:
          label: sink
          drop: {{}}
        """
    return f"""
    input:
      generate:
        mapping: 'root = "tick"'
        interval: 100ms
    output:
      fallback:
        - label: kout
          kafka:
            addresses: [ "{address}" ]
            topic: secured
            timeout: 1s
            {security}
        - file:
            path: "{dead_letters}"
          processors:
            - mapping: 'root = @fallback_error'
    """
