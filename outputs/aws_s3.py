"""`aws_s3` output: each message becomes an object whose key (`path`) may be interpolated.

As in Benthos, a batch is uploaded as one object per message; to make one object of a
batch, give the batching policy an `archive` processor (e.g. `archive: {format: lines}`). The
uploads of a batch run in parallel, up to `max_in_flight`. While the store cannot be reached
an upload is tried again with backoff until it succeeds (the stream waits); an upload the
store refuses (no such bucket, access denied) fails its message with the reason.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from streamforge.connectors.s3 import aws_fields, is_unreachable, make_client
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.batching import BatchPolicy, batching_field, with_batching
from streamforge.plugin.connection import Backoff, Connection, connection
from streamforge.plugin.errors import describe_error
from streamforge.plugin.optional import require
from streamforge.plugin.spec import offline_check

__all__ = ["S3Writer"]

log = logging.getLogger("streamforge.outputs.aws_s3")

#: optional object headers: config field -> put_object parameter
_HEADERS = {
    "content_encoding": "ContentEncoding",
    "cache_control": "CacheControl",
    "content_disposition": "ContentDisposition",
    "content_language": "ContentLanguage",
    "website_redirect_location": "WebsiteRedirectLocation",
}


class S3Writer(Output):
    """Uploads each message as an object, up to max_in_flight at a time."""

    def __init__(
        self, conf: dict[str, Any], ctx: BuildContext | None = None, *, connect: bool = True
    ) -> None:
        require("boto3", "aws", "the aws_s3 output")
        self.label = getattr(ctx, "label", "") or "aws_s3"
        self.bucket = str(conf["bucket"])
        if not self.bucket:
            raise ValueError("bucket: a bucket name is required")
        self.path = InterpolatedString(str(conf["path"]))
        self.content_type = InterpolatedString(str(conf["content_type"]))
        self.headers = {
            param: InterpolatedString(str(conf[name]))
            for name, param in _HEADERS.items()
            if str(conf.get(name) or "")
        }
        self.storage_class = InterpolatedString(str(conf.get("storage_class") or "STANDARD"))
        self.tags = {
            str(k): InterpolatedString(str(v)) for k, v in (conf.get("tags") or {}).items()
        }
        meta = conf.get("metadata") or {}
        self.exclude = tuple(str(p) for p in meta.get("exclude_prefixes") or [])
        self.kms_key_id = str(conf.get("kms_key_id") or "")
        self.sse = str(conf.get("server_side_encryption") or "")
        self.checksum = str(conf.get("checksum_algorithm") or "")
        self.timeout = parse_duration(conf.get("timeout") or "5s") or 5.0
        self.max_in_flight = max(int(conf.get("max_in_flight", 64) or 1), 1)
        self._stop = threading.Event()
        #: whether the store was found unreachable (said once per outage)
        self._unreachable = False
        self._flag_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.client: Any = None
        self.connection: Connection | None = None
        if connect:
            self.client = make_client(conf, timeout=max(self.timeout, 30.0))
            stream = getattr(ctx, "stream", "") or "stream"
            where = str(conf.get("endpoint") or "") or "s3"
            self.connection = connection(stream, self.label, f"{where}/{self.bucket}")

    # -- writing ----------------------------------------------------------------------------
    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        if len(batch) == 1 or self.max_in_flight == 1:
            results = [self._upload(batch, i) for i in range(len(batch))]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    min(self.max_in_flight, 64), thread_name_prefix=f"aws_s3-{self.label}"
                )
            results = list(self._pool.map(lambda i: self._upload(batch, i), range(len(batch))))
        return [msg for msg, ok in zip(batch, results) if not ok]

    def request(self, msg: Message, batch: list[Message], i: int) -> dict[str, Any]:
        """The put_object parameters of one message (raises for a bad interpolation)."""
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.path.render(msg, batch, i),
            "Body": msg.payload,
            "ContentType": self.content_type.render(msg, batch, i),
            "StorageClass": self.storage_class.render(msg, batch, i),
        }
        for param, value in self.headers.items():
            args[param] = value.render(msg, batch, i)
        metadata = {
            str(k): str(v)
            for k, v in msg.metadata.items()
            if not str(k).startswith(self.exclude) and str(k).isascii() and str(v).isascii()
        }
        if metadata:
            args["Metadata"] = metadata
        if self.tags:
            from urllib.parse import urlencode

            args["Tagging"] = urlencode({k: v.render(msg, batch, i) for k, v in self.tags.items()})
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
            args["ServerSideEncryption"] = self.sse or "aws:kms"
        elif self.sse:
            args["ServerSideEncryption"] = self.sse
        if self.checksum:
            args["ChecksumAlgorithm"] = self.checksum
        return args

    def _upload(self, batch: list[Message], i: int) -> bool:
        msg = batch[i]
        try:
            args = self.request(msg, batch, i)
        except Exception as exc:  # noqa: BLE001 - a bad interpolation fails its message
            msg.fail(f"aws_s3 {self.label}: {describe_error(exc)}")
            return False
        backoff = Backoff(initial=0.2, maximum=10.0)
        while True:
            try:
                self.client.put_object(**args)
            except Exception as exc:  # noqa: BLE001 - waited for, or the message fails
                if is_unreachable(exc) and not self._stop.is_set():
                    self._down(exc)
                    if self._flag_unreachable(True):
                        log.warning(
                            "aws_s3 %s: the store is unreachable (%s); trying again",
                            self.label,
                            describe_error(exc),
                        )
                    if backoff.sleep(self._stop):
                        continue
                msg.fail(f"aws_s3 {self.label}: {describe_error(exc)}")
                if not is_unreachable(exc):
                    self._up()
                return False
            self._up()
            return True

    def _flag_unreachable(self, down: bool) -> bool:
        """Note whether the store is unreachable; True when that changed."""
        with self._flag_lock:
            changed = self._unreachable != down
            self._unreachable = down
        return changed

    def _up(self) -> None:
        if self._flag_unreachable(False):
            log.info("aws_s3 %s: the store is reachable again", self.label)
        if self.connection is not None:
            self.connection.up()

    def _down(self, exc: BaseException) -> None:
        if self.connection is not None:
            self.connection.down(describe_error(exc))

    def close(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self.connection is not None:
            self.connection.close()


def check_aws_s3_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    """Every check building the output makes, without a client."""
    S3Writer(conf, ctx, connect=False)
    batching = conf.get("batching") or {}
    BatchPolicy.from_conf(batching)
    if ctx is not None:
        for proc in ctx.build_processors(list(batching.get("processors") or [])):
            proc.close()


def _header_field(name: str, description: str) -> Field:
    return Field(name, "string", default="", interpolable=True, advanced=True,
                 description=description)  # fmt: skip


@register_output(
    "aws_s3",
    fields=[
        Field("bucket", "string", description="The bucket to upload to."),
        Field(
            "path",
            "string",
            default="${!counter()}-${!timestamp_unix_nano()}.txt",
            interpolable=True,
            description="The object key of each message; interpolated per message.",
            examples=(
                "${!counter()}-${!timestamp_unix_nano()}.json",
                "plant/${! @asset_id }/${! timestamp_unix_nano() }.jsonl",
            ),
        ),
        Field(
            "tags",
            "map",
            default={},
            item=Field("value", "string", interpolable=True),
            description="Object tags; values are interpolated per message.",
            examples=({"asset": "${! @asset_id }"},),
        ),
        Field(
            "content_type",
            "string",
            default="application/octet-stream",
            interpolable=True,
            description="The Content-Type of each object.",
            examples=("application/json",),
        ),
        _header_field("content_encoding", "The Content-Encoding of each object."),
        _header_field("cache_control", "The Cache-Control of each object."),
        _header_field("content_disposition", "The Content-Disposition of each object."),
        _header_field("content_language", "The Content-Language of each object."),
        _header_field("website_redirect_location", "Redirect for website buckets."),
        Field(
            "metadata",
            "object",
            default={"exclude_prefixes": []},
            description="Message metadata is sent as object metadata, except keys with these "
            "prefixes.",
            fields=(
                Field(
                    "exclude_prefixes",
                    "array",
                    default=[],
                    item=Field("prefix", "string"),
                    description="Metadata key prefixes not sent.",
                ),
            ),
        ),
        Field(
            "storage_class",
            "string",
            default="STANDARD",
            interpolable=True,
            advanced=True,
            description="The storage class of each object.",
            examples=("STANDARD", "STANDARD_IA", "GLACIER"),
        ),
        Field(
            "kms_key_id",
            "string",
            default="",
            advanced=True,
            description="A KMS key to encrypt objects with.",
        ),  # fmt: skip
        Field(
            "checksum_algorithm",
            "string",
            default="",
            advanced=True,
            description="A checksum S3 verifies: CRC32, CRC32C, SHA1 or SHA256.",
        ),  # fmt: skip
        Field(
            "server_side_encryption",
            "string",
            default="",
            advanced=True,
            description="Server-side encryption, e.g. AES256.",
        ),  # fmt: skip
        Field(
            "timeout",
            "duration",
            default="5s",
            advanced=True,
            description="How long an upload may take (at least 30s is allowed per request).",
        ),
        *aws_fields(),
        Field(
            "max_in_flight",
            "int",
            default=64,
            description="Uploads of a batch run in parallel, up to this many.",
        ),
        batching_field(),
    ],
    summary="Uploads each message (or each archived batch) as an object to S3.",
    description=(
        "Message metadata becomes object metadata (minus `metadata.exclude_prefixes`). A batch "
        "is one object per message unless batch processors (e.g. `archive`) join it."
    ),
    examples=(
        "aws_s3:\n  bucket: plant-data\n  path: readings/${! timestamp_unix_nano() }.jsonl\n"
        "  content_type: application/x-ndjson\n  batching:\n    count: 1000\n    period: 10s\n"
        "    processors:\n      - archive:\n          format: lines\n",
    ),
)
@offline_check(check_aws_s3_output)
def build_aws_s3_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> Output:
    """Uploads each message (or each archived batch) as an object to S3."""
    return with_batching(S3Writer(conf, ctx), conf.get("batching"), ctx)


register_feature("output", "aws_s3", "bindings", "aws_s3")
