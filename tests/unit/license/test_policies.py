"""The built-in policies rule by rule, without a licence (the defaults) and with one."""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import license

from streamforge.license.claims import License
from streamforge.license.policy import UNDEFINED, RegoEngine

KNOWN_PROCESSORS = ["alarm", "downsample", "mapping", "schema_registry_decode", "window"]

GRANTS = license(
    bindings=["kafka", "opcua"],
    processors=["alarm"],
    security=["mtls"],
    storage=["parquet"],
    capabilities={"max_streams": 20, "multi_tenancy": True},
)


@pytest.fixture(scope="module")
def engine() -> RegoEngine:
    return RegoEngine.load(None)


def ask(
    engine: RegoEngine,
    query: str,
    lic: License | None = None,
    request: dict[str, Any] | None = None,
    **extra: Any,
) -> Any:
    document: dict[str, Any] = {
        "license": lic.to_policy_input() if lic else None,
        "processors": KNOWN_PROCESSORS,
        **extra,
    }
    if request is not None:
        document["request"] = request
    return engine.query(query, document)


def holds(engine: RegoEngine, query: str, lic: License | None = None, **extra: Any) -> bool:
    """Whether a function call such as feature_allowed(...) holds."""
    return ask(engine, query, lic, **extra) == [{}]


F = "data.streamforge.features."
L = "data.streamforge.limits."
S = "data.streamforge.security."

DEFAULT_CAPABILITIES = {
    "max_things": 10,
    "max_streams": 5,
    "max_users": 2,
    "multi_tenancy": False,
    "audit_logging": False,
}


# -- features.rego ------------------------------------------------------------------------------


def test_default_features_are_the_base_set(engine: RegoEngine) -> None:
    assert ask(engine, F + "default_features") == {
        "bindings": ["http", "mqtt"],
        "processors": ["mapping"],
        "security": ["basic_auth"],
        "storage": [],
        "capabilities": DEFAULT_CAPABILITIES,
    }


def test_licensed_processors(engine: RegoEngine) -> None:
    assert sorted(ask(engine, F + "licensed_processors")) == [
        "alarm",
        "downsample",
        "schema_registry_decode",
        "schema_registry_encode",
    ]


def test_licensed_only_with_a_license(engine: RegoEngine) -> None:
    assert ask(engine, F + "licensed") is False
    assert ask(engine, F + "licensed", GRANTS) is True


def test_allowed_features_without_license_are_the_defaults(engine: RegoEngine) -> None:
    assert ask(engine, F + "allowed_features") == ask(engine, F + "default_features")


def test_allowed_features_add_the_license_to_the_defaults(engine: RegoEngine) -> None:
    assert ask(engine, F + "allowed_features", GRANTS) == {
        "bindings": ["http", "kafka", "mqtt", "opcua"],
        "processors": ["alarm", "mapping"],
        "security": ["basic_auth", "mtls"],
        "storage": ["parquet"],
        "capabilities": {**DEFAULT_CAPABILITIES, "max_streams": 20, "multi_tenancy": True},
    }


@pytest.mark.parametrize(
    ("category", "feature", "without", "with_license"),
    [
        ("bindings", "http", True, True),
        ("bindings", "mqtt", True, True),
        ("bindings", "kafka", False, True),
        ("bindings", "modbus", False, False),
        ("processors", "mapping", True, True),
        ("processors", "json", True, True),
        ("processors", "window", True, True),
        ("processors", "some_plugin", True, True),
        ("processors", "alarm", False, True),
        ("processors", "downsample", False, False),
        ("processors", "schema_registry_encode", False, False),
        ("security", "basic_auth", True, True),
        ("security", "mtls", False, True),
        ("storage", "parquet", False, True),
    ],
)
def test_feature_allowed(
    engine: RegoEngine, category: str, feature: str, without: bool, with_license: bool
) -> None:
    call = f'{F}feature_allowed("{category}", "{feature}")'
    assert holds(engine, call) is without
    assert holds(engine, call, GRANTS) is with_license


def test_processor_allowed_lists_known_processors_that_need_no_license(
    engine: RegoEngine,
) -> None:
    assert sorted(ask(engine, F + "processor_allowed")) == ["mapping", "window"]
    assert sorted(ask(engine, F + "processor_allowed", GRANTS)) == ["alarm", "mapping", "window"]
    assert ask(engine, F + 'processor_allowed["alarm"]') is UNDEFINED
    assert ask(engine, F + 'processor_allowed["alarm"]', GRANTS) == "alarm"


def test_binding_allowed_kafka_needs_a_license_that_grants_it(engine: RegoEngine) -> None:
    query = F + 'binding_allowed["kafka"]'
    assert ask(engine, query) is UNDEFINED
    assert ask(engine, query, license(bindings=["modbus"])) is UNDEFINED
    assert ask(engine, query, GRANTS) == "kafka"
    assert ask(engine, F + 'binding_allowed["mqtt"]') == "mqtt"
    assert sorted(ask(engine, F + "binding_allowed", GRANTS)) == ["http", "kafka", "mqtt", "opcua"]


def test_security_and_storage_allowed(engine: RegoEngine) -> None:
    assert ask(engine, F + "security_allowed") == ["basic_auth"]
    assert sorted(ask(engine, F + "security_allowed", GRANTS)) == ["basic_auth", "mtls"]
    assert ask(engine, F + "storage_allowed") == []
    assert ask(engine, F + "storage_allowed", GRANTS) == ["parquet"]


