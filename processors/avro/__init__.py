"""Avro and the Confluent schema registry: `avro`, `schema_registry_encode|decode`."""

from __future__ import annotations

from streamforge.processors.avro.avro import AvroProcessor
from streamforge.processors.avro.schema_registry_decode import SchemaRegistryDecode
from streamforge.processors.avro.schema_registry_encode import SchemaRegistryEncode, codec_for

__all__ = ["AvroProcessor", "SchemaRegistryDecode", "SchemaRegistryEncode", "codec_for"]
