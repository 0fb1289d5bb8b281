"""`license_check`: messages pass while the licence grants a feature, else are flagged or dropped.

Licences are real tokens signed with a key made here and verified by the licence loader; the
decisions come from the built-in Rego policies (plus user policies where a test adds some).
"""

from __future__ import annotations

import logging
import textwrap
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_helpers import Ctx, build, msgs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from streamforge.config.loader import lint_paths, load_stream
from streamforge.engine.instantiate import BuildError, StreamBuilder
from streamforge.license import state
from streamforge.license.policy import PolicyEngine, PolicyError, RegoEngine
from streamforge.license.settings import LicenseSettings
from streamforge.license.token import issue_token
from streamforge.observability.metrics import REGISTRY
from streamforge.plugin import registry


class Keys:
    """An Ed25519 signing key and its public key file."""

    def __init__(self, directory: Path) -> None:
        key = ed25519.Ed25519PrivateKey.generate()
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.public_file = directory / "vendor.pub.pem"
        self.public_file.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(self, expires: datetime | None = None, **features: Any) -> str:
        return issue_token(
            self.private_pem,
            subject="acme-001",
            features=features,
            expires=expires or datetime.now(timezone.utc) + timedelta(days=30),
            customer={"name": "ACME Corp"},
        )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("vendor-key"))


pytestmark = pytest.mark.usefixtures("no_license")


def settings(keys: Keys, token: str | None, policy_dir: Path | None = None) -> LicenseSettings:
    return LicenseSettings(
        token=token,
        public_key_file=str(keys.public_file),
        policy_dir=str(policy_dir) if policy_dir else None,
    )


def install(keys: Keys, token: str | None, policy_dir: Path | None = None) -> None:
    """Put a licence (None: none, the base defaults) in effect, as the run-time watch does."""
    state.install(state.build_state(settings(keys, token, policy_dir)))


def context(label: str) -> Ctx:
    ctx = Ctx()
    ctx.stream = "plant"
    ctx.label = label
    return ctx


def denied_count(label: str, feature: str) -> float:
    labels = {"stream": "plant", "component": label, "feature": feature}
    return REGISTRY.get_sample_value("streamforge_license_denied_total", labels) or 0.0


def test_allowed_feature_passes_the_batch_itself(keys: Keys) -> None:
    install(keys, keys.token(bindings=["opcua"]))
    proc = build("processor", "license_check", {"feature": "opcua"}, context("allowed"))
    batch = msgs("a", "b", "c")
    originals = list(batch)

    out = proc.process_batch(batch)

    assert out is batch
    assert all(a is b for a, b in zip(out, originals)) and len(out) == 3
    assert [m.error for m in out] == [None, None, None]
    assert denied_count("allowed", "bindings/opcua") == 0


def test_denied_feature_flags_every_message_with_reason_and_subject(keys: Keys) -> None:
    install(keys, keys.token(bindings=["kafka"]))
    proc = build("processor", "license_check", {"feature": "opcua"}, context("flag"))

    out = proc.process_batch(msgs("a", "b"))

    assert [m.payload for m in out] == [b"a", b"b"]
    expected = (
        "license_check: feature bindings/opcua is not licensed: binding 'opcua' needs a "
        "licence feature bindings/opcua, not granted by the licence of acme-001"
    )
    assert [m.error for m in out] == [expected, expected]
    assert denied_count("flag", "bindings/opcua") == 2


def test_without_a_license_the_error_says_so() -> None:
    proc = build(
        "processor",
        "license_check",
        {"category": "processors", "feature": "alarm"},
        context("defaults"),
    )
    (msg,) = proc.process_batch(msgs("x"))
    assert msg.error == (
        "license_check: feature processors/alarm is not licensed: processor 'alarm' needs a "
        "licence feature processors/alarm (no licence in effect)"
    )


def test_base_features_pass_without_a_license() -> None:
    mqtt = build("processor", "license_check", {"feature": "mqtt"}, context("base"))
    window = build(
        "processor", "license_check", {"category": "processors", "feature": "window"}, context("w")
    )
    for proc in (mqtt, window):
        (msg,) = proc.process_batch(msgs("x"))
        assert msg.error is None


def test_drop_removes_denied_messages_and_counts_them(keys: Keys) -> None:
    install(keys, keys.token(storage=["parquet"]))
    proc = build(
        "processor",
        "license_check",
        {"category": "storage", "feature": "historian", "on_denied": "drop"},
        context("drop"),
    )

    assert proc.process_batch(msgs("a", "b", "c")) == []
    assert proc.process_batch(msgs("d")) == []
    assert denied_count("drop", "storage/historian") == 4


@pytest.mark.parametrize("on_denied", ["error", "drop"])
def test_messages_that_failed_earlier_keep_their_own_error(on_denied: str) -> None:
    proc = build(
        "processor",
        "license_check",
        {"feature": "kafka", "on_denied": on_denied},
        context(f"earlier_{on_denied}"),
    )
    failed, healthy = msgs("failed", "healthy")
    failed.error = "mapping failed: boom"

    out = proc.process_batch([failed, healthy])

    assert out[0] is failed and failed.error == "mapping failed: boom"
    if on_denied == "drop":
        assert out == [failed]
    else:
        assert out[1] is healthy and healthy.error is not None
        assert healthy.error.startswith("license_check: feature bindings/kafka is not licensed")
    assert denied_count(f"earlier_{on_denied}", "bindings/kafka") == 1


