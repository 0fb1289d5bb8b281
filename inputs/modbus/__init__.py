"""The modbus input: Modbus TCP polling with benthos-umh field names."""

from __future__ import annotations

from streamforge.inputs.modbus import modbus as modbus
