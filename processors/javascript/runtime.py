"""A sandboxed JavaScript runtime for the Node-RED style processors (`nodered_js`, `tag_processor`).

One QuickJS context per processor instance: the user's blocks are compiled into functions once,
when the processor is built, and each message is one call bounded in time and memory. The
context has no file system, network or process access; `console` and `cache` are provided in
JavaScript (QuickJS refuses calls back into Python while a time limit is set), and log lines
come back with each call's result.

A message crosses into JavaScript as `{payload, meta}` (JSON) and a function returns `msg`, a new
message object, an array of them, or null/undefined to drop it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson

from streamforge.message import Message, PayloadError
from streamforge.plugin.optional import require

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "JsError",
    "JsMessage",
    "JsRuntime",
    "check_syntax",
    "js_message",
    "to_message",
]


def _quickjs() -> Any:
    """The QuickJS binding (the `javascript` extra), imported when a processor is built."""
    return require("quickjs", "javascript", "the nodered_js and tag_processor processors")


DEFAULT_TIMEOUT = "500ms"
DEFAULT_MEMORY_MB = 64
#: the largest native stack a block may use (deep recursion fails instead of crashing)
MAX_STACK_BYTES = 1024 * 1024

_FRAME = re.compile(r"at (?:__sf_(?:block|test)_\d+ \()?<input>:(\d+)")

#: installed once per context: console (buffered), cache (per processor), the call wrapper
_PRELUDE = r"""
var __sf_logs = [];
var __sf_dedup = null;
function __sf_fmt(args) {
  var parts = [];
  for (var i = 0; i < args.length; i++) {
    var a = args[i];
    if (typeof a === "string") { parts.push(a); continue; }
    try { parts.push(JSON.stringify(a)); } catch (e) { parts.push(String(a)); }
  }
  return parts.join(" ");
}
var console = {
  debug: function () { __sf_logs.push(["debug", __sf_fmt(arguments)]); },
  log: function () { __sf_logs.push(["info", __sf_fmt(arguments)]); },
  info: function () { __sf_logs.push(["info", __sf_fmt(arguments)]); },
  warn: function () { __sf_logs.push(["warn", __sf_fmt(arguments)]); },
  error: function () { __sf_logs.push(["error", __sf_fmt(arguments)]); }
};
var __sf_store = {};
var __sf_ttl_ms = 0;
function __sf_live(key) {
  var e = __sf_store[key];
  if (e === undefined) return undefined;
  if (e.exp && e.exp <= Date.now()) { delete __sf_store[key]; return undefined; }
  return e;
}
var cache = {
  set: function (key, value) {
    if (__sf_dedup !== null) return;
    var copy = value === undefined ? null : JSON.parse(JSON.stringify(value));
    __sf_store[String(key)] = {v: copy, exp: __sf_ttl_ms ? Date.now() + __sf_ttl_ms : 0};
  },
  get: function (key) {
    var e = __sf_live(String(key));
    if (e === undefined) {
      __sf_logs.push(["error", "cache: key " + JSON.stringify(String(key)) + " not found"]);
      return undefined;
    }
    return JSON.parse(JSON.stringify(e.v));
  },
  exists: function (key) { return __sf_live(String(key)) !== undefined; },
  "delete": function (key) { if (__sf_dedup === null) delete __sf_store[String(key)]; }
};
function __sf_out(r) {
  if (r === null || r === undefined) return null;
  if (Array.isArray(r)) {
    var out = [];
    for (var i = 0; i < r.length; i++) {
      var m = r[i];
      if (m === null || m === undefined) continue;
      if (typeof m !== "object" || Array.isArray(m)) {
        throw new TypeError("array elements must be message objects");
      }
      out.push(m);
    }
    return out;
  }
  if (typeof r !== "object") {
    throw new TypeError("the code must return a message object, an array of them or null");
  }
  return [r];
}
function __sf_wrap(list) {
  if (list === null) return null;
  var out = [];
  for (var i = 0; i < list.length; i++) {
    var m = list[i];
    out.push({p: m.payload, h: ("payload" in m), m: (m.meta === undefined ? null : m.meta)});
  }
  return out;
}
function __sf_call(name, text, dedup) {
  var msg = JSON.parse(text);
  if (msg.meta === null || typeof msg.meta !== "object") msg.meta = {};
  __sf_dedup = null;
  if (dedup) {
    var marker = "__dedup__:" + dedup;
    if (__sf_live(marker) !== undefined) {
      __sf_dedup = dedup;
    } else {
      __sf_store[marker] = {v: true, exp: __sf_ttl_ms ? Date.now() + __sf_ttl_ms : 0};
    }
  }
  var out = __sf_wrap(__sf_out(globalThis[name](msg)));
  var logs = __sf_logs;
  __sf_logs = [];
  return JSON.stringify({o: out, l: logs});
}
function __sf_test(name, text) {
  var msg = JSON.parse(text);
  if (msg.meta === null || typeof msg.meta !== "object") msg.meta = {};
  var ok = !!globalThis[name](msg);
  var logs = __sf_logs;
  __sf_logs = [];
  return JSON.stringify({o: ok, l: logs});
}
function __sf_take_logs() {
  var logs = __sf_logs;
  __sf_logs = [];
  return JSON.stringify(logs);
}
"""


class JsError(Exception):
    """A block failed: the text names the error and the line of the user's code."""


