"""Logging in to a real `streamforge serve`: access tokens for users (POST /auth/token, refresh,
logout), API keys and the admin token on the same endpoints, and tokens that must be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from peers.manager import ManagerRun

from streamforge.manager.db import open_database, sqlite_url
from streamforge.manager.identities import LOCK_AFTER, Identities

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
STREAMS = "/wot/binding/streams"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ManagerRun, Identities]]:
    """One manager for the module, and its users (alice, an engineer; bob, to lock out)."""
    run = ManagerRun(tmp_path_factory.mktemp("login") / "home").start()
    engine = open_database(sqlite_url(run.home))
    identities = Identities(engine, hasher=FAST)
    identities.add_user("alice", PASSWORD, ["engineer"])
    identities.add_user("bob", PASSWORD, ["viewer"])
    try:
        yield run, identities
    finally:
        run.stop()
        run.client.close()
        engine.dispose()


def _login(run: ManagerRun, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{run.url}/auth/token", json={"username": username, "password": password}, timeout=30
    )


def _get(run: ManagerRun, token: str, path: str = STREAMS) -> httpx.Response:
    return httpx.get(f"{run.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _token(run: ManagerRun) -> str:
    reply = _login(run, "alice", PASSWORD)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(now: int, **changes: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": "alice", "roles": ["admin"], "iat": now, "exp": now + 600, "jti": "forged-1",
    }  # fmt: skip
    claims.update(changes)
    return claims


def test_a_user_logs_in_with_json_or_the_oauth2_form_and_the_token_opens_the_api(
    served: tuple[ManagerRun, Identities],
) -> None:
    run, _ = served
    reply = _login(run, "alice", PASSWORD)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["token_type"] == "bearer"
    assert 0 < answer["expires_in"] <= 3600
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["roles"] == ["engineer"]
    assert claims["exp"] - claims["iat"] == answer["expires_in"] and claims["jti"]
    assert jwt.get_unverified_header(answer["access_token"])["alg"] == "EdDSA"
    assert _get(run, answer["access_token"]).status_code == 200

    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    reply = httpx.post(f"{run.url}/auth/token", data=form, timeout=30)
    assert reply.status_code == 200, reply.text
    assert _get(run, reply.json()["access_token"], "/metrics").status_code == 200

    key = run.home / "signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()

    reply = httpx.post(f"{run.url}/auth/token", data={**form, "grant_type": "code"}, timeout=30)
    assert reply.status_code == 400 and reply.json()["detail"] == "grant_type: must be password"
    reply = httpx.post(f"{run.url}/auth/token", json={"username": "alice"}, timeout=30)
    assert reply.status_code == 422 and "password" in reply.json()["detail"]
    reply = httpx.post(f"{run.url}/auth/token", content=b"{not json", timeout=30)
    assert reply.status_code == 422


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(
    served: tuple[ManagerRun, Identities],
) -> None:
    run, _ = served
    wrong = _login(run, "alice", "not the password")
    unknown = _login(run, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}
    assert _login(run, "alice", PASSWORD).status_code == 200  # the count starts again


def test_five_failures_lock_a_user_and_an_unknown_name_alike(
    served: tuple[ManagerRun, Identities],
) -> None:
    run, identities = served
    for name in ("bob", "no-such-user"):
        answers = [_login(run, name, "wrong password") for _ in range(LOCK_AFTER)]
        assert [a.status_code for a in answers] == [401] * (LOCK_AFTER - 1) + [429], name
        locked = _login(run, name, PASSWORD if name == "bob" else "anything")
        assert locked.status_code == 429
        detail = locked.json()["detail"]
        assert detail.startswith("too many failed sign-ins: locked, try again in "), detail
        seconds = int(detail.split(" in ")[1].split()[0])
        assert 800 < seconds <= 900 and locked.headers["retry-after"] == str(seconds)
    assert "sign-in refused for 'bob'" in run.logs()
    identities.set_password("bob", PASSWORD)  # lifts the lock
    assert _login(run, "bob", PASSWORD).status_code == 200


def test_refresh_gives_a_new_token_and_retires_the_old_one(
    served: tuple[ManagerRun, Identities],
) -> None:
    run, _ = served
    old = _token(run)
    time.sleep(1.1)  # a new iat
    reply = httpx.post(
        f"{run.url}/auth/refresh", headers={"Authorization": f"Bearer {old}"}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    new = reply.json()["access_token"]
    assert new != old and reply.json()["token_type"] == "bearer"
    assert _get(run, new).status_code == 200
    assert _get(run, old).status_code == 401


def test_logout_revokes_the_token_and_survives_a_restart(
    served: tuple[ManagerRun, Identities],
) -> None:
    run, _ = served
    token = _token(run)
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{run.url}/auth/logout", headers=auth, timeout=30).status_code == 204
    refused = _get(run, token)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the access token was revoked (logged out); sign in again"
    assert httpx.post(f"{run.url}/auth/refresh", headers=auth, timeout=30).status_code == 401
    run.stop()
    run.start()
    assert _get(run, token).status_code == 401
    assert _get(run, _token(run)).status_code == 200  # the signing key is the same


def test_forged_expired_and_tampered_tokens_are_refused(
    served: tuple[ManagerRun, Identities],
) -> None:
    run, _ = served
    key_pem = (run.home / "signing-key.pem").read_bytes()
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    expired = jwt.encode(_claims(now - 7200, exp=now - 60), key, algorithm="EdDSA")
    unsigned = jwt.encode(_claims(now), "", algorithm="none")
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(now)).encode())
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    hs256 = f"{head}.{body}.{_b64(mac)}"
    good = _token(run)
    good_head, _, good_sig = good.split(".")
    tampered = f"{good_head}.{_b64(json.dumps(_claims(now)).encode())}.{good_sig}"
    other_key = jwt.encode(_claims(now), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    for name, token in [
        ("expired", expired), ("alg none", unsigned), ("HS256 with the public key", hs256),
        ("tampered", tampered), ("another key", other_key), ("garbage", "a.b.c"),
        ("not a token", "hello"),
    ]:  # fmt: skip
        reply = _get(run, token)
        assert reply.status_code == 401, (name, reply.text)
        assert reply.headers["www-authenticate"] == "Bearer", name
    assert _get(run, expired).json()["detail"] == "the access token has expired; sign in again"
    assert _get(run, good).status_code == 200


def test_api_keys_open_the_api_until_revoked_and_the_admin_token_still_works(
    served: tuple[ManagerRun, Identities],
) -> None:
    run, identities = served
    key, secret = identities.create_key("alice", "press-line-2", timedelta(days=1))
    assert _get(run, secret).status_code == 200
    assert identities.api_keys("alice")[0].last_used_at is not None
    reply = httpx.post(
        f"{run.url}/auth/logout", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    assert reply.status_code == 400
    identities.revoke_key(key.id)
    assert _get(run, secret).status_code == 401
    assert _get(run, secret[:-1] + "x").status_code == 401

    assert run.client.get(STREAMS).status_code == 200  # the admin token
    assert run.client.post("/auth/logout").status_code == 400
    assert httpx.get(f"{run.url}{STREAMS}", timeout=30).status_code == 401


def test_a_removed_users_token_is_refused(served: tuple[ManagerRun, Identities]) -> None:
    run, identities = served
    identities.add_user("carol", PASSWORD, ["operator"])
    reply = _login(run, "carol", PASSWORD)
    assert reply.status_code == 200
    token = reply.json()["access_token"]
    assert _get(run, token).status_code == 200
    identities.remove_user("carol")
    assert _get(run, token).status_code == 401