def test_a_new_license_flips_the_decision_without_rebuilding(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamforge.processors.license_check")
    proc = build("processor", "license_check", {"feature": "kafka"}, context("flip"))
    assert proc.process_batch(msgs("before"))[0].error is not None

    install(keys, keys.token(bindings=["kafka"]))
    (msg,) = proc.process_batch(msgs("licensed"))
    assert msg.error is None
    assert (
        caplog.messages[-1]
        == "license_check: feature bindings/kafka is licensed now; messages pass"
    )

    expired = datetime.now(timezone.utc) - timedelta(hours=1)
    install(keys, keys.token(expires=expired, bindings=["kafka"]))
    (msg,) = proc.process_batch(msgs("expired"))
    assert msg.error == (
        "license_check: feature bindings/kafka is not licensed: binding 'kafka' needs a "
        "licence feature bindings/kafka (no licence in effect)"
    )
    assert denied_count("flip", "bindings/kafka") == 2
    assert caplog.messages[-1] == f"{msg.error}; messages are flagged with this error"
    assert caplog.records[-1].levelno == logging.WARNING


def test_a_closed_processor_no_longer_follows_the_license(keys: Keys) -> None:
    proc = build("processor", "license_check", {"feature": "kafka"}, context("closed"))
    proc.close()
    install(keys, keys.token(bindings=["kafka"]))
    assert proc.process_batch(msgs("x"))[0].error is not None


class CountingEngine:
    """The real engine, counting the queries that reach it."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine
        self.counts: Counter[str] = Counter()

    def query(self, query: str, input: Mapping[str, Any]) -> Any:
        self.counts[query] += 1
        return self.engine.query(query, input)

    def describe(self) -> str:
        return self.engine.describe()


def test_messages_never_reach_the_policies(keys: Keys) -> None:
    engine = CountingEngine(RegoEngine.load(None))
    token = keys.token(bindings=["kafka"])
    state.install(state.build_state(settings(keys, token), engine=engine))
    allowed = build("processor", "license_check", {"feature": "kafka"}, context("hot"))
    denied = build("processor", "license_check", {"feature": "opcua"}, context("cold"))
    asked = sum(engine.counts.values())
    assert asked > 0

    for _ in range(100):
        allowed.process_batch(msgs(*"abcdefghij"))
        denied.process_batch(msgs(*"abcdefghij"))

    assert sum(engine.counts.values()) == asked
    assert denied_count("cold", "bindings/opcua") == 1000


def test_a_user_policy_refusal_is_the_reason(keys: Keys, tmp_path: Path) -> None:
    (tmp_path / "site.rego").write_text(
        textwrap.dedent(
            """
            package streamforge.features

            import rego.v1

            deny contains "OPC UA is switched off on this site" if input.request.feature == "opcua"
            """
        )
    )
    install(keys, keys.token(bindings=["opcua"]), policy_dir=tmp_path)
    proc = build("processor", "license_check", {"feature": "opcua"}, context("site"))
    (msg,) = proc.process_batch(msgs("x"))
    assert msg.error == (
        "license_check: feature bindings/opcua is not licensed: OPC UA is switched off on this "
        "site (licence of acme-001)"
    )


def test_a_broken_user_policy_fails_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    broken = policies / "site.rego"
    broken.write_text("package streamforge.features\n\nimport rego.v1\n\ndeny contains if {\n")
    monkeypatch.setenv("STREAMFORGE_POLICY_DIR", str(policies))
    state.install(None)

    with pytest.raises(PolicyError) as raised:
        build("processor", "license_check", {"feature": "opcua"}, context("broken"))
    assert str(raised.value).startswith(f"{broken}:5:")

    config = tmp_path / "stream.yaml"
    config.write_text(
        "pipeline:\n  processors:\n    - label: gate\n      license_check:\n"
        "        feature: opcua\n"
    )
    stream = load_stream(config)
    with pytest.raises(BuildError) as failed:
        StreamBuilder(stream).build_processors(stream.processors)
    first_line = str(failed.value).splitlines()[0]
    assert first_line.startswith(f"{config}:3:7: processor 'license_check' (gate): {broken}:5:")


def test_lint_checks_category_feature_and_on_denied(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "pipeline:\n"
        "  processors:\n"
        "    - license_check:\n"
        '        feature: "  "\n'
        "        category: binding\n"
        "        on_denied: flag\n"
        "    - license_check: {}\n"
    )
    problems = [str(p) for p in lint_paths([config])]
    assert problems == [
        f"{config}:4:18: feature: must not be empty (e.g. opcua, kafka, parquet)",
        f'{config}:5:19: field category: "binding" is not one of bindings, processors, '
        'security, storage, did you mean "bindings"?',
        f'{config}:6:20: field on_denied: "flag" is not one of error, drop',
        f'{config}:7:7: processor license_check: missing required field "feature"',
    ]


def test_the_spec_examples_lint_clean(tmp_path: Path) -> None:
    spec = registry.get("processor", "license_check")
    assert spec is not None and len(spec.examples) == 2
    for i, example in enumerate(spec.examples):
        config = tmp_path / f"example{i}.yaml"
        config.write_text(example)
        assert yaml.safe_load(example)["pipeline"]["processors"][0]["license_check"]
        assert lint_paths([config]) == []
