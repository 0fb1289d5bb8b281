"""Decisions: the policies' answers for one licence, asked once per question and cached."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import pytest
from policy_helpers import CountingEngine, license

from streamforge.license.decisions import ALLOW, ALLOWED_FEATURES, REASON, Decisions
from streamforge.license.policy import PolicyError, RegoEngine

KNOWN = ["alarm", "branch", "downsample", "mapping", "window"]

GRANTS = license(
    bindings=["kafka"],
    processors=["alarm"],
    security=["mtls"],
    storage=["parquet"],
    capabilities={"max_things": 100, "max_streams": 20},
)


@pytest.fixture(scope="module")
def rego() -> RegoEngine:
    return RegoEngine.load(None)


@pytest.fixture
def counting(rego: RegoEngine) -> CountingEngine:
    return CountingEngine(rego)


def _user_policies(tmp_path: Path, text: str) -> RegoEngine:
    (tmp_path / "site.rego").write_text(textwrap.dedent(text).lstrip("\n"))
    return RegoEngine.load(tmp_path)


def test_defaults_without_license(rego: RegoEngine) -> None:
    decisions = Decisions(rego, None, KNOWN)
    assert decisions.license is None
    assert decisions.subject is None
    assert decisions.allowed("bindings", "mqtt")
    assert decisions.allowed("processors", "window")
    assert not decisions.allowed("bindings", "kafka")
    assert not decisions.allowed("processors", "alarm")
    assert decisions.reason("processors", "alarm") == (
        "processor 'alarm' needs a licence feature processors/alarm (no licence in effect)"
    )
    assert decisions.reason("bindings", "mqtt") == ""


def test_license_grants_features(rego: RegoEngine) -> None:
    decisions = Decisions(rego, GRANTS, KNOWN)
    assert decisions.license is GRANTS
    assert decisions.subject == "acme-001"
    assert decisions.allowed("bindings", "kafka")
    assert decisions.allowed("processors", "alarm")
    assert decisions.allowed("storage", "parquet")
    assert not decisions.allowed("processors", "downsample")
    assert decisions.reason("processors", "downsample") == (
        "processor 'downsample' needs a licence feature processors/downsample, "
        "not granted by the licence of acme-001"
    )


def test_each_decision_is_evaluated_once(counting: CountingEngine) -> None:
    decisions = Decisions(counting, None, KNOWN)
    for _ in range(1000):
        assert decisions.allowed("bindings", "mqtt")
        assert not decisions.allowed("bindings", "kafka")
    assert counting.counts[ALLOW] == 2
    for _ in range(10):
        decisions.reason("bindings", "kafka")
    assert counting.counts[REASON] == 1
    assert counting.total == 3


def test_concurrent_first_questions_evaluate_once(counting: CountingEngine) -> None:
    decisions = Decisions(counting, GRANTS, KNOWN)
    start = threading.Barrier(8)
    answers: list[bool] = []

    def ask() -> None:
        start.wait()
        answers.append(decisions.allowed("processors", "alarm"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [True] * 8
    assert counting.counts[ALLOW] == 1


def test_capabilities_and_limits(counting: CountingEngine) -> None:
    decisions = Decisions(counting, GRANTS, KNOWN)
    assert decisions.capabilities() == {
        "max_things": 100,
        "max_streams": 20,
        "max_users": 2,
        "multi_tenancy": False,
        "audit_logging": False,
    }
    assert decisions.limit("streams") == 20
    assert decisions.limit("users") == 2
    assert decisions.limit("dashboards") is None
    assert decisions.within_limit("streams", 20)
    assert not decisions.within_limit("streams", 21)
    assert decisions.within_limit("dashboards", 10**6)
    assert counting.counts[ALLOWED_FEATURES] == 1


def test_limits_without_license(rego: RegoEngine) -> None:
    decisions = Decisions(rego, None)
    assert (decisions.limit("things"), decisions.limit("streams"), decisions.limit("users")) == (
        10,
        5,
        2,
    )
    assert decisions.within_limit("streams", 5)
    assert not decisions.within_limit("streams", 6)


def test_features_in_effect(counting: CountingEngine) -> None:
    decisions = Decisions(counting, None, KNOWN)
    expected = {
        "bindings": ["http", "mqtt"],
        "processors": ["branch", "mapping", "window"],
        "security": ["basic_auth"],
        "storage": [],
        "capabilities": {
            "max_things": 10,
            "max_streams": 5,
            "max_users": 2,
            "multi_tenancy": False,
            "audit_logging": False,
        },
    }
    assert decisions.features_in_effect() == expected
    decisions.features_in_effect()["bindings"].append("changed by a caller")  # type: ignore[union-attr]
    assert decisions.features_in_effect() == expected
    assert counting.total == 2


def test_features_in_effect_with_license(rego: RegoEngine) -> None:
    in_effect = Decisions(rego, GRANTS, KNOWN).features_in_effect()
    assert in_effect["bindings"] == ["http", "kafka", "mqtt"]
    assert in_effect["processors"] == ["alarm", "branch", "mapping", "window"]
    assert in_effect["storage"] == ["parquet"]


def test_user_deny_refuses_an_allowed_feature(tmp_path: Path) -> None:
    engine = _user_policies(tmp_path, """
        package streamforge.features

        import rego.v1

        deny contains "window processors are not used here" if {
            input.request.category == "processors"
            input.request.feature == "window"
        }
    """)  # fmt: skip
    decisions = Decisions(engine, GRANTS, KNOWN)
    assert not decisions.allowed("processors", "window")
    assert decisions.reason("processors", "window") == "window processors are not used here"
    assert decisions.allowed("processors", "alarm")


def test_non_boolean_decision_is_a_policy_error(tmp_path: Path) -> None:
    engine = _user_policies(tmp_path, """
        package streamforge.features

        import rego.v1

        allow := "yes" if input.request.feature == "kafka"
    """)  # fmt: skip
    decisions = Decisions(engine, None, KNOWN)
    with pytest.raises(PolicyError) as caught:
        decisions.allowed("bindings", "kafka")
    assert str(caught.value) == (
        "data.streamforge.features.allow gave 'yes' (string) for bindings/kafka: "
        "a decision must be true or false"
    )
    assert decisions.allowed("bindings", "http")


def test_undefined_decision_is_a_policy_error(tmp_path: Path) -> None:
    only = tmp_path / "only.rego"
    only.write_text("package streamforge.features\n\nimport rego.v1\n\nallowed_features := {}\n")
    decisions = Decisions(RegoEngine([only]), None)
    with pytest.raises(PolicyError) as caught:
        decisions.allowed("bindings", "http")
    assert str(caught.value) == (
        "data.streamforge.features.allow gave no value (undefined) for bindings/http: "
        "a decision must be true or false"
    )


def test_conflicting_user_rule_is_a_policy_error(tmp_path: Path) -> None:
    engine = _user_policies(tmp_path, """
        package streamforge.features

        import rego.v1

        allow := "sure" if input.request.feature == "mqtt"
    """)  # fmt: skip
    with pytest.raises(PolicyError) as caught:
        Decisions(engine, None).allowed("bindings", "mqtt")
    assert str(caught.value) == (
        "data.streamforge.features.allow: complete rules must not produce multiple outputs"
    )
