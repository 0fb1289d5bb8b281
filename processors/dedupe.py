"""`dedupe` processor: drops (or flags) messages whose key a cache resource has already seen."""

from __future__ import annotations

from typing import Any

from streamforge.bloblang import ParseError
from streamforge.bloblang.error_calls import interpolation_asks_about_errors
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import (
    BuildContext,
    Cache,
    Field,
    Processor,
    RateLimitedErrorLogger,
    register_processor,
)
from streamforge.plugin.errors import describe_error

__all__ = ["ACTIONS", "DUPLICATE_METADATA", "DedupeProcessor"]

ACTIONS = ("drop", "flag")
#: metadata set to true on duplicates kept by `action: flag`
DUPLICATE_METADATA = "dedupe_duplicate"
#: what is stored under each key (Benthos stores the same)
_SEEN = b"t"


@register_processor(
    "dedupe",
    fields=[
        Field(
            "cache",
            "string",
            references="cache",
            description=(
                "The label of a cache resource (under `cache_resources`) that remembers the "
                "keys seen; its TTL is how long a key counts as seen."
            ),
            examples=("seen_readings",),
        ),
        Field(
            "key",
            "string",
            interpolable=True,
            description=(
                "What makes two messages the same. A message whose key fails to render is "
                "flagged with an error and kept. `this.field` paths render faster than "
                '`json("field")`.'
            ),
            examples=(
                '${! json("asset_id") }-${! json("parameter") }'
                '-${! json("timestamps.device_time") }',
                "${! this.asset_id }/${! this.parameter }/${! this.timestamps.device_time }",
                '${! meta("kafka_key") }',
            ),
        ),
        Field(
            "drop_on_err",
            "bool",
            default=True,
            description=(
                "When the cache fails (e.g. its server is down): true drops the messages, "
                "false keeps them flagged with the cache's error. Drops are logged."
            ),
        ),
        Field(
            "action",
            "string",
            default="drop",
            options=ACTIONS,
            description=(
                "What happens to a duplicate: `drop` removes it, `flag` keeps it with "
                f"metadata `{DUPLICATE_METADATA}: true` (for `switch` or a mapping to route)."
            ),
        ),
    ],
    summary="Drops messages whose key was already seen, using a cache resource.",
    description=(
        "Each message's `key` is added to the cache if absent, atomically; when it is already "
        "there (written within the cache's TTL), the message is a duplicate. The first "
        "occurrence always passes, duplicates within one batch are caught too, and the order "
        "of messages is kept. All workers of a process share one cache instance, so a "
        "`memory` cache deduplicates across workers but not across the processes of a "
        "cluster; a shared cache (e.g. Redis) does that."
    ),
    examples=(
        "# Each reading once, even when a gateway resends it within 10 minutes\n"
        "cache_resources:\n"
        "  - label: seen_readings\n"
        "    memory:\n"
        "      default_ttl: 10m\n"
        "      cap: 200000\n"
        "pipeline:\n"
        "  processors:\n"
        "    - dedupe:\n"
        "        cache: seen_readings\n"
        '        key: ${! json("asset_id") }-${! json("parameter") }'
        '-${! json("timestamps.device_time") }',
    ),
)
class DedupeProcessor(Processor):
    """Drops messages whose key was already seen, using a cache resource."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.cache_label = str(conf.get("cache") or "")
        if not self.cache_label:
            raise ValueError("cache: expected the label of a cache resource")
        text = str(conf.get("key") or "")
        if not text:
            raise ValueError("key: must not be empty")
        try:
            self.key = InterpolatedString(text)
        except ParseError as exc:
            raise ValueError(f"key: bad interpolation: {exc}") from None
        action = str(conf.get("action") or "drop")
        if action not in ACTIONS:
            raise ValueError(f'action: "{action}" is not one of {", ".join(ACTIONS)}')
        self.flag = action == "flag"
        self.drop_on_err = bool(conf.get("drop_on_err", True))
        self.cache: Cache = ctx.cache(self.cache_label)
        self.handles_errors = interpolation_asks_about_errors(text)
        self.dropped_on_error = RateLimitedErrorLogger(
            ctx.logger,
            ctx.stream,
            ctx.label,
            what="cache failed, dropped (drop_on_err)",
        )

    def process_batch(self, batch: list[Message]) -> list[Message]:
        keys: list[tuple[str, bytes]] = []
        keyed: list[Message] = []
        for i, msg in enumerate(batch):
            try:
                keys.append((self.key.render(msg, batch, i), _SEEN))
            except Exception as exc:  # noqa: BLE001 - a failing key fails only its message
                msg.error = f"dedupe: key: {describe_error(exc)}"
                continue
            keyed.append(msg)
        if not keyed:
            return batch
        try:
            added = self.cache.add_many(keys)
        except Exception as exc:  # noqa: BLE001 - a failing cache is routed, never raised
            return self._cache_failed(batch, keyed, exc)
        duplicates = {id(m) for m, new in zip(keyed, added) if not new}
        if not duplicates:
            return batch
        if self.flag:
            for msg in keyed:
                if id(msg) in duplicates:
                    msg.metadata[DUPLICATE_METADATA] = True
            return batch
        return [m for m in batch if id(m) not in duplicates]

    def _cache_failed(
        self, batch: list[Message], keyed: list[Message], exc: Exception
    ) -> list[Message]:
        reason = f"dedupe: cache {self.cache_label}: {describe_error(exc)}"
        for msg in keyed:
            msg.error = reason
        if not self.drop_on_err:
            return batch
        self.dropped_on_error.report(len(keyed), keyed[0])
        failed = {id(m) for m in keyed}
        return [m for m in batch if id(m) not in failed]

    def close(self) -> None:
        self.dropped_on_error.flush()
