"""`parquet_encode` and `parquet_decode`: what a user gets in the file and back out of it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from component_helpers import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamforge.config.loader import lint_paths
from streamforge.message import Message, go_float

ENVELOPE_SCHEMA: list[dict[str, Any]] = [
    {"name": "asset_id", "type": "UTF8"},
    {"name": "parameter", "type": "UTF8"},
    {"name": "value", "type": "DOUBLE", "optional": True},
    {"name": "quality", "type": "UTF8"},
    {
        "name": "timestamps",
        "fields": [
            {"name": "device_time", "type": "TIMESTAMP"},
            {"name": "gateway_time", "type": "TIMESTAMP"},
        ],
    },
]


def envelope(i: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "asset_id": f"press-{i % 3:02d}",
        "parameter": "temperature",
        "value": 60.0 + i / 8,
        "quality": "GOOD",
        "timestamps": {
            "device_time": f"2024-05-01T12:00:{i % 60:02d}.123456789Z",
            "gateway_time": f"2024-05-01T12:00:{i % 60:02d}.2Z",
        },
    }
    doc.update(changes)
    return doc


def encode(conf: dict[str, Any], docs: list[Any], **meta: Any) -> list[Message]:
    batch = [Message.from_value(d, dict(meta, n=i)) for i, d in enumerate(docs)]
    return build("processor", "parquet_encode", conf).process_batch(batch)  # type: ignore[no-any-return]


def decode(payload: bytes, **conf: Any) -> list[Message]:
    proc = build("processor", "parquet_decode", conf)
    return proc.process_batch([Message(payload, {"path": "x.parquet"})])  # type: ignore[no-any-return]


def the_file(out: list[Message]) -> bytes:
    assert out and out[0].error is None, [m.error for m in out]
    return out[0].payload


def read(payload: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(payload))


def rows_back(payload: bytes, **conf: Any) -> list[Any]:
    out = decode(payload, **conf)
    assert all(m.error is None for m in out), [m.error for m in out]
    return [json.loads(m.payload) for m in out]


# -- a batch is one file ---------------------------------------------------------------------


def test_a_batch_becomes_one_file_with_the_first_messages_metadata() -> None:
    docs = [envelope(i) for i in range(25)]
    out = encode({"schema": ENVELOPE_SCHEMA}, docs, asset_id="press-00")
    assert len(out) == 1
    assert out[0].metadata == {"asset_id": "press-00", "n": 0}
    assert out[0].payload[:4] == b"PAR1" and out[0].payload[-4:] == b"PAR1"
    assert read(out[0].payload).num_rows == 25
    assert rows_back(out[0].payload) == docs


def test_the_schema_given_decides_the_columns_and_their_types() -> None:
    docs = [envelope(i, extra="not in the schema") for i in range(3)]
    table = read(the_file(encode({"schema": ENVELOPE_SCHEMA}, docs)))
    assert table.schema.names == ["asset_id", "parameter", "value", "quality", "timestamps"]
    assert table.schema.field("value").type == pa.float64()
    assert table.schema.field("value").nullable
    assert not table.schema.field("asset_id").nullable
    stamps = table.schema.field("timestamps").type
    assert stamps.field("device_time").type == pa.timestamp("ns", tz="UTC")
    device = pc.struct_field(table.column("timestamps"), "device_time").combine_chunks()
    assert device.cast(pa.int64())[1].as_py() == 1714564801123456789


def test_every_type_round_trips() -> None:
    schema = [
        {"name": "b", "type": "BOOLEAN"},
        {"name": "i32", "type": "INT32"},
        {"name": "i64", "type": "INT64"},
        {"name": "f", "type": "FLOAT"},
        {"name": "d", "type": "DOUBLE"},
        {"name": "raw", "type": "BYTE_ARRAY"},
        {"name": "s", "type": "UTF8"},
        {"name": "t", "type": "TIMESTAMP"},
    ]
    docs = [
        {"b": True, "i32": -(2**31), "i64": 2**63 - 1, "f": 1.5, "d": 0.1, "raw": "bytes ok",
         "s": "grüße ✓", "t": "2024-02-29T23:59:59.000000001Z"},
        {"b": False, "i32": 2**31 - 1, "i64": -(2**63), "f": -2.25, "d": -1e300, "raw": "",
         "s": "", "t": "1970-01-01T00:00:00Z"},
    ]  # fmt: skip
    table = read(the_file(encode({"schema": schema}, docs)))
    types = {f.name: f.type for f in table.schema}
    assert types == {
        "b": pa.bool_(), "i32": pa.int32(), "i64": pa.int64(), "f": pa.float32(),
        "d": pa.float64(), "raw": pa.binary(), "s": pa.string(),
        "t": pa.timestamp("ns", tz="UTC"),
    }  # fmt: skip
    assert rows_back(table_bytes := the_file(encode({"schema": schema}, docs))) == docs
    (first, _) = decode(table_bytes)
    assert first.value["raw"] == b"bytes ok"  # BYTE_ARRAY stays bytes unless asked
    (first, _) = decode(table_bytes, byte_array_as_string=True)
    assert first.value["raw"] == "bytes ok"


def test_timestamps_read_back_in_utc_with_trailing_zeros_trimmed() -> None:
    schema = [{"name": "t", "type": "TIMESTAMP"}]
    docs = [
        {"t": "2024-05-01T14:00:00.500+02:00"},
        {"t": "2024-05-01T12:00:00.120000000Z"},
        {"t": "2024-05-01T12:00:00Z"},
    ]
    assert rows_back(the_file(encode({"schema": schema}, docs))) == [
        {"t": "2024-05-01T12:00:00.5Z"},
        {"t": "2024-05-01T12:00:00.12Z"},
        {"t": "2024-05-01T12:00:00Z"},
    ]


def test_timestamps_can_be_written_in_microseconds() -> None:
    conf = {"schema": [{"name": "t", "type": "TIMESTAMP"}], "default_timestamp_unit": "MICROSECOND"}
    payload = the_file(encode(conf, [{"t": "2024-05-01T12:00:00.123456789Z"}]))
    assert read(payload).schema.field("t").type == pa.timestamp("us", tz="UTC")
    assert rows_back(payload) == [{"t": "2024-05-01T12:00:00.123456Z"}]


def test_optional_repeated_and_nested_columns() -> None:
    schema = [
        {"name": "id", "type": "INT64"},
        {"name": "note", "type": "UTF8", "optional": True},
        {"name": "samples", "type": "DOUBLE", "repeated": True},
        {"name": "tags", "type": "UTF8", "repeated": True, "optional": True},
        {
            "name": "site",
            "optional": True,
            "fields": [
                {"name": "line", "type": "INT32"},
                {"name": "cell", "fields": [{"name": "name", "type": "UTF8"}]},
            ],
        },
        {
            "name": "events",
            "repeated": True,
            "fields": [
                {"name": "code", "type": "INT32"},
                {"name": "at", "type": "TIMESTAMP"},
            ],
        },
    ]
    docs = [
        {"id": 1, "note": "first", "samples": [1.5, 2.0], "tags": ["a", None],
         "site": {"line": 3, "cell": {"name": "c1"}},
         "events": [{"code": 7, "at": "2024-05-01T12:00:00.25Z"}]},
        {"id": 2, "note": None, "samples": [], "tags": None, "site": None, "events": []},
    ]  # fmt: skip
    payload = the_file(encode({"schema": schema}, docs))
    assert rows_back(payload) == docs
    table = read(payload)
    assert table.schema.field("samples").type == pa.list_(
        pa.field("element", pa.float64(), nullable=False)
    )
    assert not table.schema.field("samples").nullable


def test_a_missing_optional_key_reads_back_as_null() -> None:
    schema = [{"name": "id", "type": "INT64"}, {"name": "note", "type": "UTF8", "optional": True}]
    assert rows_back(the_file(encode({"schema": schema}, [{"id": 1}]))) == [{"id": 1, "note": None}]


def test_whole_numbers_fit_integer_columns_and_integers_fit_float_columns() -> None:
    schema = [{"name": "i", "type": "INT32"}, {"name": "d", "type": "DOUBLE"}]
    docs = [{"i": 5.0, "d": 3}, {"i": 6, "d": 4.5}]
    assert rows_back(the_file(encode({"schema": schema}, docs))) == [
        {"i": 5, "d": 3}, {"i": 6, "d": 4.5}
    ]  # fmt: skip


# -- messages that do not fit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"value": "n/a"}, "value: expected DOUBLE, got string 'n/a'"),
        ({"value": True}, "value: expected DOUBLE, got bool True"),
        ({"asset_id": None}, "asset_id: missing required field"),
        ({"asset_id": 7}, "asset_id: expected UTF8, got number 7"),
        (
            {"timestamps": {"device_time": "yesterday", "gateway_time": "2024-05-01T12:00:00Z"}},
            "timestamps.device_time: expected an RFC 3339 TIMESTAMP, got string 'yesterday'",
        ),
        ({"timestamps": {"device_time": "2024-05-01T12:00:00Z"}},
         "timestamps.gateway_time: missing required field"),
        ({"timestamps": "2024-05-01T12:00:00Z"}, "timestamps: expected an object, got string"),
    ],
)  # fmt: skip
def test_a_message_that_does_not_fit_is_flagged_and_the_rest_are_written(
    bad: dict[str, Any], error: str
) -> None:
    docs = [envelope(i) for i in range(6)]
    docs[3] = envelope(3, **bad)
    out = encode({"schema": ENVELOPE_SCHEMA}, docs)
    assert len(out) == 2
    flagged = out[1]
    assert flagged.error is not None and flagged.error.startswith(f"parquet_encode: {error}")
    assert flagged.metadata["n"] == 3
    assert flagged.value == docs[3]
    assert rows_back(out[0].payload) == docs[:3] + docs[4:]
    assert out[0].metadata["n"] == 0


def test_out_of_range_numbers_are_flagged() -> None:
    schema = [{"name": "i", "type": "INT32"}, {"name": "f", "type": "FLOAT"}]
    out = encode({"schema": schema}, [{"i": 2**31, "f": 0}, {"i": 1, "f": 1e39}, {"i": 1.5, "f": 0},
                                      {"i": 2, "f": 2}])  # fmt: skip
    assert [m.error for m in out[1:]] == [
        "parquet_encode: i: 2147483648 is out of range for INT32",
        "parquet_encode: f: 1e+39 is out of range for FLOAT",
        "parquet_encode: i: expected INT32, got number 1.5",
    ]
    assert rows_back(out[0].payload) == [{"i": 2, "f": 2}]


def test_payloads_that_are_no_json_object_are_flagged() -> None:
    batch = [Message(b"not json"), Message(b"[1, 2]"), Message(b'{"id": 1}')]
    proc = build("processor", "parquet_encode", {"schema": [{"name": "id", "type": "INT64"}]})
    file, not_json, array = proc.process_batch(batch)
    assert not_json.error.startswith("parquet_encode: failed to parse message as JSON")
    assert array.error == "parquet_encode: expected a JSON object, got array"
    assert rows_back(file.payload) == [{"id": 1}]


def test_a_batch_where_nothing_fits_gives_no_file() -> None:
    out = encode({"schema": [{"name": "id", "type": "INT64"}]}, [{"id": "x"}, {}])
    assert [m.error for m in out] == [
        "parquet_encode: id: expected INT64, got string 'x'",
        "parquet_encode: id: missing required field",
    ]
    assert encode({}, []) == []


# -- inference --------------------------------------------------------------------------------


def test_schema_is_inferred_from_the_batch() -> None:
    docs = [
        {"id": 1, "value": 2, "name": "a", "ok": True, "nested": {"x": 1}, "list": [1, 2]},
        {"id": 2, "value": 2.5, "extra": "only here", "nested": {"y": "b"}, "list": []},
        {"id": 3, "value": None, "empty": {}, "nothing": None},
    ]
    payload = the_file(encode({}, docs))
    types = {f.name: f.type for f in read(payload).schema}
    assert types["id"] == pa.int64()
    assert types["value"] == pa.float64()  # whole numbers widen beside fractions
    assert types["nested"] == pa.struct([("x", pa.int64()), ("y", pa.string())])
    assert types["list"] == pa.list_(pa.int64())
    assert "empty" not in types  # an object empty in every message has no columns
    assert types["nothing"] == pa.string()
    assert all(f.nullable for f in read(payload).schema)
    back = rows_back(payload)
    assert back[1] == {
        "id": 2, "value": 2.5, "name": None, "ok": None, "nested": {"x": None, "y": "b"},
        "list": [], "extra": "only here", "nothing": None,
    }  # fmt: skip


def test_inference_with_conflicting_types_keeps_the_first_and_flags_the_rest() -> None:
    docs = [{"id": 1, "value": 1.5}, {"id": 2, "value": "high"}, {"id": 3, "value": 7}]
    out = encode({}, docs)
    assert [m.error for m in out[1:]] == [
        "parquet_encode: value: expected DOUBLE, got string 'high'"
    ]
    assert rows_back(out[0].payload) == [{"id": 1, "value": 1.5}, {"id": 3, "value": 7}]


# -- compression and encoding -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "codec"),
    [("snappy", "SNAPPY"), ("zstd", "ZSTD"), ("gzip", "GZIP"), ("none", "UNCOMPRESSED"),
     ("uncompressed", "UNCOMPRESSED"), ("brotli", "BROTLI")],
)  # fmt: skip
def test_compression_codecs(name: str, codec: str) -> None:
    docs = [envelope(i) for i in range(50)]
    payload = the_file(encode({"schema": ENVELOPE_SCHEMA, "default_compression": name}, docs))
    meta = pq.ParquetFile(pa.BufferReader(payload)).metadata
    assert meta.row_group(0).column(0).compression == codec
    assert rows_back(payload) == docs


def test_snappy_is_the_default_and_strings_use_delta_length_byte_array() -> None:
    payload = the_file(encode({"schema": ENVELOPE_SCHEMA}, [envelope(1)]))
    column = pq.ParquetFile(pa.BufferReader(payload)).metadata.row_group(0).column(0)
    assert column.compression == "SNAPPY"
    assert "DELTA_LENGTH_BYTE_ARRAY" in column.encodings
    plain = the_file(
        encode({"schema": ENVELOPE_SCHEMA, "default_encoding": "PLAIN"}, [envelope(1)])
    )
    column = pq.ParquetFile(pa.BufferReader(plain)).metadata.row_group(0).column(0)
    assert "DELTA_LENGTH_BYTE_ARRAY" not in column.encodings
    assert rows_back(plain) == [envelope(1)]


# -- decode -----------------------------------------------------------------------------------


def test_decode_copies_the_metadata_to_every_row() -> None:
    payload = the_file(encode({}, [{"a": 1}, {"a": 2}]))
    out = decode(payload)
    assert [m.metadata for m in out] == [{"path": "x.parquet"}, {"path": "x.parquet"}]


def test_a_corrupt_file_is_one_errored_message_naming_the_cause() -> None:
    payload = the_file(encode({}, [{"a": i} for i in range(100)]))
    for broken in (b"not parquet at all", payload[: len(payload) // 2], b""):
        (out,) = decode(broken)
        assert out.error is not None
        assert out.error.startswith("parquet_decode: not a readable Parquet file: ")
        assert "Parquet" in out.error[len("parquet_decode: not a readable Parquet file: ") :]
        assert out.payload == broken
        assert out.metadata == {"path": "x.parquet"}


def test_decode_reads_files_written_by_others() -> None:
    table = pa.table(
        {
            "when": pa.array([1_714_564_800_000_000], pa.timestamp("us")),
            "day": pa.array([19844], pa.date32()),
            "code": pa.array(["A"]).dictionary_encode(),
            "props": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    assert rows_back(sink.getvalue().to_pybytes()) == [
        {"when": "2024-05-01T12:00:00Z", "day": "2024-05-01", "code": "A", "props": {"k": 1}}
    ]


# -- decode(encode(x)) == x -------------------------------------------------------------------

_FLAT_SCHEMA = [
    {"name": "flag", "type": "BOOLEAN", "optional": True},
    {"name": "count", "type": "INT64"},
    {"name": "small", "type": "INT32", "optional": True},
    {"name": "reading", "type": "DOUBLE", "optional": True},
    {"name": "name", "type": "UTF8"},
    {"name": "at", "type": "TIMESTAMP", "optional": True},
]

_rows = st.fixed_dictionaries(
    {
        "flag": st.none() | st.booleans(),
        "count": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "small": st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1),
        "reading": st.none() | st.floats(allow_nan=False, allow_infinity=False),
        "name": st.text(),
        "at": st.none()
        | st.integers(min_value=0, max_value=2**62).map(
            lambda ns: pa.scalar(ns, pa.timestamp("ns", tz="UTC")).cast(pa.string()).as_py()
        ),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_rows, min_size=1, max_size=30))
def test_decode_of_encode_gives_back_exactly_the_rows_that_went_in(
    rows: list[dict[str, Any]],
) -> None:
    with_schema = rows_back(the_file(encode({"schema": _FLAT_SCHEMA}, rows)))
    assert _typed(with_schema) == _typed([dict(r, at=_rfc3339(r["at"])) for r in rows])
    inferred = rows_back(the_file(encode({}, rows)))  # `at` is inferred as a string
    assert _typed(inferred) == _typed(rows)


def _rfc3339(text: str | None) -> str | None:
    """Arrow's text of a timestamp (`2024-05-01 12:00:00.500000000Z`) as it reads back."""
    if text is None:
        return None
    date, clock = text[:-1].split(" ")
    if "." in clock:
        clock = clock.rstrip("0").rstrip(".")
    return f"{date}T{clock}Z"


