"""`aws_dynamodb_cdc` input: the item changes of DynamoDB tables, read from their DynamoDB
Streams, one message per change record, without end.

Each shard of each table's stream is read in turn. The last sequence number of a shard is
stored in the checkpoint table only once the output wrote the batch it ends, so a restarted
stream resumes after what was written (at least once). Batches the output failed to write are
sent again; a peer that cannot be reached is asked again with backoff.

With `global_table`, the checkpoint table is a DynamoDB global table replicated to other
regions, and a stream started in one of them after a failover carries on from the time the
failed region had written up to (see `_failover_watermark`).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from streamforge.durations import parse_duration
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.aws import aws_fields, make_client
from streamforge.plugin.connection import Backoff, Connection, connection
from streamforge.plugin.errors import describe_error
from streamforge.plugin.optional import require
from streamforge.plugin.spec import offline_check

from ._dynamodb_checkpoints import Checkpoint, Checkpoints

__all__ = ["DynamoCdcInput", "DynamoCdcReader"]

log = logging.getLogger("streamforge.inputs.aws_dynamodb_cdc")

_START = {"trim_horizon": "TRIM_HORIZON", "latest": "LATEST"}
_THROTTLED = ("ProvisionedThroughputExceededException", "LimitExceededException",
              "ThrottlingException")  # fmt: skip
_REFRESH_SECONDS = 10.0
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+\Z")


class DynamoCdcInput(Input):
    """Change records of DynamoDB tables, from their streams."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.conf = conf
        tables = conf.get("tables") or []
        if conf.get("table"):
            tables = [conf["table"], *tables]
        self.tables = [str(t) for t in tables]
        if not self.tables:
            raise ValueError("tables: name at least one table")
        self.checkpoint_table = str(conf.get("checkpoint_table") or "")
        if not self.checkpoint_table:
            raise ValueError("checkpoint_table: a table name is required")
        start = str(conf.get("start_from", "trim_horizon"))
        if start not in _START:
            raise ValueError(f"start_from: {start!r} is not one of {', '.join(_START)}")
        self.start_from = _START[start]
        self.batch_size = int(conf.get("batch_size", 1000))
        if not 1 <= self.batch_size <= 1000:
            raise ValueError("batch_size: must be between 1 and 1000")
        self.poll_interval = parse_duration(str(conf.get("poll_interval") or "1s"))
        self.throttle_backoff = parse_duration(str(conf.get("throttle_backoff") or "100ms"))
        self.max_tracked_shards = int(conf.get("max_tracked_shards", 10000))
        if self.max_tracked_shards < 1:
            raise ValueError("max_tracked_shards: must be at least 1")
        mode = str(conf.get("snapshot_mode") or "none")
        if mode != "none":
            raise ValueError(f"snapshot_mode: {mode!r} is not supported here; use none")
        self.global_table = bool(conf.get("global_table", False))
        replicas = conf.get("global_table_replicas") or []
        if not isinstance(replicas, list):
            raise ValueError("global_table_replicas: expected a list of region names")
        self.replicas = tuple(str(r) for r in replicas)
        if self.replicas and not self.global_table:
            raise ValueError(
                "global_table_replicas: only used with global_table: true (the checkpoint "
                "table is replicated to these regions as a global table)"
            )
        for region in self.replicas:
            if not _REGION.match(region):
                raise ValueError(
                    f"global_table_replicas: {region!r} is not an AWS region name such as eu-west-1"
                )
        self.label = getattr(ctx, "label", "") or "aws_dynamodb_cdc"
        self.stream = getattr(ctx, "stream", "") or "stream"

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        dynamodb = make_client(self.conf, service="dynamodb")
        streams = make_client(self.conf, service="dynamodbstreams")
        where = str(self.conf.get("endpoint") or "") or "dynamodb"
        conn = connection(self.stream, self.label, f"{where}/{','.join(self.tables)}")
        return DynamoCdcReader(self, dynamodb, streams, conn)


class _Shard:
    """Reading position and written progress of one shard."""

    __slots__ = ("arn", "closed", "id", "iterator", "outstanding", "table")

    def __init__(self, table: str, arn: str, shard_id: str) -> None:
        self.table = table
        self.arn = arn
        self.id = shard_id
        self.iterator: str | None = None
        self.closed = False
        #: batches read, in order: [sequence of its last record, written?, its time in ms]
        self.outstanding: deque[list[Any]] = deque()


