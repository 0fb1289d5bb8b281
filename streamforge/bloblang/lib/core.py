"""Language-intrinsic Bloblang functions and methods: metadata, message state, errors.

`catch`, `or`, `apply`, `from` and `from_all` are compiled specially (their target runs
lazily); they are registered here so listings and docs show them.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from streamforge.bloblang.errors import MappingError, describe
from streamforge.bloblang.ops import BadThis, check_bool, get_field
from streamforge.bloblang.registry import DELETED, ExecContext, Param, function, method

CATEGORY = "general"
_MESSAGE_INFO = "message_info"


def _to_string(value: Any) -> str:
    from streamforge.bloblang.lib.coercion import to_string

    return to_string(value)


@function("meta", [Param("key", "string", "")], category=_MESSAGE_INFO, needs_ctx=True)
def meta(ctx: ExecContext, key: str) -> Any:
    """A metadata value of the input message as a string (null when absent); all when no key."""
    if not key:
        return {k: _to_string(v) for k, v in ctx.meta_in.items()}
    value = ctx.meta_in.get(key)
    return None if value is None else _to_string(value)


@function("metadata", [Param("key", "string", "")], category=_MESSAGE_INFO, needs_ctx=True)
def metadata(ctx: ExecContext, key: str) -> Any:
    """A metadata value of the input message (null when absent); an object of all when no key."""
    if not key:
        return dict(ctx.meta_in)
    return ctx.meta_in.get(key)


@function("root_meta", [Param("key", "string", "")], category=_MESSAGE_INFO, needs_ctx=True)
def root_meta(ctx: ExecContext, key: str) -> Any:
    """A metadata value of the message being built, as a string (deprecated; use `@key`)."""
    if not key:
        return {k: _to_string(v) for k, v in ctx.meta_out.items()}
    value = ctx.meta_out.get(key)
    return None if value is None else _to_string(value)


@lru_cache(maxsize=1024)
def _path_segments(path: str) -> tuple[str, ...]:
    return tuple(seg.replace("~1", ".").replace("~0", "~") for seg in path.split("."))


@function("json", [Param("path", "string", "")], category=_MESSAGE_INFO, needs_ctx=True)
def json_field(ctx: ExecContext, path: str) -> Any:
    """A field of the message's JSON document by dot path (the whole document when empty).

    Always reads the message itself, whatever the current context (deprecated in Benthos).
    """
    msg = ctx.message
    doc = _this_of(msg) if msg is not None else ctx.this
    if type(doc) is BadThis:
        doc.fail(path)
    if not path:
        return doc
    for seg in _path_segments(path):
        doc = get_field(doc, seg)
        if doc is None:
            return None
    return doc


def _this_of(msg: Any) -> Any:
    """The message's document as `this` sees it (the executor imports this module: late)."""
    global _this_of
    from streamforge.bloblang.executor import _this_of as this_of

    _this_of = this_of
    return this_of(msg)


_COUNTERS: dict[str, int] = {}
_COUNTERS_LOCK = threading.Lock()


@function("count", [Param("name", "string")], category=CATEGORY)
def count(name: str) -> int:
    """A process-wide counter per name, starting at 1 (deprecated in Benthos; see `counter`)."""
    with _COUNTERS_LOCK:
        value = _COUNTERS.get(name, 0) + 1
        _COUNTERS[name] = value
    return value


@function("deleted", category=CATEGORY)
def deleted() -> Any:
    """A value that deletes the assignment target (or drops the message when assigned to root)."""
    return DELETED


@function("content", category=_MESSAGE_INFO, needs_ctx=True)
def content(ctx: ExecContext) -> bytes:
    """The raw bytes of the message."""
    msg = ctx.message
    if msg is None:
        from streamforge.message import serialise_value

        return serialise_value(ctx.this)
    return bytes(msg.payload)


@function("error", category=_MESSAGE_INFO, needs_ctx=True)
def error(ctx: ExecContext) -> Any:
    """The error of a failed message, or null."""
    msg = ctx.message
    return None if msg is None else msg.error


@function("errored", category=_MESSAGE_INFO, needs_ctx=True)
def errored(ctx: ExecContext) -> bool:
    """Whether the message has failed in an earlier processor."""
    msg = ctx.message
    return msg is not None and msg.error is not None


