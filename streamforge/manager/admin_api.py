"""/admin/license and /admin/system: the licence in force and its activation, the manager's own
health and metrics, and reloading the templates and policies without a restart."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from streamforge import __version__
from streamforge.license.claims import LicenseError
from streamforge.license.policy import PolicyError, engine_for
from streamforge.license.state import LicenseState, build_state
from streamforge.license.token import format_time
from streamforge.license.watch import expired_state
from streamforge.manager.identities import Identities
from streamforge.manager.licence_admin import LicenceAdmin
from streamforge.manager.reloading import check_templates
from streamforge.manager.service import Manager
from streamforge.manager.things import Things

__all__ = ["add_admin_routes"]

LICENCE = "/admin/license"
SYSTEM = "/admin/system"


# -- answers ------------------------------------------------------------------------------------
class LicenceLimit(BaseModel):
    limit: int | None = Field(description="The most allowed; null: no limit")
    used: int | None = Field(description="How many there are now; null: not counted here")


class LicenceStatus(BaseModel):
    valid: bool = Field(description="A verified, unexpired licence is in force; false: the base "
                        "features apply")  # fmt: skip
    subject: str | None = Field(description="The customer id the licence is for")
    customer: dict[str, str]
    issuer: str | None
    issued_at: str | None
    not_before: str | None
    expires_at: str | None
    source: str = Field(description="Where the licence comes from: activated over the API, "
                        "STREAMFORGE_LICENSE, a file, or none")  # fmt: skip
    reason: str | None = Field(description="Why no licence is in force, when none is")
    checked_at: str
    policy_engine: str = Field(description="Where the policies are evaluated")
    limits: dict[str, LicenceLimit] = Field(description="max_streams, max_things, max_users ...")
    switches: dict[str, bool] = Field(description="multi_tenancy, audit_logging ...")


class LicenceFeatures(BaseModel):
    valid: bool
    subject: str | None
    bindings: list[str]
    processors: list[str]
    security: list[str]
    storage: list[str]
    capabilities: dict[str, Any]


class Activation(BaseModel):
    """A licence to put in force."""

    token: str = Field(min_length=1, max_length=65536, description="The signed licence (a JWT)")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="degraded when the database cannot be reached or no valid licence is in force"
    )
    version: str
    uptime_s: float
    database_reachable: bool
    database_error: str | None
    streams: dict[str, int] = Field(description="Streams by status (running, stopped, failed ...)")
    licence_ok: bool
    licence: str = Field(description="The licence in force, in a line")


class Reloaded(BaseModel):
    reloaded: list[str] = Field(description="What was reloaded, a line each")


class Unavailable(BaseModel):
    detail: str


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Unavailable, "description": "The policies or the home cannot be used now"}
}
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def _time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _first_lines(text: str, most: int = 3) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    shown = "; ".join(lines[:most])
    return shown + (f" (and {len(lines) - most} more)" if len(lines) > most else "")


class _Admin:
    """What the routes answer from: the manager, its licence, identities and Things."""

    def __init__(
        self, manager: Manager, identities: Identities | None, things: Things | None
    ) -> None:
        self.manager = manager
        self.licence = LicenceAdmin(manager)
        self.identities = identities
        self.things = things
        self.started = time.monotonic()

    def state(self) -> LicenseState:
        """The licence state in force; an expired licence (after the leeway) gives way to the
        base features here, as a stream's licence watch does."""
        state = self.licence.state
        expires = state.expires_at
        leeway = timedelta(seconds=state.settings.leeway)
        if expires is not None and datetime.now(timezone.utc) >= expires + leeway:
            state = expired_state(state)
            self.licence.put(state)
        return state

    def usage(self, capability: str) -> int | None:
        try:
            if capability == "max_streams":
                return self.manager.store.count()
            if capability == "max_things" and self.things is not None:
                return self.things.store.count()
            if capability == "max_users" and self.identities is not None:
                return len(self.identities.users())
        except SQLAlchemyError:
            return None
        return None

    def status(self) -> LicenceStatus:
        state = self.state()
        licence = state.status.license
        capabilities = _evaluated(state.decisions.capabilities)
        limits = {
            name: LicenceLimit(limit=value, used=self.usage(name))
            for name, value in sorted(capabilities.items())
            if isinstance(value, int) and not isinstance(value, bool)
        }
        switches = {k: v for k, v in sorted(capabilities.items()) if isinstance(v, bool)}
        return LicenceStatus(
            valid=licence is not None,
            subject=state.subject,
            customer=dict(licence.customer) if licence is not None else {},
            issuer=licence.issuer if licence is not None else None,
            issued_at=_time(licence.issued_at) if licence is not None else None,
            not_before=_time(licence.not_before) if licence is not None else None,
            expires_at=_time(licence.expires_at) if licence is not None else None,
            source=self.licence.source(state),
            reason=state.status.reason,
            checked_at=format_time(state.status.checked_at),
            policy_engine=state.engine.describe(),
            limits=limits,
            switches=switches,
        )

    def features(self) -> LicenceFeatures:
        state = self.state()
        features = _evaluated(state.decisions.features_in_effect)

        def names(category: str) -> list[str]:
            value = features.get(category)
            return list(value) if isinstance(value, list) else []

        capabilities = features.get("capabilities")
        return LicenceFeatures(
            valid=state.status.license is not None,
            subject=state.subject,
            bindings=names("bindings"),
            processors=names("processors"),
            security=names("security"),
            storage=names("storage"),
            capabilities=dict(capabilities) if isinstance(capabilities, dict) else {},
        )

    def streams_by_status(self) -> dict[str, int]:
        """Streams by status; SQLAlchemyError when the database cannot be read."""
        counts: collections.Counter[str] = collections.Counter()
        after: str | None = None
        while True:
            views = self.manager.page(after=after, limit=500, q="")
            if not views:
                return dict(sorted(counts.items()))
            counts.update(view.status for view in views)
            after = views[-1].stored.id

    def health(self) -> Health:
        error: str | None = None
        streams: dict[str, int] = {}
        try:
            streams = self.streams_by_status()
        except SQLAlchemyError as exc:
            error = _first_lines(str(getattr(exc, "orig", None) or exc), 1)
        state = self.state()
        licence = state.status.license
        if licence is not None:
            until = _time(licence.expires_at) or "no expiry"
            line = f"{licence.subject} from {self.licence.source(state)}, valid until {until}"
        else:
            line = f"none, base features apply ({state.status.reason})"
        ok = error is None and licence is not None
        return Health(
            status="ok" if ok else "degraded",
            version=__version__,
            uptime_s=round(time.monotonic() - self.started, 3),
            database_reachable=error is None,
            database_error=error,
            streams=streams,
            licence_ok=licence is not None,
            licence=line,
        )


