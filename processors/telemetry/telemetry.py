"""`telemetry` processor: turns any input's message into the StreamForge telemetry envelope."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from streamforge.bloblang import DELETED, NOTHING, Executor, ParseError
from streamforge.bloblang.error_calls import asks_about_errors, interpolation_asks_about_errors
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString, has_interpolation
from streamforge.message import Message, PayloadError
from streamforge.metadata_filter import MetadataFilter, metadata_filter_field
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.errors import describe_error
from streamforge.plugin.spec import ParsedField
from streamforge.processors.telemetry.quality import QUALITIES, Quality, is_quality, worst
from streamforge.processors.telemetry.source_quality import CLASSIFICATIONS, choice, source_quality
from streamforge.timefmt.timestamps import (
    SOURCE_TIME_KEYS,
    canonical_nanos,
    describe_ms,
    format_nanos,
    skew_ms,
    time_nanos,
)

__all__ = ["DEFAULT_METADATA", "TelemetryProcessor"]

#: metadata keys copied into the envelope's `metadata` unless configured otherwise
DEFAULT_METADATA: dict[str, list[str]] = {
    "include_prefixes": ["modbus_", "opcua_"],
    "include_patterns": [],
}
#: metadata keys that name the parameter when the `parameter` field is empty, first found wins
TAG_NAME_KEYS = ("modbus_tag_name", "opcua_tag_name")


class _Failed(Exception):
    """One message cannot become an envelope; the text names the field and the cause."""


def _text(conf: Mapping[str, Any], name: str) -> InterpolatedString | None:
    """An interpolable field, parsed once; None when empty (its default rule applies)."""
    raw = conf.get(name)
    text = "" if raw is None else str(raw)
    if not text.strip():
        return None
    try:
        return InterpolatedString(text)
    except ParseError as exc:
        raise ValueError(f"{name}: bad interpolation: {exc}") from None


def _query(conf: Mapping[str, Any], name: str) -> Executor | None:
    from streamforge.bloblang import parse_query

    text = str(conf.get(name) or "").strip()
    if not text:
        return None
    try:
        return parse_query(text)
    except ParseError as exc:
        raise ValueError(f"{name}: bad Bloblang: {exc}") from None


def _static_choice(
    field: InterpolatedString | None, options: tuple[str, ...], name: str
) -> str | None:
    """A static value checked now (a config error when wrong); None when it varies or is empty."""
    if field is None or not field.is_static:
        return None
    text = field.render(Message())
    return None if text == "null" else choice(text, options, name)


def _static_check(options: tuple[str, ...], name: str) -> Callable[[Any], str]:
    """A lint parser: a fixed value must be one of `options`; interpolations pass."""

    def parse(value: Any) -> str:
        text = "" if value is None else str(value)
        if has_interpolation(text) or not text.strip() or text == "null":
            return text
        return choice(text, options, name)

    return parse


def _metadata_field() -> Field:
    """The Benthos-style metadata filter, passing modbus_ and opcua_ keys unless told otherwise."""
    base = metadata_filter_field(
        "metadata",
        "Message metadata copied into the envelope's `metadata` (values keep their types).",
    )
    prefixes = replace(
        base.fields[0],
        default=DEFAULT_METADATA["include_prefixes"],
        description="Metadata keys starting with one of these prefixes are copied; `[]` for none.",
    )
    return replace(base, default=DEFAULT_METADATA, fields=(prefixes, *base.fields[1:]))


def _plain(value: Any) -> Any:
    """A query result as an envelope value: nothing is null, bytes are text."""
    if value is NOTHING or value is DELETED:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def _payload(msg: Message) -> Any:
    """The parsed payload; raw bytes that are not JSON as a string; an empty payload as null."""
    try:
        return msg.value
    except PayloadError:
        raw = msg.payload
        return raw.decode("utf-8", errors="replace") if raw else None


def _envelope_like(payload: Any) -> dict[str, Any] | None:
    if type(payload) is dict and "asset_id" in payload and "value" in payload:
        return payload
    return None


@register_processor(
    "telemetry",
    fields=[
        Field(
            "asset_id",
            "string",
            default="",
            interpolable=True,
            description=(
                "The asset the reading belongs to. Empty: the payload's `asset_id` when the "
                "payload already is an envelope (an object with `asset_id` and `value`), else "
                "the `asset_id` metadata; a message with neither fails."
            ),
            examples=(
                "boiler-${! @modbus_tag_slaveid }",
                '${! @opcua_tag_path.split(".").index(0) }',
            ),
        ),
        Field(
            "parameter",
            "string",
            default="",
            interpolable=True,
            description=(
                "What was measured. Empty: the tag name from `modbus_tag_name` or "
                "`opcua_tag_name` metadata, else an envelope payload's `parameter`; a message "
                "with none of these fails."
            ),
            examples=("${! @opcua_tag_path }", "temperature"),
        ),
        Field(
            "value",
            "query",
            default="this",
            description=(
                "A Bloblang query for the reading. The default `this` is the payload parsed as "
                "JSON (a payload that is not JSON becomes a string, an empty one null), or the "
                "`value` of an envelope payload. A query yielding nothing gives null."
            ),
            examples=("this.temperature", "this.raw * 0.1"),
        ),
        Field(
            "unit",
            "string",
            default="",
            interpolable=True,
            description="The unit of the value. Empty: an envelope payload's `unit`, else null.",
            examples=("degC", '${! if @modbus_tag_name.has_suffix("_bar") { "bar" } }'),
        ),
        ParsedField(
            "classification",
            "string",
            parser=_static_check(CLASSIFICATIONS, "classification"),
            default="",
            interpolable=True,
            description=(
                "TELEMETRY, EVENT or ALARM (any case). A value outside these fails the message "
                "(a fixed one fails the config). Empty: an envelope payload's own "
                "classification, else TELEMETRY."
            ),
            examples=("EVENT", '${! if this > 90 { "ALARM" } else { "TELEMETRY" } }'),
        ),
        ParsedField(
            "quality",
            "string",
            parser=_static_check(QUALITIES, "quality"),
            default="",
            interpolable=True,
            description=(
                "GOOD, SUSPECT, UNCERTAIN or BAD, replacing the quality mapped from the source "
                "when it renders non-empty. The time rules still apply on top (the worse wins). "
                "Empty: from the source, i.e. `opcua_attr_statuscode` Good*/Uncertain*/Bad*, "
                "`opcua_error` BAD, `modbus_error` BAD (UNCERTAIN for exception codes 5 and 6), "
                "an envelope payload's `quality`, and a null value without any of these BAD."
            ),
            examples=('${! if this > 1000 { "SUSPECT" } }',),
        ),
        Field(
            "device_time",
            "query",
            default="",
            description=(
                "A Bloblang query for the time the source took the reading: an RFC 3339 "
                "string, a datetime, or unix time as a number (seconds below 1e11, "
                "milliseconds below 1e14, microseconds below 1e17, else nanoseconds). "
                "Empty: `opcua_source_timestamp` metadata, or an envelope payload's "
                "`timestamps.device_time`. Without a device time the gateway time is used "
                "and the quality is at least UNCERTAIN. A value that is no time fails the "
                "message."
            ),
            examples=("@modbus_read_time", "this.ts_ms"),
        ),
        Field(
            "max_clock_skew",
            "duration",
            default="10s",
            description=(
                "A device time further than this from the gateway time, in either direction, "
                "makes the quality at least SUSPECT and sets `clock_skew_exceeded: true` in the "
                "envelope's metadata. 0 turns the check off."
            ),
            examples=("2s", "1m"),
        ),
        Field(
            "adapter_id",
            "string",
            default="",
            interpolable=True,
            description=(
                "The envelope's `metadata.adapter_id`: which gateway adapter produced the "
                "reading. Empty: an envelope payload's own, else the stream name."
            ),
            examples=("line-3-gateway",),
        ),
        _metadata_field(),
    ],
    summary="Turns each message into the StreamForge telemetry envelope.",
    description=(
        "The envelope is `{asset_id, parameter, value, unit, quality, classification, "
        "timestamps: {device_time, gateway_time}, clock_skew_ms, metadata: {adapter_id, ...}}`. "
        "Times are RFC 3339 UTC strings with nanoseconds; `gateway_time` is when the batch was "
        "processed and `clock_skew_ms` is gateway minus device time in milliseconds (a number "
        "with microsecond precision, 0 without a device time). The quality is the worst of the "
        "source's (or the `quality` field's) and the time rules; when it is not GOOD, "
        "`metadata.quality_reasons` lists why. The output message keeps its metadata and gets "
        "`asset_id`, `parameter`, `quality` and `classification` metadata for routing. A "
        "failing query or a bad value fails only its message, with an error naming the field. "
        "An interpolated field that renders empty or `null` (an `if` without `else`) falls "
        "back to its default."
    ),
    examples=(
        "# Modbus: one message per tag; the read time stands in for the device's clock\n"
        "telemetry:\n"
        "  asset_id: boiler-${! @modbus_tag_slaveid }\n"
        '  unit: \'${! if @modbus_tag_name.has_suffix("_temp") { "degC" } else { "bar" } }\'\n'
        "  device_time: '@modbus_read_time'\n"
        "  adapter_id: modbus-gateway-1",
        "# OPC UA: the source timestamp is the device time; status codes map to quality\n"
        "telemetry:\n"
        "  asset_id: '${! @opcua_tag_path.split(\".\").index(0) }'\n"
        '  classification: \'${! if @opcua_tag_name == "Fault" { "ALARM" } }\'\n'
        "  max_clock_skew: 2s\n"
        "  metadata:\n"
        "    include_prefixes: [ opcua_attr_, opcua_tag_ ]",
    ),
)
class TelemetryProcessor(Processor):
    """Turns each message into the StreamForge telemetry envelope."""

    def __init__(self, conf: dict[str, Any] | None, ctx: BuildContext | None = None) -> None:
        conf = conf or {}
        self.asset_id = _text(conf, "asset_id")
        self.parameter = _text(conf, "parameter")
        self.unit = _text(conf, "unit")
        self.adapter_id = _text(conf, "adapter_id")
        self.classification = _text(conf, "classification")
        self.quality = _text(conf, "quality")
        self.static_classification = _static_choice(
            self.classification, CLASSIFICATIONS, "classification"
        )
        static_quality = _static_choice(self.quality, QUALITIES, "quality")
        self.static_quality: Quality | None = static_quality  # type: ignore[assignment]
        value_text = str(conf.get("value") or "this").strip()
        self.value = None if value_text == "this" else _query(conf, "value")
        self.device_time = _query(conf, "device_time")
        skew = conf.get("max_clock_skew", "10s")
        try:
            seconds = parse_duration(skew)
        except ValueError as exc:
            raise ValueError(f"max_clock_skew: {exc}") from None
        if seconds < 0:
            raise ValueError(f"max_clock_skew: {skew!r} must not be negative")
        self.max_skew_ms = seconds * 1000.0
        self.max_skew_text = str(skew)
        self.keep = MetadataFilter({**DEFAULT_METADATA, **(conf.get("metadata") or {})})
        self._kept: dict[str, bool] = {}  # metadata key -> copied into the envelope
        self._last_time: tuple[Any, tuple[int, str]] = (None, (0, ""))
        self.stream = getattr(ctx, "stream", "") or "streamforge"
        texts = [conf.get(k) for k in ("asset_id", "parameter", "unit", "adapter_id")]
        texts += [conf.get("classification"), conf.get("quality")]
        self.handles_errors = any(
            interpolation_asks_about_errors(str(t)) for t in texts if t
        ) or asks_about_errors(str(conf.get("value") or ""), str(conf.get("device_time") or ""))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        gateway_ns = time.time_ns()
        gateway_time = format_nanos(gateway_ns)
        out: list[Message] = []
        for i, msg in enumerate(batch):
            try:
                out.append(self._envelope(msg, batch, i, gateway_ns, gateway_time))
            except _Failed as exc:
                msg.error = f"telemetry: {exc}"
                out.append(msg)
        return out

    # -- one message ----------------------------------------------------------------------
    def _render(
        self,
        name: str,
        field: InterpolatedString | None,
        msg: Message,
        batch: list[Message],
        i: int,
    ) -> str:
        if field is None:
            return ""
        try:
            text = field.render(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - a failing query fails only its message
            raise _Failed(f"{name}: {describe_error(exc)}") from None
        return "" if text == "null" else text

    def _run(self, name: str, query: Executor, msg: Message, batch: list[Message], i: int) -> Any:
        try:
            return _plain(query.query_message(msg, batch, i))
        except Exception as exc:  # noqa: BLE001 - a failing query fails only its message
            raise _Failed(f"{name}: {describe_error(exc)}") from None

    def _envelope(
        self, msg: Message, batch: list[Message], i: int, gateway_ns: int, gateway_time: str
    ) -> Message:
        payload = _payload(msg)
        env = _envelope_like(payload)
        meta = msg.metadata
        if self.value is not None:
            value = self._run("value", self.value, msg, batch, i)
        else:
            value = env["value"] if env is not None else payload

        asset_id = self._render("asset_id", self.asset_id, msg, batch, i)
        if not asset_id:
            asset_id = str((env or meta).get("asset_id") or "")
            if not asset_id:
                raise _Failed(
                    "asset_id: empty; set the asset_id field or send envelopes carrying one"
                )
        parameter = self._render("parameter", self.parameter, msg, batch, i)
        if not parameter:
            parameter = self._default_parameter(meta, env)
        unit: Any = self._render("unit", self.unit, msg, batch, i) or (
            env.get("unit") if env is not None else None
        )
        classification = self._classification(msg, batch, i, env)

        device = self._device_time(msg, batch, i, env)
        quality, reasons = self._source_quality(msg, batch, i, env, value)
        envelope_meta = self._metadata(msg, batch, i, env)
        if device is None:
            skew: float = 0
            device_time = gateway_time
            quality = worst(quality, "UNCERTAIN")
            reasons.append("no device time; gateway time used")
        else:
            skew = skew_ms(gateway_ns, device[0])
            device_time = device[1]
            if self.max_skew_ms and abs(skew) > self.max_skew_ms:
                quality = worst(quality, "SUSPECT")
                reasons.append(
                    f"clock skew {describe_ms(skew)} exceeds max_clock_skew {self.max_skew_text}"
                )
                envelope_meta["clock_skew_exceeded"] = True
        if quality != "GOOD":
            envelope_meta["quality_reasons"] = reasons

        envelope = {
            "asset_id": asset_id,
            "parameter": parameter,
            "value": value,
            "unit": unit,
            "quality": quality,
            "classification": classification,
            "timestamps": {"device_time": device_time, "gateway_time": gateway_time},
            "clock_skew_ms": skew,
            "metadata": envelope_meta,
        }
        out_meta = dict(meta)
        out_meta["asset_id"] = asset_id
        out_meta["parameter"] = parameter
        out_meta["quality"] = quality
        out_meta["classification"] = classification
        return Message(metadata=out_meta, value=envelope, error=msg.error)

    def _default_parameter(self, meta: Mapping[str, Any], env: dict[str, Any] | None) -> str:
        for key in TAG_NAME_KEYS:
            if meta.get(key):
                return str(meta[key])
        if env is not None and env.get("parameter"):
            return str(env["parameter"])
        raise _Failed(
            "parameter: empty; set the parameter field or read from an input that names its "
            "tags (modbus_tag_name, opcua_tag_name)"
        )

    def _classification(
        self, msg: Message, batch: list[Message], i: int, env: dict[str, Any] | None
    ) -> str:
        if self.static_classification is not None:
            return self.static_classification
        text = self._render("classification", self.classification, msg, batch, i)
        if not text and env is not None and env.get("classification"):
            text = str(env["classification"])
        if not text:
            return "TELEMETRY"
        try:
            return choice(text, CLASSIFICATIONS, "classification")
        except ValueError as exc:
            raise _Failed(str(exc)) from None

    def _device_time(
        self, msg: Message, batch: list[Message], i: int, env: dict[str, Any] | None
    ) -> tuple[int, str] | None:
        """Unix nanoseconds and RFC 3339 text of the device time; None when there is none."""
        if self.device_time is not None:
            raw = self._run("device_time", self.device_time, msg, batch, i)
        elif env is not None:
            stamps = env.get("timestamps")
            raw = stamps.get("device_time") if isinstance(stamps, dict) else None
        else:
            raw = next((msg.metadata[k] for k in SOURCE_TIME_KEYS if msg.metadata.get(k)), None)
        if raw is None or raw == "":
            return None
        last = self._last_time  # readings of one poll share their time: parse it once
        if type(raw) is str and last[0] == raw:
            return last[1]
        try:
            ns = canonical_nanos(raw) if type(raw) is str else None
            parsed = (ns, raw) if ns is not None else self._parse_time(raw)
        except ValueError as exc:
            raise _Failed(f"device_time: {exc}") from None
        if type(raw) is str:
            self._last_time = (raw, parsed)
        return parsed

    @staticmethod
    def _parse_time(raw: Any) -> tuple[int, str]:
        ns = time_nanos(raw)
        return ns, format_nanos(ns)

    def _source_quality(
        self,
        msg: Message,
        batch: list[Message],
        i: int,
        env: dict[str, Any] | None,
        value: Any,
    ) -> tuple[Quality, list[str]]:
        override: Quality | None = self.static_quality
        if override is None and self.quality is not None:
            text = self._render("quality", self.quality, msg, batch, i)
            if text:
                try:
                    override = choice(text, QUALITIES, "quality")  # type: ignore[assignment]
                except ValueError as exc:
                    raise _Failed(str(exc)) from None
        if override is not None:
            return override, ([] if override == "GOOD" else [f"quality field: {override}"])
        if env is not None and is_quality(env.get("quality")):
            quality: Quality = env["quality"]
            given = (env.get("metadata") or {}).get("quality_reasons")
            if quality == "GOOD":
                return quality, []
            if isinstance(given, list) and given:
                return quality, [str(r) for r in given]
            return quality, [f"payload quality {quality}"]
        return source_quality(msg.metadata, value)

    def _metadata(
        self, msg: Message, batch: list[Message], i: int, env: dict[str, Any] | None
    ) -> dict[str, Any]:
        given = env.get("metadata") if env is not None else None
        given = given if isinstance(given, dict) else {}
        adapter = self._render("adapter_id", self.adapter_id, msg, batch, i)
        out: dict[str, Any] = {"adapter_id": adapter or given.get("adapter_id") or self.stream}
        for key, item in given.items():
            if key not in ("adapter_id", "quality_reasons", "clock_skew_exceeded"):
                out[key] = item
        if self.keep.active:
            kept = self._kept
            for key, item in msg.metadata.items():
                chosen = kept.get(key)
                if chosen is None:
                    chosen = self.keep(key) and key != "adapter_id"
                    if len(kept) < 4096:
                        kept[key] = chosen
                if chosen:
                    out[key] = item
        return out
