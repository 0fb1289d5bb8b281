"""The MQTT hot-path frame codec: what it decodes, and what it leaves to paho."""

from __future__ import annotations

import pytest

from streamforge.connectors.mqtt_frames import (
    TopicCache,
    decode_publish,
    publish_frame,
    scan_frames,
)

PUBACK_7 = bytes((0x40, 2, 0, 7))


def scan(data: bytes, pos: int = 0, *, acks: bool = True) -> tuple[int, list, list[int]]:
    publishes: list = []
    ids: list[int] = []
    end = scan_frames(data, pos, TopicCache(), publishes, ids if acks else None)
    return end, publishes, ids


def test_publish_frames_decode_to_what_was_encoded() -> None:
    big = bytes(range(256)) * 600  # a remaining length of three bytes
    data = b"".join(
        (
            publish_frame(b"plant/a", b'{"v":1}', 1, False, 1),
            publish_frame("zählerstand/ü".encode(), b"", 0, True, 0),
            publish_frame(b"plant/b", big, 1, True, 65535),
            PUBACK_7,
        )
    )
    end, publishes, acks = scan(data)
    assert end == len(data)
    assert publishes == [
        ("plant/a", 1, False, False, 1, b'{"v":1}'),
        ("zählerstand/ü", 0, True, False, 0, b""),
        ("plant/b", 1, True, False, 65535, big),
    ]
    assert acks == [7]


def test_a_frame_cut_anywhere_is_left_for_the_next_read() -> None:
    whole = publish_frame(b"t", b"x" * 300, 1, False, 9)
    for cut in range(1, len(whole)):
        end, publishes, _ = scan(PUBACK_7 + whole[:cut])
        assert (end, publishes) == (4, [])
    end, publishes, _ = scan(PUBACK_7 + whole)
    assert end == 4 + len(whole) and publishes[0][4] == 9


@pytest.mark.parametrize(
    "frame",
    [
        bytes((0x34, 5, 0, 1, 116, 0, 1)),  # QoS 2: paho's flow
        bytes((0x90, 3, 0, 1, 1)),  # SUBACK
        bytes((0xD0, 0)),  # PINGRESP
        bytes((0x32, 4, 0, 2, 0xFF, 0xFE)),  # a topic that is not UTF-8
        bytes((0x32, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F)),  # a remaining length of five bytes
        bytes((0x32, 1, 0)),  # shorter than its topic length
    ],
)
def test_other_frames_stop_the_scan_where_they_start(frame: bytes) -> None:
    data = PUBACK_7 + frame + PUBACK_7
    assert scan(data)[:1] == (4,)


def test_acknowledgements_are_left_to_paho_when_not_asked_for() -> None:
    data = publish_frame(b"t", b"1", 0, False, 0) + PUBACK_7
    end, publishes, acks = scan(data, acks=False)
    assert end == len(data) - 4 and len(publishes) == 1 and acks == []


def test_decode_publish_reads_the_body_paho_has_read() -> None:
    frame = publish_frame(b"a/b", b"payload", 1, True, 300)
    body = bytearray(frame[2:])  # a one-byte remaining length
    assert decode_publish(frame[0], body, TopicCache()) == ("a/b", 1, True, False, 300, b"payload")
    assert decode_publish(0x34, body, TopicCache()) is None
    dup = decode_publish(frame[0] | 0x08, body, TopicCache())
    assert dup is not None and dup[3] is True


def test_mqtt5_publish_properties_are_skipped() -> None:
    # topic "t", packet id 5, properties: payload format indicator (0x01) = 1, then the payload
    body = bytes((0, 1, 116, 0, 5, 2, 0x01, 1)) + b"hello"
    frame = bytes((0x32, len(body))) + body
    publishes: list = []
    assert scan_frames(frame, 0, TopicCache(), publishes, None, v5=True) == len(frame)
    assert publishes == [("t", 1, False, False, 5, b"hello")]
    assert decode_publish(0x32, body, TopicCache(), v5=True) == publishes[0]
    cut = bytes((0, 1, 116, 0, 5, 9, 0x01))  # properties longer than the frame
    assert scan_frames(bytes((0x32, len(cut))) + cut, 0, TopicCache(), [], None, v5=True) == 0
