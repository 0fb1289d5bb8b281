"""Upload notifications for the `aws_s3` input: S3 events read from an SQS queue.

Each SQS message names objects through paths into its JSON body (`Records.*.s3.object.key`
and `Records.*.s3.bucket.name` by default; `envelope_path` first unwraps a body that carries
the event as a JSON string, as SNS does). The SQS message is deleted once every object it
named was read and written; until then it stays in flight in the queue, so a crash means
it is delivered again (at least once).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from streamforge.durations import parse_duration

__all__ = ["Notice", "NoticeObject", "Notifications", "path_values", "sqs_settings"]

log = logging.getLogger("streamforge.inputs.aws_s3")


def path_values(doc: Any, path: str) -> list[Any]:
    """The values at a dotted path, `*` standing for every element of an array (or every
    value of an object): `Records.*.s3.object.key`."""
    values = [doc]
    for segment in path.split("."):
        found: list[Any] = []
        for value in values:
            if segment == "*":
                if isinstance(value, list):
                    found.extend(value)
                elif isinstance(value, dict):
                    found.extend(value.values())
            elif isinstance(value, dict) and segment in value:
                found.append(value[segment])
            elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
                found.append(value[int(segment)])
        values = found
    return values


@dataclass(frozen=True)
class SqsSettings:
    """The `sqs` fields, checked."""

    url: str
    endpoint: str
    key_path: str
    bucket_path: str
    envelope_path: str
    delay: float
    max_messages: int
    wait_seconds: int
    nack_visibility: int


def sqs_settings(conf: Any) -> SqsSettings | None:
    """The SQS settings of an `sqs` object; None when it names no queue."""
    if not isinstance(conf, dict):
        raise ValueError("sqs: expected an object")
    url = str(conf.get("url") or "")
    if not url:
        return None
    max_messages = int(conf.get("max_messages", 10) or 10)
    if not 1 <= max_messages <= 10:
        raise ValueError("sqs.max_messages: SQS hands out 1 to 10 messages at a time")
    wait = int(conf.get("wait_time_seconds", 0) or 0)
    if not 0 <= wait <= 20:
        raise ValueError("sqs.wait_time_seconds: SQS waits 0 to 20 seconds")
    delay_text = str(conf.get("delay_period") or "")
    return SqsSettings(
        url=url,
        endpoint=str(conf.get("endpoint") or ""),
        key_path=str(conf.get("key_path") or "Records.*.s3.object.key"),
        bucket_path=str(conf.get("bucket_path") or "Records.*.s3.bucket.name"),
        envelope_path=str(conf.get("envelope_path") or ""),
        delay=parse_duration(delay_text) if delay_text else 0.0,
        max_messages=max_messages,
        wait_seconds=wait,
        nack_visibility=int(conf.get("nack_visibility_timeout", 0) or 0),
    )


@dataclass
class Notice:
    """One SQS message and how many of the objects it named are not done yet."""

    receipt: str
    remaining: int
    ready_at: float


@dataclass
class NoticeObject:
    """An object a notice named."""

    bucket: str
    key: str
    notice: Notice | None = field(default=None, repr=False)


class Notifications:
    """Receives notices from the queue and deletes each once its objects are done."""

    def __init__(self, settings: SqsSettings, client: Any, default_bucket: str, prefix: str):
        self.settings = settings
        self.client = client
        self.default_bucket = default_bucket
        self.prefix = prefix
        self._lock = threading.Lock()

    def receive(self) -> list[NoticeObject]:
        """The objects of the next notices (an empty list when none came)."""
        s = self.settings
        answer = self.client.receive_message(
            QueueUrl=s.url, MaxNumberOfMessages=s.max_messages, WaitTimeSeconds=s.wait_seconds
        )
        objects: list[NoticeObject] = []
        for message in answer.get("Messages") or []:
            receipt = str(message["ReceiptHandle"])
            named = self._objects(str(message.get("Body") or ""))
            if not named:
                self._delete(receipt)  # a test event or a notice of nothing for this input
                continue
            notice = Notice(receipt, len(named), time.monotonic() + s.delay)
            for bucket, key in named:
                objects.append(NoticeObject(bucket, key, notice))
        return objects

    def _objects(self, body: str) -> list[tuple[str, str]]:
        s = self.settings
        try:
            doc: Any = json.loads(body)
            if s.envelope_path:
                inner = path_values(doc, s.envelope_path)
                doc = json.loads(inner[0]) if inner and isinstance(inner[0], str) else None
        except ValueError:
            log.warning("aws_s3: an SQS message that is not a JSON notification is skipped")
            return []
        if doc is None:
            return []
        keys = [k for k in path_values(doc, s.key_path) if isinstance(k, str)]
        buckets = [b for b in path_values(doc, s.bucket_path) if isinstance(b, str)]
        out: list[tuple[str, str]] = []
        for i, raw in enumerate(keys):
            bucket = buckets[i] if i < len(buckets) else self.default_bucket
            key = unquote_plus(raw)
            if bucket and key.startswith(self.prefix):
                out.append((bucket, key))
        return out

    def object_done(self, obj: NoticeObject) -> None:
        """An object of a notice was read and written; the last one deletes the notice."""
        notice = obj.notice
        if notice is None:
            return
        with self._lock:
            notice.remaining -= 1
            last = notice.remaining == 0
        if last:
            self._delete(notice.receipt)

    def give_back(self, obj: NoticeObject) -> None:
        """The input stops before the object was done: the notice returns to the queue after
        `nack_visibility_timeout` (at once by default)."""
        notice = obj.notice
        if notice is None:
            return
        try:
            self.client.change_message_visibility(
                QueueUrl=self.settings.url,
                ReceiptHandle=notice.receipt,
                VisibilityTimeout=self.settings.nack_visibility,
            )
        except Exception as exc:  # noqa: BLE001 - it returns when its visibility ends anyway
            log.debug("aws_s3: could not give a notice back: %s", exc)

    def _delete(self, receipt: str) -> None:
        try:
            self.client.delete_message(QueueUrl=self.settings.url, ReceiptHandle=receipt)
        except Exception as exc:  # noqa: BLE001 - the notice comes again; its objects again
            log.warning("aws_s3: cannot delete an SQS notice (it will come again): %s", exc)
