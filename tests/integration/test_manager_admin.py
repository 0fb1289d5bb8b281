"""The manager's /admin/license and /admin/system endpoints against a real `streamforge serve`.

Licences are signed here with a vendor key of the test's own; the manager verifies them with its
public key. A licence activated over the API is in force at once (new streams, running streams'
children) and after a restart of the manager.
"""

from __future__ import annotations

import json
import re
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from peers.manager import ManagerRun, wait_for
from peers.modbus_server import Device

from streamforge.license.token import issue_token

TICKS = """
input:
  generate:
    interval: 50ms
    mapping: 'root = {"n": counter()}'
output:
  file: { path: ticks.jsonl }
"""

MODBUS = """
input:
  modbus:
    controller: {controller}
    slaveIDs: [ 1 ]
    timeBetweenReads: 100ms
    addresses:
      - {{ name: level, address: 0 }}
output:
  file: {{ path: modbus.jsonl, codec: lines }}
"""


class Vendor:
    """A licence vendor: a signing key, its public key on disk, and licences it issues."""

    def __init__(self, directory: Path, name: str = "vendor") -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.public = directory / f"{name}.pub.pem"
        self.public.write_bytes(
            self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def licence(self, subject: str, features: dict[str, Any], days: float = 1) -> str:
        private = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        expires = datetime.now(timezone.utc) + timedelta(days=days)
        return issue_token(private, subject=subject, features=features, expires=expires)


def admin(run: ManagerRun, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return run.client.request(method, f"/admin{path}", **kwargs)


def status_of(run: ManagerRun) -> dict[str, Any]:
    reply = admin(run, "GET", "/license/status")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def jsonl(path: Path) -> list[Any]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_licence_activated_over_the_api_is_in_force_at_once_and_after_a_restart(
    tmp_path: Path, modbus_server: Any
) -> None:
    plant = modbus_server({1: Device(holding={0: 417})})
    vendor = Vendor(tmp_path)
    small = vendor.licence("small-plant", {"bindings": [], "capabilities": {"max_streams": 3}})
    env = {"STREAMFORGE_LICENSE": small, "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": str(vendor.public)}
    home = tmp_path / "home"
    run = ManagerRun(home, env=env).start()
    try:
        # a stream of base features runs under the first licence; its child follows the licence
        created = run.api("POST", "/streams", json={"id": "ticks", "config": TICKS})
        assert created.status_code == 201, created.text
        run.wait_status("ticks", "running")  # its licence is read
        ticks_started = time.monotonic()
        modbus = MODBUS.format(controller=plant.controller)
        refused = run.api("POST", "/streams", json={"id": "plant", "config": modbus})
        assert refused.status_code == 402 and "bindings/modbus" in refused.text, refused.text

        before = status_of(run)
        assert before["valid"] is True and before["subject"] == "small-plant"
        assert before["source"] == "STREAMFORGE_LICENSE"
        assert before["limits"]["max_streams"] == {"limit": 3, "used": 1}
        assert before["limits"]["max_users"]["limit"] == 2
        assert isinstance(before["limits"]["max_users"]["used"], int)
        assert "regopy" in before["policy_engine"]
        features = admin(run, "GET", "/license/features").json()
        assert "modbus" not in features["bindings"] and "mqtt" in features["bindings"]
        assert features["capabilities"]["max_streams"] == 3

        # bad tokens are refused with a reason; the licence in force stays
        foreign = Vendor(tmp_path, "foreign").licence("thief", {"bindings": ["modbus"]})
        expired = vendor.licence("late", {"bindings": ["modbus"]}, days=-1)
        for token, reason in [
            ("not-a-jwt", "malformed token"),
            (foreign, "signature does not match"),
            (expired, "expired at"),
        ]:
            reply = admin(run, "POST", "/license/activate", json={"token": token})
            assert reply.status_code == 400, reply.text
            detail = reply.json()["detail"]
            assert detail.startswith("licence not activated:") and reason in detail, detail
            assert "\n" not in detail
        empty = admin(run, "POST", "/license/activate", json={"token": ""})
        assert empty.status_code == 422 and "token" in empty.json()["detail"]
        assert status_of(run)["subject"] == "small-plant"
        assert not (home / "license.jwt").exists()
        still = run.api("POST", "/streams", json={"id": "plant", "config": modbus})
        assert still.status_code == 402

        # a licence from the same vendor with the binding: in force at once
        big = vendor.licence("big-plant", {"bindings": ["modbus"]}, days=30)
        activated = admin(run, "POST", "/license/activate", json={"token": big})
        assert activated.status_code == 200, activated.text
        answer = activated.json()
        assert answer["valid"] is True and answer["subject"] == "big-plant"
        assert answer["source"].startswith("activated over the API")
        assert answer["limits"]["max_streams"] == {"limit": 5, "used": 1}
        kept = home / "license.jwt"
        assert kept.read_text().strip() == big
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        features = admin(run, "GET", "/license/features").json()
        assert features["subject"] == "big-plant" and "modbus" in features["bindings"]

        created = run.api("POST", "/streams", json={"id": "plant", "config": modbus})
        assert created.status_code == 201, created.text
        run.wait_status("plant", "running")
        readings = home / "data" / "modbus.jsonl"
        wait_for(lambda: 417 in jsonl(readings), "modbus readings")

        # the stream that ran before the activation hears of it from its licence watch
        def ticks_follow() -> bool:
            lines = run.api("GET", "/streams/ticks/logs").json()["lines"]
            return any("licence changed, now in effect: big-plant" in line for line in lines)

        wait_for(ticks_follow, "the running stream to take the new licence", timeout=45)
        assert time.monotonic() - ticks_started < 45
        assert run.stream("ticks")["status"] == "running"
    finally:
        run.stop()
        run.client.close()

    # after a restart (with the first licence still in the environment) the activation holds
    again = ManagerRun(home, env=env).start()
    try:
        after = status_of(again)
        assert after["subject"] == "big-plant" and after["source"].startswith("activated")
        again.wait_status("plant", "running")
        more = again.api("POST", "/streams", json={"id": "plant-2", "config": modbus})
        assert more.status_code == 201, more.text
    finally:
        again.stop()
        again.client.close()


TEMPLATE = """name: tagged
type: processor
summary: Adds a tag.
fields:
  - { name: tag, type: string, default: plant }
mapping: |
  root.mapping = "root = this.merge({\\"tag\\": \\"" + this.tag + "\\"})"
"""

BROKEN_TEMPLATE = """name: broken
type: processor
fields: []
mapping: |
  root = this.(
"""

BROKEN_POLICY = """package streamforge.features

import rego.v1

deny contains msg if {
\tmsg :=
}
"""


def test_health_metrics_and_reload_answer_as_documented(
    tmp_path: Path, no_license: pytest.MonkeyPatch
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    env = {"STREAMFORGE_POLICY_DIR": str(policies)}
    run = ManagerRun(tmp_path / "home", env=env).start()
    templates = run.home / "templates"
    try:
        # without a licence: the base features, and nothing to activate one with
        status = status_of(run)
        assert status["valid"] is False and status["source"] == "none"
        assert status["limits"]["max_streams"] == {"limit": 5, "used": 0}
        refused = admin(run, "POST", "/license/activate", json={"token": "a.b.c"})
        assert refused.status_code == 400
        assert "no licence public key configured" in refused.json()["detail"]

        created = run.api("POST", "/streams", json={"id": "ticks", "config": TICKS})
        assert created.status_code == 201, created.text
        run.wait_status("ticks", "running")
        health = admin(run, "GET", "/system/health")
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["database_reachable"] is True and body["database_error"] is None
        assert body["streams"] == {"running": 1}
        assert body["licence_ok"] is False and body["status"] == "degraded"
        assert body["version"] and body["uptime_s"] > 0
        assert body["licence"].startswith("none, base features apply")

        metrics = admin(run, "GET", "/system/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith(
            "text/plain"
        )
        assert 'streamforge_manager_streams{status="running"} 1.0' in metrics.text
        assert "streamforge_manager_database_up 1.0" in metrics.text
        assert "streamforge_manager_license_valid 0.0" in metrics.text
        assert "process_resident_memory_bytes" in metrics.text

        def streams_metrics() -> str:
            return run.client.get("/metrics").text

        wait_for(lambda: "streamforge_received" in streams_metrics(), "stream metrics")
        assert "streamforge_received" not in metrics.text  # the streams' are at /metrics

        # reload: a new template is registered, the policies are loaded again
        templates.mkdir(exist_ok=True)
        (templates / "tagged.yaml").write_text(TEMPLATE)
        assert run.api("GET", "/templates/tagged").status_code == 404
        reloaded = admin(run, "POST", "/system/reload")
        assert reloaded.status_code == 200, reloaded.text
        lines = reloaded.json()["reloaded"]
        assert lines[0] == f"templates: 1 from {templates}: tagged", lines
        assert lines[1].startswith("licence policies: regopy"), lines
        assert lines[2].startswith("authorization policies:"), lines
        assert run.api("GET", "/templates/tagged").status_code == 200

        # a broken template or policy is refused at its file and line; nothing changes
        (templates / "broken.yaml").write_text(BROKEN_TEMPLATE)
        (templates / "tagged.yaml").unlink()
        reply = admin(run, "POST", "/system/reload")
        assert reply.status_code == 400, reply.text
        detail = reply.json()["detail"]
        assert re.search(rf"{re.escape(str(templates / 'broken.yaml'))}:5:\d+: ", detail), detail
        assert "nothing changed" in detail and "\n" not in detail
        assert run.api("GET", "/templates/tagged").status_code == 200
        (templates / "broken.yaml").unlink()

        (policies / "site.rego").write_text(BROKEN_POLICY)
        reply = admin(run, "POST", "/system/reload")
        assert reply.status_code == 400, reply.text
        detail = reply.json()["detail"]
        assert f"{policies / 'site.rego'}:6:" in detail and "nothing changed" in detail, detail
        assert run.api("GET", "/templates/tagged").status_code == 200
        (policies / "site.rego").unlink()

        # fixed: the template whose file is gone is forgotten
        reply = admin(run, "POST", "/system/reload")
        assert reply.status_code == 200, reply.text
        assert reply.json()["reloaded"][0] == f"templates: 0 from {templates}"
        assert run.api("GET", "/templates/tagged").status_code == 404
        assert run.stream("ticks")["status"] == "running"
    finally:
        run.stop()
        run.client.close()
