"""The HTTP endpoint while streams run: /metrics (Prometheus), /ready, /health/live."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

from peers.ports import free_port
from peers.stream_run import run_to_end
from prometheus_client.parser import text_string_to_metric_families

from streamforge.runtime.http import Readiness, start_http_server

CLI = [sys.executable, "-m", "streamforge", "run"]


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def samples(text: str) -> dict[tuple[str, str, str], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, s.labels.get("stream", ""), s.labels.get("component", ""))
            out[key] = s.value
    return out


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def bounded_stream(tmp_path: Path, http: str) -> Path:
    write(tmp_path / "in.txt", "a\nb\nc\n")
    return write(
        tmp_path / "bounded.yaml",
        f"""
        input:
          file:
            paths: [ "{tmp_path}/in.txt" ]
        output:
          file:
            path: "{tmp_path}/out.txt"
        http: {http}
        """,
    )


def test_endpoint_paths_and_readiness() -> None:
    readiness = Readiness()
    server = start_http_server("127.0.0.1:0", readiness)
    assert server is not None
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert get(f"{base}/health/live")[0] == 200
        assert get(f"{base}/ready")[0] == 503
        readiness.set(True)
        assert get(f"{base}/ready")[0] == 200
        status, ctype, body = get(f"{base}/metrics")
        assert status == 200
        assert ctype.startswith("text/plain")
        assert "# TYPE streamforge_received_total counter" in body
        assert "# TYPE streamforge_processing_seconds histogram" in body
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.stop()


def test_running_stream_serves_metrics_per_stream_and_component(tmp_path: Path) -> None:
    port = free_port()
    cfg = write(
        tmp_path / "ticks.yaml",
        f"""
        input:
          label: ticker
          generate:
            mapping: 'root = {{"n": counter()}}'
            interval: 20ms
            batch_size: 10
        pipeline:
          processors:
            - label: odd_check
              mapping: 'root = if this.n % 2 == 1 {{ throw("odd") }} else {{ this }}'
        output:
          label: sink
          file:
            path: "{tmp_path}/ticks.txt"
        http:
          address: 127.0.0.1:{port}
        """,
    )
    proc = subprocess.Popen([*CLI, str(cfg)], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        ready = 0
        while time.monotonic() < deadline:
            try:
                ready = get(f"{base}/ready")[0]
            except OSError:
                ready = 0
            if ready == 200:
                break
            time.sleep(0.05)
        assert ready == 200
        assert get(f"{base}/health/live")[0] == 200
        time.sleep(0.3)
        values = samples(get(f"{base}/metrics")[2])
        received = values[("streamforge_received_total", "ticks", "ticker")]
        assert received >= 10
        assert values[("streamforge_received_total", "ticks", "odd_check")] > 0
        assert values[("streamforge_errors_total", "ticks", "odd_check")] > 0
        assert values[("streamforge_sent_total", "ticks", "sink")] > 0
        assert values[("streamforge_processing_seconds_count", "ticks", "odd_check")] > 0
        assert values[("streamforge_batch_size_sum", "ticks", "ticker")] == received
        # the same series under Benthos' names, labels and units, for dashboards made for it
        text = get(f"{base}/metrics")[2]
        benthos = {
            (s.name, s.labels.get("label"), s.labels.get("path")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.labels.get("stream") == "ticks" and "component" not in s.labels
        }
        assert benthos[("input_received", "ticker", "root.input")] >= received
        assert benthos[("processor_error", "odd_check", "root.pipeline.processors.0")] > 0
        assert benthos[("output_sent", "sink", "root.output")] > 0
        latency = benthos[("output_latency_ns_sum", "sink", "root.output")]
        batches = benthos[("output_latency_ns_count", "sink", "root.output")]
        assert 1_000 < latency / batches < 5e9  # nanoseconds per batch, not seconds
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr


def test_taken_address_warns_and_the_stream_still_runs(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = bounded_stream(tmp_path, f"{{address: 127.0.0.1:{port}}}")
        result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    assert "level=warn" in result.stderr and "http endpoint disabled" in result.stderr
    assert (tmp_path / "out.txt").read_text().splitlines() == ["a", "b", "c"]


def test_disabled_endpoint_listens_nowhere(tmp_path: Path) -> None:
    port = free_port()
    cfg = bounded_stream(tmp_path, f"{{enabled: false, address: 127.0.0.1:{port}}}")
    result = run_to_end(cfg)
    assert result.returncode == 0, result.stderr
    assert "http endpoint" not in result.stderr
    assert (tmp_path / "out.txt").read_text().splitlines() == ["a", "b", "c"]
