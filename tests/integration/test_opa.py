"""OpaEngine against a real HTTP server speaking OPA's REST API: the same decisions as in-process
evaluation, Data API for references, and clear errors when OPA fails or is down."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers.opa_server import OpaTestServer, opa_server  # noqa: F401
from peers.ports import free_port

from streamforge.commands import policy as policy_command
from streamforge.license.claims import Features, License
from streamforge.license.decisions import Decisions
from streamforge.license.policy import (
    UNDEFINED,
    OpaEngine,
    PolicyError,
    RegoEngine,
    builtin_policy_files,
)

pytestmark = pytest.mark.usefixtures("no_license")


KNOWN = ["alarm", "downsample", "mapping", "window"]

GRANTS = License(
    subject="acme-001",
    issuer="streamforge-licensing",
    features=Features.from_claim(
        {
            "bindings": ["kafka", "opcua"],
            "processors": ["alarm"],
            "security": ["mtls"],
            "capabilities": {"max_streams": 20},
        }
    ),
)

QUESTIONS = [
    ("bindings", "http"),
    ("bindings", "kafka"),
    ("bindings", "modbus"),
    ("processors", "mapping"),
    ("processors", "window"),
    ("processors", "alarm"),
    ("processors", "downsample"),
    ("security", "basic_auth"),
    ("security", "mtls"),
    ("storage", "parquet"),
    ("gadgets", "x"),
]


@pytest.fixture
def opa(opa_server: OpaTestServer) -> Iterator[OpaEngine]:  # noqa: F811
    engine = OpaEngine(opa_server.url)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def rego() -> RegoEngine:
    return RegoEngine.load(None)


@pytest.mark.parametrize("license", [None, GRANTS], ids=["defaults", "licence"])
def test_same_decisions_as_in_process(
    opa: OpaEngine, rego: RegoEngine, license: License | None
) -> None:
    remote, local = Decisions(opa, license, KNOWN), Decisions(rego, license, KNOWN)
    for category, feature in QUESTIONS:
        assert remote.allowed(category, feature) == local.allowed(category, feature)
        assert remote.reason(category, feature) == local.reason(category, feature)
    assert remote.features_in_effect() == local.features_in_effect()
    assert remote.capabilities() == local.capabilities()
    assert remote.within_limit("streams", 6) == local.within_limit("streams", 6)


def test_decisions_are_asked_once(opa: OpaEngine, opa_server: OpaTestServer) -> None:  # noqa: F811
    decisions = Decisions(opa, GRANTS, KNOWN)
    for _ in range(50):
        assert decisions.allowed("bindings", "kafka")
    assert [path for path, _ in opa_server.requests] == ["/v1/data/streamforge/features/allow"]
    body = opa_server.requests[0][1]
    assert body["input"]["request"] == {"category": "bindings", "feature": "kafka"}
    assert body["input"]["license"]["subject"] == "acme-001"


@pytest.mark.parametrize("license", [None, GRANTS], ids=["defaults", "licence"])
@pytest.mark.parametrize(
    "query",
    [
        'data.streamforge.features.binding_allowed["kafka"]',
        "data.streamforge.features.allowed_features",
        "data.streamforge.features.licensed",
        "data.streamforge.limits.rate_limit",
        'data.streamforge.limits.rate_limit["/admin"]',
        "data.streamforge.security.allowed_methods",
        "data.streamforge.nothing",
        "data.streamforge.security.known_methods[name]",
        'data.streamforge.security.method_allowed("mtls")',
    ],
)
def test_same_answers_as_in_process(
    opa: OpaEngine, rego: RegoEngine, query: str, license: License | None
) -> None:
    document = {"license": license.to_policy_input() if license else None, "processors": KNOWN}
    remote, local = opa.query(query, document), rego.query(query, document)
    if isinstance(local, list):
        remote, local = sorted(map(json.dumps, remote)), sorted(map(json.dumps, local))
    assert remote == local


def test_references_use_the_data_api(opa: OpaEngine, opa_server: OpaTestServer) -> None:  # noqa: F811
    assert opa.query('data.streamforge.features.binding_allowed["kafka"]', {}) is UNDEFINED
    assert opa.query("data.streamforge.limits.max_streams", {}) == 5
    assert opa.query("x := data.streamforge.limits.max_things", {}) == [{"x": 10}]
    assert [path for path, _ in opa_server.requests] == [
        "/v1/data/streamforge/features/binding_allowed/kafka",
        "/v1/data/streamforge/limits/max_streams",
        "/v1/query",
    ]


def test_opa_error_reply_is_a_policy_error(opa: OpaEngine, opa_server: OpaTestServer) -> None:  # noqa: F811
    with pytest.raises(PolicyError) as caught:
        opa.query("x := [1,", {})
    assert str(caught.value).startswith(f"OPA at {opa_server.url}: x := [1,: cannot evaluate")


def test_opa_down_names_the_url(opa_server: OpaTestServer) -> None:  # noqa: F811
    engine = OpaEngine(opa_server.url, timeout=2.0)
    assert engine.query("data.streamforge.limits.max_users", {}) == 2
    opa_server.stop()
    with pytest.raises(PolicyError) as caught:
        engine.query("data.streamforge.limits.max_users", {})
    assert str(caught.value).startswith(f"OPA at {opa_server.url} is not reachable")
    with pytest.raises(PolicyError, match=f"OPA at {opa_server.url} is not reachable"):
        Decisions(engine, None).allowed("bindings", "http")
    engine.close()


def test_nothing_listening() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    engine = OpaEngine(url)
    with pytest.raises(PolicyError, match=f"OPA at {url} is not reachable"):
        engine.query("data.streamforge.features.allow", {})
    engine.close()


def test_user_policies_on_opa(tmp_path: Path, rego: RegoEngine) -> None:
    site = tmp_path / "site.rego"
    site.write_text(
        "package streamforge.features\n\nimport rego.v1\n\n"
        'deny contains "no mqtt here" if input.request.feature == "mqtt"\n'
    )
    server = OpaTestServer([*builtin_policy_files(), site]).start()
    engine = OpaEngine(server.url)
    try:
        decisions = Decisions(engine, None)
        assert not decisions.allowed("bindings", "mqtt")
        assert decisions.reason("bindings", "mqtt") == "no mqtt here"
        assert decisions.allowed("bindings", "http")
    finally:
        engine.close()
        server.stop()


def test_policy_eval_with_opa_url(
    opa_server: OpaTestServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(*argv: str) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="streamforge")
        policy_command.add_parser(parser.add_subparsers(dest="command"), "policy")
        capsys.readouterr()
        code = policy_command.main(parser.parse_args(["policy", "eval", *argv]))
        out, err = capsys.readouterr()
        return code, out, err

    query = 'data.streamforge.features.binding_allowed["mqtt"]'
    assert run(query, "--opa-url", opa_server.url) == run(query) == (0, '"mqtt"\n', "")
    kafka = 'data.streamforge.features.binding_allowed["kafka"]'
    assert run(kafka, "--opa-url", opa_server.url) == (1, "undefined\n", "")
