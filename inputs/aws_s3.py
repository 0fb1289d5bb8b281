"""`aws_s3` input: downloads the objects of a bucket (under a prefix), then ends; or, with
`sqs.url`, the objects that upload notifications on an SQS queue name, without end.

Listed objects are found when the input starts and read one after another, each split into
messages by the codec (`to_the_end` by default: one message per object). With
`delete_objects`, an object is deleted once every message read from it was written. Batches
the output failed to write are sent again. Listing while the store cannot be reached is
retried with backoff. A notification is deleted from its queue once every object it named
was written (see `_s3_notifications`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any

from streamforge.connectors.codecs import Splitter, parse_input_codec
from streamforge.connectors.csv_rows import CsvRecord, CsvRows
from streamforge.connectors.s3 import aws_fields, is_unreachable, make_client
from streamforge.connectors.scanners import CSV_ROW, csv_scanner
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.connection import Backoff, Connection, connection
from streamforge.plugin.errors import describe_error
from streamforge.plugin.optional import require
from streamforge.plugin.spec import ParsedField, offline_check

from ._s3_notifications import NoticeObject, Notifications, sqs_settings

__all__ = ["S3Input", "S3Reader", "scanner_codec"]

log = logging.getLogger("streamforge.inputs.aws_s3")

_CHUNK = 1 << 16

#: Benthos scanners this input understands -> the codec that does the same
_SCANNERS = {"to_the_end": "all-bytes", "lines": "lines"}


def scanner_codec(scanner: Any) -> str:
    """The codec of a Benthos `scanner` object (`{to_the_end: {}}`, `{lines: {}}`)."""
    if not isinstance(scanner, dict) or len(scanner) != 1:
        raise ValueError("scanner: expected one scanner, e.g. {to_the_end: {}} or {lines: {}}")
    [(name, opts)] = scanner.items()
    if name == "lines" and isinstance(opts, dict) and opts.get("custom_delimiter"):
        return f"delim:{opts['custom_delimiter']}"
    if name not in _SCANNERS:
        raise ValueError(
            f"scanner: {name!r} is not supported here; use one of {', '.join(_SCANNERS)}"
        )
    return _SCANNERS[name]


def _check_sqs(value: Any) -> Any:
    sqs_settings(value or {})
    return value


class S3Input(Input):
    """Downloads the objects of a bucket under a prefix."""

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext | None = None, *, connect: bool = True
    ) -> None:
        require("boto3", "aws", "the aws_s3 input")
        self.conf = conf
        self.bucket = str(conf.get("bucket") or "")
        self.sqs = sqs_settings(conf.get("sqs") or {})
        if not self.bucket and self.sqs is None:
            raise ValueError("bucket: a bucket name is required (or sqs.url)")
        self.prefix = str(conf.get("prefix") or "")
        codec = str(conf.get("codec") or "")
        scanner = conf.get("scanner") or {"to_the_end": {}}
        self.csv = None if codec else csv_scanner(scanner)
        self.codec = codec or ("lines" if self.csv else scanner_codec(scanner))
        parse_input_codec(self.codec)
        self.max_buffer = int(conf.get("max_buffer", 1_000_000) or 0)
        self.delete_objects = bool(conf.get("delete_objects", False))
        self.label = getattr(ctx, "label", "") or "aws_s3"
        self.stream = getattr(ctx, "stream", "") or "stream"

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        client = make_client(self.conf)
        where = str(self.conf.get("endpoint") or "") or "s3"
        notifications = None
        if self.sqs is not None:
            sqs_conf = {**self.conf, "endpoint": self.sqs.endpoint or self.conf.get("endpoint")}
            sqs = make_client(sqs_conf, service="sqs")
            notifications = Notifications(self.sqs, sqs, self.bucket, self.prefix)
            where = self.sqs.url
        conn = connection(self.stream, self.label, f"{where}/{self.bucket}".rstrip("/"))
        return S3Reader(self, client, conn, notifications)


class _Object:
    """What is known about one object while its messages are in the stream."""

    __slots__ = ("done_reading", "named", "outstanding")

    def __init__(self, named: NoticeObject) -> None:
        self.named = named
        self.outstanding = 0
        self.done_reading = False

    @property
    def key(self) -> str:
        return self.named.key


class S3Reader(InputReader):
    """Lists the bucket once, then streams each object through the codec."""

    def __init__(
        self,
        source: S3Input,
        client: Any,
        conn: Connection,
        notifications: Notifications | None = None,
    ) -> None:
        self.source = source
        self.client = client
        self.connection = conn
        self.notifications = notifications
        self._keys: deque[NoticeObject] | None = None
        self._body: Any = None
        self._object: _Object | None = None
        self._splitter: Splitter | CsvRows | None = None
        self._meta: dict[str, Any] = {}
        self._backoff = Backoff(initial=0.2, maximum=10.0)
        self._awake: datetime | None = None
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[_Object, list[tuple[Any, dict[str, Any]]]]] = {}
        self._replays: deque[tuple[_Object, list[tuple[Any, dict[str, Any]]]]] = deque()

    # -- reading ----------------------------------------------------------------------------
    def read(self) -> list[Message] | None:
        with self._lock:
            if self._replays:
                obj, records = self._replays.popleft()
                return self._emit(obj, records)
        try:
            if self._keys is None:
                self._keys = deque(self._list()) if self.notifications is None else deque()
            if self._body is None:
                if not self._keys and self.notifications is not None:
                    return self._receive()
                if not self._keys:
                    with self._lock:
                        waiting = bool(self._pending)
                    if waiting:
                        self._sleep(0.02)
                        return []
                    return None
                if not self._open(self._keys[0]):
                    return []
            return self._read_chunk()
        except Exception as exc:  # noqa: BLE001 - retried while unreachable, else the end
            if is_unreachable(exc):
                self.connection.down(describe_error(exc))
                delay = self._backoff.next_delay()
                log.warning("aws_s3 %s: %s; trying again", self.source.label, describe_error(exc))
                self._sleep(delay)
                self._drop_body()
                return []
            self._drop_body()
            if self.notifications is not None and self._keys:
                named = self._keys.popleft()
                log.error(
                    "aws_s3 %s: %s/%s: %s; its notification goes back to the queue",
                    self.source.label, named.bucket, named.key, describe_error(exc),
                )  # fmt: skip
                self.notifications.give_back(named)
                return []
            log.error("aws_s3 %s: %s; the input ends", self.source.label, describe_error(exc))
            return None

    def _sleep(self, seconds: float) -> None:
        self._awake = datetime.now(timezone.utc) + timedelta(seconds=seconds)

    def _list(self) -> list[NoticeObject]:
        keys: list[NoticeObject] = []
        bucket = self.source.bucket
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=self.source.prefix
        )
        for page in pages:
            keys.extend(NoticeObject(bucket, str(i["Key"])) for i in page.get("Contents") or [])
        self.connection.up()
        self._backoff.reset()
        return keys

    def _receive(self) -> list[Message]:
        """Wait for notifications: the objects they name are read next."""
        assert self.notifications is not None and self._keys is not None
        objects = self.notifications.receive()
        self.connection.up()
        self._backoff.reset()
        if not objects:
            if self.notifications.settings.wait_seconds == 0:
                self._sleep(1.0)  # an empty queue is asked again a second later
            return []
        self._keys.extend(objects)
        return []

    def _open(self, named: NoticeObject) -> bool:
        """Start reading an object; False when it is not there to read (it is skipped)."""
        notice = named.notice
        if notice is not None:
            wait = notice.ready_at - time.monotonic()
            if wait > 0:  # sqs.delay_period since the notification came
                self._sleep(wait)
                return False
        try:
            resp = self.client.get_object(Bucket=named.bucket, Key=named.key)
        except Exception as exc:
            if self.notifications is None or not _is_missing(exc):
                raise
            log.warning(
                "aws_s3 %s: %s/%s was named by a notification but is gone; skipped",
                self.source.label, named.bucket, named.key,
            )  # fmt: skip
            assert self._keys is not None
            self._keys.popleft()
            self.notifications.object_done(named)
            return False
        self.connection.up()
        self._backoff.reset()
        modified = resp.get("LastModified")
        meta: dict[str, Any] = {
            "s3_key": named.key,
            "s3_bucket": named.bucket,
            "s3_content_type": resp.get("ContentType") or "",
        }
        if modified is not None:
            meta["s3_last_modified_unix"] = int(modified.timestamp())
            meta["s3_last_modified"] = modified.isoformat().replace("+00:00", "Z")
        if resp.get("ContentEncoding"):
            meta["s3_content_encoding"] = resp["ContentEncoding"]
        if resp.get("VersionId"):
            meta["s3_version_id"] = resp["VersionId"]
        for name, value in (resp.get("Metadata") or {}).items():
            meta[name] = value
        self._meta = meta
        self._body = resp["Body"]
        self._object = _Object(named)
        csv = self.source.csv
        self._splitter = (
            csv.open(f"{named.bucket}/{named.key}")
            if csv is not None
            else Splitter(self.source.codec, self.source.max_buffer)
        )
        return True

    def _drop_body(self) -> None:
        """Forget a partly read object: it is read again from its start (as in Benthos)."""
        if self._body is not None:
            self._body.close()
        self._body = None
        self._splitter = None

    def _read_chunk(self) -> list[Message]:
        assert self._splitter is not None and self._object is not None
        split, obj = self._splitter, self._object
        if isinstance(split, Splitter) and split.delim is None:
            data = self._body.read()
            split.feed(data)
            records: list[Any] = split.finish()
            eof = True
        else:
            data = self._body.read(_CHUNK)
            eof = not data
            records = split.feed(data) if data else split.finish()
        failed = getattr(split, "failed", None)
        if failed is not None:  # a CSV error ends reading the object, which is kept
            log.error(
                "aws_s3 %s: %s; the rest of the object is not read", self.source.label, failed
            )
            eof = True
        meta = self._meta
        pairs = [(r if isinstance(r, CsvRecord) else bytes(r), meta) for r in records]
        errors = list(split.overflows)
        split.overflows.clear()
        if eof:
            self._body.close()
            self._body = None
            assert self._keys is not None
            self._keys.popleft()
            obj.done_reading = failed is None
        self._awake = None
        batch = self._emit(obj, pairs) if pairs else []
        batch.extend(Message(b"", dict(meta), error=e) for e in errors)
        if eof and not pairs:
            self._maybe_delete(obj)
        return batch

    def _emit(self, obj: _Object, records: list[tuple[Any, dict[str, Any]]]) -> list[Message]:
        batch = [
            _csv_message(rec, meta) if isinstance(rec, CsvRecord) else Message(rec, dict(meta))
            for rec, meta in records
        ]
        with self._lock:
            self._pending[id(batch)] = (obj, records)
            obj.outstanding += 1
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake

    # -- acknowledgements ---------------------------------------------------------------------
    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            entry = self._pending.pop(id(batch), None)
            if entry is None:
                return
            obj, records = entry
            obj.outstanding -= 1
            if error is not None:
                self._replays.append((obj, records))
                return
        self._maybe_delete(obj)

    def _maybe_delete(self, obj: _Object) -> None:
        with self._lock:
            ready = obj.done_reading and obj.outstanding == 0
        if not ready:
            return
        if self.source.delete_objects:
            try:
                self.client.delete_object(Bucket=obj.named.bucket, Key=obj.key)
            except Exception as exc:  # noqa: BLE001 - the object stays; say so
                log.warning(
                    "aws_s3 %s: cannot delete %s: %s",
                    self.source.label, obj.key, describe_error(exc),
                )  # fmt: skip
        if self.notifications is not None:
            self.notifications.object_done(obj.named)

    def close(self) -> None:
        self._drop_body()
        if self.notifications is not None and self._keys:
            for named in self._keys:
                self.notifications.give_back(named)
        self.connection.close()


def _csv_message(rec: CsvRecord, meta: dict[str, Any]) -> Message:
    return Message.from_value(rec.value, {**meta, CSV_ROW: rec.index}, rec.error)


def _is_missing(exc: BaseException) -> bool:
    """Whether a get failed because the object is not there (any more)."""
    response = getattr(exc, "response", None)
    code = str((response or {}).get("Error", {}).get("Code", "")) if response else ""
    return code in ("NoSuchKey", "404", "NotFound")


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    S3Input(conf, ctx, connect=False)


@register_input(
    "aws_s3",
    fields=[
        Field(
            "bucket",
            "string",
            default="",
            description="The bucket to read (with `sqs`: the bucket of notifications that "
            "name none).",
        ),
        Field(
            "prefix",
            "string",
            default="",
            description="Only objects whose key starts with this.",
            examples=("plant/line1/",),
        ),
        *aws_fields(),
        Field(
            "delete_objects",
            "bool",
            default=False,
            description="Delete each object once every message read from it was written.",
        ),
        Field(
            "scanner",
            "any",
            default={"to_the_end": {}},
            description="How an object is split into messages: `{to_the_end: {}}` (one "
            "message per object), `{lines: {}}` or `{csv: {}}` (one message per row, with "
            "the csv scanner's fields; metadata `csv_row`).",
            examples=({"lines": {}}, {"csv": {"custom_delimiter": ";"}}),
        ),
        ParsedField(
            "codec",
            "string",
            default="",
            advanced=True,
            parser=lambda v: parse_input_codec(str(v)) if str(v) else None,
            description="Older form of `scanner`: lines, all-bytes or delim:<x>; overrides "
            "it when set.",
        ),
        Field(
            "max_buffer",
            "int",
            default=1_000_000,
            advanced=True,
            description="Longest record in bytes with a line or delimiter codec.",
        ),
        ParsedField(
            "sqs",
            "object",
            default={},
            parser=_check_sqs,
            description="Read the objects that S3 upload notifications on an SQS queue "
            "name, as they come, instead of listing the bucket once. A notification is "
            "deleted from the queue when every object it names was written.",
            fields=(
                Field("url", "string", default="", description="The queue's URL."),
                Field(
                    "endpoint",
                    "string",
                    default="",
                    advanced=True,
                    description="A custom SQS endpoint (the input's `endpoint` otherwise).",
                ),
                Field(
                    "key_path",
                    "string",
                    default="Records.*.s3.object.key",
                    description="Where a notification names object keys (`*`: every "
                    "element of an array).",
                ),
                Field(
                    "bucket_path",
                    "string",
                    default="Records.*.s3.bucket.name",
                    description="Where a notification names the keys' buckets.",
                ),
                Field(
                    "envelope_path",
                    "string",
                    default="",
                    description="A field holding the notification as a JSON string (`Message` "
                    "when S3 notifies through SNS).",
                    examples=("Message",),
                ),
                Field(
                    "delay_period",
                    "duration",
                    default="",
                    description="How long after a notification to wait before reading its objects.",
                    examples=("10s",),
                ),
                Field(
                    "max_messages",
                    "int",
                    default=10,
                    description="Notifications asked for at a time (1 to 10).",
                ),
                Field(
                    "wait_time_seconds",
                    "int",
                    default=0,
                    description="How long a receive waits for notifications (0 to 20; 0 "
                    "asks again a second after an empty answer).",
                ),
                Field(
                    "nack_visibility_timeout",
                    "int",
                    default=0,
                    advanced=True,
                    description="Seconds before a notification whose objects were not "
                    "written when the input stopped is delivered again.",
                ),
            ),
        ),
    ],
    summary="Downloads the objects of an S3 bucket (under a prefix) as messages, then ends; "
    "or the objects S3 upload notifications on an SQS queue name, as they come.",
    description=(
        "Metadata: `s3_key`, `s3_bucket`, `s3_last_modified`, `s3_last_modified_unix`, "
        "`s3_content_type`, `s3_content_encoding`, `s3_version_id` and the object's own "
        "metadata."
    ),
    examples=(
        "aws_s3:\n  bucket: plant-data\n  prefix: readings/\n  scanner:\n    lines: {}\n"
        "  delete_objects: true\n",
        "aws_s3:\n  bucket: plant-data\n  sqs:\n"
        "    url: https://sqs.eu-central-1.amazonaws.com/123456789012/plant-uploads\n"
        "    wait_time_seconds: 10\n",
    ),
)
@offline_check(_check)
def build_aws_s3_input(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Downloads the objects of an S3 bucket (under a prefix) as messages, then ends."""
    return S3Input(conf, ctx)


register_feature("input", "aws_s3", "bindings", "aws_s3")