@pytest.mark.parametrize(
    ("resource", "count", "without", "with_license"),
    [
        ("streams", 5, True, True),
        ("streams", 6, False, True),
        ("streams", 20, False, True),
        ("streams", 21, False, False),
        ("things", 10, True, True),
        ("things", 11, False, False),
        ("users", 2, True, True),
        ("users", 3, False, False),
        ("dashboards", 1000, True, True),
    ],
)
def test_within_limit(
    engine: RegoEngine, resource: str, count: int, without: bool, with_license: bool
) -> None:
    call = f'{F}within_limit("{resource}", {count})'
    assert holds(engine, call) is without
    assert holds(engine, call, GRANTS) is with_license


def test_allow_and_reason_without_license(engine: RegoEngine) -> None:
    def decide(category: str, feature: str) -> tuple[Any, Any]:
        request = {"category": category, "feature": feature}
        return ask(engine, F + "allow", request=request), ask(engine, F + "reason", request=request)

    assert decide("bindings", "mqtt") == (True, "")
    assert decide("processors", "window") == (True, "")
    assert decide("processors", "alarm") == (
        False,
        "processor 'alarm' needs a licence feature processors/alarm (no licence in effect)",
    )
    assert decide("bindings", "kafka") == (
        False,
        "binding 'kafka' needs a licence feature bindings/kafka (no licence in effect)",
    )
    assert decide("security", "mtls") == (
        False,
        "security method 'mtls' needs a licence feature security/mtls (no licence in effect)",
    )


def test_allow_and_reason_with_license(engine: RegoEngine) -> None:
    request = {"category": "bindings", "feature": "kafka"}
    assert ask(engine, F + "allow", GRANTS, request) is True
    assert ask(engine, F + "reason", GRANTS, request) == ""
    request = {"category": "storage", "feature": "influxdb"}
    assert ask(engine, F + "allow", GRANTS, request) is False
    assert ask(engine, F + "reason", GRANTS, request) == (
        "storage 'influxdb' needs a licence feature storage/influxdb, "
        "not granted by the licence of acme-001"
    )


def test_unknown_category_is_denied(engine: RegoEngine) -> None:
    request = {"category": "gadgets", "feature": "http"}
    message = "unknown feature category 'gadgets' (known: bindings, processors, security, storage)"
    assert ask(engine, F + "deny", request=request) == [message]
    assert ask(engine, F + "allow", GRANTS, request) is False
    assert ask(engine, F + "reason", request=request) == message
    assert ask(engine, F + "deny", request={"category": "bindings", "feature": "http"}) == []


# -- limits.rego --------------------------------------------------------------------------------


def test_limits_follow_the_capabilities(engine: RegoEngine) -> None:
    assert [ask(engine, L + name) for name in ("max_things", "max_streams", "max_users")] == [
        10,
        5,
        2,
    ]
    assert [ask(engine, L + name, GRANTS) for name in ("max_things", "max_streams")] == [10, 20]


@pytest.mark.parametrize(
    ("rule", "field", "count", "without", "with_license"),
    [
        ("stream_allowed", "streams", 5, True, True),
        ("stream_allowed", "streams", 6, False, True),
        ("stream_allowed", "streams", 21, False, False),
        ("thing_allowed", "things", 10, True, True),
        ("thing_allowed", "things", 11, False, False),
        ("user_allowed", "users", 2, True, True),
        ("user_allowed", "users", 3, False, False),
    ],
)
def test_creation_allowed_within_limits(
    engine: RegoEngine, rule: str, field: str, count: int, without: bool, with_license: bool
) -> None:
    request = {field: count}
    assert ask(engine, L + rule, request=request) is without
    assert ask(engine, L + rule, GRANTS, request) is with_license


def test_creation_without_a_count_is_refused(engine: RegoEngine) -> None:
    assert ask(engine, L + "stream_allowed", request={}) is False


def test_rate_limits_per_endpoint_doubled_by_a_license(engine: RegoEngine) -> None:
    base = ask(engine, L + "rate_limit")
    assert set(base) == {"/wot/things", "/wot/binding", "/admin", "default"}
    assert all(set(limit) == {"requests", "per_seconds"} for limit in base.values())
    assert base["/admin"] == {"requests": 20, "per_seconds": 60}
    licensed = ask(engine, L + "rate_limit", GRANTS)
    for endpoint, limit in base.items():
        assert licensed[endpoint] == {
            "requests": 2 * limit["requests"],
            "per_seconds": limit["per_seconds"],
        }
    assert ask(engine, L + 'rate_limit["/wot/things"]') == base["/wot/things"]


def test_request_rate_limit_falls_back_to_default(engine: RegoEngine) -> None:
    base = ask(engine, L + "rate_limit")
    assert ask(engine, L + "request_rate_limit", request={"endpoint": "/admin"}) == base["/admin"]
    assert ask(engine, L + "request_rate_limit", request={"endpoint": "/x"}) == base["default"]


# -- security.rego ------------------------------------------------------------------------------


def test_known_methods_describe_each_method(engine: RegoEngine) -> None:
    known = ask(engine, S + "known_methods")
    assert set(known) == {
        "basic_auth",
        "bearer_token",
        "tls",
        "mtls",
        "sasl_plain",
        "sasl_scram",
        "opcua_certificate",
    }
    assert all(isinstance(text, str) and text for text in known.values())


def test_allowed_methods(engine: RegoEngine) -> None:
    assert ask(engine, S + "allowed_methods") == ["basic_auth"]
    assert sorted(ask(engine, S + "allowed_methods", GRANTS)) == ["basic_auth", "mtls"]


@pytest.mark.parametrize(
    ("method", "without", "with_license"),
    [("basic_auth", True, True), ("mtls", False, True), ("sasl_scram", False, False)],
)
def test_method_allowed(engine: RegoEngine, method: str, without: bool, with_license: bool) -> None:
    call = f'{S}method_allowed("{method}")'
    assert holds(engine, call) is without
    assert holds(engine, call, GRANTS) is with_license
