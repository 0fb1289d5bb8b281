"""The aws_s3 output and input against moto's S3 server: objects written by `streamforge run`
(one per message, or one per archived batch), read back as messages, deleted when asked, and
no message lost while the network path to the store is cut."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from peers.moto_s3 import CuttableProxy, S3Store, moto_s3  # noqa: F401 - the fixture
from peers.stream_run import Run, out_lines, run_stream, stream_config, wait_until


def _bucket(store: S3Store, bucket: str) -> Any:
    """A client of `store` with `bucket` created."""
    s3 = store.client()
    s3.create_bucket(Bucket=bucket)
    return s3


def _keys(store: S3Store, bucket: str, prefix: str = "") -> list[str]:
    pages = store.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents") or [])


def test_one_object_per_message_with_type_metadata_and_tags(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    s3 = _bucket(moto_s3, "plant")
    run_stream(
        tmp_path / "stream.yaml",
        f"""
        input:
          generate:
            count: 12
            interval: ""
            batch_size: 4
            mapping: |
              let n = counter()
              let asset = "press-" + ($n % 2).string()
              root = {{"n": $n, "asset": $asset}}
              meta asset_id = $asset
              meta internal_trace = "x"
        output:
          aws_s3:
            bucket: plant
            path: readings/${{! @asset_id }}/${{! this.n }}.json
            content_type: application/json
            tags:
              asset: ${{! @asset_id }}
            metadata:
              exclude_prefixes: [ internal_ ]
            {moto_s3.config(12)}
        """,
    )
    keys = _keys(moto_s3, "plant")
    assert len(keys) == 12
    assert "readings/press-1/3.json" in keys
    head = s3.head_object(Bucket="plant", Key="readings/press-0/4.json")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"asset_id": "press-0"}
    body = s3.get_object(Bucket="plant", Key="readings/press-0/4.json")["Body"].read()
    assert json.loads(body) == {"n": 4, "asset": "press-0"}
    tags = s3.get_object_tagging(Bucket="plant", Key="readings/press-1/5.json")["TagSet"]
    assert tags == [{"Key": "asset", "Value": "press-1"}]


def test_an_archived_batch_is_one_object_and_the_input_reads_it_back(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    s3 = _bucket(moto_s3, "lake")
    s3.put_object(Bucket="lake", Key="other/ignored.txt", Body=b"not under the prefix")
    run_stream(
        tmp_path / "write.yaml",
        f"""
        input:
          generate:
            count: 25
            interval: ""
            mapping: 'root = {{"n": counter()}}'
        output:
          aws_s3:
            bucket: lake
            path: batches/${{! counter() }}.jsonl
            content_type: application/x-ndjson
            {moto_s3.config(12)}
            batching:
              count: 10
              period: 300ms
              processors:
                - archive: {{format: lines}}
        """,
    )
    keys = _keys(moto_s3, "lake", "batches/")
    assert len(keys) == 3
    sizes = sorted(
        len(s3.get_object(Bucket="lake", Key=k)["Body"].read().splitlines()) for k in keys
    )
    assert sizes == [5, 10, 10]

    out = tmp_path / "read.jsonl"
    run_stream(
        tmp_path / "read.yaml",
        f"""
        input:
          aws_s3:
            bucket: lake
            prefix: batches/
            scanner:
              lines: {{}}
            delete_objects: true
            {moto_s3.config(12)}
        pipeline:
          processors:
            - mapping: 'root = this.merge({{"key": @s3_key, "type": @s3_content_type}})'
        """,
        out,
    )
    rows = [json.loads(line) for line in out_lines(out)]
    assert sorted(r["n"] for r in rows) == list(range(1, 26))
    assert {r["key"] for r in rows} == set(keys)
    assert {r["type"] for r in rows} == {"application/x-ndjson"}
    assert _keys(moto_s3, "lake", "batches/") == []  # deleted once written
    assert _keys(moto_s3, "lake") == ["other/ignored.txt"]


def test_whole_objects_by_default(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    s3 = _bucket(moto_s3, "docs")
    for i in range(3):
        s3.put_object(
            Bucket="docs", Key=f"d{i}.txt", Body=f"line a {i}\nline b {i}\n".encode(),
            Metadata={"origin": f"o{i}"},
        )  # fmt: skip
    out = tmp_path / "out.jsonl"
    run_stream(
        tmp_path / "read.yaml",
        f"""
        input:
          aws_s3:
            bucket: docs
            {moto_s3.config(12)}
        pipeline:
          processors:
            - mapping: 'root = {{"text": content().string(), "origin": @origin}}'
        """,
        out,
    )
    rows = sorted((json.loads(line) for line in out_lines(out)), key=lambda r: r["origin"])
    assert rows == [{"text": f"line a {i}\nline b {i}\n", "origin": f"o{i}"} for i in range(3)]
    assert len(_keys(moto_s3, "docs")) == 3  # kept without delete_objects


def test_output_waits_while_the_store_is_unreachable_and_loses_nothing(
    moto_s3: S3Store,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    _bucket(moto_s3, "cut")
    proxy = CuttableProxy(int(urlsplit(moto_s3.endpoint).port or 0))
    via_proxy = S3Store(f"http://127.0.0.1:{proxy.port}")
    config = stream_config(
        tmp_path / "stream.yaml",
        f"""
        input:
          generate:
            count: 120
            interval: 20ms
            mapping: 'root = {{"n": counter()}}'
        output:
          fallback:
            - aws_s3:
                bucket: cut
                path: n/${{! this.n }}
                {via_proxy.config(16)}
            - file: {{path: {tmp_path / "dead.jsonl"}}}
        """,
    )
    run = Run(config)
    try:
        wait_until(lambda: len(_keys(moto_s3, "cut")) >= 20, 30, "the first objects")
        proxy.cut()
        at_cut = len(_keys(moto_s3, "cut"))
        time.sleep(2.5)
        during = len(_keys(moto_s3, "cut"))
        assert during <= at_cut + 1 < 120  # nothing gets through while cut
        proxy.restore()
        wait_until(lambda: run.proc.poll() is not None, 60, "the stream to end")
        assert run.proc.returncode == 0, run.logs()
    finally:
        run.stop()
        proxy.close()
    assert "unreachable" in run.logs() and "reachable again" in run.logs(), run.logs()
    keys = _keys(moto_s3, "cut")
    assert sorted(int(k.split("/")[1]) for k in keys) == list(range(1, 121))
    assert out_lines(tmp_path / "dead.jsonl") == []
