"""The `avro` processor and its codec: JSON <-> Avro values, logical types, Confluent framing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from component_helpers import build

from streamforge.message import Message
from streamforge.processors.avro.codec import AvroCodec
from streamforge.processors.avro.wire import AvroValueError, confluent_frame, confluent_schema_id

QUALITY = {"type": "enum", "name": "Quality", "symbols": ["GOOD", "SUSPECT", "UNCERTAIN", "BAD"]}
READING = {
    "type": "record",
    "name": "Reading",
    "namespace": "io.streamforge",
    "fields": [
        {"name": "asset_id", "type": "string"},
        {"name": "value", "type": ["null", "double", "long", "boolean", "string"]},
        {"name": "unit", "type": ["null", "string"], "default": None},
        {"name": "quality", "type": QUALITY},
        {
            "name": "timestamps",
            "type": {
                "type": "record",
                "name": "Timestamps",
                "fields": [
                    {"name": "device", "type": {"type": "long", "logicalType": "timestamp-micros"}},
                    {
                        "name": "gateway",
                        "type": {"type": "long", "logicalType": "timestamp-millis"},
                    },
                ],
            },
        },
        {"name": "samples", "type": {"type": "array", "items": "double"}, "default": []},
        {"name": "labels", "type": {"type": "map", "values": "string"}, "default": {}},
    ],
}
DOC = {
    "asset_id": "boiler-1",
    "value": 21.5,
    "unit": "degC",
    "quality": "GOOD",
    "timestamps": {"device": "2024-05-01T12:00:00.123456Z", "gateway": "2024-05-01T12:00:00.5Z"},
    "samples": [21.0, 21.5],
    "labels": {"line": "3"},
}


def avro(conf: dict[str, Any]) -> Any:
    return build("processor", "avro", conf)


def run(conf: dict[str, Any], *messages: Message) -> list[Message]:
    return avro(conf).process_batch(list(messages))  # type: ignore[no-any-return]


def from_json(doc: Any, **conf: Any) -> Message:
    (msg,) = run({"operator": "from_json", "schema": json.dumps(READING), **conf}, Message(
        json.dumps(doc)
    ))  # fmt: skip
    return msg


def to_json(data: bytes, **conf: Any) -> Message:
    (msg,) = run({"operator": "to_json", "schema": json.dumps(READING), **conf}, Message(data))
    return msg


# -- the codec -----------------------------------------------------------------------------------


def test_rfc3339_strings_become_timestamps_in_the_schemas_unit_and_come_back() -> None:
    codec = AvroCodec(READING)
    data = codec.encode(DOC)
    native: Any = fastavro.schemaless_reader(io.BytesIO(data), codec.parsed, None)
    assert native["timestamps"]["device"].isoformat() == "2024-05-01T12:00:00.123456+00:00"
    assert native["timestamps"]["gateway"].isoformat() == "2024-05-01T12:00:00.500000+00:00"
    assert codec.decode(data) == DOC


def test_timestamps_with_an_offset_or_as_unix_numbers_are_accepted() -> None:
    codec = AvroCodec(READING)
    doc = {**DOC, "timestamps": {"device": "2024-05-01T14:00:00+02:00", "gateway": 1714564800500}}
    back = codec.decode(codec.encode(doc))
    assert back["timestamps"] == {
        "device": "2024-05-01T12:00:00Z",
        "gateway": "2024-05-01T12:00:00.5Z",
    }


def test_the_bytes_are_what_fastavro_writes_for_the_same_values() -> None:
    plain = {"type": "record", "name": "P", "fields": [{"name": "a", "type": "int"},
             {"name": "b", "type": ["null", "string"]}]}  # fmt: skip
    codec = AvroCodec(plain)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(plain), {"a": 7, "b": "x"})
    assert codec.encode({"a": 7, "b": "x"}) == buf.getvalue()


def test_unions_raw_json_takes_and_gives_bare_values() -> None:
    codec = AvroCodec(READING, raw_json=True)
    for value in (None, 3.25, 42, True, "open"):
        assert codec.decode(codec.encode({**DOC, "value": value}))["value"] == value


def test_unions_avro_json_wraps_values_with_their_type_name() -> None:
    codec = AvroCodec(READING, raw_json=False)
    doc = {**DOC, "value": {"long": 42}, "unit": {"string": "degC"}}
    back = codec.decode(codec.encode(doc))
    assert back["value"] == {"long": 42} and back["unit"] == {"string": "degC"}
    assert codec.decode(codec.encode({**DOC, "value": None}))["value"] is None
    # a bare value that fits one branch is taken too
    assert codec.decode(codec.encode({**DOC, "value": 1.5}))["value"] == {"double": 1.5}


def test_named_types_in_unions_are_named_by_their_full_name() -> None:
    schema = {"type": "record", "name": "Box", "namespace": "ns", "fields": [
        {"name": "item", "type": ["null", QUALITY, {"type": "record", "name": "Inner",
                                                    "fields": [{"name": "n", "type": "int"}]}]},
    ]}  # fmt: skip
    wrapped = AvroCodec(schema, raw_json=False)
    assert wrapped.decode(wrapped.encode({"item": {"ns.Quality": "BAD"}})) == {
        "item": {"ns.Quality": "BAD"}
    }
    assert wrapped.decode(wrapped.encode({"item": {"Inner": {"n": 3}}})) == {
        "item": {"ns.Inner": {"n": 3}}
    }
    raw = AvroCodec(schema, raw_json=True)
    assert raw.decode(raw.encode({"item": {"n": 3}})) == {"item": {"n": 3}}
    assert raw.decode(raw.encode({"item": "BAD"})) == {"item": "BAD"}


def test_decimal_date_uuid_and_bytes() -> None:
    schema = {"type": "record", "name": "L", "fields": [
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                   "precision": 9, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "raw", "type": "bytes"},
        {"name": "code", "type": {"type": "fixed", "name": "Code", "size": 2}},
    ]}  # fmt: skip
    codec = AvroCodec(schema)
    doc = {
        "price": "1234.50",
        "day": "2024-05-01",
        "id": "6a2f41a3-c54c-fce8-32d2-0324e1c32e22",
        "raw": "\u00ff\u0000A",
        "code": "ok",
    }
    assert codec.decode(codec.encode(doc)) == doc
    assert codec.decode(codec.encode({**doc, "price": 3}))["price"] == "3.00"
    with pytest.raises(AvroValueError, match=r"^price: '1\.234' has more than 2 decimal places"):
        codec.encode({**doc, "price": "1.234"})


def test_a_value_that_does_not_fit_names_the_field() -> None:
    codec = AvroCodec(READING)
    cases = [
        ({**DOC, "quality": "GREAT"}, r"^quality: 'GREAT' is not enum io.streamforge.Quality"),
        ({**DOC, "value": [1]}, r"^value: \[1\] fits none of the union \[null, double"),
        (
            {**DOC, "timestamps": {"device": "yesterday", "gateway": 0}},
            r"^timestamps.device: 'yesterday' is not a time",
        ),
        ({**DOC, "samples": [1.0, "x"]}, r"^samples: 'x' is not double"),
        (
            {k: v for k, v in DOC.items() if k != "asset_id"},
            r"^asset_id: missing \(expected string",
        ),
    ]
    for doc, expected in cases:
        with pytest.raises(AvroValueError, match=expected):
            codec.encode(doc)


def test_bytes_that_are_not_avro_of_the_schema_fail_clearly() -> None:
    codec = AvroCodec(READING)
    data = codec.encode(DOC)
    with pytest.raises(AvroValueError, match="not Avro data of this schema"):
        codec.decode(data[:3])
    with pytest.raises(AvroValueError, match="2 bytes left after the value"):
        codec.decode(data + b"xx")


def test_recursive_schemas_compile() -> None:
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "next", "type": ["null", "Node"], "default": None},
    ]}  # fmt: skip
    codec = AvroCodec(node, raw_json=True)
    doc = {"at": "2024-05-01T12:00:00Z", "next": {"at": "2024-05-01T12:00:01Z", "next": None}}
    assert codec.decode(codec.encode(doc)) == doc


# -- the Confluent wire format -------------------------------------------------------------------


def test_confluent_framing_is_magic_byte_and_big_endian_id() -> None:
    framed = confluent_frame(258, b"body")
    assert framed == b"\x00\x00\x00\x01\x02body"
    assert confluent_schema_id(framed) == 258
    with pytest.raises(AvroValueError, match="too short"):
        confluent_schema_id(b"\x00\x00")
    with pytest.raises(AvroValueError, match="first byte is 0x7b, expected the magic byte"):
        confluent_schema_id(b'{"a": 1}')


# -- the processor -------------------------------------------------------------------------------


def test_from_json_then_to_json_round_trips_a_document() -> None:
    encoded = from_json(DOC, avro_raw_json=True)
    assert encoded.error is None
    assert encoded.payload == AvroCodec(READING).encode(DOC)
    decoded = to_json(encoded.payload, avro_raw_json=True)
    assert decoded.error is None
    assert json.loads(decoded.payload) == DOC


def test_confluent_wire_format_with_a_schema_id() -> None:
    encoded = from_json(DOC, wire_format="confluent", schema_id=7, avro_raw_json=True)
    assert encoded.payload[:5] == b"\x00\x00\x00\x00\x07"
    decoded = to_json(encoded.payload, wire_format="confluent", avro_raw_json=True)
    assert json.loads(decoded.payload) == DOC
    assert decoded.metadata["schema_id"] == 7
    other = to_json(encoded.payload, wire_format="confluent", schema_id=8)
    assert other.error == ("avro: schema id 7 in the message, but the schema configured is id 8")
    raw = to_json(AvroCodec(READING).encode(DOC), wire_format="confluent")
    assert raw.error is not None and "magic byte" in raw.error


def test_textual_encoding_is_avro_json() -> None:
    encoded = from_json(DOC, encoding="textual", avro_raw_json=True)
    text = json.loads(encoded.payload)
    assert text["value"] == {"double": 21.5}
    assert text["timestamps"]["device"] == 1714564800123456
    decoded = to_json(encoded.payload, encoding="textual", avro_raw_json=True)
    assert json.loads(decoded.payload) == DOC


def test_a_bad_message_fails_alone_and_keeps_its_payload() -> None:
    proc = avro({"operator": "from_json", "schema": json.dumps(READING), "avro_raw_json": True})
    bad = json.dumps({**DOC, "quality": "GREAT"})
    out = proc.process_batch([Message(json.dumps(DOC)), Message(bad), Message("not json")])
    assert out[0].error is None
    assert out[1].error is not None
    assert out[1].error.startswith("avro: quality: 'GREAT' is not enum")
    assert out[1].payload == bad.encode()
    assert out[2].error is not None and out[2].error.startswith("avro: failed to parse")


def test_schema_path_reads_a_file_or_a_file_url(tmp_path: Path) -> None:
    path = tmp_path / "reading.avsc"
    path.write_text(json.dumps(READING))
    for ref in (str(path), path.as_uri()):
        proc = avro({"operator": "from_json", "schema_path": ref, "avro_raw_json": True})
        (msg,) = proc.process_batch([Message(json.dumps(DOC))])
        assert msg.error is None


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"operator": "from_json"}, "schema: required"),
        ({"operator": "to_json", "schema": "{", "schema_path": "x"}, "either schema or"),
        ({"operator": "to_json", "schema": "{"}, "schema: schema is not JSON"),
        ({"operator": "to_json", "schema": '{"type": "nope"}'}, "schema: not a valid Avro"),
        ({"operator": "to_json", "schema_path": "/no/such.avsc"}, "schema_path: No such file"),
        ({"operator": "encode", "schema": '"string"'}, "operator: 'encode' is not one of"),
        (
            {"operator": "from_json", "schema": '"string"', "wire_format": "confluent"},
            "schema_id: required with wire_format confluent",
        ),
        (
            {
                "operator": "to_json",
                "schema": '"string"',
                "wire_format": "confluent",
                "encoding": "textual",
            },
            "wire_format: confluent frames the binary encoding only",
        ),
    ],  # fmt: skip
)
def test_config_errors_name_the_field(conf: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        avro(conf)
