"""benthos-umh's `unifiedAddresses`: one tag per string, `name.register.address.type[:k=v]*`.

Each string becomes the same mapping an `addresses` entry is, so both forms are checked and
read alike: `temperature.holding.100.INT16`, `flag.discrete.1.BIT`,
`serial.holding.200.STRING:length=10`, `pressure.holding.300.FLOAT32:scale=0.1:output=FLOAT64`.
Options: `slave` (or `slaveID`; 0 = every slave of slaveIDs), `length`, `bit`, `scale`,
`output` (benthos-umh's INT64/UINT64/FLOAT64/BOOL/STRING, or INT/FLOAT).
"""

from __future__ import annotations

import math
from typing import Any

from streamforge.inputs.modbus.tags import Tag, parse_tags

__all__ = ["parse_unified", "parse_unified_addresses", "unified_entries"]

#: benthos-umh output names -> this input's
_OUTPUTS = {
    "INT64": "INT", "UINT64": "INT", "FLOAT64": "FLOAT", "BOOL": "BOOL", "STRING": "STRING",
    "INT": "INT", "FLOAT": "FLOAT",
}  # fmt: skip
_INT_KEYS = ("length", "bit")


def _integer(key: str, text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not an integer") from None


def parse_unified(text: Any) -> dict[str, Any]:
    """One unified address as an `addresses` entry; ValueError naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a string name.register.address.type, got {text!r}")
    head, *options = text.strip().split(":")
    parts = head.split(".")
    if len(parts) != 4 or not all(parts):
        raise ValueError(
            f"{text!r}: expected name.register.address.type (4 dot-separated parts, no dots "
            "in the name), then :key=value options"
        )
    name, register, address, data_type = parts
    entry: dict[str, Any] = {
        "name": name,
        "register": register,
        "address": _integer("address", address),
        "type": data_type.upper(),
    }
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        value = value.strip()
        if not sep or not key or not value:
            raise ValueError(f"{text!r}: option {option!r} is not key=value")
        if key in entry and key not in ("name", "register", "address", "type"):
            raise ValueError(f"{text!r}: option {key!r} given twice")
        if key in ("slave", "slaveID"):
            slave = _integer(key, value)
            if slave:
                entry["slaveID"] = slave
        elif key in _INT_KEYS:
            entry[key] = _integer(key, value)
        elif key == "scale":
            try:
                scale = float(value)
            except ValueError:
                raise ValueError(f"{text!r}: scale={value!r} is not a number") from None
            if not math.isfinite(scale):
                raise ValueError(f"{text!r}: scale must be finite")
            entry["scale"] = scale
        elif key == "output":
            output = _OUTPUTS.get(value.upper())
            if output is None:
                raise ValueError(
                    f"{text!r}: output {value!r} is not one of INT64, UINT64, FLOAT64, BOOL, "
                    "STRING (UINT16 is not supported)"
                )
            entry["output"] = output
        else:
            raise ValueError(
                f"{text!r}: unknown option {key!r} (valid: slave, length, bit, scale, output)"
            )
    return entry


def parse_unified_addresses(raw: Any) -> list[Tag]:
    """Every unified address as a Tag; errors read `unifiedAddresses[2] ('x...'): ...`."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ValueError(f"unifiedAddresses: expected a list of strings, got {type(raw).__name__}")
    if not raw:
        raise ValueError("unifiedAddresses: at least one tag is required")
    entries = []
    for i, text in enumerate(raw):
        try:
            entries.append(parse_unified(text))
        except ValueError as exc:
            raise ValueError(f"unifiedAddresses[{i}]: {exc}") from None
    try:
        return parse_tags(entries)
    except ValueError as exc:
        raise ValueError(str(exc).replace("addresses[", "unifiedAddresses[", 1)) from None


def unified_entries(raw: list[Any]) -> list[dict[str, Any]]:
    """The `addresses` entries of a checked `unifiedAddresses` list."""
    return [parse_unified(text) for text in raw]
