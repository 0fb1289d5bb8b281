"""`tag_processor` (benthos-umh): JavaScript stages that place a tag in the UMH data model.

`defaults` runs on every message, then each condition whose `if` holds runs its `then`, then
`advancedProcessing`. Every stage sees `msg.payload` and `msg.meta` and returns `msg`, an
array of messages, or null to drop. What comes out must carry `location_path`, `data_contract`
and `tag_name` metadata; the processor adds `umh_topic` (and the older `topic`),
`umh.v1.<location_path>.<data_contract>.<virtual_path>.<tag_name>` without empty parts, and
makes the payload `{"value": ..., "timestamp_ms": ...}`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from streamforge.durations import parse_duration
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.spec import ParsedField
from streamforge.processors.javascript.nodered_js import (
    dedup_value,
    limit_fields,
    runtime_limits,
)
from streamforge.processors.javascript.runtime import (
    JsError,
    JsRuntime,
    check_syntax,
    js_message,
    to_message,
)
from streamforge.timefmt.timestamps import time_nanos

__all__ = ["TagProcessor", "umh_topic", "umh_value"]

REQUIRED = ("location_path", "data_contract", "tag_name")
DATATYPES = ("string", "number", "bool")


def _condition_expr(value: Any) -> str:
    """An `if` as JavaScript text (YAML may give `true` as a boolean); checked for syntax."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (int, float)):
        value = repr(value)
    elif not isinstance(value, str) or not value.strip():
        raise ValueError("expected a JavaScript expression")
    return check_syntax(value, expression=True)


def _body(value: Any) -> str:
    return check_syntax(str(value or ""))


def umh_topic(meta: dict[str, Any]) -> str:
    """`umh.v1.<location_path>.<data_contract>.<virtual_path>.<tag_name>`, empty parts left out."""
    parts = ["umh", "v1"]
    for key in ("location_path", "data_contract", "virtual_path", "tag_name"):
        value = meta.get(key)
        if value:
            parts.extend(p for p in str(value).split(".") if p)
    return ".".join(parts)


def umh_value(value: Any, datatype: str | None) -> Any:
    """The `value` of a UMH time-series payload: scalars kept, arrays and objects as JSON text;
    `datatype` (string, number, bool) forces the type."""
    if datatype:
        if datatype not in DATATYPES:
            raise ValueError(f"datatype {datatype!r}: expected one of {', '.join(DATATYPES)}")
        if datatype == "string":
            return value if isinstance(value, str) else _json_text(value)
        if datatype == "number":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
            if isinstance(value, bool):
                return int(value)
            try:
                number = float(str(value).strip())
            except ValueError:
                raise ValueError(f"datatype number: {value!r} is not a number") from None
            return int(number) if number.is_integer() and "." not in str(value) else number
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError(f"datatype bool: {value!r} is not a boolean")
    if isinstance(value, (list, dict)):
        return _json_text(value)
    return value


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def timestamp_ms(meta: dict[str, Any]) -> int:
    """`timestamp_ms` metadata (unix milliseconds or RFC 3339) in milliseconds, else now."""
    raw = meta.get("timestamp_ms")
    if raw is None or raw == "":
        return time.time_ns() // 1_000_000
    text = str(raw).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return time_nanos(text) // 1_000_000
    except ValueError:
        raise ValueError(
            f"timestamp_ms {raw!r}: expected unix milliseconds or an RFC 3339 time"
        ) from None


