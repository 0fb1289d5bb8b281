"""Signed licence tokens: verify a JWT against the vendor's public key, or issue one.

The algorithm always follows from the key (RSA -> RS256, EC P-256 -> ES256, Ed25519 -> EdDSA),
so `alg: none`, HMAC tokens keyed with the public key and other algorithm confusion are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from streamforge.durations import DurationError, parse_duration
from streamforge.license.claims import Features, License, LicenseError

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ISSUER",
    "algorithm_for_key",
    "format_time",
    "issue_token",
    "parse_expiry",
    "read_key_file",
    "read_licensing_file",
    "verify_token",
]

#: the `iss` a licence must carry unless the deployment configures another
DEFAULT_ISSUER = "streamforge-licensing"

#: the signature algorithms a licence may use, one per supported key type
ALGORITHMS = ("RS256", "ES256", "EdDSA")

_REQUIRED_CLAIMS = ("exp", "sub")
_DURATION = re.compile(r"^\s*[0-9.]+\s*[a-zµμ]+", re.IGNORECASE)


def algorithm_for_key(key: Any) -> str:
    """The one algorithm a loaded public or private key signs with; LicenceError if none."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RS256"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
        raise LicenseError(f"EC keys on curve {key.curve.name} are not supported (use P-256)")
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "EdDSA"
    raise LicenseError(
        f"{type(key).__name__.lstrip('_')} keys are not supported (use RSA, EC P-256 or Ed25519)"
    )


def read_licensing_file(path: str | Path, kind: str) -> bytes:
    """The bytes of a key or licence file; LicenceError "<kind> file X: not found" and the like."""
    try:
        return Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise LicenseError(f"{kind} file {path}: not found") from None
    except IsADirectoryError:
        raise LicenseError(f"{kind} file {path}: is a directory") from None
    except PermissionError:
        raise LicenseError(f"{kind} file {path}: permission denied") from None
    except OSError as exc:
        raise LicenseError(f"{kind} file {path}: {exc.strerror or exc}") from None


def read_key_file(path: str | Path, *, kind: str = "public key") -> bytes:
    """The bytes of a PEM key file; LicenceError "<kind> file X: not found" and the like."""
    data = read_licensing_file(path, kind)
    if not data.strip():
        raise LicenseError(f"{kind} file {path}: empty")
    return data


