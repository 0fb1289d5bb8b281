"""The opcua input: OPC UA reads and subscriptions."""

from __future__ import annotations

from streamforge.inputs.opcua import opcua as opcua
