"""A Confluent Schema Registry client that keeps working offline: memory, then disk, then HTTP.

Schemas by id are immutable, so once fetched they are kept for good (in memory and on disk).
A subject's latest schema is asked for again at most every `refresh_period`, lazily: the first
lookup after the period has passed makes the request, inline. When the registry cannot be
reached (connection error, timeout, 5xx) the last known schema is used (from memory, else from
the disk cache written by an earlier run) and one warning is logged per outage. A failed
lookup is remembered for `retry_period`, so a registry that is down costs no request per message.
Schemas registered by the client are kept the same way: each is asked for once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from streamforge.connectors.http import basic_auth_credentials, basic_auth_field, ssl_context
from streamforge.connectors.tls import tls_field
from streamforge.plugin import Field

__all__ = [
    "RegisteredSchema",
    "RegistryError",
    "RegistryUnavailable",
    "SchemaRegistryClient",
    "client_from_config",
    "default_cache_dir",
    "registry_fields",
]

log = logging.getLogger("streamforge.schema_registry")

_ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"


def default_cache_dir() -> Path:
    """`$STREAMFORGE_HOME/schema-cache`, else `~/.streamforge/schema-cache`."""
    home = os.environ.get("STREAMFORGE_HOME")
    base = Path(home) if home else Path.home() / ".streamforge"
    return base / "schema-cache"


class RegistryError(Exception):
    """The registry answered, and the answer is no (unknown subject or id, refused credentials)."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached (or failed) and no cached schema can stand in."""


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema as the registry serves it."""

    id: int
    schema: str
    schema_type: str = "AVRO"
    subject: str | None = None
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "schema": self.schema,
            "schemaType": self.schema_type,
            "subject": self.subject,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], **given: Any) -> RegisteredSchema:
        values: dict[str, Any] = {
            "id": doc.get("id"),
            "schema": doc.get("schema"),
            "schema_type": doc.get("schemaType") or "AVRO",
            "subject": doc.get("subject"),
            "version": doc.get("version"),
        }
        values.update({k: v for k, v in given.items() if v is not None})
        if not isinstance(values["id"], int) or not isinstance(values["schema"], str):
            raise ValueError("the registry's answer has no schema id and text")
        return cls(**values)


class _Unreachable(Exception):
    """A request that could not be made or that the registry failed (5xx)."""


class _DiskCache:
    """Schemas of one registry as small JSON files, written atomically."""

    def __init__(self, root: Path, url: str) -> None:
        parts = urlsplit(url)
        label = re.sub(
            r"[^A-Za-z0-9.-]+", "_", f"{parts.hostname or 'registry'}_{parts.port or ''}"
        )
        digest = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:12]
        self.root = root / f"{label.strip('_')}-{digest}"

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / (quote(key, safe="") + ".json")

    def load(self, kind: str, key: str) -> RegisteredSchema | None:
        try:
            doc = json.loads(self._path(kind, key).read_text("utf-8"))
            return RegisteredSchema.from_json(doc)
        except (OSError, ValueError, TypeError):
            return None

    def store(self, kind: str, key: str, schema: RegisteredSchema) -> None:
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(schema.to_json(), fh)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("schema cache %s could not be written: %s", path, exc)


class SchemaRegistryClient:
    """Looks schemas up by id and by subject with no request per message (see module doc)."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        cache_dir: Path | None = None,
        refresh_period: float = 600.0,
        retry_period: float = 5.0,
        timeout: float = 5.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.refresh_period = refresh_period
        self.retry_period = retry_period
        auth = (username or "", password or "") if username is not None else None
        self._http = httpx.Client(
            base_url=self.url + "/",
            auth=auth,
            timeout=timeout,
            verify=verify,
            headers={"Accept": _ACCEPT},
        )
        self._disk = _DiskCache(cache_dir or default_cache_dir(), self.url)
        self._by_id: dict[int, RegisteredSchema] = {}
        self._latest: dict[str, tuple[float, RegisteredSchema]] = {}
        self._registered: dict[str, RegisteredSchema] = {}
        self._failed: dict[tuple[str, str], tuple[float, RegistryError]] = {}
        self._offline_since: float | None = None
        self._lock = threading.Lock()
        self.requests = 0

    # -- lookups ----------------------------------------------------------------------------
    def schema_by_id(self, schema_id: int) -> RegisteredSchema:
        """The schema with this id: memory, disk cache, else the registry (then cached)."""
        found = self._by_id.get(schema_id)
        if found is not None:
            return found
        with self._lock:
            found = self._by_id.get(schema_id) or self._disk.load("ids", str(schema_id))
            if found is None:
                self._check_failed("id", str(schema_id))
                try:
                    doc = self._get(f"schemas/ids/{schema_id}", f"schema id {schema_id}")
                    found = RegisteredSchema.from_json(doc, id=schema_id)
                except _Unreachable as exc:
                    raise self._remember(
                        "id",
                        str(schema_id),
                        RegistryUnavailable(
                            f"schema id {schema_id} is not cached and the registry at "
                            f"{self.url} is unreachable: {exc}"
                        ),
                    ) from None
                except RegistryError as exc:
                    raise self._remember("id", str(schema_id), exc) from None
                self._disk.store("ids", str(schema_id), found)
            self._by_id[schema_id] = found
            return found

    def latest(self, subject: str) -> RegisteredSchema:
        """The latest schema of `subject`, asked for again at most every refresh period."""
        now = time.monotonic()
        known = self._latest.get(subject)
        if known is not None and now - known[0] < self.refresh_period:
            return known[1]
        with self._lock:
            known = self._latest.get(subject)
            if known is not None and now - known[0] < self.refresh_period:
                return known[1]
            stale = known[1] if known is not None else None
            self._check_failed("subject", subject)
            try:
                doc = self._get(
                    f"subjects/{quote(subject, safe='')}/versions/latest", f"subject {subject!r}"
                )
                found = RegisteredSchema.from_json(doc, subject=subject)
            except _Unreachable as exc:
                cached = stale or self._disk.load("subjects", subject)
                if cached is None:
                    raise self._remember(
                        "subject",
                        subject,
                        RegistryUnavailable(
                            f"subject {subject!r} has no cached schema and the registry at "
                            f"{self.url} is unreachable: {exc}"
                        ),
                    ) from None
                self._went_offline(exc)
                # try the registry again after the retry period, not on every message
                retry_at = now - self.refresh_period + self.retry_period
                self._latest[subject] = (retry_at, cached)
                self._by_id.setdefault(cached.id, cached)
                return cached
            except RegistryError as exc:
                raise self._remember("subject", subject, exc) from None
            self._latest[subject] = (now, found)
            self._by_id[found.id] = found
            self._disk.store("subjects", subject, found)
            self._disk.store("ids", str(found.id), found)
            return found

    def register(
        self, subject: str, schema: str, schema_type: str = "AVRO", *, normalize: bool = False
    ) -> RegisteredSchema:
        """`schema` registered under `subject` (the registry's id for it; registering an
        existing schema gives its id). Asked once per schema: kept in memory and on disk, so
        it keeps serving while the registry is unreachable, also after a restart."""
        key = hashlib.sha256(f"{subject}\n{schema_type}\n{schema}".encode()).hexdigest()
        found = self._registered.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._registered.get(key) or self._disk.load("registered", key)
            if found is None:
                self._check_failed("register", key)
                what = f"registering a schema under subject {subject!r}"
                body: dict[str, Any] = {"schema": schema}
                if schema_type != "AVRO":
                    body["schemaType"] = schema_type
                try:
                    doc = self._request(
                        "POST",
                        f"subjects/{quote(subject, safe='')}/versions",
                        what,
                        body=body,
                        params={"normalize": "true"} if normalize else None,
                    )
                    found = RegisteredSchema.from_json(
                        {**doc, "schema": schema, "schemaType": schema_type}, subject=subject
                    )
                except _Unreachable as exc:
                    raise self._remember(
                        "register",
                        key,
                        RegistryUnavailable(
                            f"{what}: the registry at {self.url} is unreachable and this "
                            f"schema was not registered before: {exc}"
                        ),
                    ) from None
                except (RegistryError, ValueError) as exc:
                    raise self._remember("register", key, RegistryError(str(exc))) from None
                self._disk.store("registered", key, found)
                self._disk.store("ids", str(found.id), found)
            self._registered[key] = found
            self._by_id.setdefault(found.id, found)
            return found

    def close(self) -> None:
        self._http.close()

    # -- HTTP -------------------------------------------------------------------------------
    def _get(self, path: str, what: str) -> dict[str, Any]:
        return self._request("GET", path, what)

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.requests += 1
        try:
            if body is None:
                resp = self._http.request(method, path, params=params)
            else:
                resp = self._http.request(
                    method,
                    path,
                    params=params,
                    content=json.dumps(body).encode(),
                    headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                )
        except httpx.HTTPError as exc:
            raise _Unreachable(_transport_reason(exc)) from None
        if resp.status_code >= 500:
            raise _Unreachable(f"HTTP {resp.status_code}: {_registry_message(resp)}")
        self._back_online()
        if resp.status_code in (401, 403):
            raise RegistryError(
                f"the registry at {self.url} refused the credentials for {what} "
                f"(HTTP {resp.status_code}: {_registry_message(resp)}); check basic_auth"
            )
        if resp.status_code == 404:
            raise RegistryError(f"{what} not found in the registry: {_registry_message(resp)}")
        if resp.status_code == 409:
            raise RegistryError(
                f"{what}: the registry refused it as incompatible with the subject's earlier "
                f"versions: {_registry_message(resp)}"
            )
        if resp.status_code != 200:
            raise RegistryError(f"{what}: HTTP {resp.status_code}: {_registry_message(resp)}")
        try:
            doc = resp.json()
        except ValueError:
            raise RegistryError(f"{what}: the registry's answer is not JSON") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"{what}: the registry's answer is not a JSON object")
        return doc

    # -- failures and outages ---------------------------------------------------------------
    def _check_failed(self, kind: str, key: str) -> None:
        failed = self._failed.get((kind, key))
        if failed is not None:
            if time.monotonic() - failed[0] < self.retry_period:
                raise failed[1]
            del self._failed[(kind, key)]

    def _remember(self, kind: str, key: str, exc: RegistryError) -> RegistryError:
        self._failed[(kind, key)] = (time.monotonic(), exc)
        return exc

    def _went_offline(self, reason: Exception) -> None:
        if self._offline_since is None:
            self._offline_since = time.monotonic()
            log.warning(
                "schema registry %s is unreachable (%s); using cached schemas until it is back",
                self.url,
                reason,
            )

    def _back_online(self) -> None:
        if self._offline_since is not None:
            log.warning(
                "schema registry %s is reachable again after %.0fs",
                self.url,
                time.monotonic() - self._offline_since,
            )
            self._offline_since = None