class DynamoCdcReader(InputReader):
    """Polls the shards of the tables' streams in turn."""

    def __init__(self, source: DynamoCdcInput, dynamodb: Any, streams: Any, conn: Connection):
        self.source = source
        self.dynamodb = dynamodb
        self.streams = streams
        self.connection = conn
        self.checkpoints = Checkpoints(
            dynamodb,
            source.checkpoint_table,
            global_table=source.global_table,
            replicas=source.replicas,
        )
        #: per table, with global_table: changes older than this (unix ms) were written by
        #: the region this one took over from, so they are skipped (None: no takeover)
        self._watermarks: dict[str, int | None] = {}
        self._shards: dict[tuple[str, str], _Shard] = {}
        self._order: deque[tuple[str, str]] = deque()
        self._refreshed = 0.0
        self._first = True
        self._idle = 0
        self._awake: datetime | None = None
        self._backoff = Backoff(initial=0.2, maximum=10.0)
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[_Shard, list[Any], list[Message]]] = {}
        self._replays: deque[tuple[_Shard, list[Any], list[Message]]] = deque()

    # -- reading ----------------------------------------------------------------------------
    def read(self) -> list[Message] | None:
        with self._lock:
            if self._replays:
                return self._track_replay(self._replays.popleft())
        try:
            if time.monotonic() - self._refreshed > _REFRESH_SECONDS or not self._order:
                self._refresh()
            batch = self._poll_next()
            self.connection.up()
            self._backoff.reset()
            return batch
        except Exception as exc:  # noqa: BLE001 - the peer is asked again with backoff
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in _THROTTLED:
                self._sleep(self.source.throttle_backoff)
                return []
            self.connection.down(describe_error(exc))
            log.warning(
                "aws_dynamodb_cdc %s: %s; trying again", self.source.label, describe_error(exc)
            )
            self._sleep(self._backoff.next_delay())
            return []

    def _sleep(self, seconds: float) -> None:
        self._awake = datetime.now(timezone.utc) + timedelta(seconds=seconds)

    def next_awake(self) -> datetime | None:
        return self._awake

    def _refresh(self) -> None:
        """Find the streams of the tables and their shards (new ones start at their first
        record, except at the first look, which starts where `start_from` says)."""
        for table in self.source.tables:
            desc = self.dynamodb.describe_table(TableName=table)["Table"]
            arn = desc.get("LatestStreamArn")
            if not arn or not desc.get("StreamSpecification", {}).get("StreamEnabled", True):
                raise ValueError(f"table {table!r} has no stream enabled")
            if self.source.global_table and table not in self._watermarks:
                self._watermarks[table] = self._failover_watermark(table, arn)
            args: dict[str, Any] = {"StreamArn": arn}
            while True:
                stream = self.streams.describe_stream(**args)["StreamDescription"]
                for shard in stream.get("Shards") or []:
                    self._track_shard(table, arn, str(shard["ShardId"]))
                last = stream.get("LastEvaluatedShardId")
                if not last:
                    break
                args["ExclusiveStartShardId"] = last
        self._refreshed = time.monotonic()
        self._first = False

    def _track_shard(self, table: str, arn: str, shard_id: str) -> None:
        key = (arn, shard_id)
        if key in self._shards:
            return
        if len(self._shards) >= self.source.max_tracked_shards:
            log.warning(
                "aws_dynamodb_cdc %s: max_tracked_shards reached; shard %s is not read",
                self.source.label, shard_id,
            )  # fmt: skip
            return
        shard = _Shard(table, arn, shard_id)
        args: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        after = None
        if self._watermarks.get(table) is None:  # no takeover: this region's own checkpoints
            after = self.checkpoints.get(self.checkpoints.key(table, arn), shard_id)
            if after is not None and after.stream_arn not in ("", arn):
                after = None  # another region's shard of the same id
        if after is not None:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after.sequence)
        elif self._watermarks.get(table) is not None:
            args["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            args["ShardIteratorType"] = self.source.start_from if self._first else "TRIM_HORIZON"
        shard.iterator = self.streams.get_shard_iterator(**args)["ShardIterator"]
        self._shards[key] = shard
        self._order.append(key)

    def _failover_watermark(self, table: str, arn: str) -> int | None:
        """The time written up to by the region this one takes over from, or None.

        The checkpoint rows of a table replicate to every region. When the newest of them
        belong to another region's stream (that region wrote after this one last did, or this
        region never did), this region takes over: its shards are read from their oldest
        record, and records older than the oldest of that stream's checkpoints are skipped,
        as the other region wrote them (and replication copied them into this region's
        stream). A record of that very millisecond (a second, on AWS) comes again.
        """
        rows = self.checkpoints.all(table)
        by_stream: dict[str, list[Checkpoint]] = {}
        for row in rows:
            if row.stream_arn and row.record_ms:
                by_stream.setdefault(row.stream_arn, []).append(row)
        own = max((r.record_ms for r in by_stream.pop(arn, [])), default=0)
        if not by_stream:
            return None
        latest = max(by_stream.values(), key=lambda rs: max(r.record_ms for r in rs))
        if max(r.record_ms for r in latest) <= own:
            return None
        watermark = min(r.record_ms for r in latest)
        log.warning(
            "aws_dynamodb_cdc %s: table %r was last read from stream %s; carrying on from its "
            "checkpoints (changes from %s on)",
            self.source.label, table, latest[0].stream_arn,
            datetime.fromtimestamp(watermark / 1000, timezone.utc).isoformat(),
        )  # fmt: skip
        return watermark

    def _poll_next(self) -> list[Message]:
        """Records of the next shard in turn; after a round with none, wait `poll_interval`."""
        if not self._order:
            self._sleep(self.source.poll_interval)
            return []
        key = self._order[0]
        self._order.rotate(-1)
        shard = self._shards[key]
        if shard.iterator is None:
            return []
        resp = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.source.batch_size)
        shard.iterator = resp.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
            self._order.remove(key)
        records = resp.get("Records") or []
        watermark = self._watermarks.get(shard.table)
        if watermark is not None and records:
            records = [r for r in records if _record_ms(r) >= watermark]
            if not records and resp.get("Records"):
                return []  # all written by the region this one took over from
        if not records:
            self._idle += 1
            if self._idle >= len(self._order):
                self._idle = 0
                self._sleep(self.source.poll_interval)
            return []
        self._idle = 0
        self._awake = None
        batch = [_message(shard.table, shard.id, r) for r in records]
        last = str(records[-1]["dynamodb"]["SequenceNumber"])
        with self._lock:
            entry = [last, False, _record_ms(records[-1])]
            shard.outstanding.append(entry)
            self._pending[id(batch)] = (shard, entry, batch)
        return batch

    def _track_replay(self, entry: tuple[_Shard, list[Any], list[Message]]) -> list[Message]:
        """A failed batch again, as new messages (called with the lock held)."""
        shard, progress, batch = entry
        copy = [Message(m.payload, dict(m.metadata)) for m in batch]
        self._pending[id(copy)] = (shard, progress, copy)
        return copy

    # -- acknowledgements ---------------------------------------------------------------------
    def ack(self, batch: list[Message], error: str | None) -> None:
        with self._lock:
            found = self._pending.pop(id(batch), None)
            if found is None:
                return
            shard, entry, _ = found
            if error is not None:
                self._replays.append(found)
                return
            entry[1] = True
            written = None
            while shard.outstanding and shard.outstanding[0][1]:
                written = shard.outstanding.popleft()
        if written is not None:
            try:
                key = self.checkpoints.key(shard.table, shard.arn)
                self.checkpoints.set(key, shard.id, written[0], shard.arn, written[2])
            except Exception as exc:  # noqa: BLE001 - a later checkpoint covers it
                log.warning(
                    "aws_dynamodb_cdc %s: cannot store the checkpoint of %s: %s",
                    self.source.label, shard.id, describe_error(exc),
                )  # fmt: skip

    def close(self) -> None:
        self.connection.close()