def _typed(rows: list[dict[str, Any]]) -> list[dict[str, tuple[str, Any]]]:
    """Rows as JSON sees them: booleans apart from numbers, a whole float equal to the integer
    Go writes for it (the shortest digits, so 6.655796723064534e16 is 66557967230645340)."""

    def kind(v: Any) -> tuple[str, Any]:
        if isinstance(v, bool):
            return ("bool", v)
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
            return ("number", int(go_float(v)))
        if isinstance(v, (int, float)):
            return ("number", v)
        return (type(v).__name__, v)

    return [{k: kind(v) for k, v in r.items()} for r in rows]


# -- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ([{"name": "x", "type": "INT16"}], "schema[0] (x): unknown type 'INT16'"),
        ([{"name": "x"}], "schema[0] (x): type is required"),
        ([{"type": "UTF8"}], "schema[0]: name is required"),
        ([{"name": "g", "fields": [{"name": "y", "type": "BAD"}]}],
         "schema[0].fields[0] (y): unknown type 'BAD'"),
        ([{"name": "x", "type": "UTF8"}, {"name": "x", "type": "UTF8"}],
         "schema[1] (x): name used twice"),
        ([{"name": "g", "type": "UTF8", "fields": [{"name": "y", "type": "UTF8"}]}],
         "schema[0] (g): a group has fields and no type"),
    ],
)  # fmt: skip
def test_a_bad_schema_is_a_config_error_naming_the_column(
    schema: list[dict[str, Any]], error: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        build("processor", "parquet_encode", {"schema": schema})


def test_lint_reports_a_bad_column_at_its_place(tmp_path: Path) -> None:
    text = (
        "input:\n  stdin: {}\n"
        "output:\n"
        "  drop: {}\n"
        "pipeline:\n"
        "  processors:\n"
        "    - parquet_encode:\n"
        "        default_compression: lzo\n"
        "        schema:\n"
        "          - { name: a, type: UTF8 }\n"
        "          - name: g\n"
        "            fields:\n"
        "              - { name: b, type: INT16 }\n"
    )
    (tmp_path / "s.yaml").write_text(text)
    problems = [str(p) for p in lint_paths([tmp_path / "s.yaml"])]
    assert any("s.yaml:8:" in p and "lzo" in p for p in problems), problems
    assert any(
        "s.yaml:11:" in p and "fields[0] (b): unknown type 'INT16'" in p for p in problems
    ), problems
