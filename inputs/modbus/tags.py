"""Modbus tag and connection settings: parsed and checked once, shared by lint and the input.

The parsers here are the `parser` of the input's ParsedFields, so `streamforge lint` reports a
bad tag (a FLOAT32 on a coil, a wrong length, a duplicate name) at its file:line:col.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BIT_REGISTERS",
    "BYTE_ORDERS",
    "DATA_TYPES",
    "OUTPUTS",
    "REGISTERS",
    "TRANSMISSION_MODES",
    "Tag",
    "parse_controller",
    "parse_slave_ids",
    "parse_tag",
    "parse_tags",
]

#: register kinds as benthos-umh names them, with the Modbus function code that reads them
REGISTERS: dict[str, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
#: register kinds holding single bits
BIT_REGISTERS = frozenset({"coil", "discrete"})
#: data types and their length in 16-bit registers (STRING: given by `length`)
DATA_TYPES: dict[str, int] = {
    "BIT": 1, "INT16": 1, "UINT16": 1, "INT32": 2, "UINT32": 2, "INT64": 4, "UINT64": 4,
    "FLOAT32": 2, "FLOAT64": 4, "STRING": 0,
}  # fmt: skip
OUTPUTS = ("BOOL", "INT", "FLOAT", "STRING")
BYTE_ORDERS = ("ABCD", "DCBA", "BADC", "CDAB")
TRANSMISSION_MODES = ("TCP", "RTUOverTCP")
#: most registers one read may return (Modbus limit for function codes 3 and 4)
MAX_STRING_REGISTERS = 125
_FLOATS = frozenset({"FLOAT32", "FLOAT64"})
_TAG_KEYS = frozenset(
    {"name", "register", "address", "type", "length", "scale", "output", "slaveID", "bit"}
)


@dataclass(frozen=True)
class Tag:
    """One configured reading: where it lives on the device and how to turn it into a value."""

    name: str
    register: str
    address: int
    type: str
    length: int
    scale: float
    output: str
    slave_id: int | None
    bit: int

    @property
    def count(self) -> int:
        """Registers (or bits, for coils and discrete inputs) the tag spans."""
        return self.length

    @property
    def end(self) -> int:
        """First address after the tag."""
        return self.address + self.length

    def describe(self) -> str:
        """`name (holding 100, 2 registers)` for error messages."""
        unit = "bit" if self.register in BIT_REGISTERS else "register"
        plural = "" if self.length == 1 else "s"
        return f"{self.name} ({self.register} {self.address}, {self.length} {unit}{plural})"


def _int(raw: dict[str, Any], key: str, default: int | None) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _text(raw: dict[str, Any], key: str, default: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {value!r}")
    return value


def _choice(value: str, key: str, choices: Sequence[str]) -> str:
    for choice in choices:
        if value.upper() == choice.upper():
            return choice
    raise ValueError(f"{key} {value!r} is not one of {', '.join(choices)}")


def _natural_output(data_type: str, scaled: bool) -> str:
    if data_type == "BIT":
        return "BOOL"
    if data_type == "STRING":
        return "STRING"
    if data_type in _FLOATS or scaled:
        return "FLOAT"
    return "INT"


def _check_type(tag_type: str, register: str, output: str, scale: float) -> None:
    if register in BIT_REGISTERS and tag_type != "BIT":
        raise ValueError(f"{tag_type} cannot be read from a {register}: use type BIT")
    if tag_type == "STRING" and output != "STRING":
        raise ValueError(f"a STRING cannot be output as {output}")
    if scale != 1.0 and tag_type in ("BIT", "STRING"):
        raise ValueError(f"scale applies to numbers, not to {tag_type}")


def _length(tag_type: str, raw: dict[str, Any]) -> int:
    given = _int(raw, "length", 0) or 0
    fixed = DATA_TYPES[tag_type]
    if tag_type == "STRING":
        if given <= 0:
            raise ValueError("STRING needs length (registers, 2 characters each)")
        if given > MAX_STRING_REGISTERS:
            raise ValueError(f"STRING length {given} exceeds {MAX_STRING_REGISTERS} registers")
        return given
    if given and given != fixed:
        unit = "register" if fixed == 1 else "registers"
        raise ValueError(f"{tag_type} needs length {fixed} ({unit}), got {given}")
    return fixed


def _tag(raw: Any) -> Tag:
    """A Tag from one entry of `addresses`; ValueError names the problem (not the tag)."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in _TAG_KEYS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (valid: {', '.join(sorted(_TAG_KEYS))})")
    register = _choice(_text(raw, "register", "holding"), "register", tuple(REGISTERS))
    default_type = "BIT" if register in BIT_REGISTERS else "INT16"
    tag_type = _choice(_text(raw, "type", default_type), "type", tuple(DATA_TYPES))
    address = _int(raw, "address", None)
    if address is None:
        raise ValueError("address is required")
    if not 0 <= address <= 65535:
        raise ValueError(f"address {address} is outside 0..65535")
    length = _length(tag_type, raw)
    if address + length - 1 > 65535:
        raise ValueError(f"address {address} + length {length} runs past 65535")
    scale_raw = raw.get("scale", 1.0)
    if scale_raw is None:
        scale_raw = 1.0
    if isinstance(scale_raw, bool) or not isinstance(scale_raw, (int, float)):
        raise ValueError(f"scale must be a number, got {scale_raw!r}")
    scale = float(scale_raw)
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale_raw!r}")
    output = _choice(
        _text(raw, "output", _natural_output(tag_type, scale != 1.0)), "output", OUTPUTS
    )
    _check_type(tag_type, register, output, scale)
    slave_id = _int(raw, "slaveID", None)
    if slave_id is not None and not 0 <= slave_id <= 255:
        raise ValueError(f"slaveID {slave_id} is outside 0..255")
    bit = _int(raw, "bit", None)
    if bit is not None:
        # as benthos-umh: `bit` needs type BIT; on coils and discrete inputs, whose address
        # already names one bit, it changes nothing
        if tag_type != "BIT":
            raise ValueError("bit applies to type BIT")
        if register in BIT_REGISTERS:
            bit = None
        elif not 0 <= bit <= 15:
            raise ValueError(f"bit {bit} is outside 0..15")
    return Tag(
        name=str(raw.get("name", "")),
        register=register,
        address=address,
        type=tag_type,
        length=length,
        scale=scale,
        output=output,
        slave_id=slave_id,
        bit=bit or 0,
    )


