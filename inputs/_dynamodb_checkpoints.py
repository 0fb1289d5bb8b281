"""The checkpoint table of the `aws_dynamodb_cdc` input: the last written sequence number of
each shard of a stream, keyed by (StreamArn, ShardID); created on first use.

As a global table (`global_table`), rows are keyed by the source table's name instead of its
stream's ARN, which differs from region to region, and also hold that ARN and the time of the
record: a region taking over after a failover finds the checkpoints the failed region wrote
(the table replicates them) and knows from which time on changes were not written yet.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Checkpoint", "Checkpoints"]

_STREAM_VIEW = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
#: a replica takes minutes to create; how long to wait for the table to be active again
_WAIT = {"Delay": 2, "MaxAttempts": 300}


@dataclass(frozen=True)
class Checkpoint:
    """One row: a shard's last written record, in which stream, and when it was written."""

    shard_id: str
    sequence: str
    stream_arn: str = ""
    #: the record's ApproximateCreationDateTime in unix milliseconds (0 when not stored)
    record_ms: int = 0


class Checkpoints:
    """Reads and writes shard checkpoints in a DynamoDB table."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        global_table: bool = False,
        replicas: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.table = table
        self.global_table = global_table
        self.replicas = replicas
        self._ready = False

    def ensure(self) -> None:
        """Create the table (pay per request) unless it exists, and wait until it is active;
        as a global table, with a stream and a replica in each of `replicas`."""
        if self._ready:
            return
        try:
            desc = self.client.describe_table(TableName=self.table)["Table"]
        except self.client.exceptions.ResourceNotFoundException:
            extra = {"StreamSpecification": _STREAM_VIEW} if self.global_table else {}
            # created meanwhile by another reader: fine
            with contextlib.suppress(self.client.exceptions.ResourceInUseException):
                self.client.create_table(
                    TableName=self.table,
                    KeySchema=[
                        {"AttributeName": "StreamArn", "KeyType": "HASH"},
                        {"AttributeName": "ShardID", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "StreamArn", "AttributeType": "S"},
                        {"AttributeName": "ShardID", "AttributeType": "S"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                    **extra,
                )
            desc = self._wait()
        if self.global_table:
            self._replicate(desc)
        self._ready = True

    def _wait(self) -> dict[str, Any]:
        self.client.get_waiter("table_exists").wait(TableName=self.table, WaiterConfig=_WAIT)
        return dict(self.client.describe_table(TableName=self.table)["Table"])

    def _replicate(self, desc: dict[str, Any]) -> None:
        """Make the table a global table (version 2019.11.21) with the configured replicas:
        a stream first (replication needs one), then each missing replica, one at a time."""
        if not (desc.get("StreamSpecification") or {}).get("StreamEnabled"):
            self.client.update_table(TableName=self.table, StreamSpecification=_STREAM_VIEW)
            desc = self._wait()
        own = self.client.meta.region_name
        present = {str(r.get("RegionName")) for r in desc.get("Replicas") or []}
        for region in self.replicas:
            if region == own or region in present:
                continue
            self.client.update_table(
                TableName=self.table, ReplicaUpdates=[{"Create": {"RegionName": region}}]
            )
            self._wait()
            present.add(region)

    def key(self, table: str, stream_arn: str) -> str:
        """The partition key of a table's rows: its stream, or its name in a global table."""
        return table if self.global_table else stream_arn

    def get(self, key: str, shard_id: str) -> Checkpoint | None:
        """The checkpoint of a shard, or None."""
        self.ensure()
        item = self.client.get_item(
            TableName=self.table,
            Key={"StreamArn": {"S": key}, "ShardID": {"S": shard_id}},
            ConsistentRead=True,
        ).get("Item")
        return _checkpoint(item) if item else None

    def all(self, key: str) -> list[Checkpoint]:
        """Every shard's checkpoint under `key` (a global table's rows of one source table)."""
        self.ensure()
        found: list[Checkpoint] = []
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "StreamArn = :k",
            "ExpressionAttributeValues": {":k": {"S": key}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**args)
            found.extend(c for c in map(_checkpoint, page.get("Items") or []) if c is not None)
            if not page.get("LastEvaluatedKey"):
                return found
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set(
        self, key: str, shard_id: str, sequence: str, stream_arn: str = "", record_ms: int = 0
    ) -> None:
        """Record that everything up to `sequence` in a shard was written."""
        self.ensure()
        item: dict[str, Any] = {
            "StreamArn": {"S": key},
            "ShardID": {"S": shard_id},
            "SequenceNumber": {"S": sequence},
        }
        if self.global_table:
            item["SourceStreamArn"] = {"S": stream_arn}
            item["RecordTimeMs"] = {"N": str(record_ms)}
        self.client.put_item(TableName=self.table, Item=item)


def _checkpoint(item: dict[str, Any]) -> Checkpoint | None:
    if "SequenceNumber" not in item:
        return None
    return Checkpoint(
        shard_id=str(item["ShardID"]["S"]),
        sequence=str(item["SequenceNumber"]["S"]),
        stream_arn=str(item.get("SourceStreamArn", {}).get("S", "")),
        record_ms=int(item.get("RecordTimeMs", {}).get("N", "0")),
    )
