"""`schema_registry_encode` processor: JSON documents to Avro with a subject's latest schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamforge.bloblang import ParseError
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import describe_error
from streamforge.processors.avro.registry_client import (
    RegisteredSchema,
    RegistryError,
    client_from_config,
    registry_fields,
)
from streamforge.processors.avro.wire import AvroValueError, confluent_frame

if TYPE_CHECKING:
    from streamforge.processors.avro.codec import AvroCodec

__all__ = ["SchemaRegistryEncode", "codec_for"]


def codec_for(
    cache: dict[int, AvroCodec | ValueError], registered: RegisteredSchema, raw_json: bool
) -> AvroCodec:
    """The codec of a registered schema, built once per id (a bad schema fails once per id)."""
    codec = cache.get(registered.id)
    if codec is None:
        from streamforge.processors.avro.codec import AvroCodec

        try:
            if registered.schema_type.upper() != "AVRO":
                raise ValueError(f"is a {registered.schema_type} schema; only Avro is supported")
            codec = AvroCodec(registered.schema, raw_json=raw_json)
        except ValueError as exc:
            codec = ValueError(f"schema id {registered.id} {exc}".replace(" not a", ": not a"))
        cache[registered.id] = codec
    if isinstance(codec, ValueError):
        raise AvroValueError(str(codec))
    return codec


def _refresh_period(value: Any) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"refresh_period: {exc}") from None
    if seconds <= 0:
        raise ValueError(f"refresh_period: {value!r} must be positive")
    return seconds


@register_processor(
    "schema_registry_encode",
    fields=[
        registry_fields()[0],
        Field(
            "subject",
            "string",
            interpolable=True,
            description="The subject whose latest schema encodes the message.",
            examples=("telemetry-value", "${! @kafka_topic }-value"),
        ),
        Field(
            "refresh_period",
            "duration",
            default="10m",
            description="How often a subject's latest schema is asked for again. The request "
            "is made lazily, by the first message after the period has passed.",
            examples=("1m", "1h"),
        ),
        *registry_fields()[1:],
    ],
    summary="Encodes JSON documents as Avro with a subject's latest schema from a schema registry.",
    description=(
        "Each message is encoded with the latest schema of its `subject` and framed in the "
        "Confluent wire format (magic byte 0, the 4-byte schema id, the Avro bytes), which "
        "Confluent's deserializers and `schema_registry_decode` read. Schemas are fetched "
        "once and kept in memory and in `cache_dir` (no request per message). When the "
        "registry is unreachable, the cached schemas go on serving (one warning per outage), "
        "also for a process started while the registry is down. A subject never fetched "
        "while the registry is down, or a document that does not fit the schema, fails only "
        "its message, with an error naming the subject or the field; the message keeps its "
        "payload. Only Avro schemas are supported (no references)."
    ),
    examples=(
        "# envelopes to Avro for Kafka, the subject following the topic naming strategy\n"
        "schema_registry_encode:\n"
        "  url: http://registry:8081\n"
        "  subject: telemetry-value\n"
        "  avro_raw_json: true",
    ),
)
class SchemaRegistryEncode(Processor):
    """Encodes JSON documents as Avro with a subject's latest schema from a schema registry."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        subject = str(conf.get("subject") or "")
        if not subject.strip():
            raise ValueError("subject: required, e.g. telemetry-value")
        try:
            self.subject = InterpolatedString(subject)
        except ParseError as exc:
            raise ValueError(f"subject: bad interpolation: {exc}") from None
        self.raw_json = bool(conf.get("avro_raw_json", False))
        self.client = client_from_config(conf, _refresh_period(conf.get("refresh_period", "10m")))
        self._codecs: dict[int, AvroCodec | ValueError] = {}

    def process_batch(self, batch: list[Message]) -> list[Message]:
        static = self.subject.is_static
        subject = self.subject.text if static else ""
        for i, msg in enumerate(batch):
            if not static:
                try:
                    subject = self.subject.render(msg, batch, i)
                except Exception as exc:  # noqa: BLE001 - a failing query fails its message
                    msg.error = f"schema_registry_encode: subject: {describe_error(exc)}"
                    continue
            try:
                registered = self.client.latest(subject)
                codec = codec_for(self._codecs, registered, self.raw_json)
                body = codec.encode(msg.value)
            except (RegistryError, AvroValueError, PayloadError) as exc:
                msg.error = f"schema_registry_encode: subject {subject!r}: {exc}"
                continue
            msg.set_payload(confluent_frame(registered.id, body))
        return batch

    def close(self) -> None:
        self.client.close()
