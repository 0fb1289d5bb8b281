"""`redis_streams` input: reads Redis streams through a consumer group (XREADGROUP), as Benthos.

Entries are acknowledged (XACK) only after the output wrote them, at most `commit_period`
later. On every (re)connection the input first reads its own pending entries again (those
delivered to this consumer and never acknowledged), then new ones; so with a fixed
`client_id` nothing delivered and unwritten is lost across a restart of Redis or of the
stream. The entry's `body_key` field is the payload; its other fields become metadata, and
`redis_stream` holds the entry ID.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from streamforge.connectors.acked_reader import replay_nacks_field
from streamforge.connectors.redis import RedisSettings, connection_fields
from streamforge.connectors.redis_components import RedisInput, RedisInputReader
from streamforge.durations import parse_duration
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, register_input
from streamforge.plugin.spec import offline_check

__all__ = ["RedisStreamsInput"]

log = logging.getLogger("streamforge.inputs.redis_streams")

register_feature("input", "redis_streams", "bindings", "redis")


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


class _Entry:
    __slots__ = ("body", "fields", "id", "stream")

    def __init__(self, stream: str, entry_id: str, body: bytes, fields: dict[str, str]) -> None:
        self.stream = stream
        self.id = entry_id
        self.body = body
        self.fields = fields

    def message(self) -> Message:
        return Message(self.body, {"redis_stream": self.id, **self.fields})


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisSettings:
    streams = [str(s) for s in conf.get("streams") or [] if str(s)]
    if not streams:
        raise ValueError("streams: at least one stream is required")
    if not str(conf.get("body_key", "body") or ""):
        raise ValueError("body_key: the field holding the payload is required")
    if int(conf.get("limit", 10)) < 1:
        raise ValueError("limit: must be at least 1")
    for name in ("commit_period", "timeout"):
        if parse_duration(conf.get(name) or "1s") <= 0:
            raise ValueError(f"{name}: must be positive")
    return RedisSettings.from_conf(conf)


@register_input(
    "redis_streams",
    fields=[
        *connection_fields(),
        Field(
            "body_key",
            "string",
            default="body",
            description="The entry field holding the payload; the others become metadata.",
        ),
        Field(
            "streams",
            "array",
            item=Field("stream", "string"),
            description="The streams to read.",
            examples=(["plant-events"],),
        ),
        replay_nacks_field("entries", "acknowledged and dropped"),
        Field(
            "limit",
            "int",
            default=10,
            description="Most entries one XREADGROUP returns per stream.",
            advanced=True,
        ),
        Field(
            "client_id",
            "string",
            default="",
            description=(
                "The consumer name within the group; unique per reader. Empty: a random name "
                "per run, so entries left unacknowledged by an earlier run stay with that "
                "consumer. Set it to resume them after a restart."
            ),
        ),
        Field(
            "consumer_group",
            "string",
            default="",
            description="The consumer group to read as.",
            examples=("streamforge",),
        ),
        Field(
            "create_streams",
            "bool",
            default=True,
            description="Create the streams (and the consumer group) when they do not exist.",
            advanced=True,
        ),
        Field(
            "start_from_oldest",
            "bool",
            default=True,
            description=(
                "A consumer group created by the input starts at the oldest entry; false: at "
                "entries added from then on."
            ),
            advanced=True,
        ),
        Field(
            "commit_period",
            "duration",
            default="1s",
            description="How often written entries are acknowledged (XACK), at most.",
            advanced=True,
        ),
        Field(
            "timeout",
            "duration",
            default="1s",
            description="How long one XREADGROUP waits for new entries.",
            advanced=True,
        ),
    ],
    summary="Reads Redis streams as a consumer group; acknowledges entries after the write.",
    description=(
        "Metadata: `redis_stream` (the entry ID) and every field of the entry but the body."
    ),
    examples=(
        "redis_streams:\n  url: redis://localhost:6379\n  streams: [ plant-events ]\n"
        "  body_key: body\n  consumer_group: streamforge\n  client_id: gateway-1",
    ),
)
@offline_check(_check)
class RedisStreamsInput(RedisInput):
    """Reads Redis streams as a consumer group."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        super().__init__(_check(conf), conf, ctx)
        self.streams = [str(s) for s in conf["streams"] if str(s)]
        self.body_key = str(conf.get("body_key") or "body")
        self.limit = int(conf.get("limit", 10))
        self.client_id = str(conf.get("client_id") or "") or f"streamforge-{uuid.uuid4()}"
        self.group = str(conf.get("consumer_group") or "")
        self.create_streams = bool(conf.get("create_streams", True))
        self.start_from_oldest = bool(conf.get("start_from_oldest", True))
        self.commit_period = parse_duration(conf.get("commit_period") or "1s")
        self.timeout = parse_duration(conf.get("timeout") or "1s")


