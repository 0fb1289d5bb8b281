"""`cached` processor: runs child processors only for keys a cache resource does not hold yet.

The result of the child processors for a message (any number of messages) is stored under
the message's `key`; a later message with the same key gets the stored result instead of
running the processors again. Expensive lookups (an `http` request, an `sql_select`) then run
once per key and `ttl`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from streamforge.bloblang import ParseError
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import (
    BuildContext,
    Cache,
    CacheError,
    Field,
    Processor,
    RateLimitedErrorLogger,
    register_processor,
)
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.errors import describe_error

if TYPE_CHECKING:
    from streamforge.bloblang import Executor

__all__ = ["CachedProcessor", "decode_result", "encode_result"]

#: the first bytes of every result this processor stores: a marker and the format version
MAGIC = b"sfcached"
VERSION = 1
_HEADER = struct.Struct(">8sBI")  # marker, version, number of messages
_LENGTH = struct.Struct(">I")


class NotACachedResult(ValueError):
    """The bytes under a key were not stored by the `cached` processor."""


def encode_result(payloads: list[bytes]) -> bytes:
    """The payloads of a result as one value: a versioned header, then each length-prefixed."""
    parts = [_HEADER.pack(MAGIC, VERSION, len(payloads))]
    for payload in payloads:
        parts.append(_LENGTH.pack(len(payload)))
        parts.append(payload)
    return b"".join(parts)


def decode_result(data: bytes) -> list[bytes]:
    """The payloads `encode_result` stored; NotACachedResult for anything else."""
    if len(data) < _HEADER.size:
        raise NotACachedResult(f"{len(data)} bytes are too short for a stored result")
    magic, version, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise NotACachedResult("the value does not start with the cached processor's marker")
    if version != VERSION:
        raise NotACachedResult(f"format version {version} is not known (expected {VERSION})")
    payloads: list[bytes] = []
    pos = _HEADER.size
    for i in range(count):
        if pos + _LENGTH.size > len(data):
            raise NotACachedResult(f"the value ends before message {i}")
        (size,) = _LENGTH.unpack_from(data, pos)
        pos += _LENGTH.size
        if pos + size > len(data):
            raise NotACachedResult(f"the value ends inside message {i}")
        payloads.append(data[pos : pos + size])
        pos += size
    if pos != len(data):
        raise NotACachedResult(f"{len(data) - pos} bytes follow the last message")
    return payloads


def _interpolated(name: str, text: str) -> InterpolatedString:
    try:
        return InterpolatedString(text)
    except ParseError as exc:
        raise ValueError(f"{name}: bad interpolation: {exc}") from None


def _ttl(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except Exception as exc:  # noqa: BLE001 - reported as the field's problem
        raise ValueError(f"ttl must be a duration: {describe_error(exc)}") from None
    if seconds < 0:
        raise ValueError(f"ttl {text!r} must not be negative")
    return seconds


class _Failed(Exception):
    """The message cannot be served: its error says why."""


@register_processor(
    "cached",
    fields=[
        Field(
            "cache",
            "string",
            references="cache",
            description="The label of the cache resource (under `cache_resources`) holding "
            "the results.",
            examples=("enrichment",),
        ),
        Field(
            "skip_on",
            "query",
            default="",
            description="A condition checked on the first message of a fresh result: when it "
            "is true the result is passed on but not stored, so the next message with the "
            "key runs the processors again. Empty stores every result.",
            examples=("errored()", '@http_status_code != "200"'),
        ),
        Field(
            "key",
            "string",
            interpolable=True,
            description="The key of a message's result, rendered per message: a static key "
            "shares one result between every message, an interpolated one keeps a result "
            "per value.",
            examples=(
                "asset_catalogue",
                '${! json("asset_id") }',
                '${! meta("kafka_topic") }-${! meta("kafka_partition") }',
            ),
        ),
        Field(
            "ttl",
            "string",
            default="",
            interpolable=True,
            description="How long a stored result lives, as a duration rendered per message; "
            "empty means the cache's default. Caches without per-key TTLs (`lru`, `ttlru`) "
            "ignore it.",
            examples=("60s", "10m"),
        ),
        Field(
            "processors",
            "array",
            item=Field("processor", "processor"),
            description="The processors whose result is stored. They run on each message "
            "whose key the cache does not hold, as a batch of one.",
        ),
    ],
    summary="Runs processors only for keys a cache does not hold yet, storing their result; "
    "other messages get the stored result.",
    description=(
        "For each message the `key` is looked up in the cache. When a result is stored under "
        "it, the message is replaced by it: its payload becomes each stored payload (a result "
        "of several messages becomes several messages, an empty one drops the message), its "
        "metadata stays. Otherwise the `processors` run on the message and what they return "
        "goes on and is stored under the key with `ttl`, unless `skip_on` is true for it. "
        "Only payloads are stored, in a format of this processor's own, so the cache must "
        "hold nothing else under those keys: a value the processor did not store flags the "
        "message. Errored results are stored like any other (without their error) unless "
        "`skip_on: errored()` says not to. A key that cannot be rendered, a `ttl` that is not "
        "a duration or a cache that cannot be read flags the message; a result that cannot "
        "be stored is logged and passed on."
    ),
    examples=(
        "# Ask the asset service once per asset and keep the answer for 10 minutes\n"
        "pipeline:\n"
        "  processors:\n"
        "    - branch:\n"
        "        request_map: 'root = \"\"'\n"
        "        processors:\n"
        "          - cached:\n"
        "              cache: assets\n"
        "              key: '${! json(\"asset_id\") }'\n"
        "              ttl: 10m\n"
        "              skip_on: errored()\n"
        "              processors:\n"
        "                - http:\n"
        "                    url: 'http://asset-service:8080/assets/${! json(\"asset_id\") }'\n"
        "                    verb: GET\n"
        "        result_map: root.asset = this\n"
        "cache_resources:\n"
        "  - label: assets\n"
        "    memory:\n"
        "      default_ttl: 1h",
    ),
)
class CachedProcessor(Processor):
    """Runs processors only for keys a cache does not hold yet, storing their result."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.label = getattr(ctx, "label", "") or "cached"
        self.resource = str(conf.get("cache") or "")
        if not self.resource:
            raise ValueError("cache: expected the label of a cache resource")
        key = str(conf.get("key") or "")
        if not key:
            raise ValueError("key: must not be empty")
        self.key = _interpolated("key", key)
        ttl = str(conf.get("ttl") or "")
        self.ttl = _interpolated("ttl", ttl)
        self._static_ttl: float | None = _ttl(ttl) if ttl and self.ttl.is_static else None
        skip_on = str(conf.get("skip_on") or "").strip()
        self.skip_on: Executor | None = None
        if skip_on:
            from streamforge.bloblang import parse_query

            self.skip_on = parse_query(skip_on)
        self.cache: Cache = ctx.cache(self.resource)
        self.chain = ProcessorChain(ctx.build_processors(list(conf.get("processors") or [])))
        self.log = ctx.logger
        stream = getattr(ctx, "stream", "") or "stream"
        self._store_errors = RateLimitedErrorLogger(
            self.log, stream, self.label, what="storing a result failed"
        )

    def process_batch(self, batch: list[Message]) -> list[Message]:
        out: list[Message] = []
        for i, msg in enumerate(batch):
            try:
                key = self._key_of(msg, batch, i)
                ttl = self._ttl_of(msg, batch, i)
                stored = self._lookup(key)
            except _Failed as exc:
                msg.error = f"cached: {exc}"
                out.append(msg)
                continue
            if stored is not None:
                out.extend(self._served(msg, key, stored))
            else:
                out.extend(self._fresh(msg, key, ttl))
        return out

    # -- per message ------------------------------------------------------------------------
    def _key_of(self, msg: Message, batch: list[Message], i: int) -> str:
        try:
            return self.key.render(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - a failing key fails only its message
            raise _Failed(f"key interpolation error: {describe_error(exc)}") from None

    def _ttl_of(self, msg: Message, batch: list[Message], i: int) -> float | None:
        if self.ttl.is_static:
            return self._static_ttl
        try:
            text = self.ttl.render(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - reported on the message
            raise _Failed(f"ttl interpolation error: {describe_error(exc)}") from None
        if not text:
            return None
        try:
            return _ttl(text)
        except ValueError as exc:
            raise _Failed(str(exc)) from None

    def _lookup(self, key: str) -> bytes | None:
        try:
            return self.cache.get(key)
        except CacheError as exc:
            raise _Failed(f"reading key '{key}' failed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a failing cache fails only this message
            raise _Failed(f"reading key '{key}' failed: {describe_error(exc)}") from None

    def _served(self, msg: Message, key: str, stored: bytes) -> list[Message]:
        """The message replaced by the result stored under its key."""
        try:
            payloads = decode_result(stored)
        except NotACachedResult as exc:
            msg.error = (
                f"cached: the value under key '{key}' was not stored by a cached processor: {exc}"
            )
            return [msg]
        if len(payloads) == 1:
            msg.set_payload(payloads[0])
            return [msg]
        out = []
        for payload in payloads:
            part = msg.shallow_copy()
            part.set_payload(payload)
            out.append(part)
        return out

    def _fresh(self, msg: Message, key: str, ttl: float | None) -> list[Message]:
        """Run the processors on the message and store what they return under its key."""
        result = list(self.chain.process_batch([msg]))
        if self._skipped(result):
            return result
        try:
            self.cache.set(key, encode_result([m.payload for m in result]), ttl)
        except Exception as exc:  # noqa: BLE001 - the result goes on; the next message retries
            reason = f"cached: storing key '{key}' failed: {describe_error(exc)}"
            self._store_errors.report(1, Message(msg.payload, dict(msg.metadata), error=reason))
        return result

    def _skipped(self, result: list[Message]) -> bool:
        """Whether `skip_on` keeps this result out of the cache (also when it fails)."""
        if self.skip_on is None or not result:
            return False
        try:
            skip = self.skip_on.query_message(result[0], result, 0)
        except Exception as exc:  # noqa: BLE001 - when in doubt, do not store
            self.log.warning("cached %s: skip_on failed (%s); the result is not stored",
                             self.label, describe_error(exc))  # fmt: skip
            return True
        if not isinstance(skip, bool):
            self.log.warning("cached %s: skip_on returned %r, not a bool; the result is not "
                             "stored", self.label, skip)  # fmt: skip
            return True
        return skip

    def close(self) -> None:
        self.chain.close()
