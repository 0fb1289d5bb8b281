"""aws_s3 and iceberg without a server: what a message's upload asks for, scanners, catalog
properties, lint of configs in the shapes the Benthos and Redpanda Connect docs show, and the
iceberg output on a local SQLite catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_helpers import lint_stream, validated_conf

from streamforge.inputs.aws_s3 import scanner_codec
from streamforge.message import Message
from streamforge.outputs.aws_s3 import S3Writer
from streamforge.outputs.iceberg import IcebergWriter, catalog_properties
from streamforge.plugin import load_builtins, registry

load_builtins()


# -- aws_s3 ------------------------------------------------------------------------------------


def test_an_upload_carries_key_type_metadata_and_tags() -> None:
    conf = validated_conf(
        "output",
        "aws_s3",
        {
            "bucket": "plant",
            "path": "${! @asset }/${! this.n }.json",
            "content_type": "application/json",
            "tags": {"line": "${! @line }"},
            "metadata": {"exclude_prefixes": ["kafka_"]},
            "cache_control": "no-cache",
        },
    )
    writer = S3Writer(conf, connect=False)
    msg = Message(b'{"n": 3}', {"asset": "press", "line": "L1", "kafka_key": "k", "n": 7})
    args = writer.request(msg, [msg], 0)
    assert args["Bucket"] == "plant" and args["Key"] == "press/3.json"
    assert args["Body"] == b'{"n": 3}'
    assert args["ContentType"] == "application/json"
    assert args["StorageClass"] == "STANDARD"
    assert args["CacheControl"] == "no-cache"
    assert args["Metadata"] == {"asset": "press", "line": "L1", "n": "7"}
    assert args["Tagging"] == "line=L1"


def test_the_default_path_is_unique_per_message() -> None:
    writer = S3Writer(validated_conf("output", "aws_s3", {"bucket": "b"}), connect=False)
    batch = [Message(b"a"), Message(b"b")]
    keys = {writer.request(m, batch, i)["Key"] for i, m in enumerate(batch)}
    assert len(keys) == 2 and all(k.endswith(".txt") for k in keys)


@pytest.mark.parametrize(
    ("scanner", "codec"),
    [
        ({"to_the_end": {}}, "all-bytes"),
        ({"lines": {}}, "lines"),
        ({"lines": {"custom_delimiter": "|"}}, "delim:|"),
    ],
)
def test_scanners_map_to_codecs(scanner: dict[str, Any], codec: str) -> None:
    assert scanner_codec(scanner) == codec


def test_unsupported_scanners_and_bad_sqs_fields_are_lint_errors(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        """
        input:
          aws_s3:
            bucket: plant
            scanner:
              decompress: {}
        output:
          drop: {}
        """,
    )
    assert any("'decompress' is not supported" in p for p in problems), problems
    problems = lint_stream(
        tmp_path,
        """
        input:
          aws_s3:
            bucket: plant
            sqs:
              url: https://sqs.eu-central-1.amazonaws.com/123/plant
              max_messages: 50
        output:
          drop: {}
        """,
    )
    assert any("1 to 10 messages" in p and ":5:" in p for p in problems), problems
    problems = lint_stream(
        tmp_path,
        """
        input:
          aws_s3:
            sqs:
              url: https://sqs.eu-central-1.amazonaws.com/123/plant
              envelope_path: Message
              delay_period: 5s
        output:
          drop: {}
        """,
    )
    assert problems == []  # the bucket comes from each notification


def test_benthos_shaped_s3_configs_lint_clean(tmp_path: Path) -> None:
    assert (
        lint_stream(
            tmp_path,
            """
            input:
              aws_s3:
                bucket: plant-raw
                prefix: readings/
                region: eu-central-1
                credentials:
                  id: AKIAEXAMPLE
                  secret: example-secret
                scanner:
                  lines: {}
                delete_objects: true
            output:
              aws_s3:
                bucket: plant-archive
                path: ${! meta("kafka_topic") }/${! timestamp_unix_nano() }.tar.gz
                content_type: application/gzip
                force_path_style_urls: true
                endpoint: http://localhost:9000
                batching:
                  count: 100
                  period: 10s
                  processors:
                    - archive:
                        format: tar
                    - compress:
                        algorithm: gzip
            """,
        )
        == []
    )


# -- iceberg -----------------------------------------------------------------------------------


def test_rest_catalog_properties() -> None:
    props = catalog_properties(
        {
            "catalog": {
                "url": "https://catalog.plant.local",
                "warehouse": "lake",
                "auth": {"oauth2": {"client_id": "sf", "client_secret": "s3cret",
                                    "server_uri": "/v1/oauth/tokens", "scope": "PRINCIPAL"}},
                "headers": {"X-Site": "hamburg"},
            },
            "storage": {"aws_s3": {"endpoint": "http://minio:9000", "region": "eu-central-1",
                                   "credentials": {"id": "k", "secret": "s"},
                                   "force_path_style_urls": True}},
        }
    )  # fmt: skip
    assert props == {
        "type": "rest", "uri": "https://catalog.plant.local", "warehouse": "lake",
        "credential": "sf:s3cret", "oauth2-server-uri": "/v1/oauth/tokens", "scope": "PRINCIPAL",
        "header.X-Site": "hamburg", "s3.endpoint": "http://minio:9000",
        "s3.region": "eu-central-1", "s3.access-key-id": "k", "s3.secret-access-key": "s",
        "s3.force-virtual-addressing": "false",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("sqlite:////var/lib/catalog.db", "sqlite:////var/lib/catalog.db"),
        ("postgres://sf@db/catalog", "postgresql+psycopg://sf@db/catalog"),
        ("postgresql://sf@db/catalog", "postgresql+psycopg://sf@db/catalog"),
        ("postgresql+psycopg://sf@db/catalog", "postgresql+psycopg://sf@db/catalog"),
        ("mysql://root@db/catalog", "mysql+pymysql://root@db/catalog"),
    ],
)
def test_sql_catalog_urls(url: str, uri: str) -> None:
    props = catalog_properties({"catalog": {"url": url, "warehouse": "/data/lake"}})
    assert props == {"type": "sql", "uri": uri, "warehouse": "file:///data/lake"}


@pytest.mark.parametrize(
    ("catalog", "needle"),
    [
        ({"url": "sqlite:////x.db"}, "needs a warehouse"),
        ({"url": "thrift://metastore:9083"}, "neither a REST catalog"),
        ({"url": ""}, "catalog URL is required"),
    ],
)
def test_bad_catalogs(catalog: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        catalog_properties({"catalog": catalog})


def test_redpanda_shaped_iceberg_config_lints_clean(tmp_path: Path) -> None:
    assert (
        lint_stream(
            tmp_path,
            """
            output:
              iceberg:
                catalog:
                  url: http://localhost:8181/api/catalog
                  warehouse: plant
                  auth:
                    bearer: example-token
                namespace: plant.${! @line }
                table: readings
                storage:
                  aws_s3:
                    bucket: plant-lake
                    region: eu-central-1
                schema_evolution:
                  enabled: true
                  partition_spec: (day(ts), bucket(16, asset_id))
                batching:
                  count: 1000
                  period: 10s
            """,
        )
        == []
    )


def test_a_bad_partition_spec_is_a_lint_error_at_its_line(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        """
        output:
          iceberg:
            catalog:
              url: http://localhost:8181/api/catalog
            namespace: plant
            table: readings
            schema_evolution:
              enabled: true
              partition_spec: (weekday(ts))
        """,
    )
    assert len(problems) == 1
    assert ":9:23:" in problems[0]  # at the value
    assert "partition_spec" in problems[0]
    assert "unknown transform 'weekday'" in problems[0]


def test_every_spec_example_lints(tmp_path: Path) -> None:
    for kind, name in [("output", "aws_s3"), ("input", "aws_s3"), ("output", "iceberg")]:
        for example in registry.get(kind, name).examples:
            doc: dict[str, Any] = {
                "input": {"generate": {"mapping": "root = {}", "count": 1}},
                "output": {"drop": {}},
            }
            doc[kind] = yaml.safe_load(example)
            assert lint_stream(tmp_path, json.dumps(doc)) == [], (kind, name)


def test_iceberg_writes_objects_and_fails_what_is_not_one(tmp_path: Path) -> None:
    conf = validated_conf(
        "output",
        "iceberg",
        {
            "catalog": {"url": f"sqlite:///{tmp_path}/c.db", "warehouse": str(tmp_path / "w")},
            "namespace": "plant",
            "table": "${! @kind }",
        },
    )
    writer = IcebergWriter(conf, connect=False)
    batch = [
        Message(b'{"v": 1}', {"kind": "a"}),
        Message(b"[1, 2]", {"kind": "a"}),
        Message(b'{"v": 2.5, "s": "x"}', {"kind": "b"}),
    ]
    failed = writer.write_batch(batch)
    assert failed == [batch[1]] and "not a JSON object" in (batch[1].error or "")
    catalog = writer.catalog
    assert catalog.load_table("plant.a").scan().to_arrow().to_pylist() == [{"v": 1}]
    assert catalog.load_table("plant.b").scan().to_arrow().to_pylist() == [{"v": 2.5, "s": "x"}]
    writer.close()


def test_a_missing_client_library_is_a_config_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pymysql", None)
    problems = lint_stream(
        tmp_path,
        """
        input:
          aws_s3:
            bucket: plant
        output:
          sql_insert:
            driver: mysql
            dsn: u@tcp(h:3306)/plant
            table: t
            columns: [ a ]
            args_mapping: root = [ this.a ]
        """,
    )
    assert any("pip install 'streamforge[aws]'" in p for p in problems), problems
    assert any("pip install 'streamforge[sql]'" in p for p in problems), problems
