"""The modbus input: Modbus TCP polling with benthos-umh field names."""

from __future__ import annotations

from streamforge.inputs.modbus.modbus import ModbusInput, ModbusReader

__all__ = ["ModbusInput", "ModbusReader"]
