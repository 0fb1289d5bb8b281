"""Licence tokens: what verifies, what is refused and the reason a user reads."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from license_helpers import FEATURES, KeyPair, b64url, hand_token

from streamforge.license.claims import LicenseError
from streamforge.license.token import (
    DEFAULT_ISSUER,
    issue_token,
    parse_expiry,
    verify_token,
)

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
EXPIRES = datetime(2027, 1, 1, tzinfo=timezone.utc)


def _issue(pair: KeyPair, **overrides: Any) -> str:
    options: dict[str, Any] = {
        "subject": "acme-001",
        "features": FEATURES,
        "expires": EXPIRES,
        "issued_at": NOW - timedelta(days=1),
    }
    options.update(overrides)
    return issue_token(pair.private_pem, **options)


def _sign(pair: KeyPair, payload: dict[str, Any]) -> str:
    """A token signed properly but with claims issue_token would never write."""
    return jwt.encode(payload, pair.private_pem, algorithm=pair.algorithm)


def _refusal(token: str, public_key: bytes | str, **options: Any) -> str:
    options.setdefault("now", NOW)
    with pytest.raises(LicenseError) as caught:
        verify_token(token, public_key, **options)
    return str(caught.value)


# -- round trips --------------------------------------------------------------------------


def test_round_trip_for_each_key_type(key_pair: KeyPair) -> None:
    not_before = NOW - timedelta(hours=1)
    token = _issue(
        key_pair,
        customer={"name": "ACME Corp", "contact": "ops@acme.example"},
        not_before=not_before,
    )
    assert jwt.get_unverified_header(token)["alg"] == key_pair.algorithm

    license = verify_token(token, key_pair.public_pem, now=NOW)

    assert license.subject == "acme-001"
    assert license.issuer == DEFAULT_ISSUER
    assert license.customer == {"name": "ACME Corp", "contact": "ops@acme.example"}
    assert license.features.bindings == {"kafka", "modbus", "opcua"}
    assert license.features.processors == {"alarm", "window"}
    assert license.features.security == {"basic_auth", "mtls"}
    assert license.features.storage == {"parquet"}
    assert license.features.capabilities == {
        "max_things": 100,
        "max_streams": 20,
        "multi_tenancy": True,
    }
    assert license.expires_at == EXPIRES
    assert license.not_before == not_before
    assert license.issued_at == NOW - timedelta(days=1)
    assert license.claims["sub"] == "acme-001"


def test_public_key_as_text_and_token_with_surrounding_whitespace(key_pairs: dict) -> None:
    pair = key_pairs["ES256"]
    token = _issue(pair)
    license = verify_token(f"\n  {token}\n", pair.public_pem.decode(), now=NOW)
    assert license.subject == "acme-001"


def test_custom_issuer_is_required_when_configured(key_pairs: dict) -> None:
    pair = key_pairs["EdDSA"]
    token = _issue(pair, issuer="acme-licensing")
    assert verify_token(token, pair.public_pem, issuer="acme-licensing", now=NOW).issuer == (
        "acme-licensing"
    )
    assert _refusal(token, pair.public_pem) == (
        "issuer 'acme-licensing' is not 'streamforge-licensing'"
    )


def test_license_without_customer_or_features_grants_nothing_extra(key_pairs: dict) -> None:
    pair = key_pairs["RS256"]
    token = _sign(pair, {"iss": DEFAULT_ISSUER, "sub": "bare", "exp": int(EXPIRES.timestamp())})
    license = verify_token(token, pair.public_pem, now=NOW)
    assert license.customer == {}
    assert license.features.bindings == frozenset()
    assert license.features.capabilities == {}
    assert license.not_before is None


# -- forged and broken tokens ---------------------------------------------------------------


def test_tampered_payload_is_refused(key_pair: KeyPair) -> None:
    header, _, signature = _issue(key_pair).split(".")
    forged_claims = {
        "iss": DEFAULT_ISSUER,
        "sub": "acme-001",
        "exp": int(EXPIRES.timestamp()),
        "features": {**FEATURES, "processors": ["alarm", "window", "everything"]},
    }
    forged = f"{header}.{b64url(json.dumps(forged_claims).encode())}.{signature}"
    assert _refusal(forged, key_pair.public_pem) == "signature does not match the public key"


def test_tampered_signature_is_refused(key_pair: KeyPair) -> None:
    header, payload, signature = _issue(key_pair).split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    forged = f"{header}.{payload}.{flipped}"
    assert _refusal(forged, key_pair.public_pem) == "signature does not match the public key"


def test_token_signed_by_another_key_is_refused(
    key_pair: KeyPair, other_key_pairs: dict[str, KeyPair]
) -> None:
    token = _issue(other_key_pairs[key_pair.algorithm])
    assert _refusal(token, key_pair.public_pem) == "signature does not match the public key"


def test_key_of_another_type_names_the_expected_algorithm(key_pairs: dict) -> None:
    token = _issue(key_pairs["RS256"])
    assert _refusal(token, key_pairs["ES256"].public_pem) == (
        "algorithm RS256 is not accepted (expected ES256)"
    )


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(alg: str, key_pair: KeyPair) -> None:
    claims = {"iss": DEFAULT_ISSUER, "sub": "acme-001", "exp": int(EXPIRES.timestamp())}
    token = hand_token({"alg": alg, "typ": "JWT"}, {**claims, "features": FEATURES})
    assert _refusal(token, key_pair.public_pem) == "algorithm none is not accepted"


def test_hs256_signed_with_the_public_key_as_secret_is_refused(key_pair: KeyPair) -> None:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"iss": DEFAULT_ISSUER, "sub": "acme-001", "exp": int(EXPIRES.timestamp())}
    payload = b64url(json.dumps(claims).encode())
    mac = hmac.new(key_pair.public_pem, f"{header}.{payload}".encode(), hashlib.sha256)
    token = f"{header}.{payload}.{b64url(mac.digest())}"
    assert _refusal(token, key_pair.public_pem) == (
        f"algorithm HS256 is not accepted (expected {key_pair.algorithm})"
    )


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("", "empty"),
        ("abc", "not enough segments"),
        ("a.b", "not enough segments"),
        ("a.b.c", "invalid header padding"),
        ("!!!.###.$$$", "invalid header padding"),
        (f"{b64url(b'[1, 2]')}.e30.c2ln", "invalid header string"),
        (f"{b64url(b'not json at all')}.e30.c2ln", "invalid header string"),
        ("ëÿ.ü.ö", ""),
    ],
)
def test_malformed_tokens(token: str, detail: str, key_pairs: dict) -> None:
    reason = _refusal(token, key_pairs["RS256"].public_pem)
    assert reason.startswith(f"malformed token (not a JWT: {detail}")


def test_payload_that_is_not_an_object_is_malformed(key_pairs: dict) -> None:
    pair = key_pairs["EdDSA"]
    token = jwt.api_jws.encode(b"[1, 2, 3]", pair.private_pem, algorithm="EdDSA")
    assert _refusal(token, pair.public_pem).startswith("malformed token (not a JWT: ")


# -- claims -------------------------------------------------------------------------------


def test_wrong_issuer_is_refused(key_pairs: dict) -> None:
    pair = key_pairs["ES256"]
    assert _refusal(_issue(pair, issuer="someone-else"), pair.public_pem) == (
        "issuer 'someone-else' is not 'streamforge-licensing'"
    )


def test_missing_issuer_is_refused(key_pairs: dict) -> None:
    pair = key_pairs["ES256"]
    token = _sign(pair, {"sub": "acme-001", "exp": int(EXPIRES.timestamp())})
    assert _refusal(token, pair.public_pem) == "no issuer (expected 'streamforge-licensing')"


@pytest.mark.parametrize("missing", ["exp", "sub"])
def test_exp_and_sub_are_required(missing: str, key_pairs: dict) -> None:
    pair = key_pairs["RS256"]
    claims = {"iss": DEFAULT_ISSUER, "sub": "acme-001", "exp": int(EXPIRES.timestamp())}
    del claims[missing]
    assert _refusal(_sign(pair, claims), pair.public_pem) == f"missing claim '{missing}'"


def test_non_numeric_expiry_is_refused(key_pairs: dict) -> None:
    pair = key_pairs["RS256"]
    token = _sign(pair, {"iss": DEFAULT_ISSUER, "sub": "acme-001", "exp": "2027-01-01"})
    assert "claim 'exp': expected seconds since 1970" in _refusal(token, pair.public_pem)


@pytest.mark.parametrize(
    ("features", "reason"),
    [
        ({"processors": "alarm"}, "features.processors: expected a list of names"),
        ({"bindings": [1, 2]}, "features.bindings: expected a list of names"),
        ({"capabilities": {"max_things": "100"}}, "features.capabilities.max_things: expected int"),
        ({"gadgets": ["x"]}, "features: unknown field(s) gadgets"),
        (["kafka"], "features: expected an object"),
    ],
)
def test_features_of_the_wrong_shape_are_refused(
    features: Any, reason: str, key_pairs: dict
) -> None:
    pair = key_pairs["EdDSA"]
    claims = {"iss": DEFAULT_ISSUER, "sub": "acme-001", "exp": int(EXPIRES.timestamp())}
    token = _sign(pair, {**claims, "features": features})
    assert _refusal(token, pair.public_pem).startswith(reason)


def test_customer_of_the_wrong_shape_is_refused(key_pairs: dict) -> None:
    pair = key_pairs["EdDSA"]
    claims = {"iss": DEFAULT_ISSUER, "sub": "acme-001", "exp": int(EXPIRES.timestamp())}
    token = _sign(pair, {**claims, "customer": "ACME"})
    assert _refusal(token, pair.public_pem).startswith("customer: expected an object")


# -- the clock ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds_after_expiry", "leeway", "valid"),
    [
        (-1, 0, True),
        (0, 0, False),
        (59, 60, True),
        (60, 60, False),
        (3600, 60, False),
    ],
)
def test_expiry_edge_with_leeway(
    seconds_after_expiry: int, leeway: float, valid: bool, key_pairs: dict
) -> None:
    pair = key_pairs["ES256"]
    token = _issue(pair, expires=datetime(2026, 1, 1, tzinfo=timezone.utc))
    now = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds_after_expiry)
    if valid:
        assert verify_token(token, pair.public_pem, leeway=leeway, now=now).subject == "acme-001"
    else:
        assert _refusal(token, pair.public_pem, leeway=leeway, now=now) == (
            "expired at 2026-01-01T00:00:00Z"
        )


@pytest.mark.parametrize(
    ("seconds_before_start", "leeway", "valid"),
    [
        (0, 0, True),
        (1, 0, False),
        (60, 60, True),
        (61, 60, False),
    ],
)
def test_not_before_edge_with_leeway(
    seconds_before_start: int, leeway: float, valid: bool, key_pairs: dict
) -> None:
    pair = key_pairs["RS256"]
    start = datetime(2026, 7, 1, 8, 30, tzinfo=timezone.utc)
    token = _issue(pair, not_before=start, issued_at=start - timedelta(days=2))
    now = start - timedelta(seconds=seconds_before_start)
    if valid:
        assert verify_token(token, pair.public_pem, leeway=leeway, now=now).subject == "acme-001"
    else:
        assert _refusal(token, pair.public_pem, leeway=leeway, now=now) == (
            "not valid before 2026-07-01T08:30:00Z"
        )


def test_naive_now_is_taken_as_utc(key_pairs: dict) -> None:
    pair = key_pairs["ES256"]
    token = _issue(pair, expires=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert _refusal(token, pair.public_pem, now=datetime(2026, 1, 1, 0, 0, 1)) == (
        "expired at 2026-01-01T00:00:00Z"
    )


def test_without_now_the_system_clock_decides(key_pairs: dict) -> None:
    pair = key_pairs["EdDSA"]
    past = datetime.now(timezone.utc) - timedelta(days=1)
    assert _refusal(_issue(pair, expires=past), pair.public_pem, now=None).startswith("expired at ")
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert verify_token(_issue(pair, expires=future), pair.public_pem).subject == "acme-001"


# -- keys ---------------------------------------------------------------------------------


def test_public_key_that_is_not_pem(key_pairs: dict) -> None:
    token = _issue(key_pairs["RS256"])
    assert _refusal(token, b"not a key").startswith("public key: not a PEM public key")


def test_private_key_given_as_public_key(key_pairs: dict) -> None:
    pair = key_pairs["RS256"]
    assert _refusal(_issue(pair), pair.private_pem).startswith("public key: this is a private key")


def test_ec_key_on_another_curve_is_not_supported() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    public_pem = p384.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jwt.encode({"sub": "x"}, p384, algorithm="ES384")
    assert _refusal(token, public_pem) == (
        "EC keys on curve secp384r1 are not supported (use P-256)"
    )


# -- issuing ------------------------------------------------------------------------------


def test_issue_refuses_bad_features_before_signing(key_pairs: dict) -> None:
    with pytest.raises(LicenseError, match=r"features\.processors: expected a list of names"):
        _issue(key_pairs["RS256"], features={"processors": "alarm"})
    with pytest.raises(LicenseError, match=r"features\.capabilities\.max_users: expected int"):
        _issue(key_pairs["RS256"], features={"capabilities": {"max_users": 2.5}})


def test_issue_refuses_a_public_key_and_an_empty_subject(key_pairs: dict) -> None:
    pair = key_pairs["ES256"]
    with pytest.raises(LicenseError, match="private key: not a PEM private key"):
        issue_token(pair.public_pem, subject="x", features={}, expires=EXPIRES)
    with pytest.raises(LicenseError, match="subject"):
        issue_token(pair.private_pem, subject="", features={}, expires=EXPIRES)


def test_issue_refuses_expiry_before_start(key_pairs: dict) -> None:
    with pytest.raises(LicenseError, match="not after not-before"):
        _issue(key_pairs["EdDSA"], not_before=EXPIRES + timedelta(days=1))


def test_issued_features_are_normalised(key_pairs: dict) -> None:
    pair = key_pairs["EdDSA"]
    token = _issue(pair, features={"bindings": ["opcua", "kafka", "kafka"]})
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["features"] == {
        "bindings": ["kafka", "opcua"],
        "processors": [],
        "security": [],
        "storage": [],
        "capabilities": {},
    }


# -- expiry text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-31", datetime(2027, 1, 31, tzinfo=timezone.utc)),
        ("2027-01-31T12:00:00Z", datetime(2027, 1, 31, 12, tzinfo=timezone.utc)),
        ("2027-01-31T12:00:00", datetime(2027, 1, 31, 12, tzinfo=timezone.utc)),
        ("2027-01-31T12:00:00+02:00", datetime(2027, 1, 31, 10, tzinfo=timezone.utc)),
        ("365d", NOW + timedelta(days=365)),
        ("12h", NOW + timedelta(hours=12)),
        ("30m", NOW + timedelta(minutes=30)),
        ("1h30m", NOW + timedelta(minutes=90)),
    ],
)
def test_parse_expiry(text: str, expected: datetime) -> None:
    assert parse_expiry(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "tomorrow", "365", "-5d", "2027-13-01", "5 weeks"])
def test_parse_expiry_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="expected a date"):
        parse_expiry(text, now=NOW)
