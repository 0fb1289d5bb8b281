"""The authorization matrix of a real `streamforge serve`: every endpoint its OpenAPI document
lists, called by every role (built-in, custom and scoped), without a token and with bad tokens,
against the status this table expects. An endpoint missing from the table fails the test.

Requests are made so that an allowed one stops harmlessly after the access check (a resource
that does not exist, a body of the wrong shape): allowed means "neither 401 nor 403".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from peers.manager import TOKEN, ManagerRun

from streamforge.manager.db import open_database, sqlite_url
from streamforge.manager.identities import Identities

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "matrix password 1"
RANKS = ("any", "viewer", "operator", "engineer", "admin")

_B = "/wot/binding"
_S = f"{_B}/streams/{{stream_id}}"
_T = "/wot/things/{thing_id}"
_U = "/admin/security/users/{username}"

#: (method, path as OpenAPI lists it) -> (the least built-in role that may call it, and the
#: permission a custom role needs); "public" needs no token at all
ENDPOINTS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/health/live"): ("public", ""),
    ("GET", "/ready"): ("public", ""),
    ("POST", "/auth/token"): ("public", ""),
    ("POST", "/auth/refresh"): ("any", ""),
    ("POST", "/auth/logout"): ("any", ""),
    ("GET", "/metrics"): ("viewer", "metrics:read"),
    ("GET", f"{_B}/streams"): ("viewer", "streams:read"),
    ("POST", f"{_B}/streams"): ("engineer", "streams:write"),
    ("GET", _S): ("viewer", "streams:read"),
    ("PUT", _S): ("engineer", "streams:write"),
    ("DELETE", _S): ("engineer", "streams:write"),
    ("POST", f"{_S}/start"): ("operator", "streams:operate"),
    ("POST", f"{_S}/stop"): ("operator", "streams:operate"),
    ("POST", f"{_S}/restart"): ("operator", "streams:operate"),
    ("GET", f"{_S}/metrics"): ("viewer", "streams:read"),
    ("GET", f"{_S}/logs"): ("viewer", "logs:read"),
    ("GET", f"{_S}/versions"): ("viewer", "streams:read"),
    ("POST", f"{_S}/versions/{{version}}/restore"): ("engineer", "streams:write"),
    ("GET", f"{_S}/alarms"): ("viewer", "alarms:read"),
    ("POST", f"{_S}/alarms/{{alarm}}/ack"): ("operator", "alarms:ack"),
    ("POST", f"{_S}/alarms/{{alarm}}/suppress"): ("operator", "alarms:ack"),
    ("GET", f"{_S}/dlq"): ("viewer", "dlq:read"),
    ("POST", f"{_S}/dlq/replay"): ("operator", "dlq:replay"),
    ("GET", "/streams"): ("viewer", "streams:read"),
    ("POST", "/streams"): ("engineer", "streams:write"),
    ("GET", "/streams/{stream_id}"): ("viewer", "streams:read"),
    ("POST", "/streams/{stream_id}"): ("engineer", "streams:write"),
    ("PUT", "/streams/{stream_id}"): ("engineer", "streams:write"),
    ("PATCH", "/streams/{stream_id}"): ("engineer", "streams:write"),
    ("DELETE", "/streams/{stream_id}"): ("engineer", "streams:write"),
    ("GET", "/streams/{stream_id}/stats"): ("viewer", "streams:read"),
    ("GET", f"{_B}/processors"): ("viewer", "processors:read"),
    ("GET", f"{_B}/processors/{{name}}"): ("viewer", "processors:read"),
    ("POST", f"{_B}/processors/test"): ("engineer", "processors:test"),
    ("GET", f"{_B}/templates"): ("viewer", "templates:read"),
    ("GET", f"{_B}/templates/{{name}}"): ("viewer", "templates:read"),
    ("POST", f"{_B}/templates"): ("engineer", "templates:write"),
    ("GET", "/wot/things"): ("viewer", "things:read"),
    ("POST", "/wot/things"): ("engineer", "things:write"),
    ("GET", _T): ("viewer", "things:read"),
    ("PUT", _T): ("engineer", "things:write"),
    ("PATCH", _T): ("engineer", "things:write"),
    ("DELETE", _T): ("engineer", "things:write"),
    ("GET", "/admin/security/users"): ("admin", "users:read"),
    ("POST", "/admin/security/users"): ("admin", "users:write"),
    ("GET", _U): ("admin", "users:read"),
    ("PATCH", _U): ("admin", "users:write"),
    ("DELETE", _U): ("admin", "users:write"),
    ("GET", f"{_U}/keys"): ("admin", "users:read"),
    ("POST", f"{_U}/keys"): ("admin", "users:write"),
    ("DELETE", f"{_U}/keys/{{key_id}}"): ("admin", "users:write"),
    ("GET", "/admin/security/roles"): ("admin", "roles:read"),
    ("POST", "/admin/security/roles"): ("admin", "roles:write"),
    ("GET", "/admin/security/roles/{name}"): ("admin", "roles:read"),
    ("DELETE", "/admin/security/roles/{name}"): ("admin", "roles:write"),
    ("GET", "/admin/security/policies"): ("admin", "policies:read"),
    ("POST", "/admin/security/policies"): ("admin", "policies:write"),
    ("GET", "/admin/security/policies/{name}"): ("admin", "policies:read"),
    ("DELETE", "/admin/security/policies/{name}"): ("admin", "policies:write"),
    ("GET", "/admin/license/status"): ("admin", "license:read"),
    ("GET", "/admin/license/features"): ("admin", "license:read"),
    ("POST", "/admin/license/activate"): ("admin", "license:write"),
    ("GET", "/admin/system/health"): ("admin", "system:read"),
    ("GET", "/admin/system/metrics"): ("admin", "system:read"),
    ("POST", "/admin/system/reload"): ("admin", "system:write"),
    ("GET", "/admin/audit"): ("admin", "audit:read"),
}

#: path parameters: names of things that do not exist, so allowed requests end in a 404
IN_SCOPE = {
    "stream_id": "line-2.none", "thing_id": "urn:line-2.none", "name": "none",
    "username": "nobody", "key_id": "none", "version": "1", "alarm": "none",
}  # fmt: skip
OUT_OF_SCOPE = {**IN_SCOPE, "stream_id": "line-3.none", "thing_id": "urn:line-3.none"}

CUSTOM_ROLE = "alarm-desk"
CUSTOM_PERMISSIONS = ["alarms:*", "streams:read", "dlq:read"]


@dataclass(frozen=True)
class Caller:
    """A user's API key, and what the matrix expects of them."""

    name: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...] = ()
    key: str = ""


