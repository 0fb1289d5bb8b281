"""The manager's OpenAPI document against the manager itself: every operation, fuzzed.

Schemathesis generates requests from /openapi.json (valid and invalid bodies, odd ids, unicode,
big values) and sends them, with the bearer token, to a real `streamforge serve`. Every answer
must be documented: no 5xx, a status code the operation lists, a body matching its model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _pytest.nodes
import httpx
import pytest
import schemathesis
from _pytest.nodeid import coerce_node_id
from hypothesis import HealthCheck, settings
from peers.manager import TOKEN, ManagerRun
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

if not hasattr(_pytest.nodes.Node, "_nodeid"):
    # pytest 9.2 keeps a node's id in `_id`; schemathesis' fixture-loaded schemas still read and
    # set `_nodeid` to name each operation's subtest, so give it that name back.
    _pytest.nodes.Node._nodeid = property(  # type: ignore[attr-defined]
        lambda node: node.nodeid,
        lambda node, value: setattr(node, "_id", coerce_node_id(value)),
    )

AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNDOCUMENTED = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


@pytest.fixture(scope="module")
def fuzzed_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagerRun]:
    """One manager for every generated case; stopped, with every stream it runs, at the end."""
    run = ManagerRun(tmp_path_factory.mktemp("openapi") / "home").start()
    try:
        yield run
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        run.client.close()
        assert not _children_of(run), "stream processes outlived the manager"


def _served_routes(home: Path) -> dict[str, set[str]]:
    """Path -> methods of every route an app built as `streamforge serve` builds it serves."""
    from fastapi.routing import APIRoute
    from starlette.routing import Route

    from streamforge.manager.app import create_app
    from streamforge.manager.checks import ConfigPolicy
    from streamforge.manager.crypto import ConfigCipher
    from streamforge.manager.db import open_database, sqlite_url
    from streamforge.manager.service import Manager
    from streamforge.manager.store import StreamStore
    from streamforge.manager.supervisor import Supervisor
    from streamforge.manager.trial import TrialRunner

    home.mkdir(parents=True, exist_ok=True)
    engine = open_database(sqlite_url(home))
    try:
        store = StreamStore(engine, ConfigCipher(home / "config.key"))
        policy = ConfigPolicy(home / "data")
        manager = Manager(store, Supervisor(home, home / "data", frozenset()), policy)
        app = create_app(manager, TrialRunner())
        served: dict[str, set[str]] = {}
        for route in app.routes:
            if not isinstance(route, (APIRoute, Route)) or route.path in UNDOCUMENTED:
                continue
            methods = set(route.methods or ()) - {"HEAD", "OPTIONS"}
            served.setdefault(route.path, set()).update(methods)
        return served
    finally:
        engine.dispose()


def _children_of(run: ManagerRun) -> list[int]:
    """Processes still running whose command line names the manager's home."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if str(run.home).encode() in cmdline:
            alive.append(int(entry.name))
    return alive


@pytest.fixture(scope="module")
def manager_schema(fuzzed_manager: ManagerRun) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_manager.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("manager_schema")


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any) -> None:
    case.call_and_validate(
        headers=AUTH,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
        timeout=30,
    )


def test_the_document_lists_every_route_and_its_401(fuzzed_manager: ManagerRun) -> None:
    document = httpx.get(f"{fuzzed_manager.url}/openapi.json", timeout=10).json()
    served = _served_routes(fuzzed_manager.home.parent / "routes-home")
    assert served, "the app serves no routes"
    paths = document["paths"]
    missing = sorted(
        f"{method} {path}"
        for path, methods in served.items()
        for method in methods
        if method.lower() not in paths.get(path, {})
    )
    assert not missing, f"served but not in /openapi.json: {missing}"
    open_routes = {("/health/live", "get"), ("/ready", "get")}
    without_401 = sorted(
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if (path, method) not in open_routes and "401" not in operation.get("responses", {})
    )
    assert not without_401, f"operations that do not document 401: {without_401}"