@register_processor(
    "tag_processor",
    fields=[
        ParsedField(
            "defaults",
            "string",
            parser=_body,
            default="",
            description=(
                "JavaScript run first on every message, usually setting `msg.meta.location_path`, "
                "`msg.meta.data_contract` and `msg.meta.tag_name`; returns `msg`."
            ),
            examples=(
                'msg.meta.location_path = "enterprise.site.area";\n'
                'msg.meta.data_contract = "_historian";\nmsg.meta.tag_name = "temperature";\n'
                "return msg;",
            ),
        ),
        Field(
            "conditions",
            "array",
            default=[],
            description="Conditional stages, in order: `then` runs where the `if` holds.",
            item=Field(
                "condition",
                "object",
                fields=(
                    ParsedField(
                        "if",
                        "any",
                        parser=_condition_expr,
                        description="A JavaScript expression over `msg`.",
                        examples=('msg.meta.opcua_node_id === "ns=1;i=2245"',),
                    ),
                    ParsedField(
                        "then",
                        "string",
                        parser=_body,
                        description="JavaScript run where `if` holds; returns `msg`.",
                    ),
                ),
            ),
        ),
        ParsedField(
            "advancedProcessing",
            "string",
            parser=_body,
            default="",
            description="JavaScript run last; may change the payload, drop or split messages.",
        ),
        Field(
            "dedupKey",
            "string",
            default="",
            advanced=True,
            description=(
                "A metadata key whose value identifies a source event: on a repeat, the "
                "stages run but their `cache` writes are ignored."
            ),
        ),
        Field(
            "cache_ttl",
            "duration",
            default="0s",
            advanced=True,
            description="How long a `cache` entry lives; 0 keeps entries until deleted.",
        ),
        *limit_fields(),
    ],
    summary="Places tags in the UMH data model with JavaScript stages (benthos-umh tag_processor).",
    description=(
        "Stages run in one sandboxed JavaScript context of the processor's own, compiled once "
        "and bounded by `timeout` per call and `memory_limit_mb`. The result carries metadata "
        "`umh_topic` and `topic` and the payload `{value, timestamp_ms}`: `timestamp_ms` from "
        "metadata `timestamp_ms` (unix ms or RFC 3339) or the current time; arrays and objects "
        "become JSON text unless `msg.meta.datatype` (string, number, bool) says otherwise. A "
        "message missing a required field, or whose stage throws or runs too long, is flagged "
        "with the error."
    ),
    examples=(
        "tag_processor:\n  defaults: |\n    msg.meta.location_path = 'acme.plant1.line4';\n"
        "    msg.meta.data_contract = '_historian';\n    msg.meta.tag_name = 'speed';\n"
        "    return msg;\n  conditions:\n    - if: msg.meta.unit === 'rpm'\n      then: |\n"
        "        msg.meta.virtual_path = 'drive';\n        return msg;",
    ),
)
class TagProcessor(Processor):
    """Places tags in the UMH data model with JavaScript stages."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        timeout, memory = runtime_limits(conf)
        blocks: dict[str, str] = {}
        tests: dict[str, str] = {}
        if str(conf.get("defaults") or "").strip():
            blocks["defaults"] = str(conf["defaults"])
        self.conditions: list[tuple[str, str]] = []
        for i, cond in enumerate(conf.get("conditions") or []):
            if_name, then_name = f"conditions.{i}.if", f"conditions.{i}.then"
            tests[if_name] = _condition_expr(cond.get("if"))
            blocks[then_name] = str(cond.get("then") or "")
            self.conditions.append((if_name, then_name))
        if str(conf.get("advancedProcessing") or "").strip():
            blocks["advancedProcessing"] = str(conf["advancedProcessing"])
        self.has_defaults = "defaults" in blocks
        self.has_advanced = "advancedProcessing" in blocks
        self.dedup_key = str(conf.get("dedupKey") or "")
        self.runtime = JsRuntime(
            "tag_processor",
            blocks,
            tests,
            timeout=timeout,
            memory_mb=memory,
            cache_ttl=parse_duration(conf.get("cache_ttl") or "0s"),
            logger=ctx.logger,
        )

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for msg in batch:
            try:
                produced = self._stages(msg)
            except JsError as exc:
                msg.error = f"tag_processor: {exc}"
                out.append(msg)
                continue
            for result in produced:
                try:
                    out.append(self._finish(result))
                except ValueError as exc:
                    result.error = f"tag_processor: {exc}"
                    out.append(result)
        return out

    def _stages(self, msg: Message) -> list[Message]:
        dedup = dedup_value(msg, self.dedup_key)
        current = [msg]
        if self.has_defaults:
            current = self._run("defaults", current, dedup)
        for if_name, then_name in self.conditions:
            nxt: list[Message] = []
            for m in current:
                try:
                    holds = self.runtime.test(if_name, js_message(m))
                except JsError as exc:
                    raise JsError(f"{if_name}: {exc}") from None
                nxt.extend(self._run(then_name, [m], dedup) if holds else [m])
            current = nxt
        if self.has_advanced:
            current = self._run("advancedProcessing", current, dedup)
        return current

    def _run(self, name: str, msgs: list[Message], dedup: str | None) -> list[Message]:
        out: list[Message] = []
        for m in msgs:
            try:
                original: Any = m.value
            except PayloadError:
                original = m.payload.decode("utf-8", errors="replace")
            try:
                results = self.runtime.run(name, js_message(m), dedup)
            except JsError as exc:
                raise JsError(f"{name}: {exc}") from None
            if results:
                out.extend(to_message(r, m, original) for r in results)
        return out

    @staticmethod
    def _finish(msg: Message) -> Message:
        meta = msg.metadata
        missing = [k for k in REQUIRED if k not in meta]
        if missing:
            raise ValueError(
                f"missing metadata {', '.join(missing)}: set msg.meta.{missing[0]} in "
                "defaults, conditions or advancedProcessing"
            )
        try:
            value = msg.value
        except PayloadError:
            value = msg.payload.decode("utf-8", errors="replace")
        topic = umh_topic(meta)
        meta["umh_topic"] = topic
        meta["topic"] = topic
        payload = {"value": umh_value(value, meta.get("datatype")), "timestamp_ms": 0}
        payload["timestamp_ms"] = timestamp_ms(meta)
        msg.set_value(payload)
        return msg

    def close(self) -> None:
        self.runtime.close()
