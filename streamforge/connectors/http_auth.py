"""How HTTP client components authenticate, as Benthos spells it: `basic_auth`, `oauth`
(OAuth 1 request signing), `oauth2` (client credentials) and `jwt` (a signed bearer token).

`http_auth_fields()` declares the four objects; `client_auth(conf)` turns the enabled ones into
one `httpx.Auth` applied to every request. Keys and tokens are read or fetched once and reused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import ssl
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx
import jwt as pyjwt

from streamforge.plugin import Field

__all__ = [
    "JWT_METHODS",
    "ClientAuth",
    "basic_auth_credentials",
    "basic_auth_field",
    "client_auth",
    "http_auth_fields",
]

#: JWT signing methods Benthos offers
JWT_METHODS = ("RS256", "RS384", "RS512", "EdDSA", "ES256", "ES384", "ES512")
#: a fetched OAuth 2 token is renewed this many seconds before it expires
TOKEN_MARGIN = 10.0


def basic_auth_field(description: str = "HTTP basic authentication.", **options: Any) -> Field:
    """The `basic_auth: {enabled, username, password}` object field."""
    return Field(
        "basic_auth",
        "object",
        default={"enabled": False, "username": "", "password": ""},
        description=description,
        fields=(
            Field("enabled", "bool", default=False, description="Send basic auth."),
            Field("username", "string", default="", description="The user name."),
            Field("password", "string", default="", description="The password.", secret=True),
        ),
        **options,
    )


def _auth_object(name: str, description: str, fields: tuple[Field, ...]) -> Field:
    default = {f.name: f.default for f in fields}
    return Field(name, "object", default=default, description=description, fields=fields,
                 advanced=True)  # fmt: skip


def http_auth_fields() -> tuple[Field, ...]:
    """`basic_auth`, `oauth`, `oauth2` and `jwt`, as Benthos' HTTP components have them."""
    enabled = Field("enabled", "bool", default=False, description="Use this method.")
    oauth = _auth_object(
        "oauth",
        "OAuth 1 request signing (HMAC-SHA1).",
        (
            enabled,
            Field("consumer_key", "string", default="", description="The consumer key."),
            Field(
                "consumer_secret",
                "string",
                default="",
                secret=True,
                description="The consumer secret.",
            ),  # fmt: skip
            Field(
                "access_token", "string", default="", secret=True, description="The access token."
            ),
            Field(
                "access_token_secret",
                "string",
                default="",
                secret=True,
                description="The access token secret.",
            ),  # fmt: skip
        ),
    )
    oauth2 = _auth_object(
        "oauth2",
        "OAuth 2 client credentials: a token is fetched from `token_url`, sent as a bearer "
        "token and renewed before it expires.",
        (
            enabled,
            Field("client_key", "string", default="", description="The client id."),
            Field(
                "client_secret", "string", default="", secret=True, description="The client secret."
            ),  # fmt: skip
            Field("token_url", "string", default="", description="Where tokens are fetched."),
            Field(
                "scopes",
                "array",
                default=[],
                item=Field("scope", "string"),
                description="Scopes asked for.",
            ),  # fmt: skip
            Field(
                "endpoint_params",
                "map",
                default={},
                item=Field("value", "any"),
                description="More form values sent to the token endpoint.",
            ),  # fmt: skip
        ),
    )
    jwt_field = _auth_object(
        "jwt",
        "A JWT signed with a private key, sent as a bearer token.",
        (
            enabled,
            Field(
                "private_key_file", "string", default="", description="PEM file of the private key."
            ),  # fmt: skip
            Field(
                "signing_method",
                "string",
                default="",
                description=f"One of {', '.join(JWT_METHODS)}.",
            ),  # fmt: skip
            Field(
                "claims",
                "map",
                default={},
                item=Field("value", "any"),
                description="The token's claims.",
            ),  # fmt: skip
            Field(
                "headers",
                "map",
                default={},
                item=Field("value", "any"),
                description="More token headers.",
            ),  # fmt: skip
        ),
    )
    return (basic_auth_field(), oauth, oauth2, jwt_field)


def basic_auth_credentials(conf: dict[str, Any]) -> tuple[str, str] | None:
    """(username, password) when the component's `basic_auth` is enabled, else None."""
    auth = conf.get("basic_auth") or {}
    if not auth.get("enabled"):
        return None
    return str(auth.get("username") or ""), str(auth.get("password") or "")


def _percent(text: str) -> str:
    return quote(text, safe="-._~")


