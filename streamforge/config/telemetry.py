"""The `tracer: open_telemetry_collector` and `metrics: aws_cloudwatch` sections (Benthos v4).

Their field specs, the checks lint runs on them beyond field types, and `collector_url`, which
turns a collector entry into the URL or address the exporters talk to.
"""

from __future__ import annotations

import re
from typing import Any

from streamforge.durations import parse_duration
from streamforge.plugin.aws import aws_fields
from streamforge.plugin.spec import Field, ParsedField

__all__ = [
    "AWS_CLOUDWATCH",
    "OPEN_TELEMETRY_COLLECTOR",
    "check_aws_cloudwatch",
    "check_open_telemetry_collector",
    "collector_url",
]

_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):(?P<port>\d{1,5})$")
_URL = re.compile(r"^(?P<scheme>https?)://(?P<hostport>[^/\s]+)(?P<path>/\S*)?$")
_DEFAULT_ADDRESS = {"http": "localhost:4318", "grpc": "localhost:4317"}


def _host_port(text: str, protocol: str) -> str:
    """`host:port` checked (a valid port number); ValueError otherwise."""
    match = _HOST_PORT.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not host:port (e.g. {_DEFAULT_ADDRESS[protocol]})")
    if not 0 < int(match.group("port")) < 65536:
        raise ValueError(f"{text!r}: port {match.group('port')} is not between 1 and 65535")
    return text


def collector_url(protocol: str, entry: dict[str, Any]) -> str:
    """Where a collector entry sends spans: an OTLP/HTTP URL ending in /v1/traces for `http`,
    `host:port` for `grpc`. `address` wins over the older `url`; without either, the
    default port on localhost. `http://`/`https://` in front of an http address choose the
    scheme (`secure` does otherwise)."""
    address = str(entry.get("address") or entry.get("url") or _DEFAULT_ADDRESS[protocol])
    address = address.strip()
    match = _URL.match(address)
    if protocol == "grpc":
        if match is not None:
            return _host_port(match.group("hostport"), protocol)
        return _host_port(address, protocol)
    if match is not None:
        _host_port(match.group("hostport"), protocol)
        path = match.group("path") or ""
        if path in ("", "/"):
            path = "/v1/traces"
        return f"{match.group('scheme')}://{match.group('hostport')}{path}"
    scheme = "https" if entry.get("secure") else "http"
    return f"{scheme}://{_host_port(address, protocol)}/v1/traces"


def _address_parser(protocol: str) -> Any:
    def parse(value: Any) -> None:
        if value:
            collector_url(protocol, {"address": value})

    return parse


def _collector(protocol: str, secure_doc: str) -> Field:
    example = _DEFAULT_ADDRESS[protocol]
    return Field(
        "collector",
        "object",
        fields=(
            ParsedField(
                "address",
                "string",
                default="",
                description=f"The collector's host:port; empty: {example}.",
                examples=(example,),
                parser=_address_parser(protocol),
            ),
            ParsedField(
                "url",
                "string",
                default="",
                advanced=True,
                description="The older name of `address` (used when `address` is empty).",
                parser=_address_parser(protocol),
            ),
            Field("secure", "bool", default=False, description=secure_doc),
        ),
    )


def _ratio(value: Any) -> None:
    if value is not None and not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{value} is not a ratio between 0 and 1")


OPEN_TELEMETRY_COLLECTOR = Field(
    "open_telemetry_collector",
    "object",
    default={},
    description=(
        "Sends spans to OpenTelemetry collectors over OTLP (HTTP/protobuf or gRPC): one trace "
        "per input batch, with a span per processor and one for the output, each carrying "
        "its message count."
    ),
    fields=(
        Field(
            "service",
            "string",
            default="streamforge",
            description="The service name of the spans (`service.name`), unless `tags` sets it.",
        ),
        Field(
            "http",
            "array",
            default=[],
            item=_collector("http", "Send over HTTPS."),
            description="OTLP/HTTP collectors (port 4318 by convention).",
        ),
        Field(
            "grpc",
            "array",
            default=[],
            item=_collector("grpc", "Connect with TLS."),
            description="OTLP/gRPC collectors (port 4317 by convention).",
        ),
        Field(
            "tags",
            "map",
            default={},
            item=Field("tag", "string"),
            advanced=True,
            description="Attributes of the service that every span carries (the OTLP "
            "resource), e.g. `deployment.environment: plant-7`.",
        ),
        Field(
            "sampling",
            "object",
            default={},
            description="Keep only a share of the traces (recommended when batches are many).",
            fields=(
                Field("enabled", "bool", default=False, description="Whether to sample."),
                ParsedField(
                    "ratio",
                    "float",
                    default=None,
                    description="The share of traces kept, from 0 to 1; required when "
                    "sampling is enabled.",
                    examples=(0.1, 0.5),
                    parser=_ratio,
                ),
            ),
        ),
    ),
)


def check_open_telemetry_collector(conf: dict[str, Any]) -> None:
    """What the field types cannot say: at least one collector, a ratio when sampling."""
    if not conf.get("http") and not conf.get("grpc"):
        raise ValueError(
            "http: no collector: give at least one http or grpc collector, e.g. "
            "http: [{address: localhost:4318}]"
        )
    sampling = conf.get("sampling") or {}
    if sampling.get("enabled") and sampling.get("ratio") is None:
        raise ValueError("sampling: enabled needs a ratio (the share of traces kept, 0 to 1)")


AWS_CLOUDWATCH = Field(
    "aws_cloudwatch",
    "object",
    default={},
    description=(
        "Pushes the stream's metrics (those /metrics serves, after the mapping) to Amazon "
        "CloudWatch with PutMetricData every flush_period and at shutdown: counters as "
        "the increase since the last push, gauges as their value, timings in microseconds. "
        "Labels become dimensions. CloudWatch bills per series: drop the ones you do not "
        "need with `metrics.mapping`."
    ),
    fields=(
        Field(
            "namespace",
            "string",
            default="StreamForge",
            description="The CloudWatch namespace of the metrics.",
            examples=("Plant7/Gateway",),
        ),
        Field(
            "flush_period",
            "duration",
            default="100ms",
            advanced=True,
            description="How often to push what changed.",
        ),
        *aws_fields(path_style=False),
    ),
)


def check_aws_cloudwatch(conf: dict[str, Any]) -> None:
    """A namespace CloudWatch accepts and a flush period above zero."""
    namespace = str(conf.get("namespace") or "")
    if not namespace:
        raise ValueError("namespace: must not be empty")
    if namespace.startswith("AWS/"):
        raise ValueError(f"namespace: {namespace!r}: names starting with AWS/ are AWS's own")
    if len(namespace) > 255:
        raise ValueError("namespace: longer than CloudWatch's 255 characters")
    if parse_duration(conf.get("flush_period")) <= 0:
        raise ValueError("flush_period: must be longer than 0s")