class _StreamsReader(RedisInputReader):
    logger = log

    def __init__(self, source: RedisStreamsInput) -> None:
        super().__init__(source)
        self.source: RedisStreamsInput = source
        self.block_seconds = min(source.timeout, source.commit_period)
        self._ack_lock = threading.Lock()
        #: entry IDs written, to acknowledge: stream -> ids
        self._to_ack: dict[str, list[str]] = {}
        #: entries read and not yet acknowledged (skipped when the backlog is read again)
        self._held: set[tuple[str, str]] = set()
        #: streams whose pending entries are being read again -> the ID to read after
        self._backlog: dict[str, str] = {}

    def connected(self, client: Any) -> None:
        from redis.exceptions import ResponseError

        src = self.source
        for stream in src.streams:
            try:
                client.xgroup_create(
                    stream,
                    src.group,
                    id="0" if src.start_from_oldest else "$",
                    mkstream=src.create_streams,
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._backlog = {stream: "0" for stream in src.streams}

    def poll(self, client: Any) -> None:
        self._flush_acks(client)
        src = self.source
        ids = {s: self._backlog.get(s, ">") for s in src.streams}
        block = None if self._backlog else max(int(self.block_seconds * 1000), 1)
        replies = client.xreadgroup(src.group, src.client_id, ids, count=src.limit, block=block)
        records: list[_Entry] = []
        for stream_name, entries in replies or []:
            stream = _text(stream_name)
            if stream in self._backlog:
                if entries:
                    self._backlog[stream] = _text(entries[-1][0])
                else:
                    del self._backlog[stream]
            for raw_id, raw_fields in entries:
                entry = self._entry(stream, _text(raw_id), raw_fields)
                if entry is not None:
                    records.append(entry)
        if records:
            self.put(records)

    def _entry(self, stream: str, entry_id: str, raw: Any) -> _Entry | None:
        key = (stream, entry_id)
        if raw is None or key in self._held:
            return None  # deleted meanwhile, or still in the stream from before a reconnect
        fields = {_text(k): v for k, v in raw.items()}
        body = fields.pop(self.source.body_key, None)
        if body is None:
            return None
        with self._ack_lock:
            self._held.add(key)
        meta = {k: _text(v) for k, v in fields.items()}
        return _Entry(
            stream, entry_id, body if isinstance(body, bytes) else str(body).encode(), meta
        )

    def settle(self, records: list[Any], error: str | None) -> None:
        with self._ack_lock:
            for r in records:
                self._to_ack.setdefault(r.stream, []).append(r.id)

    def abandon(self, records: list[Any], error: str) -> None:
        with self._ack_lock:
            for r in records:
                self._held.discard((r.stream, r.id))
        super().abandon(records, error)

    def _flush_acks(self, client: Any) -> None:
        with self._ack_lock:
            todo, self._to_ack = self._to_ack, {}
        if not todo:
            return
        try:
            pipe = client.pipeline(transaction=False)
            for stream, ids in todo.items():
                pipe.xack(stream, self.source.group, *ids)
            pipe.execute()
        except BaseException:
            with self._ack_lock:
                for stream, ids in todo.items():
                    self._to_ack.setdefault(stream, [])[:0] = ids
            raise
        with self._ack_lock:
            for stream, ids in todo.items():
                for entry_id in ids:
                    self._held.discard((stream, entry_id))

    def idle(self, client: Any) -> None:
        self._flush_acks(client)
        self._halt.wait(0.05)

    def finish(self, client: Any) -> None:
        if client is None:
            return
        try:
            self._flush_acks(client)
        except Exception as exc:  # noqa: BLE001 - the entries stay pending in the group
            log.warning("%s: final acknowledgement failed: %s", self.name, exc)


RedisStreamsInput.reader = _StreamsReader
