"""`schema_registry_encode` processor: JSON documents to Avro (or framed JSON) by a registry
schema: a subject's latest, or one each message carries in metadata, registered on the way."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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


_FORMATS = ("avro", "json_schema")
_SCHEMA_TYPES = {"avro": "AVRO", "json_schema": "JSON"}
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


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


@dataclass(frozen=True)
class _Settings:
    """What the fields say about where schemas come from and how documents are read."""

    schema_metadata: str
    format: str
    raw_json: bool
    record_name: str
    namespace: str
    normalize: bool


def _settings(conf: dict[str, Any]) -> _Settings:
    """The encoding settings; ValueError naming the fields of a combination that cannot work."""
    avro = conf.get("avro") or {}
    if not isinstance(avro, dict):
        raise ValueError("avro: expected an object (raw_json, record_name, namespace)")
    unknown = sorted(set(avro) - {"raw_json", "record_name", "namespace"})
    if unknown:
        raise ValueError(f"avro: unknown field {unknown[0]!r} (raw_json, record_name, namespace)")
    legacy, raw = bool(conf.get("avro_raw_json", False)), avro.get("raw_json")
    if legacy and raw is False:
        raise ValueError(
            "avro_raw_json: true and avro.raw_json: false contradict; avro.raw_json is the "
            "newer name, keep that one"
        )
    metadata_key = str(conf.get("schema_metadata") or "")
    fmt = conf.get("format")
    record_name = str(avro.get("record_name") or "")
    namespace = str(avro.get("namespace") or "")
    if fmt is not None and fmt not in _FORMATS:
        raise ValueError(f"format: {fmt!r} is not one of {', '.join(_FORMATS)}")
    if not metadata_key:
        if fmt is not None:
            raise ValueError(
                "format: only applies with schema_metadata; without it each message is "
                "encoded in the type of its subject's latest schema"
            )
        for name, value in (("record_name", record_name), ("namespace", namespace)):
            if value:
                raise ValueError(
                    f"avro.{name}: only names a schema built from schema_metadata, which is not set"
                )
    elif fmt is None:
        raise ValueError(f"format: required with schema_metadata: one of {', '.join(_FORMATS)}")
    if fmt == "json_schema":
        given = [
            n for n in ("raw_json", "record_name", "namespace") if avro.get(n) not in (None, "")
        ]
        if given or legacy:
            name = f"avro.{given[0]}" if given else "avro_raw_json"
            raise ValueError(f"{name}: only applies with format: avro, not json_schema")
    if record_name and not _AVRO_NAME.match(record_name):
        raise ValueError(
            f"avro.record_name: {record_name!r} is not an Avro name (letters, digits and _, "
            "not starting with a digit)"
        )
    if namespace and not _NAMESPACE.match(namespace):
        raise ValueError(f"avro.namespace: {namespace!r} is not a dotted Avro namespace")
    return _Settings(
        schema_metadata=metadata_key,
        format=str(fmt or "avro"),
        raw_json=bool(raw) if raw is not None else legacy,
        record_name=record_name,
        namespace=namespace,
        normalize=bool(conf.get("normalize", True)),
    )


def _subject_name(subject: str) -> str:
    """A valid Avro name made of a subject (other characters become _)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", subject) or "_"
    return f"_{name}" if name[0].isdigit() else name


class _Built:
    """A schema from metadata, converted to the format, with what encodes documents by it."""

    __slots__ = ("codec", "text", "validator")

    def __init__(self, text: str, codec: AvroCodec | None, validator: Any) -> None:
        self.text = text
        self.codec = codec
        self.validator = validator


