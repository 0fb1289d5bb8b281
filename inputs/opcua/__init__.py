"""The opcua input: OPC UA reads and subscriptions."""

from __future__ import annotations

from streamforge.inputs.opcua.opcua import (
    OpcuaInput,
    OpcuaReader,
    parse_endpoint,
    parse_interval_ms,
    parse_node_id,
)

__all__ = ["OpcuaInput", "OpcuaReader", "parse_endpoint", "parse_interval_ms", "parse_node_id"]