@dataclass
class JsMessage:
    """A message as a block returned it: the payload (None with `has_payload` False when the
    block left it out) and the metadata object (None when absent)."""

    payload: Any
    has_payload: bool
    meta: dict[str, Any] | None


def js_message(msg: Message) -> bytes:
    """The JSON of `{payload, meta}` for a message: its structured value, else its text."""
    try:
        payload = msg.value
    except PayloadError:
        payload = msg.payload.decode("utf-8", errors="replace")
    doc = {"payload": payload, "meta": msg.metadata}
    try:
        return orjson.dumps(doc, default=str)
    except TypeError:  # integers beyond 64 bits: the standard library writes them
        return json.dumps(doc, default=str).encode()


def meta_text(value: Any) -> str | None:
    """A metadata value as Benthos keeps it (a string); None drops the key."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return orjson.dumps(value).decode()
    return orjson.dumps(value).decode()


def to_message(out: JsMessage, original: Message, original_payload: Any) -> Message:
    """A StreamForge message from what a block returned (the original payload when left out)."""
    meta: dict[str, Any] = {}
    if isinstance(out.meta, dict):
        for key, value in out.meta.items():
            text = meta_text(value)
            if text is not None:
                meta[str(key)] = text
    payload = out.payload if out.has_payload else original_payload
    return Message.from_value(payload, meta)


class JsRuntime:
    """Named JavaScript blocks compiled once into one bounded QuickJS context.

    `blocks` maps a name to a function body taking `msg`; `tests` maps a name to an expression
    over `msg` (a condition). Calls are bounded by `timeout` seconds and the context by
    `memory_mb`; a context that ran out of memory is built again (its cache is lost).
    """

    def __init__(
        self,
        what: str,
        blocks: dict[str, str],
        tests: dict[str, str] | None = None,
        *,
        timeout: float = 0.5,
        memory_mb: int = DEFAULT_MEMORY_MB,
        cache_ttl: float = 0.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.what = what
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.cache_ttl = cache_ttl
        self.log = logger or logging.getLogger(f"streamforge.processors.{what}")
        self._blocks = dict(blocks)
        self._tests = dict(tests or {})
        self._names: dict[str, str] = {}
        self._ctx = self._build()

    # -- building ----------------------------------------------------------------------------
    def _build(self) -> Any:
        ctx = _quickjs().Context()
        ctx.set_memory_limit(self.memory_mb * 1024 * 1024)
        ctx.set_max_stack_size(MAX_STACK_BYTES)
        ctx.eval(_PRELUDE)
        ctx.eval(f"__sf_ttl_ms = {int(self.cache_ttl * 1000)};")
        for i, (name, body) in enumerate(self._blocks.items()):
            fn = f"__sf_block_{i}"
            # the body starts on the first line, so the engine's line numbers are the user's
            self._compile(ctx, name, f"var {fn} = function (msg) {{{body}\n}};")
            self._names[name] = fn
        for i, (name, expr) in enumerate(self._tests.items()):
            fn = f"__sf_test_{i}"
            self._compile(ctx, name, f"var {fn} = function (msg) {{ return ({expr}\n); }};")
            self._names[name] = fn
        ctx.set_time_limit(self.timeout)
        self._call = ctx.get("__sf_call")
        self._test = ctx.get("__sf_test")
        self._take_logs = ctx.get("__sf_take_logs")
        return ctx

    def _compile(self, ctx: Any, name: str, source: str) -> None:
        try:
            ctx.eval(source)
        except _quickjs().JSException as exc:
            raise ValueError(f"{name}: {_describe(str(exc), None)}") from None

    # -- calling -----------------------------------------------------------------------------
    def run(self, name: str, msg_json: bytes, dedup: str | None = None) -> list[JsMessage] | None:
        """Run block `name` on one message; the messages it returned (None: dropped)."""
        raw = self._invoke(self._call, self._names[name], msg_json.decode(), dedup or "")
        doc = orjson.loads(raw)
        self._emit(doc.get("l") or [])
        out = doc.get("o")
        if out is None:
            return None
        return [JsMessage(m.get("p"), bool(m.get("h")), m.get("m")) for m in out]

    def test(self, name: str, msg_json: bytes) -> bool:
        """Evaluate condition `name` on one message."""
        doc = orjson.loads(self._invoke(self._test, self._names[name], msg_json.decode()))
        self._emit(doc.get("l") or [])
        return bool(doc.get("o"))

    def _invoke(self, fn: Any, *args: Any) -> str:
        try:
            return str(fn(*args))
        except _quickjs().JSException as exc:
            text = str(exc)
            self._after_failure(text)
            raise JsError(_describe(text, self.timeout)) from None

    def _after_failure(self, text: str) -> None:
        if _out_of_memory(text):
            self._ctx = self._build()  # a context out of memory cannot be trusted again
            return
        try:
            self._emit(orjson.loads(str(self._take_logs())))
        except (_quickjs().JSException, ValueError):
            self._ctx = self._build()

    def _emit(self, logs: list[Any]) -> None:
        for level, text in logs:
            self.log.log(_LEVELS.get(level, logging.INFO), "%s: %s", self.what, text)

    def close(self) -> None:
        """Drop the context."""
        self._ctx = None


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


def check_syntax(code: str, expression: bool = False) -> str:
    """`code` (a function body, or an expression) when it compiles; ValueError naming the line."""
    source = (
        f"(function (msg) {{ return ({code}\n); }});"
        if expression
        else f"(function (msg) {{{code}\n}});"
    )
    try:
        _quickjs().Context().eval(source)
    except _quickjs().JSException as exc:
        raise ValueError(_describe(str(exc), None)) from None
    return code


def _out_of_memory(text: str) -> bool:
    """QuickJS's ways of saying a context ran out of memory (it cannot always say it)."""
    stripped = text.strip()
    return (
        "out of memory" in stripped
        or stripped in ("null", "")
        or "Failed obtaining QuickJS error string" in stripped
    )


def _describe(text: str, timeout: float | None) -> str:
    """QuickJS's exception text as one line naming the user's line."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    if first.startswith("InternalError: interrupted") and timeout is not None:
        return f"the code ran longer than {timeout * 1000:g}ms and was stopped"
    if _out_of_memory(text):
        return "the code ran out of memory and was stopped"
    m = _FRAME.search(text)
    if m is not None:
        return f"{first} (line {m.group(1)})"
    return first