def _fields() -> list[Field]:
    url, *rest = registry_fields()
    return [
        url,
        Field(
            "subject",
            "string",
            interpolable=True,
            description="The subject whose latest schema encodes the message; with "
            "`schema_metadata`, the subject the message's schema is registered under.",
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
        Field(
            "schema_metadata",
            "string",
            default="",
            description="A metadata key holding each message's schema in Benthos' common "
            "schema form (what Redpanda Connect's CDC inputs put in `schema`, or a mapping's "
            "`meta schema = this.infer_schema()`). The schema is converted to `format`, "
            "registered under `subject` (once per distinct schema) and encodes the message. "
            "Empty: the subject's latest schema in the registry encodes it.",
            examples=("schema",),
        ),
        Field(
            "format",
            "string",
            default=None,
            options=_FORMATS,
            description="What a schema from `schema_metadata` becomes: an Avro schema (the "
            "message is written as Avro) or a JSON Schema (the message stays JSON, checked "
            "against it). Required with `schema_metadata`, and only used with it.",
        ),
        Field(
            "normalize",
            "bool",
            default=True,
            advanced=True,
            description="Register schemas with `normalize=true`, so the registry gives schemas "
            "that differ only in form the same id.",
        ),
        Field(
            "avro",
            "object",
            default={},
            fields=(
                Field(
                    "raw_json",
                    "bool",
                    default=None,
                    description="Plain JSON instead of Avro JSON: union values are bare rather "
                    'than wrapped as `{"<type>": value}`. Replaces `avro_raw_json`; unset '
                    "means false.",
                ),
                Field(
                    "record_name",
                    "string",
                    default="",
                    description="The name of the root record of an Avro schema built from "
                    "`schema_metadata` when the schema names none; empty: the subject with "
                    "characters Avro names cannot hold made `_`.",
                ),
                Field(
                    "namespace",
                    "string",
                    default="",
                    description="The namespace of the root record of an Avro schema built "
                    "from `schema_metadata`.",
                    examples=("com.example.cdc",),
                ),
            ),
            description="Avro settings.",
        ),
        *rest,
    ]


@register_processor(
    "schema_registry_encode",
    fields=_fields(),
    summary="Encodes JSON documents as Avro with a subject's latest schema from a schema "
    "registry, or with a schema each message carries in metadata, registered on the way.",
    description=(
        "Each message is encoded with the latest schema of its `subject` and framed in the "
        "Confluent wire format (magic byte 0, the 4-byte schema id, the Avro bytes), which "
        "Confluent's deserializers and `schema_registry_decode` read. Schemas are fetched "
        "once and kept in memory and in `cache_dir` (no request per message). When the "
        "registry is unreachable, the cached schemas go on serving (one warning per outage), "
        "also for a process started while the registry is down. A subject never fetched "
        "while the registry is down, or a document that does not fit the schema, fails only "
        "its message, with an error naming the subject or the field; the message keeps its "
        "payload. Only Avro schemas are read from the registry (no references).\n\n"
        "With `schema_metadata`, the schema comes with the message instead, in Benthos' "
        "common schema form (as CDC inputs emit it): it is converted to Avro or JSON Schema "
        "(`format`), registered under `subject` the first time it is seen (later messages "
        "with the same schema make no request, also after a restart: registrations are kept "
        "in `cache_dir`), and the message is framed with the id the registry gave it. A "
        "message without the metadata, with a schema that cannot be converted, or that the "
        "registry refuses (an incompatible change) fails alone, naming the cause."
    ),
    examples=(
        "# envelopes to Avro for Kafka, the subject following the topic naming strategy\n"
        "schema_registry_encode:\n"
        "  url: http://registry:8081\n"
        "  subject: telemetry-value\n"
        "  avro:\n"
        "    raw_json: true",
        "# CDC rows with their schema in metadata: registered and encoded as Avro\n"
        "schema_registry_encode:\n"
        "  url: http://registry:8081\n"
        "  subject: ${! @table }-value\n"
        "  schema_metadata: schema\n"
        "  format: avro\n"
        "  avro:\n"
        "    raw_json: true\n"
        "    namespace: com.example.cdc",
    ),
)
class SchemaRegistryEncode(Processor):
    """Encodes JSON documents by a registry schema: a subject's latest, or one from metadata."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        subject = str(conf.get("subject") or "")
        if not subject.strip():
            raise ValueError("subject: required, e.g. telemetry-value")
        try:
            self.subject = InterpolatedString(subject)
        except ParseError as exc:
            raise ValueError(f"subject: bad interpolation: {exc}") from None
        self.settings = _settings(conf)
        self.raw_json = self.settings.raw_json
        self.client = client_from_config(conf, _refresh_period(conf.get("refresh_period", "10m")))
        self._codecs: dict[int, AvroCodec | ValueError] = {}
        #: schemas from metadata, by (schema key, subject name used for the record)
        self._built: dict[tuple[str, str], _Built | ValueError] = {}

    def process_batch(self, batch: list[Message]) -> list[Message]:
        static = self.subject.is_static
        subject = self.subject.text if static else ""
        from_metadata = bool(self.settings.schema_metadata)
        for i, msg in enumerate(batch):
            if not static:
                try:
                    subject = self.subject.render(msg, batch, i)
                except Exception as exc:  # noqa: BLE001 - a failing query fails its message
                    msg.error = f"schema_registry_encode: subject: {describe_error(exc)}"
                    continue
            try:
                if from_metadata:
                    schema_id, body = self._encode_by_metadata(msg, subject)
                else:
                    registered = self.client.latest(subject)
                    codec = codec_for(self._codecs, registered, self.raw_json)
                    schema_id, body = registered.id, codec.encode(msg.value)
            except (RegistryError, AvroValueError, PayloadError) as exc:
                msg.error = f"schema_registry_encode: subject {subject!r}: {exc}"
                continue
            msg.set_payload(confluent_frame(schema_id, body))
        return batch

    # -- schemas from metadata ----------------------------------------------------------------
    def _encode_by_metadata(self, msg: Message, subject: str) -> tuple[int, bytes]:
        key_name = self.settings.schema_metadata
        raw = msg.metadata.get(key_name)
        if raw is None or raw == "":
            raise AvroValueError(f"metadata {key_name!r} holds no schema")
        built = self._build(raw, subject)
        registered = self.client.register(
            subject,
            built.text,
            _SCHEMA_TYPES[self.settings.format],
            normalize=self.settings.normalize,
        )
        if built.codec is not None:
            return registered.id, built.codec.encode(msg.value)
        value = msg.value
        errors = sorted(built.validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.absolute_path) or "(root)"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise AvroValueError(f"{where}: {first.message}{more}")
        return registered.id, msg.payload

    def _build(self, raw: Any, subject: str) -> _Built:
        """The converted schema of a metadata value, made once per distinct schema."""
        from streamforge.processors.avro.common_schema import schema_key

        record = self.settings.record_name or _subject_name(subject)
        cache_key = (schema_key(raw), record)
        built = self._built.get(cache_key)
        if built is None:
            try:
                built = self._convert(raw, record)
            except ValueError as exc:
                built = ValueError(f"metadata {self.settings.schema_metadata!r}: {exc}")
            self._built[cache_key] = built
        if isinstance(built, ValueError):
            raise AvroValueError(str(built))
        return built

    def _convert(self, raw: Any, record: str) -> _Built:
        from streamforge.processors.avro.common_schema import (
            common_to_avro,
            common_to_json_schema,
            parse_common_schema,
        )

        common = parse_common_schema(raw)
        if self.settings.format == "json_schema":
            from jsonschema import Draft7Validator

            document = common_to_json_schema(common)
            return _Built(json.dumps(document), None, Draft7Validator(document))
        from streamforge.processors.avro.codec import AvroCodec

        schema = common_to_avro(common, record, self.settings.namespace)
        text = json.dumps(schema)
        return _Built(text, AvroCodec(text, raw_json=self.raw_json), None)

    def close(self) -> None:
        self.client.close()
