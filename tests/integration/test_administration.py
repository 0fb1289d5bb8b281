"""Administration of a real `streamforge serve`: the first admin, users and roles over the API,
the licence's user limit, uploaded policies, the audit log, and sign-in throttling per address."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import httpx
import pytest
from peers.manager import ManagerRun, licence_env

STREAMS = "/wot/binding/streams"
CONFIG = "input:\n  generate:\n    mapping: root = 1\n    interval: 1h\noutput:\n  drop: {}\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagerRun]:
    directory = tmp_path_factory.mktemp("admin")
    env = licence_env(directory, "two-seats", {"bindings": [], "capabilities": {"max_users": 2}})
    served = ManagerRun(directory / "home", env=env).start()
    try:
        yield served
    finally:
        served.stop()
        served.client.close()


def _login(run: ManagerRun, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{run.url}/auth/token", timeout=30,
                      json={"username": username, "password": password})  # fmt: skip


def _as(run: ManagerRun, token: str) -> httpx.Client:
    return httpx.Client(base_url=run.url, headers={"Authorization": f"Bearer {token}"},
                        timeout=30)  # fmt: skip


@pytest.fixture(scope="module")
def admin(run: ManagerRun) -> Iterator[httpx.Client]:
    """The first admin, signed in with the password `serve` wrote on its first start."""
    path = run.home / "admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reply = _login(run, "admin", path.read_text().strip())
    assert reply.status_code == 200, reply.text
    with _as(run, reply.json()["access_token"]) as client:
        yield client


def test_the_first_admin_manages_users_and_the_licence_limits_them(
    run: ManagerRun, admin: httpx.Client
) -> None:
    assert "user admin's password written to" in run.logs()
    made = admin.post("/admin/security/users", json={
        "username": "olga", "password": "operator password", "roles": ["operator"],
    })  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["roles"] == ["operator"] and "password" not in made.text
    # the licence allows 2 users: admin and olga
    third = admin.post("/admin/security/users", json={
        "username": "erik", "password": "engineer password", "roles": ["engineer"],
    })  # fmt: skip
    assert third.status_code == 402 and "max_users" in third.json()["detail"]
    unknown = admin.patch("/admin/security/users/olga", json={"roles": ["boss"]})
    assert unknown.status_code == 400 and "unknown role 'boss'" in unknown.json()["detail"]
    token = _login(run, "olga", "operator password").json()["access_token"]
    with _as(run, token) as olga:
        assert olga.get(STREAMS).status_code == 200
        assert olga.post(STREAMS, json={"id": "x", "config": CONFIG}).status_code == 403
        assert olga.get("/admin/security/users").status_code == 403
        disabled = admin.patch("/admin/security/users/olga", json={"disabled": True})
        assert disabled.status_code == 200 and disabled.json()["disabled"] is True
        assert olga.get(STREAMS).status_code == 401
    assert admin.delete("/admin/security/users/admin").status_code == 409
    assert admin.delete("/admin/security/users/olga").status_code == 204
    assert admin.get("/admin/security/users/olga").status_code == 404


def test_a_custom_role_grants_what_it_lists_and_cannot_go_while_held(
    run: ManagerRun, admin: httpx.Client
) -> None:
    made = admin.post("/admin/security/roles", json={
        "name": "starter", "permissions": ["streams:read", "streams:operate"],
    })  # fmt: skip
    assert made.status_code == 201, made.text
    assert admin.post("/admin/security/roles", json={"name": "viewer", "permissions": [
        "streams:read"]}).status_code == 409  # fmt: skip
    bad = admin.post("/admin/security/roles", json={"name": "x", "permissions": ["fly:high"]})
    assert bad.status_code == 400 and "unknown permission 'fly:high'" in bad.json()["detail"]
    assert run.api("POST", "/streams", json={"id": "pump", "config": CONFIG}).status_code == 201
    user = admin.post("/admin/security/users", json={
        "username": "sam", "password": "starter password", "roles": ["starter"],
    })  # fmt: skip
    assert user.status_code == 201, user.text
    key = admin.post("/admin/security/users/sam/keys", json={"name": "hmi"})
    assert key.status_code == 201 and key.json()["key"].startswith("sfk_")
    with _as(run, key.json()["key"]) as sam:
        assert sam.post(f"{STREAMS}/pump/stop").status_code == 200
        assert sam.delete(f"{STREAMS}/pump").status_code == 403
    held = admin.delete("/admin/security/roles/starter")
    assert held.status_code == 409 and "sam" in held.json()["detail"]
    assert admin.delete("/admin/security/users/sam").status_code == 204
    assert admin.delete("/admin/security/roles/starter").status_code == 204
    assert run.api("DELETE", "/streams/pump").status_code == 204


def test_an_uploaded_policy_is_checked_and_then_decides(
    run: ManagerRun, admin: httpx.Client
) -> None:
    broken = admin.post("/admin/security/policies", json={
        "name": "broken", "source": "package streamforge.authz\n\nallow if {{\n",
    })  # fmt: skip
    assert broken.status_code == 400 and "broken.rego:3:" in broken.json()["detail"]
    elsewhere = admin.post("/admin/security/policies", json={
        "name": "other", "source": "package other\n",
    })  # fmt: skip
    assert elsewhere.status_code == 400
    freeze = (
        "package streamforge.authz\n\nimport rego.v1\n\n"
        'deny contains "line 7 is frozen for the audit" if {\n'
        '\tinput.action == "streams:write"\n\tstartswith(input.resource.id, "line-7.")\n}\n'
    )
    assert admin.post("/admin/security/policies", json={"name": "freeze",
                      "source": freeze}).status_code == 201  # fmt: skip
    assert [p["name"] for p in admin.get("/admin/security/policies").json()["policies"]] == [
        "freeze"
    ]
    refused = admin.post(STREAMS, json={"id": "line-7.saw", "config": CONFIG})
    assert refused.status_code == 403
    assert "line 7 is frozen for the audit" in refused.json()["detail"]
    assert admin.post(STREAMS, json={"id": "line-8.saw", "config": CONFIG}).status_code == 201
    assert admin.delete("/admin/security/policies/freeze").status_code == 204
    assert admin.post(STREAMS, json={"id": "line-7.saw", "config": CONFIG}).status_code == 201
    for stream_id in ("line-7.saw", "line-8.saw"):
        assert admin.delete(f"{STREAMS}/{stream_id}").status_code == 204


def test_the_audit_log_says_who_changed_what_and_holds_no_secret(
    run: ManagerRun, admin: httpx.Client
) -> None:
    assert admin.post(STREAMS, json={"id": "audited", "config": CONFIG}).status_code == 201
    changed = CONFIG.replace("root = 1", "root = 2")
    assert admin.put(f"{STREAMS}/audited", json={"config": changed}).status_code == 200
    assert _login(run, "admin", "not the password").status_code == 401
    user = admin.post("/admin/security/users", json={
        "username": "ann", "password": "secret-passphrase-1", "roles": ["viewer"],
    })  # fmt: skip
    assert user.status_code == 201, user.text
    key = admin.post("/admin/security/users/ann/keys", json={"name": "k"}).json()["key"]
    page = admin.get("/admin/audit", params={"limit": 1000}).json()["entries"]
    text = str(page)
    assert "secret-passphrase-1" not in text and key not in text
    assert "not the password" not in text
    replaced = admin.get("/admin/audit", params={
        "target": "PUT /wot/binding/streams/audited"}).json()["entries"]  # fmt: skip
    assert len(replaced) == 1
    entry = replaced[0]
    assert (entry["actor"], entry["via"], entry["action"], entry["outcome"]) == (
        "admin",
        "access-token",
        "replace_stream",
        "200",
    )
    assert entry["address"] == "127.0.0.1"
    assert "root = 1" in entry["before"] and "root = 2" in entry["after"]
    failed = admin.get("/admin/audit", params={"action": "token", "outcome": "401"}).json()
    assert [(e["actor"], e["via"]) for e in failed["entries"]][:1] == [("admin", "password")]
    newest = admin.get("/admin/audit", params={"limit": 2}).json()
    older = admin.get("/admin/audit", params={"limit": 2, "before_id": newest["next"]}).json()
    assert older["entries"][0]["id"] < newest["entries"][-1]["id"]
    assert admin.delete(f"{STREAMS}/audited").status_code == 204
    assert admin.delete("/admin/security/users/ann").status_code == 204


def test_an_address_that_keeps_failing_is_locked_out_whatever_names_it_tries(
    run: ManagerRun, admin: httpx.Client
) -> None:
    password = (run.home / "admin-password").read_text().strip()
    statuses = [_login(run, f"guess-{i}", "wrong guess!").status_code for i in range(30)]
    failed_before = 1  # the wrong admin password in the audit test
    assert statuses == [401] * (30 - failed_before) + [429] * failed_before
    locked = _login(run, "admin", password)
    assert locked.status_code == 429 and "from 127.0.0.1" in locked.json()["detail"]
    assert int(locked.headers["retry-after"]) > 800
    # what is already signed in keeps working
    assert admin.get(STREAMS).status_code == 200
