"""An OpenTelemetry collector of the test's own: OTLP/HTTP (an ASGI app on uvicorn) and
OTLP/gRPC (opentelemetry-proto's generated trace service) on free loopback ports. Both decode
the export requests into `Span` records a test can look through, as Jaeger would show them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import pytest

from peers.ports import free_port, wait_listening

__all__ = ["OtlpCollector", "Span", "otlp_collector"]


@dataclass
class Span:
    """One received span, with its resource's attributes."""

    service: str
    resource: dict[str, Any]
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status: str
    links: int
    transport: str = "http"

    @property
    def count(self) -> int:
        """The span's message count."""
        return int(self.attributes.get("messaging.batch.message_count", -1))


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    return getattr(any_value, which) if which else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def decode(body: bytes, transport: str) -> list[Span]:
    """The spans of an ExportTraceServiceRequest (protobuf)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
    from opentelemetry.proto.trace.v1.trace_pb2 import Status

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return _spans(request, transport, ProtoSpan, Status)


def _spans(request: Any, transport: str, proto_span: Any, status: Any) -> list[Span]:
    out: list[Span] = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    Span(
                        service=str(resource.get("service.name", "")),
                        resource=resource,
                        name=s.name,
                        kind=proto_span.SpanKind.Name(s.kind),
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        attributes=_attributes(s.attributes),
                        status=status.StatusCode.Name(s.status.code),
                        links=len(s.links),
                        transport=transport,
                    )
                )
    return out


@dataclass
class OtlpCollector:
    """What the collector received; `http_address` and `grpc_address` are host:port."""

    http_port: int
    grpc_port: int
    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def http_address(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def add(self, spans: list[Span]) -> None:
        with self._lock:
            self.spans.extend(spans)
            self.requests += 1

    def received(self) -> list[Span]:
        with self._lock:
            return list(self.spans)

    def wait_for(self, cond: Any, timeout: float = 20.0, what: str = "spans") -> list[Span]:
        """Poll until `cond(spans)` holds; the spans then."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.received()
            if cond(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({s.name for s in spans})
                raise AssertionError(f"timed out waiting for {what}: {len(spans)} spans {names}")
            time.sleep(0.05)


def _asgi_app(collector: OtlpCollector) -> Any:
    """OTLP/HTTP's trace endpoint as a plain ASGI app: POST /v1/traces, protobuf."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        ok = scope["method"] == "POST" and scope["path"] == "/v1/traces"
        if ok:
            collector.add(decode(body, "http"))
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        answer = ExportTraceServiceResponse().SerializeToString() if ok else b"not found"
        await send(
            {
                "type": "http.response.start",
                "status": 200 if ok else 404,
                "headers": [(b"content-type", b"application/x-protobuf")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def _grpc_server(collector: OtlpCollector) -> Any:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    class TraceService(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the proto's name
            collector.add(decode(request.SerializeToString(), "grpc"))
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), server)
    server.add_insecure_port(collector.grpc_address)
    return server


@pytest.fixture
def otlp_collector() -> Iterator[OtlpCollector]:
    """An OTLP collector listening on HTTP and gRPC for one test."""
    import uvicorn

    collector = OtlpCollector(free_port(), free_port())
    config = uvicorn.Config(
        _asgi_app(collector),
        host="127.0.0.1",
        port=collector.http_port,
        log_level="warning",
        lifespan="off",
    )
    http = uvicorn.Server(config)
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    grpc_server = _grpc_server(collector)
    grpc_server.start()
    try:
        wait_listening(collector.http_port)
        wait_listening(collector.grpc_port)
        yield collector
    finally:
        http.should_exit = True
        thread.join(10)
        grpc_server.stop(2).wait(5)
