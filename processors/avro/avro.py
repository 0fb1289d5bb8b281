"""`avro` processor: JSON documents to Avro and back with one schema, raw or Confluent-framed."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.spec import ParsedField
from streamforge.processors.avro.wire import (
    HEADER_SIZE,
    AvroValueError,
    confluent_frame,
    confluent_schema_id,
)

__all__ = ["AvroProcessor"]

OPERATORS = ("to_json", "from_json")
ENCODINGS = ("binary", "textual")
WIRE_FORMATS = ("raw", "confluent")


def _choice(name: str, options: tuple[str, ...]) -> Any:
    def parse(value: Any) -> str:
        text = str(value or "").strip()
        if text not in options:
            raise ValueError(f"{name}: {text!r} is not one of {', '.join(options)}")
        return text

    return parse


def _schema_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31 - 1:
        raise ValueError(f"schema_id: {value!r} is not a schema id (0 to 2147483647)")
    return value


def load_schema_text(schema: str, schema_path: str) -> str:
    """The schema text from `schema` or `schema_path` (a path, file:// or http(s):// URL)."""
    if schema.strip() and schema_path.strip():
        raise ValueError("schema: set either schema or schema_path, not both")
    if schema.strip():
        return schema
    ref = schema_path.strip()
    if not ref:
        raise ValueError("schema: required (or schema_path)")
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https"):
        try:
            resp = httpx.get(ref, timeout=10.0)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise ValueError(f"schema_path: {ref}: {exc}") from None
        return resp.text
    path = Path(unquote(parts.netloc + parts.path)) if parts.scheme == "file" else Path(ref)
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        raise ValueError(f"schema_path: {exc.strerror or exc}: {path}") from None


@register_processor(
    "avro",
    fields=[
        ParsedField(
            "operator",
            "string",
            parser=_choice("operator", OPERATORS),
            options=OPERATORS,
            description="`from_json` encodes each JSON document as Avro; `to_json` decodes Avro "
            "into a JSON document.",
        ),
        ParsedField(
            "encoding",
            "string",
            parser=_choice("encoding", ENCODINGS),
            default="binary",
            options=ENCODINGS,
            description="The Avro side: `binary` (the compact encoding Kafka carries) or "
            "`textual` (the Avro JSON encoding of the spec). Benthos defaults to textual.",
        ),
        Field(
            "schema",
            "string",
            default="",
            description="The Avro schema (JSON text). Use either this or `schema_path`.",
            examples=('{"type": "record", "name": "Reading", "fields": [...]}',),
        ),
        Field(
            "schema_path",
            "string",
            default="",
            description="Where to read the schema from: a file path, a file:// URL, or an "
            "http(s):// URL, read once when the stream starts.",
            examples=("file:///etc/streamforge/envelope.avsc", "schemas/envelope.avsc"),
        ),
        ParsedField(
            "wire_format",
            "string",
            parser=_choice("wire_format", WIRE_FORMATS),
            default="raw",
            options=WIRE_FORMATS,
            description="`raw`: the Avro bytes alone. `confluent`: the Confluent Schema Registry "
            "framing, a magic byte 0 and the 4-byte big-endian `schema_id` before the Avro bytes "
            "(binary encoding only).",
        ),
        ParsedField(
            "schema_id",
            "int",
            parser=_schema_id,
            default=0,
            description="The registry id of `schema`, written into the header by `from_json` "
            "with `wire_format: confluent` (required there). With `to_json`, 0 accepts any id; "
            "another value fails messages framed with a different id. The id read is put in "
            "`schema_id` metadata.",
        ),
        Field(
            "avro_raw_json",
            "bool",
            default=False,
            description="Plain JSON instead of Avro JSON on the JSON side: union values are "
            'bare rather than wrapped as `{"<type>": value}`. Set it for StreamForge envelopes.',
        ),
    ],
    summary="Encodes JSON documents as Avro or decodes Avro into JSON, with one schema.",
    description=(
        "The schema is parsed once when the stream starts. In JSON, timestamp logical types "
        "are RFC 3339 strings (unix numbers in the schema's unit are accepted too), `date` is "
        "`YYYY-MM-DD`, `decimal` a string, `bytes` and `fixed` strings of code points 0-255. "
        "A document that does not fit fails only its message, with an error naming the field "
        "(e.g. `avro: timestamps.device_time: 'yesterday' is not a time`); the message keeps "
        "its payload. For a schema registry use `schema_registry_encode` / "
        "`schema_registry_decode`; `wire_format: confluent` reads and writes the same framing "
        "with a fixed schema, without a registry."
    ),
    examples=(
        "# envelopes to Avro in the Confluent framing, schema id 7 in the registry\n"
        "avro:\n"
        "  operator: from_json\n"
        "  schema_path: file:///etc/streamforge/envelope.avsc\n"
        "  wire_format: confluent\n"
        "  schema_id: 7\n"
        "  avro_raw_json: true",
        "# raw Avro back into JSON documents\n"
        "avro:\n"
        "  operator: to_json\n"
        "  schema_path: schemas/reading.avsc\n"
        "  avro_raw_json: true",
    ),
)
class AvroProcessor(Processor):
    """Encodes JSON documents as Avro or decodes Avro into JSON, with one schema."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        from streamforge.processors.avro.codec import AvroCodec

        conf = conf or {}
        self.operator = _choice("operator", OPERATORS)(conf.get("operator"))
        self.encoding = _choice("encoding", ENCODINGS)(conf.get("encoding", "binary"))
        self.wire_format = _choice("wire_format", WIRE_FORMATS)(conf.get("wire_format", "raw"))
        self.schema_id = _schema_id(conf.get("schema_id", 0))
        if self.wire_format == "confluent" and self.encoding != "binary":
            raise ValueError("wire_format: confluent frames the binary encoding only")
        if self.wire_format == "confluent" and self.operator == "from_json" and not self.schema_id:
            raise ValueError("schema_id: required with wire_format confluent and from_json")
        text = load_schema_text(str(conf.get("schema") or ""), str(conf.get("schema_path") or ""))
        try:
            self.codec = AvroCodec(text, raw_json=bool(conf.get("avro_raw_json", False)))
        except ValueError as exc:
            field = "schema" if str(conf.get("schema") or "").strip() else "schema_path"
            raise ValueError(f"{field}: {exc}") from None
        if self.operator == "from_json":
            self._one = self._encode_textual if self.encoding == "textual" else self._encode
        else:
            self._one = self._decode_textual if self.encoding == "textual" else self._decode
        self._header = confluent_frame(self.schema_id, b"")

    def process_batch(self, batch: list[Message]) -> list[Message]:
        one = self._one
        for msg in batch:
            try:
                one(msg)
            except (AvroValueError, PayloadError) as exc:
                msg.error = f"avro: {exc}"
        return batch

    def _encode(self, msg: Message) -> None:
        body = self.codec.encode(msg.value)
        msg.set_payload(self._header + body if self.wire_format == "confluent" else body)

    def _encode_textual(self, msg: Message) -> None:
        msg.set_payload(self.codec.encode_textual(msg.value))

    def _decode(self, msg: Message) -> None:
        data = msg.payload
        if self.wire_format == "confluent":
            found = confluent_schema_id(data)
            if self.schema_id and found != self.schema_id:
                raise AvroValueError(
                    f"schema id {found} in the message, but the schema configured is id "
                    f"{self.schema_id}"
                )
            value = self.codec.decode(data, HEADER_SIZE)
            msg.metadata["schema_id"] = found
        else:
            value = self.codec.decode(data)
        msg.set_value(value)

    def _decode_textual(self, msg: Message) -> None:
        msg.set_value(self.codec.decode_textual(msg.payload))
