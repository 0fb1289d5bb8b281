"""The aws_dynamodb_cdc input against moto's DynamoDB Streams: item changes arrive as
messages with their event names and images, a restarted stream resumes after what was written,
and a bad field is refused with its place in the config."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
from peers.moto_s3 import KEY_ID, SECRET, S3Store, moto_s3  # noqa: F401 - the fixture
from peers.stream_run import out_lines, run_to_end, run_until, stream_config


def _dynamodb(store: S3Store) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=store.endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


def _table(store: S3Store) -> tuple[Any, str]:
    ddb = _dynamodb(store)
    name = f"orders-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return ddb, name


def _config(tmp_path: Path, store: S3Store, table: str, out: Path) -> Path:
    return stream_config(
        tmp_path / "cdc.yaml",
        f"""
        input:
          aws_dynamodb_cdc:
            tables: [{table}]
            checkpoint_table: {table}-checkpoints
            poll_interval: 100ms
            region: us-east-1
            endpoint: {store.endpoint}
            credentials: {{id: {KEY_ID}, secret: {SECRET}}}
        pipeline:
          processors:
            - mapping: |
                root = this
                root.meta_event = @dynamodb_event_name
                root.meta_table = @dynamodb_table
                root.meta_seq = @dynamodb_sequence_number
        """,
        out,
    )


def test_changes_arrive_with_event_names_and_images_and_a_restart_resumes(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    ddb, table = _table(moto_s3)
    ddb.put_item(TableName=table, Item={"id": {"S": "a"}, "qty": {"N": "3"}})
    ddb.update_item(
        TableName=table,
        Key={"id": {"S": "a"}},
        UpdateExpression="SET qty = :q",
        ExpressionAttributeValues={":q": {"N": "5"}},
    )
    ddb.delete_item(TableName=table, Key={"id": {"S": "a"}})
    out = tmp_path / "out.txt"
    config = _config(tmp_path, moto_s3, table, out)
    run_until(config, lambda: len(out_lines(out)) >= 3, 20, "three change events", linger=0.5)

    events = [json.loads(line) for line in out_lines(out)]
    assert [e["eventName"] for e in events] == ["INSERT", "MODIFY", "REMOVE"]
    assert [e["meta_event"] for e in events] == ["INSERT", "MODIFY", "REMOVE"]
    assert {e["meta_table"] for e in events} == {table}
    assert all(e["meta_seq"] == e["dynamodb"]["sequenceNumber"] for e in events)
    insert, modify, remove = (e["dynamodb"] for e in events)
    assert insert["newImage"] == {"id": "a", "qty": 3} and "oldImage" not in insert
    assert modify["oldImage"] == {"id": "a", "qty": 3}
    assert modify["newImage"] == {"id": "a", "qty": 5}
    assert remove["oldImage"] == {"id": "a", "qty": 5} and remove["keys"] == {"id": "a"}

    # the checkpoint table was created and holds the last written record
    items = ddb.scan(TableName=f"{table}-checkpoints")["Items"]
    assert [i["SequenceNumber"]["S"] for i in items] == [events[-1]["meta_seq"]]

    ddb.put_item(TableName=table, Item={"id": {"S": "b"}, "qty": {"N": "1"}})
    run_until(config, lambda: len(out_lines(out)) >= 4, 20, "the change after the restart")
    lines = out_lines(out)
    assert len(lines) == 4, lines  # nothing written before the restart came again
    last = json.loads(lines[-1])
    assert last["eventName"] == "INSERT" and last["dynamodb"]["newImage"] == {"id": "b", "qty": 1}


def test_a_bad_start_from_is_refused_with_its_place(tmp_path: Path) -> None:
    config = stream_config(
        tmp_path / "bad.yaml",
        """
        input:
          aws_dynamodb_cdc:
            tables: [orders]
            start_from: oldest
        output:
          drop: {}
        """,
    )
    done = run_to_end(config)
    assert done.returncode == 1
    assert f"{config}:4:" in done.stderr and "start_from" in done.stderr, done.stderr
    assert "trim_horizon" in done.stderr