CALLERS = (
    Caller("viewer-1", ("viewer",)),
    Caller("operator-1", ("operator",)),
    Caller("engineer-1", ("engineer",)),
    Caller("admin-1", ("admin",)),
    Caller("line2-engineer", ("engineer",), ("line-2.*", "urn:line-2*")),
    Caller("desk-1", (CUSTOM_ROLE,)),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ManagerRun, list[Caller]]]:
    run = ManagerRun(tmp_path_factory.mktemp("authz") / "home").start()
    reply = run.client.post(
        "/admin/security/roles", json={"name": CUSTOM_ROLE, "permissions": CUSTOM_PERMISSIONS}
    )
    assert reply.status_code == 201, reply.text
    engine = open_database(sqlite_url(run.home))
    identities = Identities(engine, hasher=FAST)
    callers = []
    for caller in CALLERS:
        identities.add_user(caller.name, PASSWORD, caller.roles, caller.scopes,
                            known_roles=[*RANKS[1:], CUSTOM_ROLE])  # fmt: skip
        _, key = identities.create_key(caller.name, "matrix", None)
        callers.append(Caller(caller.name, caller.roles, caller.scopes, key))
    try:
        yield run, callers
    finally:
        run.stop()
        run.client.close()
        engine.dispose()


def _operations(run: ManagerRun) -> set[tuple[str, str]]:
    spec = httpx.get(f"{run.url}/openapi.json", timeout=30).json()
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def _call(run: ManagerRun, method: str, path: str, token: str | None,
          params: dict[str, str]) -> httpx.Response:  # fmt: skip
    url = path.format(**params)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if method in {"POST", "PUT", "PATCH"}:
        headers["Content-Type"] = "application/json"
        return httpx.request(method, f"{run.url}{url}", headers=headers, content=b"[]", timeout=60)
    return httpx.request(method, f"{run.url}{url}", headers=headers, timeout=60)


