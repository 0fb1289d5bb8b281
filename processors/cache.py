"""`cache` processor: set, add, get, delete or check keys of a cache resource per message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamforge.bloblang import ParseError
from streamforge.bloblang.error_calls import interpolation_asks_about_errors
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import (
    BuildContext,
    Cache,
    CacheError,
    Field,
    Processor,
    register_processor,
)
from streamforge.plugin.errors import describe_error

__all__ = ["OPERATORS", "CacheProcessor"]

OPERATORS = ("set", "add", "get", "delete", "exists")


class _KeyExists(Exception):
    """`add` found the key already there."""


class _KeyMissing(Exception):
    """`get` found no value under the key."""


def _interpolated(name: str, text: str) -> InterpolatedString:
    try:
        return InterpolatedString(text)
    except ParseError as exc:
        raise ValueError(f"{name}: bad interpolation: {exc}") from None


@register_processor(
    "cache",
    fields=[
        Field(
            "resource",
            "string",
            references="cache",
            description="The label of the cache resource (under `cache_resources`) to use.",
            examples=("readings",),
        ),
        Field(
            "operator",
            "string",
            options=OPERATORS,
            description=(
                "`set` stores the value (replacing any); `add` stores it only when the key is "
                "absent, else the message gets the error `key already exists`; `get` replaces "
                "the payload with the stored value, or flags the message when there is none; "
                "`delete` removes the key (absent is fine); `exists` replaces the payload with "
                "`true` or `false`."
            ),
        ),
        Field(
            "key",
            "string",
            interpolable=True,
            description="The key, rendered per message.",
            examples=('${! json("asset_id") }/${! json("parameter") }', '${! meta("kafka_key") }'),
        ),
        Field(
            "value",
            "string",
            default="",
            interpolable=True,
            description="The value `set` and `add` store, rendered per message.",
            examples=("${! content() }", '${! json("reading") }'),
        ),
        Field(
            "ttl",
            "string",
            default="",
            interpolable=True,
            advanced=True,
            description=(
                "How long a key `set` or `add` writes lives, as a duration rendered per "
                "message; empty means the cache's default. Caches without per-key TTLs "
                "(`lru`, `ttlru`) ignore it."
            ),
            examples=("60s", "5m", "36h"),
        ),
    ],
    summary="Sets, adds, gets, deletes or checks keys of a cache resource for each message.",
    description=(
        "Each message is handled on its own, in order, with `key`, `value` and `ttl` rendered "
        "for it (batch functions such as `batch_index()` see the whole batch). A message "
        "whose operation fails (a rendering error, a duplicate `add`, a missing key on `get`, "
        "a cache that cannot be reached) keeps its payload and gets the error, for `catch` "
        "or `errored()` to handle; the others go on. Use it inside `branch` to enrich a "
        "message with a cached document instead of replacing it."
    ),
    examples=(
        "# Keep only the first reading with each id (add fails on a duplicate)\n"
        "pipeline:\n"
        "  processors:\n"
        "    - cache:\n"
        "        resource: seen\n"
        "        operator: add\n"
        "        key: '${! json(\"reading_id\") }'\n"
        "        value: t\n"
        "    - mapping: root = if errored() { deleted() }\n"
        "cache_resources:\n"
        "  - label: seen\n"
        "    redis:\n"
        "      url: redis://localhost:6379",
        "# Enrich each reading with its asset document\n"
        "pipeline:\n"
        "  processors:\n"
        "    - branch:\n"
        "        processors:\n"
        "          - cache:\n"
        "              resource: assets\n"
        "              operator: get\n"
        "              key: '${! json(\"asset_id\") }'\n"
        "        result_map: root.asset = this\n"
        "cache_resources:\n"
        "  - label: assets\n"
        "    lru:\n"
        "      init_values:\n"
        '        press-1: \'{"hall":"A"}\'',
    ),
)
class CacheProcessor(Processor):
    """Sets, adds, gets, deletes or checks keys of a cache resource for each message."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.resource = str(conf.get("resource") or "")
        if not self.resource:
            raise ValueError("resource: expected the label of a cache resource")
        self.operator = str(conf.get("operator") or "")
        if self.operator not in OPERATORS:
            raise ValueError(f"operator: {self.operator!r} is not one of {', '.join(OPERATORS)}")
        key = str(conf.get("key") or "")
        if not key:
            raise ValueError("key: must not be empty")
        value = str(conf.get("value") or "")
        ttl = str(conf.get("ttl") or "")
        self.key = _interpolated("key", key)
        self.value = _interpolated("value", value)
        self.ttl = _interpolated("ttl", ttl)
        self._static_ttl: float | None = None
        if self.ttl.is_static and ttl:
            self._static_ttl = self._parse_ttl(ttl)
        self.handles_errors = any(interpolation_asks_about_errors(t) for t in (key, value, ttl))
        self.cache: Cache = ctx.cache(self.resource)
        self._run: Callable[[Message, list[Message], int, str], None] = getattr(
            self, f"_{self.operator}"
        )

    @staticmethod
    def _parse_ttl(text: str) -> float:
        try:
            return parse_duration(text)
        except Exception as exc:  # noqa: BLE001 - reported as the field's problem
            raise ValueError(f"ttl must be a duration: {describe_error(exc)}") from None

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for i, msg in enumerate(batch):
            if msg.error is not None and not self.handles_errors:
                continue
            try:
                key = self.key.render(msg, batch, i)
            except Exception as exc:  # noqa: BLE001 - a failing key fails only its message
                msg.error = f"cache: key interpolation error: {describe_error(exc)}"
                continue
            try:
                self._run(msg, batch, i, key)
            except _KeyExists:
                msg.error = f"cache: key already exists: {key}"
            except _KeyMissing:
                msg.error = f"cache: operator failed for key '{key}': key does not exist"
            except _RenderError as exc:
                msg.error = f"cache: {exc}"
            except CacheError as exc:
                msg.error = f"cache: operator failed for key '{key}': {exc}"
            except Exception as exc:  # noqa: BLE001 - a failing cache fails only its message
                msg.error = f"cache: operator failed for key '{key}': {describe_error(exc)}"
        return batch

    # -- operators ------------------------------------------------------------------------
    def _value_of(self, msg: Message, batch: list[Message], i: int) -> bytes:
        try:
            return self.value.render_bytes(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - reported on the message
            raise _RenderError(f"value interpolation error: {describe_error(exc)}") from None

    def _ttl_of(self, msg: Message, batch: list[Message], i: int) -> float | None:
        if self._static_ttl is not None or self.ttl.is_static:
            return self._static_ttl
        try:
            text = self.ttl.render(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - reported on the message
            raise _RenderError(f"ttl interpolation error: {describe_error(exc)}") from None
        if not text:
            return None
        try:
            return parse_duration(text)
        except Exception as exc:  # noqa: BLE001 - reported on the message
            raise _RenderError(f"ttl must be a duration: {describe_error(exc)}") from None

    def _set(self, msg: Message, batch: list[Message], i: int, key: str) -> None:
        self.cache.set(key, self._value_of(msg, batch, i), self._ttl_of(msg, batch, i))

    def _add(self, msg: Message, batch: list[Message], i: int, key: str) -> None:
        if not self.cache.add(key, self._value_of(msg, batch, i), self._ttl_of(msg, batch, i)):
            raise _KeyExists

    def _get(self, msg: Message, batch: list[Message], i: int, key: str) -> None:
        value = self.cache.get(key)
        if value is None:
            raise _KeyMissing
        msg.set_payload(value)

    def _delete(self, msg: Message, batch: list[Message], i: int, key: str) -> None:
        self.cache.delete(key)

    def _exists(self, msg: Message, batch: list[Message], i: int, key: str) -> None:
        msg.set_value(self.cache.get(key) is not None)


class _RenderError(Exception):
    """The value or ttl of one message could not be rendered."""
