"""Modbus forms (`modbus+tcp://host:port/unit/address?quantity=n`) -> a `td_modbus` input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from streamforge.wot.plan import BindingSettings, InputPlan, Reading, millis
from streamforge.wot.problems import TdProblem

__all__ = ["ModbusTag", "modbus_tag", "plan_modbus"]

#: `modv:entity` -> register kind of the modbus input
ENTITIES = {
    "coil": "coil",
    "discreteinput": "discrete",
    "holdingregister": "holding",
    "inputregister": "input",
}
#: `modv:function` (code or name) -> register kind
FUNCTIONS = {
    "1": "coil", "readcoil": "coil", "readcoils": "coil",
    "2": "discrete", "readdiscreteinput": "discrete", "readdiscreteinputs": "discrete",
    "3": "holding", "readholdingregister": "holding", "readholdingregisters": "holding",
    "4": "input", "readinputregister": "input", "readinputregisters": "input",
}  # fmt: skip
#: `modv:type` (xsd local name, lower case) -> modbus data type; None: by quantity
XSD_TYPES: dict[str, str | None] = {
    "boolean": "BIT",
    "float": "FLOAT32",
    "double": "FLOAT64",
    "decimal": None,
    "short": "INT16",
    "unsignedshort": "UINT16",
    "int": "INT32",
    "unsignedint": "UINT32",
    "long": "INT64",
    "unsignedlong": "UINT64",
    "integer": None,
    "byte": "INT16",
    "unsignedbyte": "UINT16",
    "string": "STRING",
}
#: registers each data type spans
LENGTHS = {"INT16": 1, "UINT16": 1, "INT32": 2, "UINT32": 2, "FLOAT32": 2, "INT64": 4,
           "UINT64": 4, "FLOAT64": 4, "BIT": 1}  # fmt: skip
#: (mostSignificantByte, mostSignificantWord) -> byte order
BYTE_ORDERS = {(True, True): "ABCD", (False, False): "DCBA", (False, True): "BADC",
               (True, False): "CDAB"}  # fmt: skip
#: first digit of a 5-digit Modicon reference -> the register kind it stands for
PREFIXED = {0: "coil", 1: "discrete", 3: "input", 4: "holding"}


@dataclass
class ModbusTag:
    """One property as the modbus input reads it."""

    name: str
    host: str
    port: int
    unit_id: int | None
    address: int | None
    quantity: int | None
    register: str
    type: str
    byte_order: str
    polling: str | None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def modbus_tag(reading: Reading, plan: InputPlan) -> ModbusTag:
    """The register a property's form points at; problems and warnings go to `plan`."""
    form, affordance = reading.form, reading.affordance
    where = form.path
    parts = urlsplit(form.href)
    segments = [s for s in parts.path.split("/") if s]
    query = parse_qs(parts.query)
    href_unit = _int(segments[0]) if segments else None
    href_address = _int(segments[1]) if len(segments) > 1 else _int(query.get("offset", [""])[0])
    href_quantity = _int(query.get("quantity", query.get("length", [""]))[0])
    terms = form.terms.get("modbus", {})
    ranged = terms.get("range")
    if isinstance(ranged, list) and ranged:
        terms = {"address": ranged[0], **({"quantity": ranged[1]} if len(ranged) > 1 else {}),
                 **terms}  # fmt: skip
    unit = href_unit if href_unit is not None else _int(terms.get("unitID"))
    address = href_address if href_address is not None else _int(terms.get("address"))
    quantity = href_quantity if href_quantity is not None else _int(terms.get("quantity"))
    for label, from_href, term in (
        ("unit id", href_unit, "unitID"),
        ("address", href_address, "address"),
        ("quantity", href_quantity, "quantity"),
    ):
        written = _int(terms.get(term))
        if from_href is not None and written is not None and written != from_href:
            plan.warnings.append(
                f"{where}: the href's {label} {from_href} is used, not modv:{term} {written}"
            )
    if address is None:
        plan.problems.append(
            TdProblem(
                where, "no Modbus address: give it in the href (/unit/address) or modv:address"
            )
        )
    register = _register(terms, affordance.schema.type, where, plan)
    if address is not None and 10001 <= address <= 49999 and address // 10000 in PREFIXED:
        kind = PREFIXED[address // 10000]
        plan.warnings.append(
            f"{where}: address {address} looks like a 1-based {kind} reference "
            f"({address // 10000}xxxx); it is read as address {address} as written — if the "
            f"device documents it that way, the address is {address % 10000 - 1}"
        )
    data_type = _data_type(terms, affordance.schema.type, register, quantity, where, plan)
    msb = terms.get("mostSignificantByte", True) is not False
    msw = terms.get("mostSignificantWord", True) is not False
    return ModbusTag(
        name=affordance.name,
        host=parts.hostname or "",
        port=parts.port or 502,
        unit_id=unit,
        address=address,
        quantity=quantity,
        register=register,
        type=data_type,
        byte_order=BYTE_ORDERS[(msb, msw)],
        polling=millis(terms.get("pollingTime")),
    )


def _register(terms: dict[str, Any], json_type: str | None, where: str, plan: InputPlan) -> str:
    entity = terms.get("entity")
    if isinstance(entity, str):
        key = entity.rsplit(":", 1)[-1].lower()
        if key in ENTITIES:
            return ENTITIES[key]
        plan.problems.append(TdProblem(where, f"modv:entity {entity!r} is not a Modbus entity"))
    function = terms.get("function")
    if function is not None:
        key = str(function).rsplit(":", 1)[-1].lower()
        if key in FUNCTIONS:
            return FUNCTIONS[key]
        plan.problems.append(
            TdProblem(where, f"modv:function {function!r} is no read function (1-4)")
        )
    if entity is None and function is None:
        kind = "coil" if json_type == "boolean" else "holding"
        plan.warnings.append(f"{where}: no modv:entity or modv:function; read as {kind}")
        return kind
    return "holding"


def _data_type(
    terms: dict[str, Any],
    json_type: str | None,
    register: str,
    quantity: int | None,
    where: str,
    plan: InputPlan,
) -> str:
    if register in ("coil", "discrete"):
        if quantity not in (None, 1):
            plan.warnings.append(f"{where}: {register}s are read one bit per property")
        return "BIT"
    written = terms.get("type")
    if isinstance(written, str):
        key = written.rsplit(":", 1)[-1].lower()
        if key not in XSD_TYPES:
            plan.problems.append(TdProblem(where, f"modv:type {written!r} cannot be read"))
            return ""
        mapped = XSD_TYPES[key]
        if mapped is not None:
            _length_matches(mapped, quantity, where, plan)
            return mapped
        json_type = "number" if key == "decimal" else "integer"
    if json_type == "boolean":
        return "BIT"
    if json_type == "string":
        return "STRING"
    by_quantity = {
        "integer": {1: "INT16", 2: "INT32", 4: "INT64"},
        "number": {1: "INT16", 2: "FLOAT32", 4: "FLOAT64"},
    }.get(json_type or "number", {})
    if quantity is not None and quantity not in by_quantity:
        plan.problems.append(TdProblem(where, f"{quantity} registers make no {json_type}"))
        return ""
    return by_quantity.get(quantity or 1, "INT16")


def _length_matches(data_type: str, quantity: int | None, where: str, plan: InputPlan) -> None:
    length = LENGTHS.get(data_type)
    if quantity is not None and length is not None and quantity != length:
        plan.warnings.append(
            f"{where}: {data_type} spans {length} register(s), not the quantity {quantity}"
        )


def plan_modbus(readings: list[Reading], settings: BindingSettings) -> InputPlan:
    """Poll every property's register on one device; the tag name is the property name."""
    plan = InputPlan(input={})
    tags = [modbus_tag(r, plan) for r in readings]
    devices: dict[tuple[str, int], list[tuple[Reading, ModbusTag]]] = {}
    for r, tag in zip(readings, tags):
        devices.setdefault((tag.host, tag.port), []).append((r, tag))
    (host, port), chosen = next(iter(devices.items()))
    for (other, other_port), skipped in list(devices.items())[1:]:
        names = ", ".join(r.affordance.name for r, _ in skipped)
        plan.warnings.append(
            f"a stream polls one Modbus device: {names} on {other}:{other_port} are left out"
        )
    units = [t.unit_id for _, t in chosen if t.unit_id is not None]
    slave_id = units[0] if units else 1
    wide = [t.byte_order for _, t in chosen if t.type not in ("BIT", "INT16", "UINT16", "")]
    byte_order = wide[0] if wide else "ABCD"
    if len(set(wide)) > 1:
        plan.warnings.append(f"the properties use different byte orders; all are read {byte_order}")
    pollings = [t.polling for _, t in chosen if t.polling]
    interval = settings.interval or (min(pollings, key=_as_ms) if pollings else "1s")
    if not settings.interval and len(set(pollings)) > 1:
        plan.warnings.append(
            f"the forms ask for different modv:pollingTime; all are polled every {interval}"
        )
    properties = []
    for r, tag in chosen:
        if tag.address is None or not tag.type:
            continue
        entry: dict[str, Any] = {
            "name": tag.name,
            "register": tag.register,
            "address": tag.address,
            "type": tag.type,
        }
        if tag.type == "STRING":
            entry["length"] = tag.quantity or 1
        if tag.unit_id is not None and tag.unit_id != slave_id:
            entry["unit_id"] = tag.unit_id
        properties.append(entry)
        plan.readings.append(r)
    plan.key = "@modbus_tag_name"
    plan.input = {
        "td_modbus": {
            "controller": f"tcp://{host}:{port}",
            "slave_id": slave_id,
            "poll_interval": interval,
            "byte_order": byte_order,
            "properties": properties,
        }
    }
    return plan


def _as_ms(duration: str) -> float:
    return float(duration[:-2]) if duration.endswith("ms") else float(duration[:-1]) * 1000
