"""A YAML stream with `license_check`: readings reach their output only under a licence that
grants the feature; otherwise a `switch` output routes them, flagged, to a file of their own."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from streamforge.config.loader import load_stream
from streamforge.license import state
from streamforge.license.token import issue_token
from streamforge.observability.metrics import REGISTRY
from streamforge.plugin import load_builtins
from streamforge.runtime.run import RunOptions, run_streams

STREAM = """
input:
  generate:
    count: 6
    interval: ""
    batch_size: 4
    mapping: 'root = {"tag": "line1.temp", "value": counter()}'

pipeline:
  processors:
    - label: opcua_licence
      license_check:
        feature: opcua

output:
  switch:
    cases:
      - check: errored()
        output:
          file: {path: "OUT/unlicensed.jsonl", codec: lines}
          processors:
            - mapping: 'root = this.merge({"error": error()})'
      - output:
          file: {path: "OUT/readings.jsonl", codec: lines}
"""


def license_in_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **features: Any
) -> None:
    """Sign a licence with a new EC P-256 key and point the environment at it and the key."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_file = tmp_path / "vendor.pub.pem"
    public_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    license_file = tmp_path / "acme.jwt"
    license_file.write_text(
        issue_token(
            private_pem,
            subject="acme-001",
            features=features,
            expires=datetime.now(timezone.utc) + timedelta(days=1),
        )
    )
    monkeypatch.setenv("STREAMFORGE_LICENSE_FILE", str(license_file))
    monkeypatch.setenv("STREAMFORGE_LICENSE_PUBLIC_KEY_FILE", str(public_file))
    state.install(None)


def run(tmp_path: Path) -> int:
    load_builtins()
    config = tmp_path / "plant.yaml"
    config.write_text(STREAM.replace("OUT", str(tmp_path / "out")))
    return run_streams([load_stream(config)], RunOptions(http=False, configure_logging=False))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def denied() -> float:
    labels = {"stream": "plant", "component": "opcua_licence", "feature": "bindings/opcua"}
    return REGISTRY.get_sample_value("streamforge_license_denied_total", labels) or 0.0


def test_licensed_readings_reach_the_output(no_license: pytest.MonkeyPatch, tmp_path: Path) -> None:
    license_in_environment(no_license, tmp_path, bindings=["opcua"])
    before = denied()
    assert run(tmp_path) == 0
    assert [d["value"] for d in lines(tmp_path / "out" / "readings.jsonl")] == [1, 2, 3, 4, 5, 6]
    assert not (tmp_path / "out" / "unlicensed.jsonl").exists()
    assert denied() == before


def test_without_the_feature_readings_are_routed_with_the_reason(
    no_license: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    license_in_environment(no_license, tmp_path, bindings=["kafka"])
    before = denied()
    assert run(tmp_path) == 0
    routed = lines(tmp_path / "out" / "unlicensed.jsonl")
    assert [d["value"] for d in routed] == [1, 2, 3, 4, 5, 6]
    assert {d["error"] for d in routed} == {
        "license_check: feature bindings/opcua is not licensed: binding 'opcua' needs a licence "
        "feature bindings/opcua, not granted by the licence of acme-001"
    }
    assert not (tmp_path / "out" / "readings.jsonl").exists()
    assert denied() - before == 6
