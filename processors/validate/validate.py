"""`validate` processor: JSON Schema and per-series rules set the quality code of each envelope.

BAD envelopes are flagged as errors, so `fallback` / `switch` on `errored()` send them to a
dead-letter output; `streamforge dlq replay` feeds them back in after the rules change.
Rules that need state between readings (rate_of_change, duplicate, gap) make the processor
keyed by asset and parameter, so that state lives in a Bytewax stateful step.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, register_processor
from streamforge.plugin.keyed import KeyedOut
from streamforge.plugin.spec import ParsedField
from streamforge.processors.telemetry.quality import Quality, is_quality, worst
from streamforge.processors.telemetry.series import SeriesKeyedProcessor
from streamforge.processors.validate.rules import (
    Rule,
    SeriesPlan,
    parse_rule,
    plan_for,
    rules_field,
)
from streamforge.processors.validate.schema import SchemaCheck, load_schema_file, parse_schema
from streamforge.processors.validate.series import (
    Found,
    check_reading,
    gap_due,
    gap_event,
    new_state,
)

__all__ = ["ValidateProcessor"]

log = logging.getLogger("streamforge.processors.validate")

#: series plans remembered per processor (they only depend on the config)
_PLAN_CACHE_SIZE = 10_000


def _schema_value(value: Any) -> Any:
    """Lint: an inline schema must be a valid JSON Schema (object, or JSON/YAML text)."""
    if value is None or value == "":
        return None
    return parse_schema(value)


def _registry_fields() -> tuple[Field, ...]:
    from streamforge.processors.avro.registry_client import registry_fields

    shared = [f for f in registry_fields() if f.name != "avro_raw_json"]
    subject = Field(
        "subject",
        "string",
        description="The subject whose latest version (of type JSON) is the schema.",
        examples=("plant-telemetry-value",),
    )
    return (shared[0], subject, *shared[1:])


@register_processor(
    "validate",
    fields=[
        ParsedField(
            "schema",
            "any",
            parser=_schema_value,
            default=None,
            description=(
                "A JSON Schema (Draft 2020-12 unless its `$schema` says otherwise, with format "
                "checks) every payload must meet: an object, or JSON/YAML text. A payload that "
                "fails is BAD, with the JSON path and message of the first errors as reasons."
            ),
            examples=(
                {
                    "type": "object",
                    "required": ["asset_id", "parameter", "value"],
                    "properties": {"value": {"type": "number"}},
                },
            ),
        ),
        Field(
            "schema_path",
            "string",
            default="",
            description=(
                "A file holding the JSON Schema (JSON or YAML); relative paths are tried from "
                "the working directory, then from the config file's directory."
            ),
            examples=("schemas/envelope.schema.json",),
        ),
        Field(
            "schema_registry",
            "object",
            default=None,
            description=(
                "Fetch the schema from a Confluent-compatible schema registry: the latest "
                "version of `subject`, which must be of type JSON. It is fetched when the "
                "stream starts and kept on disk, so a restart works with the registry down."
            ),
            fields=_registry_fields(),
        ),
        rules_field(),
        Field(
            "flag_bad",
            "bool",
            default=True,
            description=(
                "Flag BAD envelopes as errors (the error lists the reasons), so outputs can "
                "route them to a dead-letter output. False: they pass on as healthy messages."
            ),
        ),
    ],
    summary="Sets the quality code of envelopes by a JSON Schema and per-parameter rules.",
    description=(
        "The quality becomes the worst of the envelope's own and what the checks find: "
        "schema violations, values outside `range` and values that are not finite numbers "
        "are BAD; a faster `rate_of_change`, a `duplicate` and an out-of-order reading are "
        "SUSPECT; a reading without a device time (`require_device_time`) is UNCERTAIN. When "
        "anything is found, the envelope's `metadata.validation` holds `{quality, reasons, "
        "input_quality}` and `metadata.quality_reasons` lists every reason, as the telemetry "
        "processor writes them; the `quality` metadata follows. Validating again (a replay) "
        "starts from `input_quality`, so a fixed rule really clears a reason. BAD envelopes "
        "are flagged as errors (`flag_bad`); SUSPECT and UNCERTAIN ones pass on. Payloads "
        "that are not envelopes (objects with `asset_id` and `parameter`) only meet the "
        "schema. `gap` emits an EVENT envelope when a series goes quiet."
    ),
    examples=(
        "validate:\n"
        "  schema_path: schemas/envelope.schema.json\n"
        "  rules:\n"
        "    - parameter: temperature\n"
        "      range: { min: -20, max: 120 }\n"
        "      rate_of_change: { max_per_second: 5 }\n"
        "      gap: { expected_interval: 10s }\n"
        "    - parameter: '*'\n"
        "      require_device_time: true\n"
        "      duplicate: { window: 1s, action: drop }",
    ),
)
class ValidateProcessor(SeriesKeyedProcessor):
    """Sets the quality code of envelopes by a JSON Schema and per-parameter rules."""

    #: it passes on the messages it judges (or drops duplicates), their asset and parameter as
    #: they came: a keyed processor after it can share its stateful step
    preserves_keys = True

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        self.schema = _load_schema(conf, ctx)
        rules: list[Rule] = []
        for i, raw in enumerate(conf.get("rules") or []):
            try:
                rules.append(parse_rule(raw))
            except ValueError as exc:
                raise ValueError(f"rules[{i}]: {exc}") from None
        self.rules = tuple(rules)
        self.flag_bad = bool(conf.get("flag_bad", True))
        self.stateful = any(
            r.max_per_second is not None
            or r.duplicate_window is not None
            or r.gap_interval is not None
            for r in rules
        )
        self.adapter_id = getattr(ctx, "stream", "") or "streamforge"
        self._plans: dict[tuple[str, str], SeriesPlan] = {}
        self._clock = time.time

    # -- batches ------------------------------------------------------------------------------
    def process_batch(self, batch: list[Message]) -> list[Message]:
        if self.stateful:
            return super().process_batch(batch)
        return self.process_shard([""] * len(batch), batch, {})  # no rule keeps state

    def process_key(self, key: str, batch: list[Message], state: Any) -> KeyedOut:
        states = {key: state} if state is not None else {}
        out = self.process_shard([key] * len(batch), batch, states)
        return out, states.get(key)

    def process_shard(
        self, keys: list[str], batch: list[Message], states: dict[str, Any]
    ) -> list[Message]:
        """Judge each message, updating its series' state; duplicates may be dropped."""
        now = self._clock()
        out: list[Message] = []
        schema, rules, plans = self.schema, self.rules, self._plans
        for key, msg in zip(keys, batch):
            try:
                value = msg.value
            except PayloadError as exc:
                self._fail(msg, [f"payload: {exc}"])
                out.append(msg)
                continue
            found: Found = []
            if schema is not None:
                violations = schema.errors(value)
                if violations:
                    found = [("BAD", r) for r in violations]
            if type(value) is not dict:
                if found:
                    self._fail(msg, [r for _, r in found])
                out.append(msg)
                continue
            if rules:
                asset, parameter = value.get("asset_id"), value.get("parameter")
                if type(asset) is str and type(parameter) is str:
                    plan = plans.get((asset, parameter)) or self._plan(asset, parameter)
                    if plan.stateful:
                        state = states.get(key)
                        if state is None:
                            state = states[key] = new_state(asset, parameter, now)
                        more, drop = check_reading(plan, value, state, now)
                        if drop:
                            continue
                        if more:
                            found += more
                    elif not plan.empty:
                        found += check_reading(plan, value, None, now)[0]
            if found:
                self._record(msg, value, found)
            else:
                meta = value.get("metadata")
                if (type(meta) is dict and type(meta.get("validation")) is dict) or (
                    self.flag_bad and value.get("quality") == "BAD"
                ):
                    self._record(msg, value, found)  # an earlier verdict, or a BAD envelope
            out.append(msg)
        return out

    @property
    def timed(self) -> bool:
        """Only gap rules wake the processor up."""
        return any(r.gap_interval is not None for r in self.rules)

    def notify_at(self, key: str, state: Any) -> datetime | None:
        due = gap_due(self._plan(state["asset_id"], state["parameter"]), state)
        return None if due is None else datetime.fromtimestamp(due, tz=timezone.utc)

    def on_notify(self, key: str, state: Any) -> KeyedOut:
        plan = self._plan(state["asset_id"], state["parameter"])
        due = gap_due(plan, state)
        now = self._clock()
        if due is None or now < due:
            return [], state
        event = gap_event(plan, state, now, self.adapter_id)
        state["gap_sent"] = True
        meta = {
            "asset_id": event["asset_id"],
            "parameter": event["parameter"],
            "quality": "GOOD",
            "classification": "EVENT",
        }
        return [Message.from_value(event, meta)], state

    # -- one message --------------------------------------------------------------------------
    def _plan(self, asset_id: str, parameter: str) -> SeriesPlan:
        plans = self._plans
        plan = plans.get((asset_id, parameter))
        if plan is None:
            plan = plan_for(self.rules, asset_id, parameter)
            if len(plans) >= _PLAN_CACHE_SIZE:
                plans.clear()
            plans[(asset_id, parameter)] = plan
        return plan

    def _fail(self, msg: Message, reasons: list[str]) -> None:
        msg.metadata["quality"] = "BAD"
        if self.flag_bad:
            msg.error = "validate: " + "; ".join(reasons)

    def _record(self, msg: Message, envelope: dict[str, Any], found: Found) -> None:
        """Write quality and reasons into the envelope (only when there is something to say)."""
        meta = envelope.get("metadata")
        meta = meta if type(meta) is dict else {}
        prior = meta.get("validation")
        if not found and type(prior) is not dict:
            if self.flag_bad and envelope.get("quality") == "BAD":
                given = meta.get("quality_reasons")
                why = "; ".join(map(str, given)) if isinstance(given, list) and given else "BAD"
                msg.error = f"validate: envelope quality BAD: {why}"
            return
        base, base_reasons = _input_quality(envelope, meta, prior)
        rules_quality = worst(*(q for q, _ in found))
        reasons = [r for _, r in found]
        quality = worst(base, rules_quality)
        new_meta = dict(meta)
        new_meta.pop("validation", None)
        if found:
            new_meta["validation"] = {
                "quality": rules_quality,
                "reasons": reasons,
                "input_quality": base,
            }
        if quality != "GOOD":
            new_meta["quality_reasons"] = base_reasons + reasons
        else:
            new_meta.pop("quality_reasons", None)
        msg.set_value({**envelope, "quality": quality, "metadata": new_meta})
        msg.metadata["quality"] = quality
        if quality == "BAD" and self.flag_bad:
            msg.error = "validate: " + "; ".join(base_reasons + reasons or ["envelope quality BAD"])


