"""The `mqtt` input and output against a real Mosquitto broker, through `streamforge run`."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from peers.http_sink import HttpSink
from peers.mosquitto import Mosquitto
from peers.ports import free_port
from peers.stream_run import Run, out_lines, wait_until, write

# -- helpers ---------------------------------------------------------------------------------


def client(broker: Mosquitto, client_id: str = "", **kw: Any) -> paho.Client:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, **kw)
    c.reconnect_delay_set(1, 1)
    return c


def connect(c: paho.Client, broker: Mosquitto) -> paho.Client:
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.connect("127.0.0.1", broker.port, keepalive=5)
    c.loop_start()
    assert connected.wait(5), "test client could not connect"
    return c


def publish_all(broker: Mosquitto, topic: str, payloads: list[bytes], qos: int = 1) -> None:
    pub = connect(client(broker), broker)
    try:
        infos = [pub.publish(topic, p, qos=qos) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        pub.disconnect()
        pub.loop_stop()


class Subscriber:
    """A paho subscriber in the test that records what arrives."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()
        self.c = client(broker)
        subscribed = threading.Event()
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *a: subscribed.set()
        connect(self.c, broker)
        self.c.subscribe(topic, qos=1)
        assert subscribed.wait(5)

    def _on_message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(msg)

    def wait_for(self, n: int, timeout: float = 20.0) -> list[paho.MQTTMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        return list(self.messages)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def input_stream(
    tmp: Path,
    name: str,
    broker_conf: str,
    out: Path,
    *,
    pipeline: str = "",
    output: str | None = None,
    http_port: int | None = None,
) -> Path:
    http = f"{{ address: 127.0.0.1:{http_port} }}" if http_port else "{ enabled: false }"
    output = output or f'file: {{ path: "{out}" }}'
    return write(
        tmp / f"{name}.yaml",
        f"""
        input:
          label: mqtt_in
          mqtt:
{textwrap.indent(textwrap.dedent(broker_conf).strip(), " " * 12)}
{textwrap.indent(textwrap.dedent(pipeline).strip(), " " * 8)}
        output:
          {output}
        http: {http}
        """,
    )


AS_JSON = """
pipeline:
  processors:
    - mapping: |
        root.payload = content().string()
        root.meta = @
"""


# -- tests -----------------------------------------------------------------------------------


def test_thousands_of_qos1_messages_arrive_with_metadata(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "out.jsonl"
    cfg = input_stream(
        tmp_path,
        "in",
        f"""
        urls: [ {mosquitto.url} ]
        topics: [ "e2e/+/data" ]
        client_id: sf-e2e
        qos: 1
        """,
        out,
        pipeline=AS_JSON,
    )
    run = Run(cfg)
    runs.append(run)
    run.wait_log("connected to")
    n = 3000
    publish_all(mosquitto, "e2e/dev7/data", [f"m-{i}".encode() for i in range(n)])
    wait_until(lambda: len(out_lines(out)) >= n, 30, f"{n} lines")
    assert run.stop() == 0
    rows = [json.loads(line) for line in out_lines(out)]
    assert [r["payload"] for r in rows] == [f"m-{i}" for i in range(n)]
    for r in rows:
        meta = r["meta"]
        assert meta["mqtt_topic"] == "e2e/dev7/data"
        assert meta["mqtt_qos"] == 1
        assert meta["mqtt_retained"] is False
        assert meta["mqtt_duplicate"] is False
        assert 1 <= meta["mqtt_message_id"] <= 65535


def test_output_publishes_to_interpolated_topics_with_retain_flag(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    n = 2000
    sub = Subscriber(mosquitto, "out/#")
    try:
        cfg = write(
            tmp_path / "out.yaml",
            f"""
            input:
              generate:
                count: {n}
                interval: ""
                batch_size: 100
                mapping: 'root = {{"n": counter() - 1}}'
            output:
              mqtt:
                urls: [ {mosquitto.url} ]
                topic: 'out/${{! this.n % 3 }}'
                retained: '${{! this.n == {n - 1} }}'
                qos: 1
                max_in_flight: 32
            http: {{ enabled: false }}
            """,
        )
        run = Run(cfg)
        runs.append(run)
        assert run.proc.wait(30) == 0, run.logs()
        got = sub.wait_for(n)
    finally:
        sub.close()
    assert len(got) == n
    by_n = {json.loads(m.payload)["n"]: m for m in got}
    assert sorted(by_n) == list(range(n))
    for k, m in by_n.items():
        assert m.topic == f"out/{k % 3}"
    # a live subscriber sees retain=0 even for retained publishes; a new one gets the retained one
    late = Subscriber(mosquitto, "out/#")
    try:
        retained = late.wait_for(1, timeout=5)
    finally:
        late.close()
    assert [(json.loads(m.payload)["n"], m.retain) for m in retained] == [(n - 1, True)]
    publish_all(mosquitto, f"out/{(n - 1) % 3}", [b""], qos=1)  # clear it for other tests


def test_broker_restart_loses_nothing_the_broker_acknowledged(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "out.txt"
    cfg = input_stream(
        tmp_path,
        "restart",
        f"""
        urls: [ {mosquitto.url} ]
        topics: [ restart/data ]
        client_id: sf-restart
        clean_session: false
        keepalive: 2
        qos: 1
        """,
        out,
    )
    run = Run(cfg)
    runs.append(run)
    run.wait_log("connected to")
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    pub = client(mosquitto, "restart-publisher", clean_session=False)
    pending: dict[int, str] = {}

    early: set[int] = set()  # confirmed before publish() returned

    def on_publish(c: Any, u: Any, mid: int, rc: Any, p: Any) -> None:
        with lock:
            if mid in pending:
                acked.append(pending.pop(mid))
            else:
                early.add(mid)

    pub.on_publish = on_publish
    connect(pub, mosquitto)

    def publisher() -> None:
        i = 0
        while not stop.is_set():
            payload = f"r-{i}"
            info = pub.publish("restart/data", payload, qos=1)  # never under `lock`
            with lock:
                if info.mid in early:
                    early.discard(info.mid)
                    acked.append(payload)
                else:
                    pending[info.mid] = payload
            i += 1
            time.sleep(0.002)

    t = threading.Thread(target=publisher)
    t.start()
    time.sleep(1.0)
    mosquitto.restart(down_for=1.0)
    time.sleep(2.0)
    stop.set()
    t.join()
    wait_until(lambda: not pending, 15, "the publisher's messages to be acknowledged")
    pub.disconnect()
    pub.loop_stop()
    wait_until(lambda: set(acked) <= set(out_lines(out)), 20, "acknowledged messages in output")
    assert run.stop() == 0
    lines = out_lines(out)
    missing = set(acked) - set(lines)
    assert not missing
    assert len(acked) > 500
    duplicates = sum(c - 1 for c in Counter(lines).values())
    print(f"broker restart: {len(acked)} acknowledged, {duplicates} duplicates")
    assert "reconnected to" in run.logs()


def test_messages_published_while_stopped_arrive_after_start(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "out.txt"
    cfg = input_stream(
        tmp_path,
        "persist",
        f"""
        urls: [ {mosquitto.url} ]
        topics: [ persist/# ]
        client_id: sf-persist
        clean_session: false
        qos: 1
        """,
        out,
    )
    first = Run(cfg)
    runs.append(first)
    first.wait_log("connected to")
    publish_all(mosquitto, "persist/a", [b"before"])
    wait_until(lambda: out_lines(out) == ["before"], 10, "the first message")
    assert first.stop() == 0
    publish_all(mosquitto, "persist/a", [f"while-down-{i}".encode() for i in range(200)])
    second = Run(cfg)
    runs.append(second)
    wait_until(lambda: len(out_lines(out)) >= 201, 20, "messages published while stopped")
    second.wait_log("session resumed")
    assert second.stop() == 0
    assert out_lines(out) == ["before"] + [f"while-down-{i}" for i in range(200)]


def test_written_messages_are_not_delivered_again_after_a_restart(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "out.txt"
    cfg = input_stream(
        tmp_path,
        "acked",
        f"""
        urls: [ {mosquitto.url} ]
        topics: [ acked/# ]
        client_id: sf-acked
        clean_session: false
        qos: 1
        """,
        out,
    )
    first = Run(cfg)
    runs.append(first)
    first.wait_log("connected to")
    sent = [f"m-{i}".encode() for i in range(500)]
    publish_all(mosquitto, "acked/a", sent)
    wait_until(lambda: len(out_lines(out)) >= 500, 20, "the first 500 messages")
    assert first.stop() == 0
    second = Run(cfg)
    runs.append(second)
    second.wait_log("session resumed")
    # the broker resends unacknowledged messages before new ones: a marker arriving means
    # nothing of the first 500 was left unacknowledged
    publish_all(mosquitto, "acked/a", [b"marker"])
    wait_until(lambda: "marker" in out_lines(out), 20, "the marker")
    assert second.stop() == 0
    assert out_lines(out) == [p.decode() for p in sent] + ["marker"]


def test_messages_the_output_failed_are_not_acknowledged(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "out.txt"
    conf = f"""
        urls: [ {mosquitto.url} ]
        topics: [ nack/data ]
        client_id: sf-nack
        clean_session: false
        qos: 1
        """
    failing = input_stream(
        tmp_path,
        "failing",
        conf,
        out,
        pipeline="""
        pipeline:
          processors:
            - mapping: 'root = throw("downstream refuses " + content().string())'
        """,
        output=f'reject_errored: {{ file: {{ path: "{out}" }} }}',
    )
    run = Run(failing)
    runs.append(run)
    run.wait_log("connected to")
    publish_all(mosquitto, "nack/data", [f"n-{i}".encode() for i in range(50)])
    run.wait_log("not acknowledged to the broker")
    assert run.stop() == 0
    assert out_lines(out) == []
    assert "downstream refuses n-0" in run.logs()
    healthy = input_stream(tmp_path, "healthy", conf, out)
    again = Run(healthy)
    runs.append(again)
    wait_until(lambda: len(set(out_lines(out))) >= 50, 20, "redelivered messages")
    assert again.stop() == 0
    assert sorted(set(out_lines(out))) == sorted(f"n-{i}" for i in range(50))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad_password", "not authorised"),
        ("unreachable", "connection refused"),
    ],
)
def test_bad_credentials_and_unreachable_broker_keep_the_stream_running(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run], case: str, expected: str
) -> None:
    if case == "bad_password":
        if not mosquitto.auth:
            pytest.skip("mosquitto_passwd is missing: no password listener")
        url = mosquitto.tls_url
        tls = f"tls: {{ root_cas_file: {mosquitto.tls.ca} }}"
        extra = f"user: {mosquitto.user}\npassword: wrong\n{tls}"
    else:
        url = f"tcp://127.0.0.1:{free_port()}"
        extra = ""
    http_port = free_port()
    cfg = input_stream(
        tmp_path,
        case,
        f"""
        urls: [ {url} ]
        topics: [ x ]
        {textwrap.indent(extra, " " * 8).strip()}
        """,
        tmp_path / "out.txt",
        http_port=http_port,
    )
    run = Run(cfg, http_port)
    runs.append(run)
    run.wait_log(expected)
    log_line = next(line for line in run.logs().splitlines() if expected in line)
    assert "mqtt_in" in log_line and url in log_line
    wait_until(lambda: run.get("/ready")[0] in (200, 503), 10, "the HTTP endpoint")
    status, body = run.get("/ready")
    assert status == 503 and "mqtt_in" in body and expected in body
    _, metrics = run.get("/metrics")
    assert 'streamforge_connected{component="mqtt_in"' in metrics
    connected = [ln for ln in metrics.splitlines() if ln.startswith("streamforge_connected{")]
    assert any('component="mqtt_in"' in ln and ln.endswith(" 0.0") for ln in connected)
    time.sleep(1.0)
    assert run.proc.poll() is None, "the stream stopped"
    assert run.stop() == 0


def test_tls_with_generated_ca_works_and_wrong_ca_is_a_clear_error(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    if not mosquitto.auth:
        pytest.skip("mosquitto_passwd is missing: no TLS listener with a password")
    out = tmp_path / "out.txt"
    creds = f"user: {mosquitto.user}\npassword: {mosquitto.password}"
    good = input_stream(
        tmp_path,
        "tls_good",
        f"""
        urls: [ {mosquitto.tls_url} ]
        topics: [ tls/data ]
        {textwrap.indent(creds, " " * 8).strip()}
        tls: {{ enabled: true, root_cas_file: {mosquitto.tls.ca} }}
        """,
        out,
    )
    bad = input_stream(
        tmp_path,
        "tls_bad",
        f"""
        urls: [ {mosquitto.tls_url} ]
        topics: [ tls/data ]
        {textwrap.indent(creds, " " * 8).strip()}
        tls: {{ enabled: true, root_cas_file: {mosquitto.tls.other_ca} }}
        """,
        tmp_path / "never.txt",
    )
    ok, wrong = Run(good), Run(bad)
    runs.extend([ok, wrong])
    ok.wait_log("connected to")
    wrong.wait_log("TLS certificate verification failed")
    pub = client(mosquitto)
    pub.username_pw_set(mosquitto.user, mosquitto.password)
    pub.tls_set(ca_certs=str(mosquitto.tls.ca))
    done = threading.Event()
    pub.on_connect = lambda *a: done.set()
    pub.connect("127.0.0.1", mosquitto.tls_port)
    pub.loop_start()
    assert done.wait(5)
    pub.publish("tls/data", b"secret", qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    wait_until(lambda: out_lines(out) == ["secret"], 10, "the TLS message")
    assert wrong.proc.poll() is None
    assert ok.stop() == 0
    assert wrong.stop() == 0
    line = next(ln for ln in wrong.logs().splitlines() if "verification failed" in ln)
    assert "mqtt_in" in line and mosquitto.tls_url in line


def test_malformed_payloads_pass_as_bytes_and_json_mapping_flags_them(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    out = tmp_path / "out.bin"
    dead = tmp_path / "dead.bin"
    cfg = input_stream(
        tmp_path,
        "malformed",
        f"""
        urls: [ {mosquitto.url} ]
        topics: [ bad/data ]
        qos: 1
        """,
        out,
        pipeline="""
        pipeline:
          processors:
            - mapping: 'root = this.merge({"ok": true})'
        """,
        output=(
            f'fallback: [ {{ reject_errored: {{ file: {{ path: "{out}" }} }} }}, '
            f'{{ file: {{ path: "{dead}" }} }} ]'
        ),
    )
    run = Run(cfg)
    runs.append(run)
    run.wait_log("connected to")
    payloads = [b'{"a": 1}', b"not json", b"\xff\xfe\x00binary", b'{"b": 2}']
    publish_all(mosquitto, "bad/data", payloads)
    wait_until(lambda: len(out_lines(out)) == 2 and dead.exists(), 10, "all four messages")
    time.sleep(0.3)
    assert run.proc.poll() is None
    assert run.stop() == 0
    assert [json.loads(x) for x in out_lines(out)] == [{"a": 1, "ok": True}, {"b": 2, "ok": True}]
    assert dead.read_bytes().split(b"\n")[:2] == [b"not json", b"\xff\xfe\x00binary"]


def test_output_without_broker_fails_messages_to_the_fallback(
    tmp_path: Path, runs: list[Run]
) -> None:
    dead = tmp_path / "dead.txt"
    url = f"tcp://127.0.0.1:{free_port()}"
    cfg = write(
        tmp_path / "nobroker.yaml",
        f"""
        input:
          generate:
            count: 20
            interval: ""
            batch_size: 10
            mapping: 'root = "msg-" + (counter() - 1).string()'
        output:
          fallback:
            - mqtt:
                urls: [ {url} ]
                topic: never
                write_timeout: 300ms
            - file:
                path: "{dead}"
              processors:
                - mapping: 'root = content().string() + " | " + @fallback_error'
        http: {{ enabled: false }}
        """,
    )
    run = Run(cfg)
    runs.append(run)
    assert run.proc.wait(30) == 0, run.logs()
    lines = out_lines(dead)
    assert sorted(line.split(" | ")[0] for line in lines) == sorted(f"msg-{i}" for i in range(20))
    for line in lines:
        assert f"not connected to {url}" in line and "connection refused" in line
    log = run.logs()
    assert "cannot connect to" in log and url in log and "connection refused" in log


def test_output_rides_out_a_broker_restart(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    n = 1500
    got: set[int] = set()
    sub = client(mosquitto, "restart-sub", clean_session=False)
    sub.on_message = lambda c, u, m: got.add(int(m.payload))
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_connect = lambda c, *a: c.subscribe("outrestart", qos=1)
    sub.connect("127.0.0.1", mosquitto.port, keepalive=5)
    sub.loop_start()
    assert subscribed.wait(5)
    cfg = write(
        tmp_path / "outrestart.yaml",
        f"""
        input:
          generate:
            count: {n}
            interval: 2ms
            mapping: 'root = counter() - 1'
        output:
          mqtt:
            urls: [ {mosquitto.url} ]
            topic: outrestart
            qos: 1
            keepalive: 2
            write_timeout: 15s
        http: {{ enabled: false }}
        """,
    )
    run = Run(cfg)
    runs.append(run)
    wait_until(lambda: len(got) > 200, 15, "the first messages")
    mosquitto.restart(down_for=1.0)
    try:
        assert run.proc.wait(40) == 0, run.logs()
        wait_until(lambda: len(got) == n, 15, "every message at the subscriber")
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert got == set(range(n))
    assert "reconnected to" in run.logs()


def test_a_shared_subscription_spreads_one_topic_over_two_streams(
    mosquitto: Mosquitto, tmp_path: Path, runs: list[Run]
) -> None:
    outs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for name, out in zip(("share_a", "share_b"), outs):
        cfg = input_stream(
            tmp_path,
            name,
            f"""
            urls: [ {mosquitto.url} ]
            topics: [ $share/gateways/shared/+ ]
            qos: 1
            """,
            out,
        )
        run = Run(cfg)
        runs.append(run)
        run.wait_log("connected to")
    time.sleep(0.5)  # both subscriptions in place
    n = 1000
    publish_all(mosquitto, "shared/line1", [str(i).encode() for i in range(n)])
    wait_until(lambda: sum(len(out_lines(o)) for o in outs) >= n, 20, "every message once")
    time.sleep(0.5)
    got = [out_lines(o) for o in outs]
    assert sorted(int(x) for lines in got for x in lines) == list(range(n))
    assert all(len(lines) > n // 10 for lines in got), [len(lines) for lines in got]


@pytest.mark.parametrize(("protocol", "one_round"), [("5", True), ("3.1.1", False)])
def test_a_slow_output_is_not_held_to_the_brokers_window_over_mqtt_5(
    mosquitto: Mosquitto, http_sink: HttpSink, tmp_path: Path, protocol: str, one_round: bool
) -> None:
    """Messages are acknowledged only once written. Over MQTT 3.1.1 Mosquitto sends 20
    unacknowledged messages first, so 100 messages to a server answering after 1.5 s take more
    than one round of answers; over MQTT 5 the input's receive maximum lets them all in at
    once: one round."""
    http_sink.delay = 1.5
    cfg = input_stream(
        tmp_path,
        f"window_{protocol.replace('.', '_')}",
        f"""
        urls: [ {mosquitto.url} ]
        topics: [ window/{protocol} ]
        qos: 1
        protocol_version: "{protocol}"
        """,
        tmp_path / "unused.txt",
        output=f"http_client: {{ url: '{http_sink.url()}w', max_in_flight: 128 }}",
    )
    run = Run(cfg)
    run.wait_log("connected to")
    try:
        time.sleep(0.3)
        started = time.monotonic()
        publish_all(mosquitto, f"window/{protocol}", [str(i).encode() for i in range(100)])
        http_sink.wait_for(100, timeout=20)
        took = time.monotonic() - started
    finally:
        run.stop()
    assert sorted(int(r.body) for r in http_sink.requests) == list(range(100))
    assert (took < 2.6) == one_round, f"100 messages took {took:.1f}s"