def _name(raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name is required (a non-empty string)")
    return name


def parse_tag(raw: Any) -> Tag:
    """One `addresses` entry as a Tag; the error names the tag."""
    name = _name(raw)
    try:
        return _tag(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def parse_tags(raw: Any) -> list[Tag]:
    """Every `addresses` entry; errors read `addresses[3] (boiler_temp): ...`."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ValueError(f"addresses: expected a list of tags, got {type(raw).__name__}")
    if not raw:
        raise ValueError("addresses: at least one tag is required")
    tags: list[Tag] = []
    seen: dict[tuple[str, int | None], int] = {}
    for i, entry in enumerate(raw):
        try:
            name = _name(entry)
        except ValueError as exc:
            raise ValueError(f"addresses[{i}]: {exc}") from None
        try:
            tag = _tag(entry)
        except ValueError as exc:
            raise ValueError(f"addresses[{i}] ({name}): {exc}") from None
        key = (tag.name, tag.slave_id)
        if key in seen:
            raise ValueError(
                f"addresses[{i}] ({name}): duplicate tag name, first used by addresses[{seen[key]}]"
            )
        seen[key] = i
        tags.append(tag)
    return tags


def parse_controller(raw: Any) -> tuple[str, int]:
    """(host, port) of `tcp://host:port`; the port defaults to 502."""
    text = str(raw or "").strip()
    if not text:
        raise ValueError("controller is required, e.g. tcp://192.168.0.10:502")
    if "://" not in text:
        text = "tcp://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "tcp":
        raise ValueError(f"controller {raw!r}: only tcp:// is supported")
    try:
        port = parts.port or 502
    except ValueError:
        raise ValueError(f"controller {raw!r}: bad port") from None
    if not parts.hostname:
        raise ValueError(f"controller {raw!r}: no host")
    if parts.path not in ("", "/"):
        raise ValueError(f"controller {raw!r}: unexpected path {parts.path!r}")
    return parts.hostname, port


def parse_slave_ids(raw: Any) -> list[int]:
    """The `slaveIDs` list: integers 0..255, at least one, duplicates dropped."""
    if raw is None:
        return [1]
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"slaveIDs must be a non-empty list of integers, got {raw!r}")
    ids: list[int] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
            raise ValueError(f"slaveIDs: {value!r} is not an integer in 0..255")
        if value not in ids:
            ids.append(value)
    return ids
