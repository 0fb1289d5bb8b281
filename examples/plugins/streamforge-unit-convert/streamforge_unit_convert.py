"""A StreamForge processor plugin: `unit_convert` converts a numeric field between units.

Temperatures (celsius, fahrenheit, kelvin) and pressures (Pa, hPa, kPa, MPa, mbar, bar,
psi). Loaded from the `streamforge.plugins` entry point when installed, or by path with
`plugins: [path/to/streamforge_unit_convert.py]` in a stream config.
"""

from __future__ import annotations

from typing import Any

from streamforge.plugin import (
    BuildContext,
    Field,
    Message,
    PayloadError,
    Processor,
    register_processor,
)

__all__ = ["UNITS", "UnitConvert", "convert"]

# unit -> (dimension, scale, offset): base = value * scale + offset
# (base units: kelvin for temperature, pascal for pressure)
UNITS: dict[str, tuple[str, float, float]] = {
    "celsius": ("temperature", 1.0, 273.15),
    "fahrenheit": ("temperature", 5.0 / 9.0, 459.67 * 5.0 / 9.0),
    "kelvin": ("temperature", 1.0, 0.0),
    "pa": ("pressure", 1.0, 0.0),
    "hpa": ("pressure", 100.0, 0.0),
    "kpa": ("pressure", 1_000.0, 0.0),
    "mpa": ("pressure", 1_000_000.0, 0.0),
    "mbar": ("pressure", 100.0, 0.0),
    "bar": ("pressure", 100_000.0, 0.0),
    "psi": ("pressure", 6_894.757293168, 0.0),
}

ALIASES = {
    "c": "celsius", "°c": "celsius", "degc": "celsius",
    "f": "fahrenheit", "°f": "fahrenheit", "degf": "fahrenheit",
    "k": "kelvin",
}  # fmt: skip

#: how each unit is written back into `unit_field`
DISPLAY = {"pa": "Pa", "hpa": "hPa", "kpa": "kPa", "mpa": "MPa"}


def canonical_unit(name: str) -> str:
    """The canonical name of a unit ("kPa" -> "kpa", "°C" -> "celsius"); KeyError if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in UNITS:
        raise KeyError(name)
    return key


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a value between two units of the same dimension."""
    src, dst = canonical_unit(from_unit), canonical_unit(to_unit)
    dim_s, scale_s, off_s = UNITS[src]
    dim_d, scale_d, off_d = UNITS[dst]
    if dim_s != dim_d:
        raise ValueError(f"cannot convert {dim_s} ({from_unit}) to {dim_d} ({to_unit})")
    return ((value * scale_s + off_s) - off_d) / scale_d


def _unit_choices() -> str:
    return ", ".join(sorted(UNITS))


def _split(path: str) -> list[str]:
    return [p for p in path.split(".") if p]


def _get(doc: Any, parts: list[str]) -> Any:
    for p in parts:
        if not isinstance(doc, dict) or p not in doc:
            raise KeyError(".".join(parts))
        doc = doc[p]
    return doc


def _set(doc: Any, parts: list[str], value: Any) -> None:
    for p in parts[:-1]:
        nxt = doc.get(p)
        if not isinstance(nxt, dict):
            nxt = doc[p] = {}
        doc = nxt
    doc[parts[-1]] = value


@register_processor(
    "unit_convert",
    fields=[
        Field(
            "field",
            "string",
            default="value",
            description="Dotted path of the number to convert.",
            examples=("value", "data.temp"),
        ),
        Field(
            "from",
            "string",
            default="",
            description="Unit of the value. Empty: read it from `unit_field` of each message.",
            examples=("celsius", "bar"),
        ),
        Field("to", "string", description="Unit to convert to.", examples=("fahrenheit", "psi")),
        Field(
            "precision",
            "int",
            default=6,
            description="Decimal places the result is rounded to; -1 keeps full precision.",
        ),
        Field(
            "unit_field",
            "string",
            default="unit",
            description="Dotted path of the unit name in the document; updated to `to` after "
            "a conversion. Empty: leave the document's unit alone.",
        ),
    ],
    summary="Converts a numeric field between temperature or pressure units.",
    description=(
        "Units: " + ", ".join(sorted(UNITS)) + " (case-insensitive; C, F, K, °C, degC also "
        "accepted). A message whose value is missing or not a number, or whose unit is "
        "unknown, is flagged with an error and passes on unchanged."
    ),
    examples=("unit_convert:\n  field: value\n  from: celsius\n  to: fahrenheit\n",),
)
class UnitConvert(Processor):
    """Converts a numeric field between temperature or pressure units."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.field = _split(conf["field"])
        if not self.field:
            raise ValueError("field must name a path in the document")
        self.unit_field = _split(conf.get("unit_field") or "")
        self.precision = int(conf.get("precision", 6))
        try:
            self.to_unit = canonical_unit(conf["to"])
        except KeyError:
            raise ValueError(
                f"unknown unit {conf['to']!r} in `to` (choose from {_unit_choices()})"
            ) from None
        self.from_unit = ""
        if conf.get("from"):
            try:
                self.from_unit = canonical_unit(conf["from"])
            except KeyError:
                raise ValueError(
                    f"unknown unit {conf['from']!r} in `from` (choose from {_unit_choices()})"
                ) from None
            convert(0.0, self.from_unit, self.to_unit)  # raises on mismatched dimensions
        elif not self.unit_field:
            raise ValueError("set `from`, or `unit_field` to read the unit from each message")

    def _convert_one(self, msg: Message) -> None:
        doc = msg.value
        value = _get(doc, self.field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"field {'.'.join(self.field)} is not a number: {value!r}")
        src = self.from_unit
        if not src:
            unit = _get(doc, self.unit_field)
            try:
                src = canonical_unit(str(unit))
            except KeyError:
                raise ValueError(f"unknown unit {unit!r} (choose from {_unit_choices()})") from None
        result = convert(float(value), src, self.to_unit)
        if self.precision >= 0:
            result = round(result, self.precision)
        _set(doc, self.field, result)
        if self.unit_field:
            _set(doc, self.unit_field, DISPLAY.get(self.to_unit, self.to_unit))
        msg.set_value(doc)

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for msg in batch:
            try:
                self._convert_one(msg)
            except KeyError as exc:
                msg.error = f"unit_convert: field {exc.args[0]} not found"
            except (ValueError, PayloadError) as exc:
                msg.error = f"unit_convert: {exc}"
        return batch
