"""TD -> stream config: the affordances to read, the binding's input (a `td_*` template), and
a pipeline that names each reading after its affordance, wraps it in the telemetry envelope and
checks it against the TD's data schema.

Inputs come from the binding templates in `templates/` (`td_modbus`, `td_opcua`, `td_mqtt`,
`td_http_poll`, `td_kafka`) and the envelope from `td_telemetry`, so editing a template changes
what every generated stream does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamforge.config.dump import dump_yaml
from streamforge.wot.bind_http import plan_http
from streamforge.wot.bind_kafka import plan_kafka
from streamforge.wot.bind_modbus import plan_modbus
from streamforge.wot.bind_mqtt import plan_mqtt
from streamforge.wot.bind_opcua import plan_opcua
from streamforge.wot.forms import BINDINGS, TD_LEVEL_OPS
from streamforge.wot.model import Affordance, Form, ThingDescription, parse_td
from streamforge.wot.plan import BindingSettings, InputPlan, Reading
from streamforge.wot.problems import TdError, TdProblem, json_path
from streamforge.wot.security import resolve_auth

__all__ = [
    "GenerateOptions",
    "GeneratedStream",
    "generate_stream",
    "select_readings",
    "stream_id_for",
]

_NOT_ID = re.compile(r"[^A-Za-z0-9._-]")

#: binding -> what makes its input of the chosen readings
PLANNERS: dict[str, Callable[[list[Reading], BindingSettings], InputPlan]] = {
    "modbus": plan_modbus,
    "mqtt": plan_mqtt,
    "opcua": plan_opcua,
    "http": plan_http,
    "kafka": plan_kafka,
}
#: JSON types of a data schema the `validate` step checks a value against
_CHECKED_TYPES = ("boolean", "integer", "number", "string", "object", "array", "null")


def stream_id_for(thing_id: str) -> str:
    """A stream id of a Thing id: every character outside `[A-Za-z0-9._-]` becomes `_`."""
    return _NOT_ID.sub("_", thing_id) or "thing"


@dataclass
class GenerateOptions:
    """What to generate: the affordances (None: every readable property and every event),
    the interval (None: the TD's, else the binding's default), the output (None: a JSON Lines
    file in `output_dir`) and credentials by security scheme name."""

    properties: Sequence[str] | None = None
    events: Sequence[str] | None = None
    interval: str | None = None
    output: Mapping[str, Any] | None = None
    output_dir: str = "./things"
    credentials: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class GeneratedStream:
    """A generated stream: its name, config (plain data), YAML text and what to know."""

    name: str
    binding: str
    config: dict[str, Any]
    yaml: str
    warnings: list[str] = field(default_factory=list)


#: bindings whose messages carry the payload as the form's contentType says (Modbus and OPC UA
#: inputs decode values themselves)
_PAYLOAD_BINDINGS = ("http", "mqtt", "kafka")


def _readable(form: Form) -> bool:
    """Whether StreamForge decodes a form's payloads: JSON (`application/json`, `...+json`) or
    text; not CBOR, octet streams and the like (always, for Modbus and OPC UA)."""
    if form.binding not in _PAYLOAD_BINDINGS:
        return True
    media = form.content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "") or media.endswith("+json") or media.startswith("text/")


def _pick(affordance: Affordance, binding: str) -> Reading | None:
    """The form and operation an affordance is read through on `binding`, if it has one.

    A form whose payload StreamForge reads wins over the preferred operation: node-wot offers
    every HTTP operation once per content type (`application/json`, `application/cbor`), in
    its codecs' order, and polling JSON beats observing CBOR.
    """
    forms = [f for f in affordance.forms if f.binding == binding]
    wanted: tuple[str, ...]
    if affordance.kind == "event":
        wanted = ("subscribeevent",)
    elif binding == "modbus":
        wanted = ("readproperty", "observeproperty")  # both are polls
    else:
        wanted = ("observeproperty", "readproperty")
    readable = [f for f in forms if _readable(f)]
    others = [f for f in forms if not _readable(f)]
    for group in (readable, others):
        for op in wanted:
            for form in group:
                if op in form.ops:
                    return Reading(affordance, form, op)
    return None


def select_readings(
    td: ThingDescription, binding: str, options: GenerateOptions
) -> tuple[list[Reading], list[str], list[TdProblem]]:
    """The affordances to read on `binding` with their forms; warnings; problems."""
    readings: list[Reading] = []
    warnings: list[str] = []
    problems: list[TdProblem] = []
    for kind, key, names in (
        ("property", "properties", options.properties),
        ("event", "events", options.events),
    ):
        known = td.of_kind(kind)
        if names is None:
            chosen = [a for a in known if not a.write_only]
            explicit = False
        else:
            chosen = []
            explicit = True
            for name in names:
                found = td.affordance(kind, name)
                if found is None:
                    listed = ", ".join(a.name for a in known) or "none"
                    problems.append(
                        TdProblem(json_path([key, name]), f"no such {kind} (the TD has: {listed})")
                    )
                else:
                    chosen.append(found)
        for affordance in chosen:
            reading = _pick(affordance, binding)
            if reading is not None:
                readings.append(reading)
                if not _readable(reading.form):
                    warnings.append(
                        f"{reading.form.path}: its payloads are {reading.form.content_type}, "
                        "which the stream cannot decode (it reads JSON and text)"
                    )
                continue
            if not affordance.forms and _td_level(td, affordance, binding):
                warnings.append(
                    f"{affordance.path} is only reached through Thing-level forms "
                    "(readallproperties ...), which StreamForge does not generate"
                )
            if explicit:
                bindings = sorted({f.binding or "other" for f in affordance.forms}) or ["none"]
                problems.append(
                    TdProblem(
                        json_path([key, affordance.name, "forms"]),
                        f"no {binding} form to read the {kind} with (its forms are for: "
                        f"{', '.join(bindings)})",
                    )
                )
    if not readings and not problems:
        present = sorted(
            {f.binding for a in td.affordances for f in a.forms if f.binding}
            | {f.binding for f in td.forms if f.binding}
        )
        problems.append(
            TdProblem(
                "$",
                f"no property or event has a {binding} form to read "
                f"(the TD's forms are for: {', '.join(present) or 'none StreamForge reads'})",
            )
        )
    return readings, warnings, problems


def _td_level(td: ThingDescription, affordance: Affordance, binding: str) -> bool:
    ops = {op for form in td.forms if form.binding == binding for op in form.ops}
    wanted = ("subscribeevent",) if affordance.kind == "event" else ("readproperty",)
    return any(level in ops for op in wanted for level in TD_LEVEL_OPS[op])


def _bloblang(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _naming(plan: InputPlan, thing_id: str) -> str:
    """The mutation that names each message's affordance, unit and classification."""
    lines = [f"meta wot_thing = {_bloblang(thing_id)}"]
    if plan.key is not None and plan.routes:
        lines.append(f'let key = {plan.key}.or("")')
        lines.append("let name = match $key {")
        for value, name, regex in plan.routes:
            test = f"$key.re_match({_bloblang(value)})" if regex else _bloblang(value)
            lines.append(f"  {test} => {_bloblang(name)}")
        lines.append('  _ => ""')
        lines.append("}")
    elif plan.key is not None:
        lines.append(f'let name = {plan.key}.or("")')
    else:
        lines.append('let name = @wot_affordance.or("")')
    lines.append('meta wot_affordance = if $name != "" { $name } else { deleted() }')
    units = [(r.affordance.name, r.affordance.unit) for r in plan.readings if r.affordance.unit]
    if units:
        lines.append("meta wot_unit = match $name {")
        lines.extend(f"  {_bloblang(n)} => {_bloblang(u)}" for n, u in units)
        lines.append("  _ => deleted()")
        lines.append("}")
    events = [r.affordance.name for r in plan.readings if r.affordance.kind == "event"]
    if events:
        lines.append("meta wot_classification = match $name {")
        lines.extend(f'  {_bloblang(n)} => "EVENT"' for n in events)
        lines.append('  _ => "TELEMETRY"')
        lines.append("}")
    return "\n".join(lines)


