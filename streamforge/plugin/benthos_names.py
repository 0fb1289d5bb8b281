"""The component names of Benthos v4, Redpanda Connect and benthos-umh, by kind.

Lint uses them to tell a name StreamForge does not know from one it does not have yet: a
config ported from Benthos that uses `aws_s3` hears that `aws_s3` is a Benthos output
StreamForge does not have (yet), not that the name is unknown.
"""

from __future__ import annotations

__all__ = ["BENTHOS_COMPONENTS", "UMH_COMPONENTS", "missing_component", "origin"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Benthos v4 and Redpanda Connect components, by kind
BENTHOS_COMPONENTS: dict[str, frozenset[str]] = {
    "input": _names(
        """
        amqp_0_9 amqp_1 aws_cloudwatch_logs aws_dynamodb_cdc aws_kinesis aws_s3 aws_sqs
        azure_blob_storage azure_cosmosdb azure_queue_storage azure_table_storage batched
        beanstalkd broker cassandra cockroachdb_changefeed csv discord dynamic file
        gcp_bigquery_select gcp_cloud_storage gcp_pubsub gcp_spanner_cdc generate git hdfs
        http_client http_server inproc kafka kafka_franz legacy_redpanda_migrator
        microsoft_sql_server_cdc mongodb mongodb_cdc mqtt mysql_cdc nanomsg nats
        nats_jetstream nats_kv nats_stream nsq ockam_kafka otlp_grpc otlp_http parquet
        postgres_cdc pulsar read_until redis_list redis_pubsub redis_scan redis_streams
        redpanda redpanda_common redpanda_migrator resource s2 sequence sftp slack
        socket socket_server spicedb_watch splunk sql_raw sql_select stdin subprocess
        tigerbeetle_cdc timeplus twitter_search websocket zmq4
        """
    ),
    "processor": _names(
        """
        archive avro awk aws_bedrock_chat aws_bedrock_embeddings aws_dynamodb_partiql
        aws_lambda azure_cosmosdb benchmark bloblang bounds_check branch cache cached catch
        cohere_chat cohere_embeddings cohere_rerank command compress couchbase crash
        decompress dedupe for_each gcp_bigquery_select gcp_vertex_ai_chat
        gcp_vertex_ai_embeddings google_drive_download google_drive_list_labels
        google_drive_search grok group_by group_by_value http insert_part javascript
        jmespath jq json_schema log mapping metric mongodb msgpack mutation nats_kv
        nats_request_reply noop ollama_chat ollama_embeddings ollama_moderation
        openai_chat_completion openai_embeddings openai_image_generation openai_speech
        openai_transcription openai_translation parallel parquet parquet_decode
        parquet_encode parse_log processors protobuf qdrant rate_limit redis redis_script
        redpanda_data_transform resource retry schema_registry_decode
        schema_registry_encode select_parts sentry_capture slack_thread sleep split sql
        sql_insert sql_raw sql_select switch sync_response try unarchive wasm while
        workflow xml
        """
    ),
    "output": _names(
        """
        amqp_0_9 amqp_1 aws_dynamodb aws_kinesis aws_kinesis_firehose aws_s3 aws_sns
        aws_sqs azure_blob_storage azure_cosmosdb azure_data_lake_gen2 azure_queue_storage
        azure_table_storage beanstalkd broker cache cassandra couchbase cyborgdb cypher
        discord drop drop_on dynamic elasticsearch elasticsearch_v8 fallback file
        gcp_bigquery gcp_cloud_storage gcp_pubsub hdfs http_client http_server iceberg
        inproc kafka kafka_franz mongodb mqtt nanomsg nats nats_jetstream nats_kv
        nats_stream nsq opensearch otlp_grpc otlp_http pinecone pulsar pusher qdrant
        questdb redis_hash redis_list redis_pubsub redis_streams redpanda
        redpanda_common redpanda_migrator reject reject_errored resource retry s2 sftp
        slack_post slack_reaction snowflake_put snowflake_streaming socket splunk_hec sql
        sql_insert sql_raw stdout subprocess switch sync_response timeplus websocket zmq4
        """
    ),
    "cache": _names(
        """
        aws_dynamodb aws_s3 couchbase file gcp_cloud_storage lru memcached memory mongodb
        multilevel nats_kv noop redis redpanda ristretto sql ttlru
        """
    ),
    "rate_limit": _names("local redis"),
    "buffer": _names("memory none sqlite system_window"),
    "metrics": _names("aws_cloudwatch influxdb json_api logger none prometheus statsd"),
    "tracer": _names("aws_xray gcp_cloudtrace jaeger none open_telemetry_collector redpanda"),
    "scanner": _names(
        "auto avro chunker csv decompress json_documents lines re_match skip_bom switch "
        "tar to_the_end"
    ),
}

#: benthos-umh components (United Manufacturing Hub), by kind
UMH_COMPONENTS: dict[str, frozenset[str]] = {
    "input": _names("ads eip ethernetip modbus opcua s7comm sensorconnect sparkplug_b uns"),
    "processor": _names(
        "classic_to_core downsampler nodered_js stream_processor tag_processor topic_browser"
    ),
    "output": _names("opcua sparkplug_b uns"),
}


def origin(kind: str, name: str) -> str | None:
    """`Benthos` or `benthos-umh` when `name` is a component of that kind there, else None."""
    if name in BENTHOS_COMPONENTS.get(kind, ()):
        return "Benthos"
    if name in UMH_COMPONENTS.get(kind, ()):
        return "benthos-umh"
    return None


def missing_component(kind: str, name: str) -> str | None:
    """The problem for a component StreamForge lacks but Benthos or benthos-umh has."""
    where = origin(kind, name)
    if where is None:
        return None
    what = {"rate_limit": "rate limit", "metrics": "metrics exporter"}.get(kind, kind)
    return f"`{name}` is a {where} {what} StreamForge does not have (yet)"