def _input_quality(
    envelope: dict[str, Any], meta: dict[str, Any], prior: Any
) -> tuple[Quality, list[str]]:
    """The quality and reasons the envelope had before any `validate` judged it."""
    given = meta.get("quality_reasons")
    reasons = [str(r) for r in given] if isinstance(given, list) else []
    if type(prior) is dict:
        ours = set(map(str, prior.get("reasons") or []))
        reasons = [r for r in reasons if r not in ours]
        quality = prior.get("input_quality")
    else:
        quality = envelope.get("quality")
    if quality is None:
        return "GOOD", reasons
    if not is_quality(quality):
        return "UNCERTAIN", [*reasons, f"quality {quality!r} is not a quality code"]
    return quality, reasons  # type: ignore[return-value]


def _load_schema(conf: dict[str, Any], ctx: BuildContext | None) -> SchemaCheck | None:
    """The schema from exactly one of `schema`, `schema_path` and `schema_registry`."""
    inline = conf.get("schema")
    path = str(conf.get("schema_path") or "").strip()
    registry = conf.get("schema_registry")
    sources = (("schema", inline), ("schema_path", path), ("schema_registry", registry))
    given = [name for name, value in sources if value not in (None, "", {})]
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)}: give the schema one way only")
    if inline not in (None, ""):
        try:
            return SchemaCheck(parse_schema(inline))
        except ValueError as exc:
            raise ValueError(f"schema: {exc}") from None
    if path:
        try:
            return SchemaCheck(load_schema_file(_resolve(path, ctx)))
        except ValueError as exc:
            raise ValueError(f"schema_path: {exc}") from None
    if registry:
        return SchemaCheck(_registry_schema(registry))
    return None


