"""`schema_registry_decode` processor: Confluent-framed Avro to JSON, schemas fetched by id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Processor, register_processor
from streamforge.processors.avro.registry_client import (
    RegistryError,
    client_from_config,
    registry_fields,
)
from streamforge.processors.avro.schema_registry_encode import codec_for
from streamforge.processors.avro.wire import HEADER_SIZE, AvroValueError, confluent_schema_id

if TYPE_CHECKING:
    from streamforge.processors.avro.codec import AvroCodec

__all__ = ["SchemaRegistryDecode"]


@register_processor(
    "schema_registry_decode",
    fields=registry_fields(),
    summary="Decodes Confluent-framed Avro into JSON with schemas fetched by id from a registry.",
    description=(
        "Reads the schema id from the Confluent wire-format header (magic byte 0, 4-byte "
        "big-endian id), fetches that schema once (ids never change, so it is cached for good, "
        "in memory and in `cache_dir`) and decodes the Avro bytes into a JSON document. The id "
        "is put in `schema_id` metadata. Cached schemas keep decoding while the registry is "
        "unreachable, also after a restart. A message without the header, with an unknown "
        "id, or whose bytes do not fit the schema fails alone, with an error naming the id "
        "and the cause; it keeps its payload and the other messages flow."
    ),
    examples=(
        "# Avro from Kafka (Confluent serializers) into envelopes\n"
        "schema_registry_decode:\n"
        "  url: http://registry:8081\n"
        "  avro_raw_json: true",
    ),
)
class SchemaRegistryDecode(Processor):
    """Decodes Confluent-framed Avro into JSON with schemas fetched by id from a registry."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        self.raw_json = bool(conf.get("avro_raw_json", False))
        self.client = client_from_config(conf, 600.0)
        self._codecs: dict[int, AvroCodec | ValueError] = {}

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for msg in batch:
            data = msg.payload
            try:
                schema_id = confluent_schema_id(data)
            except AvroValueError as exc:
                msg.error = f"schema_registry_decode: {exc}"
                continue
            try:
                registered = self.client.schema_by_id(schema_id)
                value = codec_for(self._codecs, registered, self.raw_json).decode(data, HEADER_SIZE)
            except (RegistryError, AvroValueError) as exc:
                msg.error = f"schema_registry_decode: schema id {schema_id}: {exc}"
                continue
            msg.set_value(value)
            msg.metadata["schema_id"] = schema_id
        return batch

    def close(self) -> None:
        self.client.close()
