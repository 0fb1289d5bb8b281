"""Schemathesis against a served manager: the checks every answer must pass, and the manager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import _pytest.nodes
from _pytest.nodeid import coerce_node_id
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from peers.manager import ManagerRun

__all__ = ["CHECKS", "fuzzed_manager_at"]

if not hasattr(_pytest.nodes.Node, "_nodeid"):
    # pytest 9.2 keeps a node's id in `_id`; schemathesis' fixture-loaded schemas still read and
    # set `_nodeid` to name each operation's subtest, so give it that name back.
    _pytest.nodes.Node._nodeid = property(  # type: ignore[attr-defined]
        lambda node: node.nodeid,
        lambda node, value: setattr(node, "_id", coerce_node_id(value)),
    )

#: Not `positive_data_acceptance`: a stream config or a template that fits the JSON Schema of a
#: body (any object, any string) is still checked (lint, policy, licence, build) and refused
#: with 400, which is what the manager must do. Not `negative_data_rejection`: its negative cases
#: include unknown query parameters, which the manager ignores as HTTP APIs commonly do, and a
#: missing Authorization header that the test's own header then supplies (`ignored_auth` and
#: `missing_required_header` check authentication instead).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    missing_required_header,
    unsupported_method,
    ignored_auth,
]


@contextmanager
def fuzzed_manager_at(home: Path) -> Iterator[ManagerRun]:
    """A manager for every generated case; stopped, with every stream it runs, at the end, when
    no process it started may be left."""
    run = ManagerRun(home).start()
    try:
        yield run
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        run.client.close()
        assert not _children_of(run), "stream processes outlived the manager"


def _children_of(run: ManagerRun) -> list[str]:
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
            alive.append(f"{entry.name}: {cmdline.decode(errors='replace')}")
    return alive