def _evaluated(question: Callable[[], Any]) -> Any:
    """A policy answer; 503 when the policies cannot be evaluated (an OPA server down ...)."""
    try:
        return question()
    except PolicyError as exc:
        raise HTTPException(
            503, f"the policies cannot be evaluated: {_first_lines(str(exc))}"
        ) from None


class _ManagerMetrics(Collector):
    """The manager's own figures, read when scraped."""

    def __init__(self, admin: _Admin) -> None:
        self.admin = admin

    def collect(self) -> Iterator[Metric]:
        admin = self.admin
        info = GaugeMetricFamily(
            "streamforge_manager_info", "The manager's version.", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily(
            "streamforge_manager_uptime_seconds",
            "Seconds since the manager started.",
            value=time.monotonic() - admin.started,
        )
        streams = GaugeMetricFamily(
            "streamforge_manager_streams", "Streams by status.", labels=["status"]
        )
        try:
            for status, count in admin.streams_by_status().items():
                streams.add_metric([status], count)
            up = 1
        except SQLAlchemyError:
            up = 0
        yield streams
        yield GaugeMetricFamily(
            "streamforge_manager_database_up", "1 while the database answers.", value=up
        )
        state = admin.state()
        expires = state.expires_at
        yield GaugeMetricFamily(
            "streamforge_manager_license_valid",
            "1 while a verified licence is in force, 0 while the base features apply.",
            value=0 if state.status.license is None else 1,
        )
        yield GaugeMetricFamily(
            "streamforge_manager_license_expiry_timestamp_seconds",
            "When the licence in force expires, in seconds since 1970; 0 without one.",
            value=expires.timestamp() if expires is not None and state.status.license else 0,
        )


def _registry(admin: _Admin) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(_ManagerMetrics(admin))
    return registry


def add_admin_routes(
    app: FastAPI,
    manager: Manager,
    secured: list[Any],
    errors: Callable[..., dict[int | str, dict[str, Any]]],
    *,
    identities: Identities | None = None,
    things: Things | None = None,
    reloaders: Sequence[Callable[[], str]] = (),
) -> None:
    """Register the licence and system routes on `app`.

    `reloaders` reload further policies (authorization ...) on POST /admin/system/reload; each
    returns a line for the answer and raises, naming the file and line, when it cannot.
    """
    admin = _Admin(manager, identities, things)
    metrics_registry = _registry(admin)

    @app.get(f"{LICENCE}/status", dependencies=secured, tags=["admin"],
             responses={**errors(), **UNAVAILABLE})  # fmt: skip
    def licence_status() -> LicenceStatus:
        """The licence in force: valid or not, subject, expiry, source, limits and usage."""
        return admin.status()

    @app.get(f"{LICENCE}/features", dependencies=secured, tags=["admin"],
             responses={**errors(), **UNAVAILABLE})  # fmt: skip
    def licence_features() -> LicenceFeatures:
        """What the licence in force allows, by category, as the policies decide."""
        return admin.features()

    @app.post(f"{LICENCE}/activate", dependencies=secured, tags=["admin"],
              responses={**errors(400), **UNAVAILABLE})  # fmt: skip
    def activate_licence(body: Activation) -> LicenceStatus:
        """Verify a licence with the configured public key, keep it in the manager's home (it
        stays in force after a restart) and put it in force for new and running streams."""
        try:
            admin.licence.activate(body.token)
        except LicenseError as exc:
            raise HTTPException(400, f"licence not activated: {exc}") from None
        except OSError as exc:
            raise HTTPException(
                503, f"licence not activated: cannot store it in the home: {exc.strerror or exc}"
            ) from None
        return admin.status()

    @app.get(f"{SYSTEM}/health", dependencies=secured, tags=["admin"], responses=errors())
    def system_health() -> Health:
        """The manager's own health: version, uptime, database, streams by status, licence."""
        return admin.health()

    @app.get(f"{SYSTEM}/metrics", dependencies=secured, tags=["admin"], response_class=Response,
             responses={200: {"description": "The manager process's own metrics", **TEXT},
                        **errors()})  # fmt: skip
    def system_metrics() -> Response:
        """The manager process's own Prometheus metrics (the streams' are at /metrics)."""
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(f"{SYSTEM}/reload", dependencies=secured, tags=["admin"],
              responses={**errors(400), **UNAVAILABLE})  # fmt: skip
    def system_reload() -> Reloaded:
        """Reload the templates in the home and the policies; a template or policy with a
        problem is refused (400, naming its file and line) and nothing changes."""
        return Reloaded(reloaded=_reload(admin, reloaders))


def _reload(admin: _Admin, reloaders: Iterable[Callable[[], str]]) -> list[str]:
    directory = admin.manager.supervisor.home / "templates"
    templates = check_templates(directory)
    if templates.problems:
        problems = _first_lines("\n".join(str(p) for p in templates.problems))
        raise HTTPException(400, f"templates not reloaded, nothing changed: {problems}")
    settings = admin.licence.state.settings
    try:
        engine = engine_for(settings)
    except PolicyError as exc:
        raise HTTPException(
            400, f"policies not reloaded, nothing changed: {_first_lines(str(exc))}"
        ) from None
    lines: list[str] = []
    for reload in reloaders:
        try:
            lines.append(reload())
        except Exception as exc:  # noqa: BLE001 - a hook's failure is the caller's 400
            raise HTTPException(
                400, f"not reloaded: {_first_lines(str(exc)) or type(exc).__name__}; the "
                "templates and licence policies are unchanged",
            ) from None  # fmt: skip
    names = templates.apply()
    admin.licence.put(build_state(settings, engine=engine))
    shown = f": {', '.join(names)}" if names else ""
    return [
        f"templates: {len(names)} from {directory}{shown}",
        f"licence policies: {engine.describe()}",
        *lines,
    ]
