"""Avro and the Confluent schema registry: `avro`, `schema_registry_encode|decode`."""

from __future__ import annotations

from streamforge.processors.avro import avro as avro
from streamforge.processors.avro import schema_registry_decode as schema_registry_decode
from streamforge.processors.avro import schema_registry_encode as schema_registry_encode