def _transport_reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _registry_message(resp: httpx.Response) -> str:
    """The registry's own `message` (with its error_code) or the start of the body."""
    try:
        doc = resp.json()
    except ValueError:
        return resp.text[:200] or resp.reason_phrase
    if isinstance(doc, dict) and doc.get("message"):
        code = doc.get("error_code")
        return f"{doc['message']} (error_code {code})" if code else str(doc["message"])
    return resp.text[:200]


# -- the config both registry processors share -------------------------------------------------


def registry_fields() -> list[Field]:
    """`url`, `basic_auth`, `tls`, `avro_raw_json` and `cache_dir`, as both processors take them."""
    return [
        Field(
            "url",
            "string",
            description="The base URL of the schema registry (Confluent's REST API).",
            examples=("http://localhost:8081",),
        ),
        basic_auth_field(
            "HTTP basic authentication (Confluent Cloud: API key and secret).", advanced=True
        ),
        tls_field(
            "TLS settings for an https URL (https works without them, using the system's CAs).",
            default={"enabled": False, "skip_cert_verify": False, "root_cas_file": ""},
            peer="registry",
            inline_cas=False,
            enabled="Apply the settings below.",
            client_cert=None,
        ),
        Field(
            "avro_raw_json",
            "bool",
            default=False,
            description="Plain JSON instead of Avro JSON: union values are bare rather than "
            'wrapped as `{"<type>": value}`. Set it for StreamForge envelopes.',
        ),
        Field(
            "cache_dir",
            "string",
            default="",
            advanced=True,
            description="Where fetched schemas are kept on disk, so a gateway keeps encoding and "
            "decoding while the registry is unreachable, also after a restart. Empty: "
            "`$STREAMFORGE_HOME/schema-cache`, else `~/.streamforge/schema-cache`.",
        ),
    ]


def client_from_config(conf: dict[str, Any], refresh_period: float) -> SchemaRegistryClient:
    """A client for the processor config `conf`; ValueError naming the field when it is wrong."""
    url = str(conf.get("url") or "").strip()
    if not url:
        raise ValueError("url: required, e.g. http://localhost:8081")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError(f"url: {url!r} is not an http(s) URL")
    credentials = basic_auth_credentials(conf)
    cache = str(conf.get("cache_dir") or "").strip()
    try:
        verify = ssl_context(conf.get("tls") or {})
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"tls.root_cas_file: {exc}") from None
    return SchemaRegistryClient(
        url,
        username=credentials[0] if credentials else None,
        password=credentials[1] if credentials else None,
        cache_dir=Path(cache).expanduser() if cache else None,
        refresh_period=refresh_period,
        verify=verify,
    )