def _resolve(path: str, ctx: BuildContext | None) -> Path:
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    conf = getattr(ctx, "config", None)
    location = getattr(conf, "location", None)
    if location is not None:
        beside = Path(location.file).parent / p
        if beside.exists():
            return beside
    return p


def _registry_schema(conf: dict[str, Any]) -> dict[str, Any] | bool:
    """The latest JSON schema of the subject, through the shared registry client (disk cache)."""
    from streamforge.processors.avro.registry_client import RegistryError, client_from_config

    subject = str(conf.get("subject") or "").strip()
    if not subject:
        raise ValueError("schema_registry.subject: required")
    try:
        client = client_from_config(conf, refresh_period=0.0)
    except ValueError as exc:
        raise ValueError(f"schema_registry.{exc}") from None
    try:
        found = client.latest(subject)
    except RegistryError as exc:
        raise ValueError(f"schema_registry: {exc}") from None
    finally:
        client.close()
    if found.schema_type.upper() != "JSON":
        raise ValueError(
            f"schema_registry: subject {subject!r} version {found.version} has schemaType "
            f"{found.schema_type}; validate needs a JSON Schema (schemaType JSON)"
        )
    try:
        return parse_schema(found.schema)
    except ValueError as exc:
        raise ValueError(f"schema_registry: subject {subject!r}: {exc}") from None
