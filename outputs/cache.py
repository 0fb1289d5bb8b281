"""`cache` output: stores each message's payload in a cache resource, as Benthos."""

from __future__ import annotations

from typing import Any

from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import BuildContext, Cache, CacheError, Field, Output, register_output
from streamforge.plugin.errors import describe_error
from streamforge.processors.cache import _interpolated

__all__ = ["DEFAULT_KEY", "CacheOutput"]

DEFAULT_KEY = '${! count("items")}-${! timestamp_unix_nano() }'


def _max_in_flight(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_in_flight: must be at least 1, got {value!r}")
    return value


class CacheOutput(Output):
    """Sets each message's payload under its rendered key; a failed set fails that message."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.target = str(conf.get("target") or "")
        if not self.target:
            raise ValueError("target: expected the label of a cache resource")
        key = str(conf.get("key") or DEFAULT_KEY)
        ttl = str(conf.get("ttl") or "")
        self.max_in_flight = _max_in_flight(conf.get("max_in_flight", 64))
        self.key: InterpolatedString = _interpolated("key", key)
        self.ttl: InterpolatedString = _interpolated("ttl", ttl)
        self._static_ttl: float | None = None
        if self.ttl.is_static and ttl:
            try:
                self._static_ttl = parse_duration(ttl)
            except Exception as exc:  # noqa: BLE001 - reported as the field's problem
                raise ValueError(f"ttl: must be a duration: {describe_error(exc)}") from None
        self.cache: Cache = ctx.cache(self.target)

    def _ttl_of(self, msg: Message, batch: list[Message], i: int) -> float | None:
        if self.ttl.is_static:
            return self._static_ttl
        text = self.ttl.render(msg, batch, i)
        return parse_duration(text) if text else None

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        for i, msg in enumerate(batch):
            try:
                key = self.key.render(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a failing key fails only its message
                msg.error = f"cache: key interpolation error: {describe_error(exc)}"
                failed.append(msg)
                continue
            try:
                ttl = self._ttl_of(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a bad ttl fails only its message
                msg.error = f"cache: ttl error for key '{key}': {describe_error(exc)}"
                failed.append(msg)
                continue
            try:
                self.cache.set(key, msg.payload, ttl)
            except CacheError as exc:
                msg.error = f"cache: set failed for key '{key}': {exc}"
                failed.append(msg)
            except Exception as exc:  # noqa: BLE001 - a failing cache fails only its message
                msg.error = f"cache: set failed for key '{key}': {describe_error(exc)}"
                failed.append(msg)
        return failed


@register_output(
    "cache",
    fields=[
        Field(
            "target",
            "string",
            references="cache",
            description="The label of the cache resource (under `cache_resources`) to write to.",
            examples=("readings",),
        ),
        Field(
            "key",
            "string",
            default=DEFAULT_KEY,
            interpolable=True,
            description=(
                "The key each message is stored under, rendered per message; use an "
                "interpolation that makes it unique per message."
            ),
            examples=(DEFAULT_KEY, '${! json("doc.id") }', '${! meta("kafka_key") }'),
        ),
        Field(
            "ttl",
            "string",
            default="",
            interpolable=True,
            advanced=True,
            description=(
                "How long each key lives, as a duration rendered per message; empty means the "
                "cache's default. Caches without per-key TTLs ignore it."
            ),
            examples=("60s", "5m", "36h"),
        ),
        Field(
            "max_in_flight",
            "int",
            default=64,
            description=(
                "Accepted for Benthos compatibility: the messages of a batch are set in order."
            ),
        ),
    ],
    summary="Stores each message's payload in a cache resource.",
    description=(
        "Each message's payload is set under its rendered `key` (replacing any value) with "
        "its rendered `ttl`. A message whose key or ttl cannot be rendered, or whose set the "
        "cache refuses, fails on its own (for a `fallback` output or a retry); the others "
        "are written."
    ),
    examples=(
        "output:\n"
        "  cache:\n"
        "    target: documents\n"
        "    key: '${! json(\"asset_id\") }'\n"
        "cache_resources:\n"
        "  - label: documents\n"
        "    memory:\n"
        "      default_ttl: 1h",
    ),
)
def cache_output(conf: dict[str, Any], ctx: BuildContext) -> Output:
    """Stores each message's payload in a cache resource."""
    return CacheOutput(conf or {}, ctx)