def _record_ms(record: dict[str, Any]) -> int:
    """A record's ApproximateCreationDateTime in unix milliseconds (0 when it has none)."""
    at = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(at, datetime):
        return int(at.timestamp() * 1000)
    if isinstance(at, (int, float, Decimal)):
        return int(float(at) * 1000)
    return 0


def _message(table: str, shard_id: str, record: dict[str, Any]) -> Message:
    """One change record as Connect shapes it: images as plain JSON values."""
    ddb = record.get("dynamodb") or {}
    body: dict[str, Any] = {
        "tableName": table,
        "eventID": record.get("eventID", ""),
        "eventName": record.get("eventName", ""),
        "eventVersion": record.get("eventVersion", ""),
        "eventSource": record.get("eventSource", ""),
        "awsRegion": record.get("awsRegion", ""),
    }
    inner: dict[str, Any] = {
        "sequenceNumber": ddb.get("SequenceNumber", ""),
        "streamViewType": ddb.get("StreamViewType", ""),
    }
    for src, dst in (("Keys", "keys"), ("NewImage", "newImage"), ("OldImage", "oldImage")):
        if ddb.get(src) is not None:
            inner[dst] = _item(ddb[src])
    if ddb.get("SizeBytes") is not None:
        inner["sizeBytes"] = ddb["SizeBytes"]
    body["dynamodb"] = inner
    meta = {
        "dynamodb_shard_id": shard_id,
        "dynamodb_sequence_number": str(ddb.get("SequenceNumber", "")),
        "dynamodb_event_name": str(record.get("eventName", "")),
        "dynamodb_table": table,
    }
    return Message.from_value(body, meta)