def oauth1_header(
    method: str, url: str, conf: dict[str, Any], *, nonce: str = "", timestamp: str = ""
) -> str:
    """The `Authorization: OAuth ...` value of one request (RFC 5849, HMAC-SHA1)."""
    params = {
        "oauth_consumer_key": str(conf.get("consumer_key") or ""),
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": timestamp or str(int(time.time())),
        "oauth_token": str(conf.get("access_token") or ""),
        "oauth_version": "1.0",
    }
    parts = urlsplit(url)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    encoded = sorted((_percent(k), _percent(v)) for k, v in pairs)
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    base_url = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))
    text = "&".join((method.upper(), _percent(base_url), _percent(normalized)))
    key = (
        f"{_percent(str(conf.get('consumer_secret') or ''))}&"
        f"{_percent(str(conf.get('access_token_secret') or ''))}"
    )
    digest = hmac.new(key.encode(), text.encode(), hashlib.sha1).digest()
    params["oauth_signature"] = base64.b64encode(digest).decode()
    return "OAuth " + ", ".join(f'{k}="{_percent(v)}"' for k, v in sorted(params.items()))


def _jwt_token(conf: dict[str, Any]) -> str:
    method = str(conf.get("signing_method") or "")
    if method not in JWT_METHODS:
        raise ValueError(f"jwt.signing_method {method!r}: expected one of {', '.join(JWT_METHODS)}")
    path = str(conf.get("private_key_file") or "")
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"jwt.private_key_file {path!r}: {exc.strerror or exc}") from None
    try:
        return pyjwt.encode(
            dict(conf.get("claims") or {}),
            key,
            algorithm=method,
            headers=dict(conf.get("headers") or {}) or None,
        )
    except (ValueError, TypeError, pyjwt.PyJWTError) as exc:
        raise ValueError(f"jwt: cannot sign with {path!r}: {exc}") from None


class _OAuth2Tokens:
    """Client-credential tokens of one token endpoint, fetched when missing or expiring."""

    def __init__(self, conf: dict[str, Any], verify: ssl.SSLContext | bool) -> None:
        self.url = str(conf.get("token_url") or "")
        if not self.url:
            raise ValueError("oauth2.token_url must be set when oauth2 is enabled")
        self.client = (str(conf.get("client_key") or ""), str(conf.get("client_secret") or ""))
        self.form = {"grant_type": "client_credentials"}
        scopes = [str(s) for s in conf.get("scopes") or []]
        if scopes:
            self.form["scope"] = " ".join(scopes)
        self.form.update({str(k): str(v) for k, v in (conf.get("endpoint_params") or {}).items()})
        self.verify = verify
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token and time.monotonic() < self._expires:
                return self._token
            try:
                resp = httpx.post(
                    self.url, data=self.form, auth=self.client, verify=self.verify, timeout=10.0
                )
                resp.raise_for_status()
                body = resp.json()
                token = str(body["access_token"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                raise httpx.RequestError(
                    f"oauth2: cannot fetch a token from {self.url}: {exc}"
                ) from exc
            lifetime = float(body.get("expires_in") or 0) or 3600.0
            self._token = token
            self._expires = time.monotonic() + max(lifetime - TOKEN_MARGIN, 1.0)
            return token


class ClientAuth(httpx.Auth):
    """Every enabled method of a component, applied in Benthos' order: OAuth 1, basic auth,
    OAuth 2, JWT (a later Authorization header replaces an earlier one)."""

    def __init__(self, conf: dict[str, Any], verify: ssl.SSLContext | bool = True) -> None:
        oauth = conf.get("oauth") or {}
        self.oauth: dict[str, Any] | None = oauth if oauth.get("enabled") else None
        credentials = basic_auth_credentials(conf)
        self.basic = httpx.BasicAuth(*credentials) if credentials else None
        oauth2 = conf.get("oauth2") or {}
        self.oauth2 = _OAuth2Tokens(oauth2, verify) if oauth2.get("enabled") else None
        jwt_conf = conf.get("jwt") or {}
        self.jwt = _jwt_token(jwt_conf) if jwt_conf.get("enabled") else ""

    @property
    def active(self) -> bool:
        return bool(self.oauth or self.basic or self.oauth2 or self.jwt)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.oauth is not None:
            request.headers["Authorization"] = oauth1_header(
                request.method, str(request.url), self.oauth
            )
        if self.basic is not None:
            request = next(self.basic.auth_flow(request))
        if self.oauth2 is not None:
            request.headers["Authorization"] = f"Bearer {self.oauth2.token()}"
        if self.jwt:
            request.headers["Authorization"] = f"Bearer {self.jwt}"
        yield request


def client_auth(conf: dict[str, Any], verify: ssl.SSLContext | bool = True) -> ClientAuth | None:
    """The component's enabled authentication, None when it uses none; ValueError when a key
    file or setting cannot be used."""
    auth = ClientAuth(conf, verify)
    return auth if auth.active else None
