"""A minimal MQTT 3.1.1 QoS 1 publisher over a plain socket, cheap enough to load a broker.

paho spends tens of microseconds of Python per message (message objects, locks, callbacks);
this publisher sends CONNECT once, then PUBLISH packets built from byte templates in bursts
with one `sendall`, and reads PUBACKs back in bulk. Every message is a QoS 1 PUBLISH with its
own packet id and counts as sent once the broker acknowledged it. Each JSON body is encoded
when it is sent, so it carries its own send time.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from typing import Any

from streamforge.connectors.mqtt_frames import remaining_length

WORDS = ["pump", "valve", "motor", "sensor", "boiler", "fan", "press", "drum"]
#: most messages built and written by one sendall
BURST = 200
_PUBACK = 0x40
_CONNACK = 0x20


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def read_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly `n` bytes from a blocking socket (the handshake's CONNACK, SUBACK)."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def connect_packet(client_id: str) -> bytes:
    """CONNECT with a clean session and no keepalive."""
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _utf8(client_id)
    return bytes([0x10]) + remaining_length(len(body)) + body


class Publisher:
    """One connection to the broker; `publish_burst` writes, `read_acks` counts PUBACKs."""

    def __init__(self, host: str, port: int, client_id: str, topic: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = read_exact(self.sock, 4)
        if connack[0] != _CONNACK or connack[3] != 0:
            raise RuntimeError(f"broker refused the connection: {connack!r}")
        self.sock.setblocking(False)
        self.topic = _utf8(topic)
        self.sent = 0
        self.acked = 0
        self._rest = b""
        self._pid = 0

    def publish_burst(self, bodies: list[bytes]) -> None:
        """Write one QoS 1 PUBLISH per body, packet ids 1..65535 in turn."""
        topic = self.topic
        pid = self._pid
        parts = []
        for body in bodies:
            pid = pid % 0xFFFF + 1
            n = len(topic) + 2 + len(body)
            head = bytes((0x32, n)) if n < 128 else b"\x32" + remaining_length(n)
            parts.append(head + topic + pid.to_bytes(2, "big") + body)
        self._pid = pid
        data = b"".join(parts)
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                self.read_acks()
                select.select([self.sock], [self.sock], [], 0.05)
                continue
            view = view[sent:]
        self.sent += len(bodies)

    def read_acks(self, timeout: float = 0.0) -> int:
        """Read what the broker sent (waiting up to `timeout`); returns PUBACKs counted."""
        if timeout > 0 and not select.select([self.sock], [], [], timeout)[0]:
            return 0
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return 0
        if not data:
            raise ConnectionError("broker closed the connection")
        buf = self._rest + data if self._rest else data
        whole = len(buf) // 4
        # a run of PUBACKs: every 4th byte is the type, every following one the length 2
        if buf[0 : whole * 4 : 4] == b"\x40" * whole and buf[1 : whole * 4 : 4] == b"\x02" * whole:
            self._rest = buf[whole * 4 :]
            self.acked += whole
            return whole
        return self._parse(buf)

    def _parse(self, buf: bytes) -> int:
        count, i = 0, 0
        while i + 2 <= len(buf):
            length, shift, j = 0, 0, i + 1
            while j < len(buf):
                byte = buf[j]
                length |= (byte & 0x7F) << shift
                shift += 7
                j += 1
                if not byte & 0x80:
                    break
            else:
                break
            if j + length > len(buf):
                break
            if buf[i] & 0xF0 == _PUBACK:
                count += 1
            i = j + length
        self._rest = buf[i:]
        self.acked += count
        return count

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        self.sock.close()


def publish(
    port: int,
    topic: str,
    phase: str,
    rate: float | None,
    seconds: float,
    inflight: int,
    first_id: int,
    out: Any,
    received: Any = None,
    lead: int = 0,
    share: int = 1,
) -> None:
    """Publish readings with QoS 1 at `rate` msg/s (None: as fast as the windows allow).

    At most `inflight` messages are unacknowledged by the broker at a time. With `received`
    (a shared counter of messages the receiver got) and `lead`, this publisher's share
    (1/`share`) of the messages sent but not yet received stays within `lead`/`share`: as
    fast as the system under test delivers, without an ever-growing backlog in the broker.
    Puts the counts, the time spent publishing, the first send time and this process's CPU
    time on `out`.
    """
    pub = Publisher("127.0.0.1", port, f"bench-{phase}-{first_id}", topic)
    inflight = min(inflight, 0xFFFE)
    template = '{"phase":"%s","id":%d,"ts":%d,"x":%d.%d,"y":%d,"s":"%s"}'
    words = WORDS
    now_ns = time.time_ns
    cpu0 = time.process_time()
    start = time.monotonic()
    first_ns = now_ns()
    end = start + seconds
    i = first_id
    base = received.value if received is not None else 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * rate) + 1 if rate else pub.sent + BURST
        if lead and received is not None:
            ahead = pub.sent - (received.value - base) // share
            due = min(due, pub.sent + lead // share - ahead)
        room = inflight - (pub.sent - pub.acked)
        n = min(due - pub.sent, room, BURST)
        if n > 0:
            bodies = []
            for k in range(i, i + n):
                doc = template % (phase, k, now_ns(), k >> 1, 5 if k & 1 else 0, k % 1000,
                                  words[k & 7])  # fmt: skip
                bodies.append(doc.encode())
            i += n
            pub.publish_burst(bodies)
            pub.read_acks()
        elif room <= 0:
            pub.read_acks(0.01)
        else:
            wait = (pub.sent + 1) / rate - (time.monotonic() - start) if rate else 0.0
            pub.read_acks(min(max(wait, 0.001), 0.01))
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + 30
    while pub.acked < pub.sent and time.monotonic() < deadline:
        pub.read_acks(0.05)
    cpu = time.process_time() - cpu0
    pub.close()
    out.put(
        {
            "sent": pub.sent,
            "acked": pub.acked,
            "seconds": elapsed,
            "first_ns": first_ns,
            "cpu": cpu,
        }
    )