def _may(caller: Caller, least: str, permission: str) -> bool:
    if least in ("public", "any"):
        return True
    if CUSTOM_ROLE in caller.roles:
        area = permission.split(":")[0]
        return permission in CUSTOM_PERMISSIONS or f"{area}:*" in CUSTOM_PERMISSIONS
    return max(RANKS.index(r) for r in caller.roles) >= RANKS.index(least)


def test_every_endpoint_has_a_row_in_the_matrix(served: tuple[ManagerRun, list[Caller]]) -> None:
    run, _ = served
    listed = _operations(run)
    assert listed - set(ENDPOINTS) == set(), "endpoints without an expected role"
    assert set(ENDPOINTS) - listed == set(), "rows for endpoints the manager does not serve"


def test_every_role_gets_what_the_matrix_says(served: tuple[ManagerRun, list[Caller]]) -> None:
    run, callers = served
    wrong = []
    for (method, path), (least, permission) in sorted(ENDPOINTS.items()):
        for caller in callers:
            status = _call(run, method, path, caller.key, IN_SCOPE).status_code
            allowed = status not in (401, 403)
            if allowed != _may(caller, least, permission) or status >= 500:
                wrong.append(f"{caller.name}: {method} {path} -> {status}")
    assert wrong == []


def test_a_scoped_role_stops_at_its_scope(served: tuple[ManagerRun, list[Caller]]) -> None:
    run, callers = served
    scoped = next(c for c in callers if c.name == "line2-engineer")
    wrong = []
    for method, path in sorted(ENDPOINTS):
        if "{stream_id}" not in path and "{thing_id}" not in path:
            continue
        inside = _call(run, method, path, scoped.key, IN_SCOPE).status_code
        outside = _call(run, method, path, scoped.key, OUT_OF_SCOPE).status_code
        if inside in (401, 403) or outside != 403:
            wrong.append(f"{method} {path}: in scope {inside}, out of scope {outside}")
    assert wrong == []


def test_no_token_and_bad_tokens_get_401_everywhere_but_the_public_endpoints(
    served: tuple[ManagerRun, list[Caller]],
) -> None:
    run, _ = served
    key = serialization.load_pem_private_key(
        (run.home / "signing-key.pem").read_bytes(), password=None
    )
    now = int(time.time())
    claims = {"sub": "admin-1", "roles": ["admin"], "iat": now, "exp": now + 600, "jti": "m-1"}
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 60}, key, algorithm="EdDSA")  # type: ignore[arg-type]
    unsigned = jwt.encode(claims, "", algorithm="none")
    good = httpx.post(f"{run.url}/auth/token", json={"username": "viewer-1",
                      "password": PASSWORD}, timeout=30).json()["access_token"]  # fmt: skip
    head, _, sig = good.split(".")
    forged_body = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    tampered = f"{head}.{forged_body}.{sig}"
    wrong = []
    for (method, path), (least, _) in sorted(ENDPOINTS.items()):
        for name, token in [
            ("no token", None), ("expired", expired), ("alg none", unsigned),
            ("tampered", tampered), ("an old admin token", TOKEN + "x"),
        ]:  # fmt: skip
            status = _call(run, method, path, token, IN_SCOPE).status_code
            if (least == "public") == (status == 401):
                wrong.append(f"{name}: {method} {path} -> {status}")
    assert wrong == []


