"""Quality of a reading as its source reports it: OPC UA status codes, Modbus errors, no value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamforge.processors.telemetry.quality import Quality, worst

__all__ = ["CLASSIFICATIONS", "MODBUS_NOT_BAD", "choice", "source_quality"]

CLASSIFICATIONS = ("TELEMETRY", "EVENT", "ALARM")

#: Modbus exception codes that mean "not now" rather than "no such value":
#: 5 acknowledge (still working on it), 6 server device busy
MODBUS_NOT_BAD = {5: "acknowledge", 6: "device busy"}

_OPCUA_PREFIXES: tuple[tuple[str, Quality], ...] = (
    ("Good", "GOOD"),
    ("Uncertain", "UNCERTAIN"),
    ("Bad", "BAD"),
)


def choice(value: str, options: tuple[str, ...], field: str) -> str:
    """`value` upper-cased when it is one of `options`; ValueError naming it otherwise."""
    code = value.strip().upper()
    if code not in options:
        raise ValueError(f'{field}: "{value}" is not one of {", ".join(options)}')
    return code


def _exception_code(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _opcua(status: str) -> tuple[Quality, str]:
    for prefix, quality in _OPCUA_PREFIXES:
        if status.startswith(prefix):
            return quality, f"OPC UA status {status}"
    return "UNCERTAIN", f"unknown OPC UA status {status}"


def _modbus(error: Any, raw_code: Any) -> tuple[Quality, str]:
    code = _exception_code(raw_code)
    if code in MODBUS_NOT_BAD:
        return "UNCERTAIN", f"modbus exception {code} ({MODBUS_NOT_BAD[code]}): {error}"
    return "BAD", f"modbus: {error}"


def source_quality(metadata: Mapping[str, Any], value: Any) -> tuple[Quality, list[str]]:
    """The quality the source metadata (or a missing value) implies, with its reasons.

    OPC UA `opcua_attr_statuscode` Good*/Uncertain*/Bad*; `opcua_error` is BAD; Modbus
    `modbus_error` is BAD, UNCERTAIN for exception codes 5 and 6; a null value with no
    status from the source is BAD.
    """
    quality: Quality = "GOOD"
    reasons: list[str] = []
    told = False
    status = metadata.get("opcua_attr_statuscode")
    if status:
        told = True
        quality, reason = _opcua(str(status))
        if quality != "GOOD":
            reasons.append(reason)
    if metadata.get("opcua_error") and quality != "BAD":
        told = True
        quality = "BAD"
        reasons.append(f"opcua: {metadata['opcua_error']}")
    error = metadata.get("modbus_error")
    if error:
        told = True
        mb_quality, reason = _modbus(error, metadata.get("modbus_exception_code"))
        quality = worst(quality, mb_quality)
        reasons.append(reason)
    if value is None and not told:
        return "BAD", ["no value"]
    return quality, reasons