def _glob(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _validation(plan: InputPlan) -> dict[str, Any] | None:
    """`validate` with range rules from minimum/maximum and a schema of each value's type."""
    rules: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for r in plan.readings:
        a = r.affordance
        if a.minimum is not None or a.maximum is not None:
            bounds = {k: v for k, v in (("min", a.minimum), ("max", a.maximum)) if v is not None}
            rules.append({"parameter": _glob(a.name), "range": bounds})
        if a.schema.type in _CHECKED_TYPES:
            checks.append(
                {
                    "if": {
                        "properties": {"parameter": {"const": a.name}},
                        "required": ["parameter"],
                    },
                    "then": {"properties": {"value": {"type": a.schema.type}}},
                }
            )
    if not rules and not checks:
        return None
    out: dict[str, Any] = {}
    if checks:
        out["schema"] = {"type": "object", "allOf": checks}
    if rules:
        out["rules"] = rules
    return out


def generate_stream(
    td: ThingDescription | Mapping[str, Any] | str | bytes,
    binding: str,
    options: GenerateOptions | None = None,
) -> GeneratedStream:
    """The stream config that reads a Thing over one binding (modbus, mqtt, opcua, http,
    kafka). Raises TdError naming every problem (an invalid TD, an affordance that does not
    exist or has no form for the binding, credentials a security scheme needs)."""
    options = options or GenerateOptions()
    if binding not in PLANNERS:
        raise TdError(
            [TdProblem("$", f"unknown binding {binding!r} (one of {', '.join(BINDINGS)})")]
        )
    thing = td if isinstance(td, ThingDescription) else parse_td(td)
    readings, warnings, problems = select_readings(thing, binding, options)
    if problems:
        raise TdError(problems)
    stream_id = stream_id_for(thing.thing_id)
    auth = resolve_auth(thing, (r.form for r in readings), binding, options.credentials)
    settings = BindingSettings(
        thing_id=thing.thing_id, stream_id=stream_id, auth=auth, interval=options.interval
    )
    plan = PLANNERS[binding](readings, settings)
    problems = auth.problems + plan.problems
    if problems:
        raise TdError(problems)
    warnings = warnings + auth.warnings + plan.warnings
    processors: list[dict[str, Any]] = [
        {"label": "wot_affordance", "mutation": _naming(plan, thing.thing_id)},
        {"label": "wot_envelope", "td_telemetry": {"asset_id": thing.thing_id}},
    ]
    validation = _validation(plan)
    if validation is not None:
        processors.append({"label": "wot_validate", "validate": validation})
    output = (
        dict(options.output)
        if options.output is not None
        else {
            "file": {
                "path": f"{options.output_dir.rstrip('/')}/{stream_id}.jsonl",
                "codec": "lines",
            }
        }
    )
    config = {"input": plan.input, "pipeline": {"processors": processors}, "output": output}
    name = f"things.{stream_id}.{binding}"
    header = (
        f"# {name}: generated from the Thing Description {thing.title!r} ({thing.thing_id})\n"
        f"# for the {binding} binding by `streamforge td generate`.\n"
    )
    return GeneratedStream(
        name=name,
        binding=binding,
        config=config,
        yaml=header + dump_yaml(config),
        warnings=warnings,
    )
