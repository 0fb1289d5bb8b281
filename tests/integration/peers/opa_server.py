"""A test server, not OPA: a small HTTP server that answers Open Policy Agent's documented REST
API for evaluating policies, enough for StreamForge's OpaEngine to talk to it.

- `POST /v1/data/{path}` with `{"input": ...}` -> `{"result": <document>}`, or `{}` when the
  document is undefined (Data API, "Get a Document (with Input)").
- `POST /v1/query` with `{"query": "...", "input": ...}` -> `{"result": [<bindings>, ...]}`,
  one object of variable bindings per solution, `result` left out when there is none
  (Query API, "Execute an Ad-hoc Query").
- `GET /health` -> `{}`.
- Errors as OPA sends them: 400 `{"code": "invalid_parameter", "message": ...}` for a bad
  request or query, 500 `{"code": "internal_error", "message": ...}` when evaluation fails.

Policies are evaluated with regopy in a fresh interpreter per request. It runs on a free loopback
port on its own thread; `stop()` closes the port (OPA is down) and `start()` opens it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import pytest
import regopy

from peers.loopback_http import LoopbackHttpServer, TrackedHandler
from streamforge.license.policy import builtin_policy_files

__all__ = ["OpaTestServer", "opa_server"]


class _EvalError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Handler(TrackedHandler):
    def _reply(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/health":
            self._reply(200, {})
        else:
            self._reply(404, {"code": "resource_not_found", "message": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            self._reply(400, {"code": "invalid_parameter", "message": f"body: {exc}"})
            return
        opa = cast(OpaTestServer, self.server.owner)
        with opa._lock:
            opa.requests.append((path, body))
        try:
            if path == "/v1/data" or path.startswith("/v1/data/"):
                doc = opa.data(path[len("/v1/data") :], body)
            elif path == "/v1/query":
                doc = opa.query(body)
            else:
                self._reply(404, {"code": "resource_not_found", "message": path})
                return
        except _EvalError as exc:
            self._reply(exc.status, {"code": exc.code, "message": exc.message})
            return
        self._reply(200, doc)


class OpaTestServer(LoopbackHttpServer):
    """Serves the given Rego files over OPA's REST API on 127.0.0.1 (see module doc)."""

    handler = _Handler

    def __init__(self, policy_files: Sequence[Path], port: int | None = None) -> None:
        super().__init__(port)
        self.modules = [(str(p), Path(p).read_text()) for p in policy_files]
        self.requests: list[tuple[str, dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- evaluation -------------------------------------------------------------------------
    def _interpreter(self, body: dict[str, Any]) -> Any:
        interpreter = regopy.Interpreter()
        interpreter.log_level = regopy.LogLevel.NONE
        for name, source in self.modules:
            interpreter.add_module(name, source)
        if "input" in body:
            interpreter.set_input_term(json.dumps(body["input"]))
        return interpreter

    @staticmethod
    def _solutions(interpreter: Any, query: str) -> list[dict[str, Any]]:
        try:
            output = interpreter.query(query)
        except ValueError as exc:  # regopy could not read the result: an error tree
            raise _EvalError(500, "internal_error", f"evaluation failed: {exc}") from None
        if not output.ok():
            raise _EvalError(400, "invalid_parameter", f"cannot evaluate query {query!r}")
        if str(output).strip() == "undefined":
            return []
        return [
            {k: v for k, v in result.bindings.items() if k not in ("input", "data")}
            for result in output.results
        ]

    def data(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Data API: the document at `path` (segments separated by /)."""
        keys = [unquote(part) for part in path.split("/") if part]
        ref = "data" + "".join(f"[{json.dumps(k)}]" for k in keys)
        solutions = self._solutions(self._interpreter(body), f"result__ := {ref}")
        return {"result": solutions[0]["result__"]} if solutions else {}

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        """Query API: the bindings of every solution of body["query"]."""
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise _EvalError(400, "invalid_parameter", "missing query")
        solutions = self._solutions(self._interpreter(body), query)
        return {"result": solutions} if solutions else {}

    # -- lifecycle --------------------------------------------------------------------------


@pytest.fixture
def opa_server() -> Iterator[OpaTestServer]:
    """An OpaTestServer with StreamForge's built-in policies, stopped after the test."""
    server = OpaTestServer(builtin_policy_files()).start()
    try:
        yield server
    finally:
        server.stop()
