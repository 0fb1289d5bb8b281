"""A test server, not a schema registry: a small in-memory HTTP server that follows the documented
Confluent Schema Registry REST API (subjects, versions, schemas by id, error codes), enough for
StreamForge's processors and confluent-kafka's AvroSerializer / AvroDeserializer to talk to it.

It runs on a free loopback port on its own thread; `stop()` closes the port (the registry is
"offline") and `start()` opens the same port again with the same schemas.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from peers.ports import free_port, wait_listening

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class TestSchemaRegistry:
    """In-memory subjects and schemas served over HTTP on 127.0.0.1 (see module doc)."""

    __test__ = False  # not a test class

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.credentials = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username is not None
            else None
        )
        self.schemas: list[tuple[str, str]] = []  # index + 1 is the id: (schema text, type)
        self.subjects: dict[str, list[int]] = {}  # subject -> schema ids, version order
        self.requests: list[str] = []  # "GET /path" of every request served
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------
    def start(self) -> TestSchemaRegistry:
        registry = self

        class Handler(_Handler):
            owner = registry

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        wait_listening(self.port)
        return self

    def stop(self) -> None:
        """Close the port: clients now get connection refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def register(self, subject: str, schema: Any, schema_type: str = "AVRO") -> int:
        """Register `schema` (a dict or JSON text) under `subject`; the id, reused if known."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        with self._lock:
            return self._register(subject, text, schema_type)

    def _register(self, subject: str, text: str, schema_type: str) -> int:
        key = (_canonical(text), schema_type)
        known = [i for i, s in enumerate(self.schemas, 1) if (_canonical(s[0]), s[1]) == key]
        if known:
            schema_id = known[0]
        else:
            self.schemas.append((text, schema_type))
            schema_id = len(self.schemas)
        versions = self.subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return schema_id

    # -- REST -------------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        with self._lock:
            if parts == ["subjects"] and method == "GET":
                return 200, sorted(self.subjects)
            if parts == ["schemas", "types"]:
                return 200, ["AVRO"]
            if parts == ["config"]:
                return 200, {"compatibilityLevel": "BACKWARD"}
            if len(parts) >= 3 and parts[:2] == ["schemas", "ids"]:
                return self._by_id(parts[2:])
            if len(parts) >= 2 and parts[0] == "subjects":
                return self._subject(method, parts[1], parts[2:], body)
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _by_id(self, rest: list[str]) -> tuple[int, Any]:
        if not rest[0].isdigit() or not 1 <= int(rest[0]) <= len(self.schemas):
            return 404, {"error_code": 40403, "message": "Schema not found"}
        schema_id = int(rest[0])
        text, schema_type = self.schemas[schema_id - 1]
        pairs = [
            (s, v)
            for s, ids in self.subjects.items()
            for v, i in enumerate(ids, 1)
            if i == schema_id
        ]
        if rest[1:] == ["versions"]:
            return 200, [{"subject": s, "version": v} for s, v in pairs]
        if rest[1:] == ["subjects"]:
            return 200, [s for s, _ in pairs]
        doc: dict[str, Any] = {"schema": text}
        if schema_type != "AVRO":
            doc["schemaType"] = schema_type
        return 200, doc

    def _subject(self, method: str, subject: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if method == "POST" and rest == ["versions"]:
            if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
                return 422, {"error_code": 42201, "message": "Invalid schema"}
            try:
                json.loads(body["schema"])
            except ValueError:
                return 422, {"error_code": 42201, "message": "Invalid schema"}
            schema_id = self._register(subject, body["schema"], body.get("schemaType") or "AVRO")
            version = self.subjects[subject].index(schema_id) + 1
            return 200, {
                "id": schema_id,
                "subject": subject,
                "version": version,
                "schema": body["schema"],
            }
        versions = self.subjects.get(subject)
        if versions is None:
            return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found."}
        if method == "POST" and not rest:  # is this schema registered under the subject?
            wanted = _canonical(str((body or {}).get("schema", "")))
            for version, schema_id in enumerate(versions, 1):
                if _canonical(self.schemas[schema_id - 1][0]) == wanted:
                    return 200, self._version_doc(subject, version)
            return 404, {"error_code": 40403, "message": "Schema not found"}
        if rest == ["versions"]:
            return 200, list(range(1, len(versions) + 1))
        if len(rest) == 2 and rest[0] == "versions":
            version = (
                len(versions)
                if rest[1] in ("latest", "-1")
                else int(rest[1])
                if rest[1].isdigit()
                else 0
            )
            if not 1 <= version <= len(versions):
                return 404, {"error_code": 40402, "message": f"Version {rest[1]} not found."}
            return 200, self._version_doc(subject, version)
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _version_doc(self, subject: str, version: int) -> dict[str, Any]:
        schema_id = self.subjects[subject][version - 1]
        text, schema_type = self.schemas[schema_id - 1]
        doc = {"subject": subject, "version": version, "id": schema_id, "schema": text}
        if schema_type != "AVRO":
            doc["schemaType"] = schema_type
        return doc


def _canonical(text: str) -> str:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


class _Handler(BaseHTTPRequestHandler):
    owner: TestSchemaRegistry  # HTTP/1.0: one request per connection, so stop() ends them all

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self.owner.requests.append(f"{method} {path}")
        if (
            self.owner.credentials is not None
            and self.headers.get("Authorization") != self.owner.credentials
        ):
            status, doc = 401, {"error_code": 401, "message": "Unauthorized"}
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                status, doc = 400, {"error_code": 400, "message": "Bad request body"}
            else:
                status, doc = self.owner.handle(method, path, body)
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


@pytest.fixture
def schema_registry() -> Iterator[TestSchemaRegistry]:
    """A test schema registry (no auth) on a free loopback port."""
    registry = TestSchemaRegistry().start()
    yield registry
    registry.stop()


@pytest.fixture
def schema_registry_auth() -> Iterator[TestSchemaRegistry]:
    """A test schema registry asking for basic auth `gateway` / `s3cret`."""
    registry = TestSchemaRegistry("gateway", "s3cret").start()
    yield registry
    registry.stop()
