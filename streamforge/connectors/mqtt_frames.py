"""MQTT frames on the hot path: PUBLISH (QoS 0/1) and PUBACK, encoded and decoded in bulk.

PUBLISH frames are written as MQTT 3.1.1 has them; received ones may be MQTT 5 (`v5`), whose
properties are skipped (StreamForge announces no topic aliases, so the topic is always there).

paho handles the connection (CONNECT, SUBSCRIBE, keepalive, QoS 2, reconnects); per message
it builds message objects, takes locks and runs callbacks, tens of microseconds of Python
each. These helpers decode every complete PUBLISH and PUBACK frame of one read in one loop
and encode a batch of PUBLISH frames for one write.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PUBACK",
    "PUBLISH",
    "Publish",
    "TopicCache",
    "decode_publish",
    "publish_frame",
    "publish_of",
    "remaining_length",
    "scan_frames",
]

PUBLISH = 0x30
PUBACK = 0x40

#: (topic, qos, retain, dup, packet id, payload) of one received PUBLISH
Publish = tuple[str, int, bool, bool, int, bytes]


def publish_of(message: Any) -> Publish:
    """The Publish of a message paho decoded itself (QoS 2, or a paho without the bulk path)."""
    return (
        message.topic,
        int(message.qos),
        bool(message.retain),
        bool(message.dup),
        int(message.mid),
        bytes(message.payload),
    )


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length."""
    if n < 128:
        return bytes((n,))
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def publish_frame(topic: bytes, payload: bytes, qos: int, retain: bool, mid: int) -> bytes:
    """One PUBLISH frame (MQTT 3.1.1: no properties); `mid` is ignored at QoS 0."""
    head = PUBLISH | (qos << 1) | (1 if retain else 0)
    ident = mid.to_bytes(2, "big") if qos else b""
    size = 2 + len(topic) + len(ident) + len(payload)
    return b"".join(
        (bytes((head,)), remaining_length(size), len(topic).to_bytes(2, "big"), topic, ident,
         payload)
    )  # fmt: skip


class TopicCache:
    """Topic names decoded once: a subscriber sees the same few topics again and again."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._names: dict[bytes, str] = {}

    def name(self, raw: bytes) -> str:
        """The topic as text; raises UnicodeDecodeError for a name that is not UTF-8."""
        name = self._names.get(raw)
        if name is None:
            name = raw.decode("utf-8")
            if len(self._names) >= self.LIMIT:
                self._names.clear()
            self._names[raw] = name
        return name


def _skip_properties(data: bytes | bytearray, at: int, end: int) -> int:
    """Where a PUBLISH payload starts after its MQTT 5 properties at `at`; -1 if malformed."""
    size = 0
    shift = 0
    while True:
        if at >= end or shift > 21:
            return -1
        byte = data[at]
        at += 1
        size |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    at += size
    return at if at <= end else -1


def scan_frames(
    data: bytes,
    pos: int,
    topics: TopicCache | None,
    publishes: list[Publish],
    acks: list[int] | None,
    *,
    v5: bool = False,
) -> int:
    """Decode complete frames from `pos`: PUBLISH at QoS 0/1 (when `topics` is given) into
    `publishes`, PUBACK (when `acks` is given) into `acks`.

    Stops at the first frame of another kind, a QoS 2 or malformed one, or one that is not
    complete yet, and returns its position: whatever is left there is paho's to read.
    """
    end_of_data = len(data)
    while pos < end_of_data:
        first = data[pos]
        kind = first & 0xF0
        if kind == PUBACK:
            if acks is None or pos + 4 > end_of_data or data[pos + 1] != 2:
                return pos
            acks.append((data[pos + 2] << 8) | data[pos + 3])
            pos += 4
            continue
        if kind != PUBLISH or topics is None:
            return pos
        qos = (first >> 1) & 3
        if qos > 1:
            return pos
        i = pos + 1
        size = 0
        shift = 0
        while True:
            if i >= end_of_data or shift > 21:
                return pos
            byte = data[i]
            i += 1
            size |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        end = i + size
        if end > end_of_data or size < 2:
            return pos
        topic_end = i + 2 + ((data[i] << 8) | data[i + 1])
        body = topic_end + 2 if qos else topic_end
        if body > end:
            return pos
        if v5:
            body = _skip_properties(data, body, end)
            if body < 0:
                return pos
        try:
            topic = topics.name(data[i + 2 : topic_end])
        except UnicodeDecodeError:
            return pos
        mid = (data[topic_end] << 8) | data[topic_end + 1] if qos else 0
        publishes.append((topic, qos, bool(first & 1), bool(first & 8), mid, data[body:end]))
        pos = end
    return pos


def decode_publish(
    first: int, body: bytes | bytearray, topics: TopicCache, *, v5: bool = False
) -> Publish | None:
    """A PUBLISH whose fixed header byte is `first` and whose rest is `body` (paho read it);
    None for QoS 2 or a frame to leave to paho."""
    qos = (first >> 1) & 3
    if qos > 1 or len(body) < 2:
        return None
    topic_end = 2 + ((body[0] << 8) | body[1])
    start = topic_end + 2 if qos else topic_end
    if start > len(body):
        return None
    if v5:
        start = _skip_properties(body, start, len(body))
        if start < 0:
            return None
    try:
        topic = topics.name(bytes(body[2:topic_end]))
    except UnicodeDecodeError:
        return None
    mid = (body[topic_end] << 8) | body[topic_end + 1] if qos else 0
    return (topic, qos, bool(first & 1), bool(first & 8), mid, bytes(body[start:]))
