"""The checkpoint table of the `aws_dynamodb_cdc` input: the last written sequence number of
each shard of a stream, keyed by (StreamArn, ShardID); created on first use."""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["Checkpoints"]


class Checkpoints:
    """Reads and writes shard checkpoints in a DynamoDB table."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self._ready = False

    def ensure(self) -> None:
        """Create the table (pay per request) unless it exists, and wait until it is active."""
        if self._ready:
            return
        try:
            self.client.describe_table(TableName=self.table)
        except self.client.exceptions.ResourceNotFoundException:
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
                )
            self.client.get_waiter("table_exists").wait(
                TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        self._ready = True

    def get(self, stream_arn: str, shard_id: str) -> str | None:
        """The last written sequence number of a shard, or None."""
        self.ensure()
        item = self.client.get_item(
            TableName=self.table,
            Key={"StreamArn": {"S": stream_arn}, "ShardID": {"S": shard_id}},
            ConsistentRead=True,
        ).get("Item")
        if not item or "SequenceNumber" not in item:
            return None
        return str(item["SequenceNumber"]["S"])

    def set(self, stream_arn: str, shard_id: str, sequence: str) -> None:
        """Record that everything up to `sequence` in a shard was written."""
        self.ensure()
        self.client.put_item(
            TableName=self.table,
            Item={
                "StreamArn": {"S": stream_arn},
                "ShardID": {"S": shard_id},
                "SequenceNumber": {"S": sequence},
            },
        )
