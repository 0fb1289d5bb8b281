"""The aws_dynamodb_cdc input against moto's DynamoDB Streams: item changes arrive as
messages with their event names and images, a restarted stream resumes after what was written,
a global checkpoint table lets another region carry on after a failover, and a bad field is
refused with its place in the config."""

from __future__ import annotations

import json
import time
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


# -- global tables -------------------------------------------------------------------------------


def _client(store: S3Store, service: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=store.endpoint,
        region_name=region,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


def _source(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def _put(ddb: Any, table: str, *ids: str) -> None:
    for item_id in ids:
        ddb.put_item(TableName=table, Item={"id": {"S": item_id}})
        time.sleep(0.02)  # moto's record times are milliseconds: keep them apart


def _global_config(
    tmp_path: Path, store: S3Store, table: str, region: str, out: Path, replicas: str = "[]"
) -> Path:
    return stream_config(
        tmp_path / f"cdc-{region}.yaml",
        f"""
        input:
          aws_dynamodb_cdc:
            tables: [{table}]
            checkpoint_table: {table}-checkpoints
            global_table: true
            global_table_replicas: {replicas}
            poll_interval: 100ms
            region: {region}
            endpoint: {store.endpoint}
            credentials: {{id: {KEY_ID}, secret: {SECRET}}}
        pipeline:
          processors:
            - mapping: 'root = this.dynamodb.keys.id'
        """,
        out,
    )


def test_a_global_checkpoint_table_has_a_stream_and_rows_keyed_by_the_table_name(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    ddb = _client(moto_s3, "dynamodb", "us-east-1")
    table = f"orders-{uuid.uuid4().hex[:8]}"
    _source(ddb, table)
    _put(ddb, table, "a", "b")
    out = tmp_path / "out.txt"
    config = _global_config(tmp_path, moto_s3, table, "us-east-1", out, "[us-east-1, eu-west-1]")
    run_until(config, lambda: len(out_lines(out)) >= 2, 20, "two changes", linger=0.5)
    assert out_lines(out) == ["a", "b"]

    desc = ddb.describe_table(TableName=f"{table}-checkpoints")["Table"]
    assert desc["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    (row,) = ddb.scan(TableName=f"{table}-checkpoints")["Items"]
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    assert row["StreamArn"] == {"S": table}  # the same in every region
    assert row["SourceStreamArn"] == {"S": stream_arn}
    records = _records(moto_s3, "us-east-1", stream_arn)
    last = records[-1]["dynamodb"]
    assert row["SequenceNumber"] == {"S": last["SequenceNumber"]}
    assert int(row["RecordTimeMs"]["N"]) == int(
        last["ApproximateCreationDateTime"].timestamp() * 1000
    )


def _records(store: S3Store, region: str, arn: str) -> list[dict[str, Any]]:
    streams = _client(store, "dynamodbstreams", region)
    found: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found.extend(streams.get_records(ShardIterator=it)["Records"])
    return found


def test_after_a_failover_the_other_region_carries_on_from_the_replicated_checkpoints(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """moto replicates neither the source table nor the checkpoint table between regions; the
    test does what DynamoDB would: the writes made in us-east-1 also arrive in eu-west-1's
    replica (and its stream), and the checkpoint rows are copied to eu-west-1's replica."""
    east = _client(moto_s3, "dynamodb", "us-east-1")
    west = _client(moto_s3, "dynamodb", "eu-west-1")
    table = f"orders-{uuid.uuid4().hex[:8]}"
    _source(east, table)
    _source(west, table)
    _put(west, table, "a", "b")  # replicated from us-east-1 ...
    _put(east, table, "a", "b")  # ... where they were written and read
    out_east = tmp_path / "east.txt"
    config = _global_config(tmp_path, moto_s3, table, "us-east-1", out_east)
    run_until(config, lambda: len(out_lines(out_east)) >= 2, 20, "us-east-1's changes", linger=0.5)
    assert out_lines(out_east) == ["a", "b"]

    # us-east-1 fails; its checkpoints are in eu-west-1's replica of the checkpoint table
    checkpoints = f"{table}-checkpoints"
    key = [
        {"AttributeName": "StreamArn", "KeyType": "HASH"},
        {"AttributeName": "ShardID", "KeyType": "RANGE"},
    ]
    attrs = [{"AttributeName": n, "AttributeType": "S"} for n in ("StreamArn", "ShardID")]
    west.create_table(
        TableName=checkpoints, KeySchema=key, AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip
    for item in east.scan(TableName=checkpoints)["Items"]:
        west.put_item(TableName=checkpoints, Item=item)
    _put(west, table, "c")  # written in eu-west-1 after the failover

    out_west = tmp_path / "west.txt"
    config = _global_config(tmp_path, moto_s3, table, "eu-west-1", out_west)
    run = run_until(
        config, lambda: len(out_lines(out_west)) >= 1, 20, "the change after it", linger=1.0
    )
    assert out_lines(out_west) == ["c"], out_lines(out_west)  # a and b were written already
    assert "carrying on from its checkpoints" in run.logs()

    # eu-west-1 now resumes from its own checkpoints
    _put(west, table, "d")
    run_until(config, lambda: len(out_lines(out_west)) >= 2, 20, "the next change", linger=0.5)
    assert out_lines(out_west) == ["c", "d"]
    rows = west.scan(TableName=checkpoints)["Items"]
    west_arn = west.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    assert west_arn in {r["SourceStreamArn"]["S"] for r in rows}


def test_replicas_without_global_table_and_bad_region_names_are_refused(tmp_path: Path) -> None:
    for extra, message in (
        ("global_table_replicas: [eu-west-1]", "only used with global_table: true"),
        (
            "global_table: true, global_table_replicas: [eu-west]",
            "'eu-west' is not an AWS region name",
        ),
    ):
        config = stream_config(
            tmp_path / "bad.yaml",
            f"""
            input:
              aws_dynamodb_cdc: {{tables: [orders], {extra}}}
            output:
              drop: {{}}
            """,
        )
        done = run_to_end(config)
        assert done.returncode == 1
        assert f"{config}:2:" in done.stderr and message in done.stderr, done.stderr
