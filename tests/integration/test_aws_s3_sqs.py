"""The aws_s3 input fed by S3 upload notifications on an SQS queue (moto's S3 and SQS in
server mode, moto sending the notifications itself): objects are read as they are
uploaded, each notification leaves the queue once its objects were written, and a stream
killed mid-flow loses nothing when it starts again."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import boto3
from peers.moto_s3 import KEY_ID, SECRET, S3Store, moto_s3  # noqa: F401 - the fixture
from peers.stream_run import Run, out_lines, runs, stream_config, wait_until  # noqa: F401


def _client(store: S3Store, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=store.endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


def _notified_bucket(store: S3Store, bucket: str, visibility: int = 30) -> str:
    """Create `bucket` and a queue its uploads are announced on; return the queue URL."""
    sqs = _client(store, "sqs")
    url = sqs.create_queue(
        QueueName=f"{bucket}-uploads", Attributes={"VisibilityTimeout": str(visibility)}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3 = store.client()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return str(url)


def _left_in_queue(store: S3Store, url: str) -> int:
    attrs = _client(store, "sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def _config(tmp_path: Path, store: S3Store, url: str, out: Path, extra: str = "") -> Path:
    return stream_config(
        tmp_path / "stream.yaml",
        f"""
        input:
          aws_s3:
            {store.config(12)}
            scanner:
              lines: {{}}
            sqs:
              url: {url}
              wait_time_seconds: 1
        pipeline:
          processors:
            - mapping: |
                root = this
                root.key = @s3_key
                root.bucket = @s3_bucket
            {extra}
        """,
        out,
    )


def test_uploads_are_read_as_they_come_and_their_notices_leave_the_queue(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    runs: list[Run],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    url = _notified_bucket(moto_s3, "plant-uploads")
    out = tmp_path / "out.jsonl"
    run = Run(_config(tmp_path, moto_s3, url, out))
    runs.append(run)
    s3 = moto_s3.client()
    keys = ["line 1/press+01.jsonl", "line-2/oven-07.jsonl", "line-2/mill-03.jsonl"]
    for i, key in enumerate(keys):
        body = "\n".join(json.dumps({"n": i * 10 + j}) for j in range(4))
        s3.put_object(Bucket="plant-uploads", Key=key, Body=body.encode())
    wait_until(lambda: len(out_lines(out)) >= 12, 30, "every line of every upload")
    rows = [json.loads(line) for line in out_lines(out)]
    assert sorted(r["n"] for r in rows) == [i * 10 + j for i in range(3) for j in range(4)]
    assert {r["key"] for r in rows} == set(keys)  # keys decoded from the notification's form
    assert {r["bucket"] for r in rows} == {"plant-uploads"}
    wait_until(lambda: _left_in_queue(moto_s3, url) == 0, 15, "the notices to be deleted")
    # a later upload is read by the same running stream
    s3.put_object(Bucket="plant-uploads", Key="late.jsonl", Body=b'{"n": 99}')
    wait_until(lambda: len(out_lines(out)) >= 13, 30, "the late upload")
    assert run.proc.poll() is None  # the input does not end with the queue empty
    assert run.stop() == 0


def test_an_sns_envelope_and_a_notice_of_a_deleted_object(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    runs: list[Run],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    sqs = _client(moto_s3, "sqs")
    url = sqs.create_queue(QueueName="via-sns")["QueueUrl"]
    s3 = moto_s3.client()
    s3.create_bucket(Bucket="plant-sns")
    s3.put_object(Bucket="plant-sns", Key="a.json", Body=b'{"n": 1}')

    def event(key: str) -> str:
        record = {"s3": {"bucket": {"name": "plant-sns"}, "object": {"key": key}}}
        return json.dumps({"Type": "Notification", "Message": json.dumps({"Records": [record]})})

    sqs.send_message(QueueUrl=url, MessageBody=event("gone.json"))  # never uploaded
    sqs.send_message(QueueUrl=url, MessageBody=event("a.json"))
    out = tmp_path / "out.jsonl"
    config = _config(tmp_path, moto_s3, url, out).read_text()
    config = config.replace(
        "wait_time_seconds: 1", "wait_time_seconds: 1\n      envelope_path: Message"
    )
    (tmp_path / "stream.yaml").write_text(config)
    run = Run(tmp_path / "stream.yaml")
    runs.append(run)
    wait_until(lambda: len(out_lines(out)) >= 1, 30, "the object the envelope names")
    wait_until(lambda: _left_in_queue(moto_s3, url) == 0, 15, "both notices to be deleted")
    assert [json.loads(line)["key"] for line in out_lines(out)] == ["a.json"]
    assert "gone.json was named by a notification but is gone" in run.logs()
    assert run.stop() == 0


def test_a_stream_killed_mid_flow_loses_no_upload(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    runs: list[Run],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    url = _notified_bucket(moto_s3, "plant-crash", visibility=3)
    s3 = moto_s3.client()
    for i in range(20):
        s3.put_object(
            Bucket="plant-crash", Key=f"r/{i:02}.jsonl", Body=json.dumps({"n": i}).encode()
        )
    out = tmp_path / "out.jsonl"
    slow = "- sleep: {duration: 150ms}"
    config = _config(tmp_path, moto_s3, url, out, extra=slow)
    first = Run(config)
    runs.append(first)
    wait_until(lambda: len(out_lines(out)) >= 4, 30, "the first objects")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    before = {json.loads(line)["n"] for line in out_lines(out)}
    assert len(before) < 20  # killed with objects still to read
    second = Run(config, log=tmp_path / "second.log")
    runs.append(second)
    # notices not deleted come back once their visibility timeout ends
    wait_until(
        lambda: {json.loads(line)["n"] for line in out_lines(out)} == set(range(20)),
        60,
        "every upload after the restart",
    )
    wait_until(lambda: _left_in_queue(moto_s3, url) == 0, 20, "the queue to empty")
    assert second.stop() == 0
