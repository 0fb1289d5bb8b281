"""A minimal MQTT 3.1.1 subscriber over a plain socket, cheap enough not to limit a benchmark.

paho spends tens of microseconds of Python per message and tops out near 12k msg/s per
process; this subscriber sends CONNECT and SUBSCRIBE once, reads what the broker sends in bulk
(one `recv` of up to 1 MB), cuts PUBLISH frames out of the buffer and parses each JSON body
with orjson, taking well over 60k msg/s in one process. At QoS 1 it acknowledges every
PUBLISH of a `recv` with one `sendall` of PUBACKs; QoS 0 (the default) has no acknowledgements
and no broker window towards the receiver, which is what a measuring client wants.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from typing import Any

import orjson
from _mqtt_publisher import _utf8, connect_packet, read_exact
from mqtt_to_kafka import Tally, _serve

_CONNACK = 0x20
_SUBACK = 0x90
_PUBLISH = 0x30


def subscribe_packet(topic: str, qos: int, packet_id: int = 1) -> bytes:
    """SUBSCRIBE to one topic filter at `qos`."""
    body = struct.pack("!H", packet_id) + _utf8(topic) + bytes([qos])
    return bytes([0x82, len(body)]) + body


class Subscriber:
    """One connection subscribed to `topic`; `poll` returns the payloads that arrived."""

    def __init__(self, host: str, port: int, client_id: str, topic: str, qos: int = 0) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.sendall(connect_packet(client_id))
        connack = read_exact(self.sock, 4)
        if connack[0] != _CONNACK or connack[3] != 0:
            raise RuntimeError(f"broker refused the connection: {connack!r}")
        self.sock.sendall(subscribe_packet(topic, qos))
        suback = read_exact(self.sock, 5)
        if suback[0] != _SUBACK or suback[4] > 2:
            raise RuntimeError(f"broker refused the subscription: {suback!r}")
        self.sock.setblocking(False)
        self._rest = b""

    def poll(self, timeout: float) -> tuple[list[bytes], int]:
        """Payloads of the PUBLISH frames read within `timeout`, and the time they were read."""
        if not select.select([self.sock], [], [], timeout)[0]:
            return [], 0
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return [], 0
        now = time.time_ns()
        if not data:
            raise ConnectionError("broker closed the connection")
        return self._frames(self._rest + data if self._rest else data), now

    def _frames(self, buf: bytes) -> list[bytes]:
        payloads: list[bytes] = []
        acks: list[bytes] = []
        i, n = 0, len(buf)
        while i + 2 <= n:
            first = buf[i]
            length, shift, j = 0, 0, i + 1
            while j < n:
                byte = buf[j]
                length |= (byte & 0x7F) << shift
                shift += 7
                j += 1
                if byte < 0x80:
                    break
            else:
                break
            end = j + length
            if end > n:
                break
            if first & 0xF0 == _PUBLISH:
                start = j + 2 + (buf[j] << 8 | buf[j + 1])
                if first & 0x06:
                    acks.append(b"\x40\x02" + buf[start : start + 2])
                    start += 2
                payloads.append(buf[start:end])
            i = end
        self._rest = buf[i:]
        if acks:
            self._send(b"".join(acks))
        return payloads

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                select.select([], [self.sock], [], 0.05)

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        self.sock.close()


class FastTally(Tally):
    """`Tally` fed with orjson-parsed bodies, one receive time per buffer."""

    def add_many(self, payloads: list[bytes], now_ns: int) -> None:
        loads = orjson.loads
        mono = time.monotonic()
        for payload in payloads:
            doc = loads(payload)
            phase = doc["phase"]
            ids = self.ids.get(phase)
            if ids is None:
                ids = self.ids[phase] = set()
                self.count[phase], self.lat[phase] = 0, []
                self.first[phase] = now_ns
            ids.add(doc["id"])
            self.count[phase] += 1
            self.lat[phase].append(now_ns - doc["ts"])
            self.last[phase] = now_ns
            self.last_mono[phase] = mono
        self.total += len(payloads)


def receive_raw(
    port: int,
    topic: str,
    control: Any,
    results: Any,
    ready: Any,
    received: Any,
    qos: int = 0,
) -> None:
    """Receive `topic` until told to stop, reporting each phase like mqtt_to_kafka's receivers."""
    sub = Subscriber("127.0.0.1", port, "bench-receiver", topic, qos)
    ready.set()
    tally = FastTally()

    def poll() -> None:
        # drain what is there, but hand back to _serve (shared counter, control) every 20 ms
        until = time.monotonic() + 0.02
        payloads, now = sub.poll(0.05)
        while payloads:
            tally.add_many(payloads, now)
            if time.monotonic() > until:
                return
            payloads, now = sub.poll(0.0)

    try:
        _serve(poll, tally, control, results, received)
    finally:
        sub.close()