def _pem(key: bytes | str) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def _load_public_key(key: bytes | str) -> Any:
    data = _pem(key)
    if b"PRIVATE KEY-----" in data:
        raise LicenseError("public key: this is a private key; verify with the public key")
    try:
        return load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise LicenseError(f"public key: not a PEM public key ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - UnsupportedAlgorithm for exotic keys
        raise LicenseError(f"public key: unsupported key ({_first_line(exc)})") from None


def _load_private_key(key: bytes | str) -> Any:
    data = _pem(key)
    try:
        return load_pem_private_key(data, password=None)
    except TypeError:
        raise LicenseError("private key: encrypted keys are not supported") from None
    except ValueError as exc:
        raise LicenseError(f"private key: not a PEM private key ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - UnsupportedAlgorithm for exotic keys
        raise LicenseError(f"private key: unsupported key ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0].split(". ", 1)[0] if lines else ""
    return text.rstrip(".") or type(exc).__name__


def format_time(moment: datetime) -> str:
    """A UTC time as licences and messages print it: 2026-01-01T00:00:00Z (naive means UTC)."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _numeric_date(claims: Mapping[str, Any], name: str) -> datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LicenseError(f"claim {name!r}: expected seconds since 1970, got {value!r}")
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise LicenseError(f"claim {name!r}: {value!r} is out of range") from None


def _header_algorithm(token: str) -> str:
    if not token:
        raise LicenseError("malformed token (not a JWT: empty)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        reason = str(exc) or "cannot decode"
        raise LicenseError(
            f"malformed token (not a JWT: {reason[0].lower()}{reason[1:]})"
        ) from None
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise LicenseError("malformed token (the header names no algorithm)")
    return alg


def _customer(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise LicenseError("customer: expected an object of strings such as {name, contact}")
    return dict(raw)


def verify_token(
    token: str,
    public_key: bytes | str,
    *,
    issuer: str = DEFAULT_ISSUER,
    leeway: float = 0.0,
    now: datetime | None = None,
) -> License:
    """The licence a token grants; LicenceError with a short reason when it cannot be used.

    `leeway` (seconds) tolerates clock skew at both `exp` and `nbf`; `now` fixes the clock.
    """
    key = _load_public_key(public_key)
    expected = algorithm_for_key(key)
    token = token.strip()
    alg = _header_algorithm(token)
    if alg.lower() == "none":
        raise LicenseError("algorithm none is not accepted")
    if alg != expected:
        raise LicenseError(f"algorithm {alg} is not accepted (expected {expected})")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[expected],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
            },
        )
    except jwt.InvalidSignatureError:
        raise LicenseError("signature does not match the public key") from None
    except jwt.DecodeError as exc:
        reason = str(exc) or "cannot decode"
        raise LicenseError(
            f"malformed token (not a JWT: {reason[0].lower()}{reason[1:]})"
        ) from None
    except jwt.PyJWTError as exc:
        raise LicenseError(f"token rejected ({_first_line(exc)})") from None

    for name in _REQUIRED_CLAIMS:
        if name not in claims:
            raise LicenseError(f"missing claim {name!r}")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise LicenseError(f"claim 'sub': expected the customer id as a string, got {subject!r}")
    token_issuer = claims.get("iss")
    if token_issuer is None:
        raise LicenseError(f"no issuer (expected {issuer!r})")
    if token_issuer != issuer:
        raise LicenseError(f"issuer {token_issuer!r} is not {issuer!r}")

    expires_at = _numeric_date(claims, "exp")
    not_before = _numeric_date(claims, "nbf")
    issued_at = _numeric_date(claims, "iat")
    moment = _utc(now) if now is not None else datetime.now(timezone.utc)
    skew = timedelta(seconds=leeway)
    if expires_at is not None and moment >= expires_at + skew:
        raise LicenseError(f"expired at {format_time(expires_at)}")
    if not_before is not None and moment < not_before - skew:
        raise LicenseError(f"not valid before {format_time(not_before)}")

    return License(
        subject=subject,
        issuer=token_issuer,
        features=Features.from_claim(claims.get("features")),
        customer=_customer(claims.get("customer")),
        expires_at=expires_at,
        not_before=not_before,
        issued_at=issued_at,
        claims=claims,
    )


def issue_token(
    private_key: bytes | str,
    *,
    subject: str,
    features: Mapping[str, Any],
    expires: datetime,
    customer: Mapping[str, str] | None = None,
    issuer: str = DEFAULT_ISSUER,
    not_before: datetime | None = None,
    issued_at: datetime | None = None,
) -> str:
    """A signed licence; the features are checked first so a vendor's mistake fails here.

    Naive datetimes are taken as UTC; times are signed in whole seconds.
    """
    key = _load_private_key(private_key)
    algorithm = algorithm_for_key(key)
    if not subject:
        raise LicenseError("subject: the customer id must not be empty")
    if not issuer:
        raise LicenseError("issuer: must not be empty")
    checked = Features.from_claim(dict(features))
    expires = _utc(expires)
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "iat": int(_utc(issued_at or datetime.now(timezone.utc)).timestamp()),
        "exp": int(expires.timestamp()),
        "features": checked.to_claim(),
    }
    if not_before is not None:
        not_before = _utc(not_before)
        if not_before >= expires:
            raise LicenseError(
                f"expires {format_time(expires)}, not after not-before {format_time(not_before)}"
            )
        payload["nbf"] = int(not_before.timestamp())
    if customer:
        payload["customer"] = _customer(customer)
    return jwt.encode(payload, key, algorithm=algorithm)


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """A UTC time from an ISO date or time (`2027-01-31` is 00:00 UTC that day,
    `2027-01-31T12:00:00Z`) or a duration from now (`365d`, `12h`, `30m`)."""
    s = text.strip()
    hint = "expected a date (2027-01-31), a time (2027-01-31T12:00:00Z) or a duration (365d, 12h)"
    if not s:
        raise ValueError(f"empty time: {hint}")
    if _DURATION.match(s):
        try:
            seconds = parse_duration(s)
        except DurationError:
            raise ValueError(f"invalid time {text!r}: {hint}") from None
        base = _utc(now) if now is not None else datetime.now(timezone.utc)
        return base + timedelta(seconds=seconds)
    iso = s[:-1] + "+00:00" if s[-1] in "Zz" else s
    try:
        if "T" not in iso and " " not in iso:
            day = date.fromisoformat(iso)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        return _utc(datetime.fromisoformat(iso))
    except ValueError:
        raise ValueError(f"invalid time {text!r}: {hint}") from None