def _error_source(ctx: ExecContext) -> tuple[str, str, str] | None:
    """The (label, name, path) of the component that failed the message, when one is known.

    A failed message may carry an `error_source` attribute set by the component that failed
    it; without one no component is associated with the error, and Benthos answers null.
    """
    msg = ctx.message
    if msg is None or msg.error is None:
        return None
    source = getattr(msg, "error_source", None)
    return tuple(source) if source else None  # type: ignore[return-value]


@function("error_source_label", category=_MESSAGE_INFO, needs_ctx=True)
def error_source_label(ctx: ExecContext) -> str | None:
    """The label of the component that failed the message ("" when it has none), or null."""
    source = _error_source(ctx)
    return None if source is None else source[0] or ""


@function("error_source_name", category=_MESSAGE_INFO, needs_ctx=True)
def error_source_name(ctx: ExecContext) -> str | None:
    """The name (type) of the component that failed the message, or null."""
    source = _error_source(ctx)
    return None if source is None else source[1]


@function("error_source_path", category=_MESSAGE_INFO, needs_ctx=True)
def error_source_path(ctx: ExecContext) -> str | None:
    """The dot path of the component that failed the message in its config, or null."""
    source = _error_source(ctx)
    return None if source is None else source[2]


@function("batch_index", category=_MESSAGE_INFO, needs_ctx=True)
def batch_index(ctx: ExecContext) -> int:
    """The position of the message in its batch."""
    return ctx.index


@function("batch_size", category=_MESSAGE_INFO, needs_ctx=True)
def batch_size(ctx: ExecContext) -> int:
    """The size of the batch the message is in."""
    return len(ctx.batch) if ctx.batch is not None else 1


#: an OpenTelemetry trace id with no span: 16 zero bytes in hex
_ZERO_TRACE_ID = "0" * 32


@function("tracing_id", category=_MESSAGE_INFO, needs_ctx=True)
def tracing_id(ctx: ExecContext) -> str:
    """The trace id of the message: its `tracing_id`/`trace_id` metadata, otherwise the zeroed
    id Benthos gives a message without a span (StreamForge does not trace messages)."""
    msg = ctx.message
    if msg is not None:
        value = msg.metadata.get("tracing_id") or msg.metadata.get("trace_id")
        if value is not None:
            return _to_string(value)
    return _ZERO_TRACE_ID


@function("tracing_span", category=_MESSAGE_INFO)
def tracing_span() -> None:
    """The message's tracing span as text-map headers; null, as Benthos returns for a message
    without a span (StreamForge does not trace messages)."""
    return None


@function("throw", [Param("why", "string"), Param("context", "object", None)], category=CATEGORY)
def throw(why: str, context: Any = None) -> Any:
    """Fail the mapping with the given message; `context` (an object) travels with the error."""
    err = MappingError(why if isinstance(why, str) else describe(why))
    err.annotated = True  # type: ignore[attr-defined]
    err.context = context  # type: ignore[attr-defined]
    raise err


def _compiled_specially(*_: Any) -> Any:
    raise MappingError("this method is implemented by the Bloblang compiler")


method("catch", [Param("fallback", "query")], category=CATEGORY,
       description="If the target query fails, the argument is returned instead "
                   "(a lambda receives the error message).")(_compiled_specially)  # fmt: skip
method("or", [Param("fallback", "query")], category=CATEGORY,
       description="If the target query fails or is null, the argument is returned "
                   "instead.")(_compiled_specially)  # fmt: skip
method(
    "apply",
    [Param("mapping", "string")],
    category=CATEGORY,
    description="Apply a declared map to the target value.",
)(_compiled_specially)
method("from", [Param("index", "int")], category=CATEGORY,
       description="Run the target query from the perspective of another message of the "
                   "batch.")(_compiled_specially)  # fmt: skip
method("from_all", category=CATEGORY,
       description="Run the target query for every message of the batch; returns an "
                   "array of the results.")(_compiled_specially)  # fmt: skip


@method("map", [Param("query", "query")], category=CATEGORY)
def map_(target: Any, query: Any) -> Any:
    """Run a query with the target value as its context (`this`)."""
    return query(target)


@method("not", category=CATEGORY)
def not_(target: Any) -> bool:
    """The logical negation of a boolean; anything else is an error, as with `!`."""
    return not check_bool(target)