def test_lists_show_only_what_a_scoped_role_may_see(
    served: tuple[ManagerRun, list[Caller]],
) -> None:
    run, callers = served
    config = "input:\n  generate:\n    mapping: root = 1\n    interval: 1h\noutput:\n  drop: {}\n"
    for stream_id, tags in [("line-2.press", []), ("line-3.oven", ["line-2"]),
                            ("line-4.belt", [])]:  # fmt: skip
        reply = run.api("POST", "/streams", json={"id": stream_id, "config": config, "tags": tags})
        assert reply.status_code == 201, reply.text
    scoped = next(c for c in callers if c.name == "line2-engineer")
    headers = {"Authorization": f"Bearer {scoped.key}"}
    seen = httpx.get(f"{run.url}{_B}/streams", headers=headers, timeout=30).json()["streams"]
    assert [s["id"] for s in seen] == ["line-2.press"]
    benthos = httpx.get(f"{run.url}/streams", headers=headers, timeout=30).json()
    assert list(benthos) == ["line-2.press"]
    # a tag scope reaches streams whose ids are elsewhere
    tagged = httpx.patch(f"{run.url}/admin/security/users/line2-engineer",
                         json={"scopes": ["tag:line-2"]},
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)  # fmt: skip
    assert tagged.status_code == 200, tagged.text
    seen = httpx.get(f"{run.url}{_B}/streams", headers=headers, timeout=30).json()["streams"]
    assert [s["id"] for s in seen] == ["line-3.oven"]
    # and what the scoped engineer creates must lie in the scope
    outside = httpx.post(f"{run.url}{_B}/streams", headers=headers, timeout=30,
                         json={"id": "line-9.new", "config": config})  # fmt: skip
    assert outside.status_code == 403
    assert "line2-engineer (engineer) may not streams:write" in outside.json()["detail"]
    body = {"id": "line-9.new", "config": config, "tags": ["line-2"]}
    inside = httpx.post(f"{run.url}{_B}/streams", headers=headers, json=body, timeout=30)
    assert inside.status_code == 201, inside.text
    for stream_id in ("line-2.press", "line-3.oven", "line-4.belt", "line-9.new"):
        assert run.api("DELETE", f"/streams/{stream_id}").status_code == 204
    restored = httpx.patch(f"{run.url}/admin/security/users/line2-engineer",
                           json={"scopes": list(scoped.scopes)},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)  # fmt: skip
    assert restored.status_code == 200, restored.text


def test_things_carry_tags_that_scope_who_sees_them(
    served: tuple[ManagerRun, list[Caller]],
) -> None:
    run, callers = served
    admin = {"Authorization": f"Bearer {TOKEN}"}
    for thing_id, tags in [("urn:plant:oven-1", "line-2,north"), ("urn:plant:oven-2", "south")]:
        td = {"@context": "https://www.w3.org/2022/wot/td/v1.1", "id": thing_id,
              "title": thing_id, "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
              "security": ["nosec_sc"]}  # fmt: skip
        reply = httpx.post(f"{run.url}/wot/things", params={"tags": tags}, json=td,
                           headers=admin, timeout=30)  # fmt: skip
        assert reply.status_code == 201, reply.text
    bad = httpx.put(f"{run.url}/wot/things/urn:plant:oven-2", params={"tags": "no spaces"},
                    json={}, headers=admin, timeout=30)  # fmt: skip
    assert bad.status_code == 422 and "tag 'no spaces'" in bad.json()["detail"]
    scoped = next(c for c in callers if c.name == "line2-engineer")
    changed = httpx.patch(f"{run.url}/admin/security/users/line2-engineer",
                          json={"scopes": ["tag:north"]}, headers=admin, timeout=30)  # fmt: skip
    assert changed.status_code == 200, changed.text
    headers = {"Authorization": f"Bearer {scoped.key}"}
    listed = httpx.get(f"{run.url}/wot/things", headers=headers, timeout=30).json()
    assert [td["id"] for td in listed] == ["urn:plant:oven-1"]
    assert httpx.get(f"{run.url}/wot/things/urn:plant:oven-2", headers=headers,
                     timeout=30).status_code == 403  # fmt: skip
    assert httpx.delete(f"{run.url}/wot/things/urn:plant:oven-1", headers=headers,
                        timeout=30).status_code == 204  # fmt: skip
    assert httpx.delete(f"{run.url}/wot/things/urn:plant:oven-2", headers=admin,
                        timeout=30).status_code == 204  # fmt: skip
    restored = httpx.patch(f"{run.url}/admin/security/users/line2-engineer",
                           json={"scopes": list(scoped.scopes)}, headers=admin,
                           timeout=30)  # fmt: skip
    assert restored.status_code == 200
