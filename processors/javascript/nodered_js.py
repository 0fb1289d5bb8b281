"""`nodered_js` processor (benthos-umh): the JavaScript of a Node-RED function node per message.

The code sees `msg.payload` (the message's JSON value, or its text) and `msg.meta` (metadata)
and returns `msg`, a new message object, an array of them (one output each), or null to drop
the message. A throw, an endless loop (past `timeout`) or running out of memory fails only
that message, with the error and the line of the code.
"""

from __future__ import annotations

from typing import Any

from streamforge.durations import parse_duration
from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.spec import ParsedField
from streamforge.processors.javascript.runtime import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    JsError,
    JsRuntime,
    check_syntax,
    js_message,
    to_message,
)

__all__ = ["NodeRedJs", "cache_field", "dedup_value", "limit_fields", "runtime_limits"]


def _backend(value: Any) -> str:
    if value != "memory":
        raise ValueError(
            f"{value!r}: only the memory backend is supported (kept per processor, lost on restart)"
        )
    return str(value)


def cache_field() -> Field:
    """The `cache` object of benthos-umh's JavaScript processors (memory backend)."""
    return Field(
        "cache",
        "object",
        default={},
        advanced=True,
        description=(
            "The `cache` global: a key-value store kept across messages by this processor."
        ),
        fields=(
            ParsedField(
                "backend",
                "string",
                parser=_backend,
                default="memory",
                description="`memory`: kept in the process, lost on restart.",
            ),
            Field(
                "name",
                "string",
                default="shared",
                description="Accepted for benthos-umh configs; each processor keeps its own cache.",
            ),
            Field("path", "string", default="", description="Not used by the memory backend."),
            Field(
                "ttl",
                "duration",
                default="0s",
                description="How long an entry lives; 0 keeps entries until deleted.",
            ),
            Field(
                "dedupKey",
                "string",
                default="",
                description=(
                    "A metadata key whose value identifies a source event: a message whose "
                    "value was seen before runs, but its cache writes are ignored."
                ),
            ),
        ),
    )


def limit_fields() -> list[Field]:
    """How long one call may run and how much memory the processor's context may use."""
    return [
        Field(
            "timeout",
            "duration",
            default=DEFAULT_TIMEOUT,
            advanced=True,
            description="How long the code may run for one message before it is stopped.",
        ),
        Field(
            "memory_limit_mb",
            "int",
            default=DEFAULT_MEMORY_MB,
            advanced=True,
            description="The memory the processor's JavaScript context may use, in MiB.",
        ),
    ]


def runtime_limits(conf: dict[str, Any]) -> tuple[float, int]:
    """(timeout in seconds, memory in MiB), checked."""
    timeout = parse_duration(conf.get("timeout") or DEFAULT_TIMEOUT)
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    memory = int(conf.get("memory_limit_mb") or DEFAULT_MEMORY_MB)
    if memory < 4:
        raise ValueError("memory_limit_mb must be at least 4")
    return timeout, memory


def dedup_value(msg: Message, key: str) -> str | None:
    """The value of metadata `key` that identifies the message's source event."""
    if not key:
        return None
    value = msg.metadata.get(key)
    return None if value is None else str(value)


@register_processor(
    "nodered_js",
    fields=[
        ParsedField(
            "code",
            "string",
            parser=check_syntax,
            description=(
                "The body of a Node-RED function: reads and changes `msg.payload` and "
                "`msg.meta`, returns `msg`, a new message, an array of messages, or null."
            ),
            examples=("msg.payload = msg.payload * 2;\nreturn msg;",),
        ),
        cache_field(),
        *limit_fields(),
    ],
    summary="Runs Node-RED function-node JavaScript on each message (benthos-umh nodered_js).",
    description=(
        "Each message is one call of the code, compiled once, in a sandboxed JavaScript "
        "context of the processor's own (no file, network or process access), bounded by "
        "`timeout` and `memory_limit_mb`. Globals: `msg`, `console` (to the stream's log) and "
        "`cache`. A failing call flags its message with the error and the line; the stream "
        "goes on."
    ),
    examples=(
        "nodered_js:\n  code: |\n    if (msg.payload.status === 'error') {\n"
        "      return null;\n    }\n    msg.meta.checked = 'true';\n    return msg;",
    ),
)
class NodeRedJs(Processor):
    """Runs Node-RED function-node JavaScript on each message."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        timeout, memory = runtime_limits(conf)
        cache = conf.get("cache") or {}
        self.dedup_key = str(cache.get("dedupKey") or "")
        self.runtime = JsRuntime(
            "nodered_js",
            {"code": str(conf["code"])},
            timeout=timeout,
            memory_mb=memory,
            cache_ttl=parse_duration(cache.get("ttl") or "0s"),
            logger=ctx.logger,
        )

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for msg in batch:
            try:
                original: Any = msg.value
            except PayloadError:
                original = msg.payload.decode("utf-8", errors="replace")
            try:
                results = self.runtime.run(
                    "code", js_message(msg), dedup_value(msg, self.dedup_key)
                )
            except JsError as exc:
                msg.error = f"nodered_js: {exc}"
                out.append(msg)
                continue
            if results:
                out.extend(to_message(r, msg, original) for r in results)
        return out

    def close(self) -> None:
        self.runtime.close()
