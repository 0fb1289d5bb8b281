"""The Confluent wire format of Avro messages, and the error Avro codecs raise (no fastavro).

`_avro_codec` needs fastavro; processors import it when they are built, and these pieces
whenever they like.
"""

from __future__ import annotations

__all__ = ["HEADER_SIZE", "AvroValueError", "confluent_frame", "confluent_schema_id"]

#: Confluent wire format: magic byte 0, then the schema id as a 4-byte big-endian integer
HEADER_SIZE = 5
_MAX_ID = 2**31 - 1


class AvroValueError(ValueError):
    """A value does not fit the schema, or bytes are not Avro of it; the text names the field."""


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    """Avro bytes in the Confluent wire format: magic byte 0 and the 4-byte big-endian id."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def confluent_schema_id(data: bytes) -> int:
    """The schema id in a Confluent wire-format header; AvroValueError when there is none."""
    if len(data) < HEADER_SIZE:
        raise AvroValueError(
            f"{len(data)} bytes are too short for the Confluent wire format "
            f"(magic byte and 4-byte schema id)"
        )
    if data[0] != 0:
        raise AvroValueError(
            f"not the Confluent wire format: first byte is {data[0]:#04x}, expected the magic "
            "byte 0x00"
        )
    return int.from_bytes(data[1:HEADER_SIZE], "big")
