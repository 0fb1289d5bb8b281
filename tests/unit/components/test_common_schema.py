"""Benthos' common schema (CDC `schema` metadata) as Avro and JSON Schema: every type, names
Avro accepts, and the schemas neither format can express refused with the field's path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft7Validator

from streamforge.processors.avro.codec import AvroCodec
from streamforge.processors.avro.common_schema import (
    CommonSchemaError,
    common_to_avro,
    common_to_json_schema,
    parse_common_schema,
    schema_key,
)


def avro(schema: Any, record: str = "Row", namespace: str = "") -> Any:
    return common_to_avro(parse_common_schema(schema), record, namespace)


def field_types(schema: Any) -> dict[str, Any]:
    return {f["name"]: f["type"] for f in avro(schema)["fields"]}


def obj(*children: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "OBJECT", "children": list(children), **extra}


def test_scalar_and_logical_types_map_to_avro() -> None:
    types = field_types(
        obj(
            {"type": "BOOLEAN", "name": "b"},
            {"type": "INT32", "name": "i"},
            {"type": "INT64", "name": "l"},
            {"type": "FLOAT32", "name": "f"},
            {"type": "FLOAT64", "name": "d"},
            {"type": "STRING", "name": "s"},
            {"type": "BYTE_ARRAY", "name": "raw"},
            {"type": "UUID", "name": "u"},
            {"type": "DATE", "name": "day"},
            {"type": "TIMESTAMP", "name": "legacy"},
            {"type": "TIMESTAMP", "name": "local", "unit": "MICROS", "adjust_to_utc": False},
            {"type": "TIMESTAMP", "name": "secs", "unit": "SECONDS", "adjust_to_utc": True},
            {"type": "TIME_OF_DAY", "name": "t", "unit": "MICROS", "adjust_to_utc": False},
            {"type": "DECIMAL", "name": "price", "precision": 12, "scale": 3},
        )
    )
    assert types["b"] == "boolean" and types["i"] == "int" and types["l"] == "long"
    assert types["f"] == "float" and types["d"] == "double" and types["raw"] == "bytes"
    assert types["u"] == {"type": "string", "logicalType": "uuid"}
    assert types["day"] == {"type": "int", "logicalType": "date"}
    # a TIMESTAMP without parameters is a UTC instant in milliseconds, as in Benthos
    assert types["legacy"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert types["local"] == {"type": "long", "logicalType": "local-timestamp-micros"}
    assert types["secs"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert types["t"] == {"type": "long", "logicalType": "time-micros"}
    assert types["price"] == {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": 12,
        "scale": 3,
    }


def test_optional_fields_are_nullable_with_a_null_default() -> None:
    schema = avro(
        obj(
            {"type": "STRING", "name": "note", "optional": True},
            {
                "type": "UNION",
                "name": "value",
                "optional": True,
                "children": [{"type": "INT64"}, {"type": "STRING"}],
            },
        )
    )
    note, value = schema["fields"]
    assert note == {"name": "note", "type": ["null", "string"], "default": None}
    # null joins the union's branches: Avro has no union inside a union
    assert value["type"] == ["null", "long", "string"]
    codec = AvroCodec(json.dumps(schema), raw_json=True)
    for doc in ({"note": None, "value": 4}, {"note": "x", "value": "four"}):
        assert codec.decode(codec.encode(doc)) == doc


def test_nested_records_get_names_avro_can_tell_apart() -> None:
    address = {
        "type": "OBJECT",
        "name": "address",
        "children": [{"type": "STRING", "name": "city"}],
    }
    billing = {"type": "OBJECT", "name": "billing", "children": [address]}
    lines = {"type": "ARRAY", "name": "lines", "children": [obj({"type": "INT64", "name": "qty"})]}
    schema = avro(obj(address, billing, lines, name="orders"), namespace="shop")
    assert (schema["name"], schema["namespace"]) == ("orders", "shop")
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert types["address"]["name"] == "address"
    assert types["billing"]["fields"][0]["type"]["name"] == "billing_address"
    assert types["lines"]["items"]["name"] == "lines_item"
    codec = AvroCodec(json.dumps(schema), raw_json=True)
    doc = {"address": {"city": "a"}, "billing": {"address": {"city": "b"}}, "lines": [{"qty": 2}]}
    assert codec.decode(codec.encode(doc)) == doc


def test_the_root_record_takes_the_schemas_name_else_the_given_one() -> None:
    assert avro(obj({"type": "INT64", "name": "id"}), "Fallback")["name"] == "Fallback"
    named = obj({"type": "INT64", "name": "id"}, name="readings")
    assert avro(named, "Fallback")["name"] == "readings"


def test_values_of_a_cdc_row_encode_by_the_converted_schema() -> None:
    schema = avro(
        obj(
            {"type": "TIMESTAMP", "name": "at", "unit": "MICROS", "adjust_to_utc": True},
            {"type": "DECIMAL", "name": "total", "precision": 10, "scale": 2},
            {"type": "DATE", "name": "day"},
        )
    )
    codec = AvroCodec(json.dumps(schema), raw_json=True)
    row = {"at": "2024-05-01T12:00:00.123456Z", "total": "12.50", "day": "2024-05-01"}
    assert codec.decode(codec.encode(row)) == row


BAD = [
    ("not json", "the text is not JSON"),
    ({"type": "OBJEKT"}, "'OBJEKT' is not a common schema type"),
    (obj({"type": "STRING", "name": "a", "children": [{"type": "STRING"}]}), "a: STRING is a leaf"),
    (obj({"type": "DECIMAL", "name": "p"}), "p: DECIMAL needs integer precision and scale"),
    (obj({"type": "DECIMAL", "name": "p", "precision": 40, "scale": 2}), "precision must be 1..38"),
    (obj({"type": "TIME_OF_DAY", "name": "t"}), "t: TIME_OF_DAY needs a unit"),
    (obj({"type": "INT64", "name": "n", "unit": "MILLIS"}), "only belong to TIMESTAMP"),
    (obj({"type": "ARRAY", "name": "xs"}), "xs: ARRAY needs exactly one child"),
]


@pytest.mark.parametrize(("schema", "message"), BAD, ids=[m for _, m in BAD])
def test_malformed_schemas_are_refused_naming_the_field(schema: Any, message: str) -> None:
    with pytest.raises(CommonSchemaError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_common_schema(schema)


UNFIT = [
    (obj({"type": "BIG_DECIMAL", "name": "total"}), "total: BIG_DECIMAL has no fixed precision"),
    (
        obj({"type": "TIME_OF_DAY", "name": "t", "unit": "NANOS", "adjust_to_utc": False}),
        "t: Avro has no time of day in nanoseconds",
    ),
    (obj({"type": "STRING", "name": "order-id"}), "'order-id' is not a valid Avro field name"),
    (
        obj({"type": "STRING", "name": "a"}, {"type": "INT64", "name": "a"}),
        "a: the field appears twice",
    ),
]


@pytest.mark.parametrize(("schema", "message"), UNFIT, ids=[m for _, m in UNFIT])
def test_schemas_avro_cannot_express_are_refused(schema: Any, message: str) -> None:
    with pytest.raises(CommonSchemaError) as caught:
        avro(schema)
    assert message in str(caught.value)


def test_json_schema_checks_documents_of_the_common_schema() -> None:
    schema = common_to_json_schema(
        parse_common_schema(
            obj(
                {"type": "INT64", "name": "id"},
                {"type": "STRING", "name": "note", "optional": True},
                {"type": "DECIMAL", "name": "total", "precision": 6, "scale": 2},
                {"type": "MAP", "name": "tags", "children": [{"type": "STRING"}]},
                {"type": "BIG_DECIMAL", "name": "exact"},
            )
        )
    )
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["id", "total", "tags", "exact"]
    check = Draft7Validator(schema)
    good = {"id": 1, "note": None, "total": "1234.50", "tags": {"a": "b"}, "exact": "1.000001"}
    assert not list(check.iter_errors(good))
    for bad in ({**good, "total": "12345.50"}, {**good, "id": "1"}, {**good, "tags": {"a": 1}}):
        assert list(check.iter_errors(bad)), bad


def test_the_cache_key_is_the_fingerprint_when_there_is_one() -> None:
    a = obj({"type": "INT64", "name": "id"}, fingerprint="abc")
    b = obj({"type": "STRING", "name": "id"}, fingerprint="abc")
    assert schema_key(a) == schema_key(b) == "fp:abc"
    plain = obj({"type": "INT64", "name": "id"})
    assert schema_key(plain) == schema_key(json.loads(json.dumps(plain)))
    assert schema_key(plain) != schema_key(obj({"type": "STRING", "name": "id"}))
