"""Connection state of network components: backoff, metrics and /ready."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from streamforge.observability.metrics import REGISTRY
from streamforge.plugin.connection import Backoff, connection, connections_down
from streamforge.runtime.http import Readiness, start_http_server


def test_backoff_grows_to_its_maximum_with_jitter_and_resets() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0, multiplier=2.0)
    delays = [backoff.next_delay() for _ in range(8)]
    bases = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    for delay, base in zip(delays, bases):
        assert base / 2 <= delay <= base
    assert len(set(delays)) > 1
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def _sample(name: str, component: str) -> float:
    value = REGISTRY.get_sample_value(name, {"stream": "s_conn", "component": component})
    return value or 0.0


def test_connection_state_is_counted_in_metrics() -> None:
    conn = connection("s_conn", "mqtt_in", "tcp://127.0.0.1:1")
    try:
        conn.down("connection refused")
        conn.down("connection refused")
        assert _sample("streamforge_connected", "mqtt_in") == 0
        assert _sample("streamforge_connection_failures_total", "mqtt_in") == 2
        conn.up()
        conn.down("broker went away")
        conn.up()
        assert _sample("streamforge_connected", "mqtt_in") == 1
        assert _sample("streamforge_reconnects_total", "mqtt_in") == 1
    finally:
        conn.close()


def test_ready_names_every_connection_that_is_down() -> None:
    readiness = Readiness()
    readiness.set(True)
    server = start_http_server("127.0.0.1:0", readiness)
    assert server is not None
    conn = connection("s_conn", "kafka_out", "127.0.0.1:9")
    try:
        url = f"http://127.0.0.1:{server.port}/ready"
        conn.down("connection refused")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url, timeout=5)
        assert err.value.code == 503
        body = err.value.read().decode()
        assert "s_conn/kafka_out: not connected to 127.0.0.1:9 (connection refused)" in body
        assert connections_down()
        conn.up()
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200
    finally:
        conn.close()
        server.stop()