def _item(attrs: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    return {k: _plain(des.deserialize(v)) for k, v in attrs.items()}


def _plain(value: Any) -> Any:
    """A deserialised attribute as a JSON value: numbers, base64 for binary, sets as lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if type(value).__name__ == "Binary":
        return base64.b64encode(bytes(value.value)).decode()
    return value


def _check(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    DynamoCdcInput(conf, ctx)


@register_input(
    "aws_dynamodb_cdc",
    fields=[
        Field(
            "tables",
            "array",
            default=[],
            item=Field("", "string"),
            description="The tables to read; each needs DynamoDB Streams enabled.",
            examples=(["orders"],),
        ),
        Field(
            "table",
            "string",
            default="",
            advanced=True,
            description="Older form of `tables`: one table.",
        ),
        Field(
            "checkpoint_table",
            "string",
            default="redpanda_dynamodb_checkpoints",
            description="The DynamoDB table holding the last written sequence number of each "
            "shard (keys StreamArn and ShardID); created when missing.",
        ),
        Field(
            "global_table",
            "bool",
            default=False,
            advanced=True,
            description="Make the checkpoint table a DynamoDB global table (version "
            "2019.11.21, with a stream) replicated to `global_table_replicas`, so that a "
            "stream started in another region after a failover carries on where this one "
            "stopped. Rows are then keyed by the source table's name, with the stream and the "
            "time of the last written record.",
        ),
        Field(
            "global_table_replicas",
            "array",
            default=[],
            item=Field("", "string"),
            advanced=True,
            description="The regions the checkpoint table is replicated to (the input's own "
            "region may be listed too). Missing replicas are added when the input starts.",
            examples=(["us-west-2", "eu-west-1"],),
        ),
        Field(
            "batch_size",
            "int",
            default=1000,
            advanced=True,
            description="Most records asked of a shard at a time (1 to 1000).",
        ),
        Field(
            "poll_interval",
            "duration",
            default="1s",
            advanced=True,
            description="How long to wait after a round of the shards brought nothing.",
        ),
        Field(
            "start_from",
            "string",
            default="trim_horizon",
            options=("trim_horizon", "latest"),
            description="Where a shard without a checkpoint starts: its oldest record or "
            "only records written from now on.",
        ),
        Field(
            "checkpoint_limit",
            "int",
            default=1000,
            advanced=True,
            description="Accepted for compatibility; a checkpoint is stored after every "
            "written batch.",
        ),
        Field(
            "max_tracked_shards",
            "int",
            default=10000,
            advanced=True,
            description="Most shards read at once; more are left unread (with a warning).",
        ),
        Field(
            "throttle_backoff",
            "duration",
            default="100ms",
            advanced=True,
            description="How long to wait when DynamoDB Streams throttles a request.",
        ),
        Field(
            "snapshot_mode",
            "string",
            default="none",
            options=("none",),
            advanced=True,
            description="Only `none`: changes are read from the stream, no initial scan.",
        ),
        *aws_fields(path_style=False),
    ],
    summary="Reads item changes (INSERT, MODIFY, REMOVE) of DynamoDB tables from DynamoDB "
    "Streams, resuming from a checkpoint table after a restart.",
    description=(
        "Each message is a change record as JSON: `tableName`, `eventID`, `eventName`, "
        "`eventVersion`, `eventSource`, `awsRegion` and `dynamodb` with `sequenceNumber`, "
        "`streamViewType`, `keys`, `newImage`, `oldImage` (plain JSON values) and "
        "`sizeBytes`. Metadata: `dynamodb_shard_id`, `dynamodb_sequence_number`, "
        "`dynamodb_event_name` and `dynamodb_table`. Delivery is at least once."
    ),
    examples=(
        "aws_dynamodb_cdc:\n  tables: [orders]\n  checkpoint_table: orders_checkpoints\n"
        "  start_from: trim_horizon\n  region: eu-central-1\n",
    ),
)
@offline_check(_check)
def build_aws_dynamodb_cdc_input(conf: dict[str, Any], ctx: BuildContext | None = None) -> Input:
    """Reads item changes of DynamoDB tables from DynamoDB Streams."""
    require("boto3", "aws", "the aws_dynamodb_cdc input")
    return DynamoCdcInput(conf, ctx)


register_feature("input", "aws_dynamodb_cdc", "bindings", "aws_dynamodb")
