"""The manager's FastAPI app: /wot/binding stream CRUD, processors, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from streamforge.manager.access import Guard, access_of
from streamforge.manager.audit import AuditLog, add_audit_middleware, note_change
from streamforge.manager.auth import TokenCheck
from streamforge.manager.authz import Authorizer
from streamforge.manager.benthos_api import (
    StreamId,
    add_benthos_routes,
    benthos_lint,
    check_stream_id,
    lint_answer,
    shallow,
)
from streamforge.manager.catalog import Refused, add_catalog_routes
from streamforge.manager.identities import Identities
from streamforge.manager.login import add_login_routes
from streamforge.manager.security_api import add_security_routes
from streamforge.manager.security_store import SecurityStore
from streamforge.manager.service import (
    ID_PATTERN,
    Invalid,
    LicenceRefused,
    Manager,
    StreamView,
    shown,
)
from streamforge.manager.store import Conflict, NotFound
from streamforge.manager.tags import check_tags
from streamforge.manager.things import InvalidThing, Things
from streamforge.manager.things_api import add_thing_routes, invalid_thing_answer
from streamforge.manager.tokens import AccessTokens
from streamforge.manager.trial import TrialRunner

__all__ = ["create_app"]

log = logging.getLogger("streamforge.manager")

PREFIX = "/wot/binding"


# -- bodies and answers ---------------------------------------------------------------------
class StreamCreate(BaseModel):
    """A new stream: an optional id and its config (a YAML string or an object), or a Thing
    Description (inline or by URL) and the binding to generate the stream for."""

    id: str | None = Field(
        default=None,
        description="1 to 128 of A-Z a-z 0-9 . _ -, not . or ..; generated when absent",
        json_schema_extra={"pattern": ID_PATTERN.pattern},
    )
    config: str | dict[str, Any] | None = Field(
        default=None, description="The stream config, YAML text or an object"
    )
    thing_id: str | None = Field(default=None, description="The Thing's id (default: the TD's)")
    thing_description: dict[str, Any] | str | None = Field(
        default=None, description="A W3C WoT Thing Description (JSON object or text)"
    )
    thing_description_url: str | None = Field(
        default=None, description="Where to fetch the TD (http/https, allowed hosts only)"
    )
    binding_type: Literal["mqtt", "modbus", "opcua", "http", "kafka"] | None = Field(
        default=None, description="Which of the TD's protocols the stream reads"
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="properties, events, interval, output (a component config), credentials "
        "(by security scheme name)",
    )
    tags: list[str] = Field(
        default_factory=list, description="Labels roles can be scoped to (`tag:<tag>`)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> StreamCreate:
        tds = (self.thing_description is not None) + (self.thing_description_url is not None)
        if self.config is None and tds == 0:
            raise ValueError("give a config, or a thing_description / thing_description_url")
        if self.config is not None and tds:
            raise ValueError("give either a config or a Thing Description, not both")
        if tds > 1:
            raise ValueError("give thing_description or thing_description_url, not both")
        if tds and self.binding_type is None:
            raise ValueError("binding_type is needed with a Thing Description")
        return self

    _shallow = field_validator("config")(shallow)


class StreamReplace(BaseModel):
    """A stream's new config (a YAML string or an object)."""

    config: str | dict[str, Any]
    tags: list[str] | None = Field(default=None, description="New tags (kept when absent)")

    _shallow = field_validator("config")(shallow)


class StreamSummary(BaseModel):
    id: str
    status: str = Field(description="starting, running, restarting, stopped or failed")
    desired: str = Field(description="running or stopped")
    uptime_s: float
    restarts: int
    version: int
    updated_at: str
    last_error: str | None
    tags: list[str] = Field(default_factory=list)


class StreamList(BaseModel):
    streams: list[StreamSummary]
    next: str | None


class StreamDetail(BaseModel):
    stream_id: str
    stream_name: str
    config_yaml: str
    status: str
    desired: str
    version: int
    restarts: int
    uptime_s: float
    last_error: str | None
    updated_at: str
    thing_id: str | None = None
    warnings: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class LatencyMs(BaseModel):
    p50: float | None
    p90: float | None
    p99: float | None


class StreamMetrics(BaseModel):
    received: float
    sent: float
    errors: float
    rate_1m: float
    latency_ms: LatencyMs
    uptime_s: float


class StreamLogs(BaseModel):
    lines: list[str]


class VersionInfo(BaseModel):
    version: int
    created_at: str
    created_by: str
    config_yaml: str


class VersionList(BaseModel):
    versions: list[VersionInfo]


class LintError(BaseModel):
    line: int
    column: int
    message: str


class LintErrors(BaseModel):
    detail: str = Field(description="The problems in a line")
    lint_errors: list[LintError]
    linting_errors: list[str] = Field(description="The same, as Benthos writes them")


class Detail(BaseModel):
    detail: str = Field(description="What was wrong, for a person to read")


def _summary(view: StreamView) -> StreamSummary:
    return StreamSummary(
        id=view.stored.id,
        status=view.status,
        desired=view.stored.desired,
        uptime_s=view.child.uptime_s,
        restarts=view.child.restarts,
        version=view.stored.version,
        updated_at=view.stored.updated_at.isoformat(),
        last_error=view.child.last_error,
        tags=list(view.stored.tags),
    )


def _detail(view: StreamView) -> StreamDetail:
    return StreamDetail(
        stream_id=view.stored.id,
        stream_name=view.stored.id,
        config_yaml=shown(view.stored.config_yaml),
        status=view.status,
        desired=view.stored.desired,
        version=view.stored.version,
        restarts=view.child.restarts,
        uptime_s=view.child.uptime_s,
        last_error=view.child.last_error,
        updated_at=view.stored.updated_at.isoformat(),
        tags=list(view.stored.tags),
    )


def _version_of(etag: str | None) -> int | None:
    """The version an `If-Match` ETag names (`"<version>-<digest>"`); None when absent."""
    if not etag or etag.strip() == "*":
        return None
    try:
        return int(etag.strip().strip('W/"').split("-", 1)[0])
    except ValueError:
        return -1  # never matches: 412


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": LintErrors | Detail,
        "description": "The config has problems (each at its line and column), or a value such "
        "as a stream id is not allowed",
    },
    401: {
        "model": Detail,
        "description": "No bearer token, or not the admin token, a good access token or an "
        "API key in force",
    },
    402: {"model": Detail, "description": "The licence does not allow it"},
    403: {
        "model": Detail,
        "description": "The caller's roles (or their scopes) do not allow this",
    },
    404: {"model": Detail, "description": "No such stream"},
    409: {"model": Detail, "description": "The id exists already"},
    412: {"model": Detail, "description": "The ETag is stale"},
    422: {
        "model": Detail,
        "description": "The request does not have the documented shape (a missing or mistyped "
        "field, a value out of range, a body that is not JSON)",
    },
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of an authenticated operation: 401, 403, 422 and `codes`."""
    return {code: ERRORS[code] for code in sorted({401, 403, 422, *codes})}


TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def create_app(
    manager: Manager,
    trials: TrialRunner | None = None,
    things: Things | None = None,
    identities: Identities | None = None,
    tokens: AccessTokens | None = None,
    authorizer: Authorizer | None = None,
    security: SecurityStore | None = None,
    audit: AuditLog | None = None,
) -> FastAPI:
    """The manager's API over `manager`; its streams and trial worker stop when the app does.

    With `identities` and `tokens`, users log in at /auth/token and API keys are accepted;
    `authorizer` decides what each may do (the built-in policy alone when None); with
    `security` too, admins manage users, roles and policies under /admin/security; with
    `audit`, every change is recorded and readable at /admin/audit.
    """
    trials = trials or TrialRunner()
    authorizer = authorizer or Authorizer()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # uvicorn re-raises SIGTERM once the app has shut down, so the process ends before
            # code after `uvicorn.run` runs: stop the streams (gracefully, waiting) here.
            await asyncio.to_thread(manager.shutdown)
            trials.close()

    app = FastAPI(
        title="StreamForge manager",
        description="Streams created, changed and watched over REST.",
        version="1",
        lifespan=lifespan,
    )

    def tags_of(kind: str, resource_id: str) -> tuple[str, ...]:
        if kind == "stream":
            return manager.store.tags(resource_id)
        return things.store.tags(resource_id) if things is not None else ()

    auth = Guard(TokenCheck(manager.store, identities, tokens), authorizer, tags_of)
    bearer = HTTPBearer(
        auto_error=False,
        description="The admin token (STREAMFORGE_ADMIN_TOKEN), an access token from "
        "POST /auth/token, or an API key (sfk_...)",
    )
    secured = [Depends(auth), Depends(bearer)]  # the second only documents the scheme

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a JSON body its parser gives up on (nested too deeply):
            # malformed, like any body that is not JSON
            return JSONResponse(
                {"detail": "body: the JSON could not be parsed (is it nested too deeply?)"}, 422
            )
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        return JSONResponse(
            {"detail": f"{request.method} is not allowed here"},
            status_code=405,
            headers={"Allow": ", ".join(_allowed(app, request.url.path))},
        )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": f"not found: {exc.args[0]!r}"}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(Invalid)
    async def invalid(_: Request, exc: Invalid) -> JSONResponse:
        return benthos_lint(exc)

    @app.exception_handler(Refused)
    async def refused_config(_: Request, exc: Refused) -> JSONResponse:
        return lint_answer(exc.errors)

    @app.exception_handler(LicenceRefused)
    async def refused(_: Request, exc: LicenceRefused) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=402)

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: "
            f"{str(e.get('msg')).removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"detail": "the manager could not do this; see its log"}, 500)

    if identities is not None and tokens is not None:
        add_login_routes(app, identities, tokens, secured)
    if audit is not None:
        add_audit_middleware(app, audit)
        if identities is not None and security is not None:
            add_security_routes(
                app, manager, identities, security, authorizer, audit, secured, errors
            )

    # -- health -------------------------------------------------------------------------------
    @app.get("/health/live", response_class=PlainTextResponse, tags=["health"])
    def live() -> str:
        return "OK\n"

    not_ready = {"description": "A stream that should run does not", **TEXT}

    @app.get("/ready", response_class=PlainTextResponse, tags=["health"],
             responses={503: not_ready})  # fmt: skip
    def ready(response: Response) -> str:
        lines = manager.not_ready()
        if lines:
            response.status_code = 503
            return "not ready:\n" + "".join(f"{line}\n" for line in lines)
        return "OK\n"

    @app.get("/metrics", dependencies=secured, tags=["health"], response_class=Response,
             responses={200: {"description": "Every running stream's metrics, merged", **TEXT},
                        **errors()})  # fmt: skip
    def metrics() -> Response:
        return PlainTextResponse(manager.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    # -- streams --------------------------------------------------------------------------------
    @app.get(f"{PREFIX}/streams", dependencies=secured, tags=["streams"], responses=errors())
    def list_streams(
        request: Request,
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = None,
        q: str = "",
    ) -> StreamList:
        views = manager.page(after=cursor, limit=limit + 1, q=q)
        more = len(views) > limit
        views = views[:limit]
        access = access_of(request)
        return StreamList(
            streams=[_summary(v) for v in views if access.permits("stream", v.stored.id,
                                                                   v.stored.tags)],
            next=views[-1].stored.id if more else None,
        )  # fmt: skip

    @app.post(
        f"{PREFIX}/streams", status_code=201, dependencies=secured, tags=["streams"],
        responses=errors(400, 402, 409),
    )  # fmt: skip
    def create_stream(body: StreamCreate, request: Request, response: Response) -> StreamDetail:
        if body.id is not None:
            check_stream_id(body.id)
        tags = check_tags(body.tags)
        access = access_of(request)
        by = access.identity.subject
        if body.config is not None:
            access.require("stream", body.id or "", tags)
            view = manager.create(body.id, body.config, by=by, tags=tags)
            detail = _detail(view)
        else:
            if things is None:
                raise ValueError("this manager does not generate streams from Things")
            td = body.thing_description
            if td is None and body.thing_description_url is not None:
                td = things.fetch(body.thing_description_url)
            bound = things.bind(
                thing_id=body.thing_id, td=td, binding=str(body.binding_type),
                options=body.options, stream_id=body.id, by=by, tags=tags,
                allowed=lambda sid: access.require("stream", sid, tags),
            )  # fmt: skip
            view = bound.view
            detail = _detail(view)
            detail.stream_name = bound.stream_name
            detail.thing_id = bound.thing_id
            detail.warnings = bound.warnings
        note_change(request, after=detail.config_yaml)
        response.headers["Location"] = f"{PREFIX}/streams/{view.stored.id}"
        response.headers["ETag"] = view.stored.etag
        return detail

    @app.get(f"{PREFIX}/streams/{{stream_id}}", dependencies=secured, tags=["streams"],
             responses=errors(400, 404))  # fmt: skip
    def get_stream(stream_id: StreamId, response: Response) -> StreamDetail:
        check_stream_id(stream_id)
        view = manager.view(stream_id)
        response.headers["ETag"] = view.stored.etag
        return _detail(view)

    @app.put(f"{PREFIX}/streams/{{stream_id}}", dependencies=secured, tags=["streams"],
             responses=errors(400, 402, 404, 409, 412))  # fmt: skip
    def replace_stream(stream_id: StreamId, body: StreamReplace, request: Request,
                       response: Response) -> StreamDetail:  # fmt: skip
        check_stream_id(stream_id)
        expected = _version_of(request.headers.get("if-match"))
        if expected is not None:
            current = manager.store.get(stream_id)
            if current.version != expected:
                raise _Stale(stream_id, current.etag)
        access = access_of(request)
        tags = None if body.tags is None else check_tags(body.tags)
        if tags is not None:
            access.require("stream", stream_id, tags)
        before = shown(manager.store.get(stream_id).config_yaml)
        view = manager.replace(
            stream_id, body.config, expected_version=expected, by=access.identity.subject,
            tags=tags,
        )  # fmt: skip
        note_change(request, before=before, after=shown(view.stored.config_yaml))
        response.headers["ETag"] = view.stored.etag
        return _detail(view)

    @app.exception_handler(_Stale)
    async def stale(_: Request, exc: _Stale) -> JSONResponse:
        return JSONResponse(
            {"detail": f"stream {exc.stream_id!r} changed since that ETag (now {exc.etag})"},
            status_code=412,
            headers={"ETag": exc.etag},
        )

    @app.delete(f"{PREFIX}/streams/{{stream_id}}", status_code=204, dependencies=secured,
                tags=["streams"], responses=errors(400, 404))  # fmt: skip
    def delete_stream(
        stream_id: StreamId, request: Request, timeout: float = Query(20.0, gt=0, le=600)
    ) -> Response:
        check_stream_id(stream_id)
        note_change(request, before=shown(manager.store.get(stream_id).config_yaml))
        manager.delete(stream_id, timeout)
        return Response(status_code=204)

    for action in ("start", "stop", "restart"):
        _action_route(app, manager, action, secured)

    add_benthos_routes(app, manager, secured, ERRORS)
    if things is not None:
        add_thing_routes(app, things, secured, errors)

        @app.exception_handler(InvalidThing)
        async def invalid_thing(_: Request, exc: InvalidThing) -> JSONResponse:
            return invalid_thing_answer(exc)

    add_catalog_routes(
        app,
        secured,
        ERRORS,
        manager.policy,
        trials,
        manager.supervisor.home / "templates",
    )

    @app.get(f"{PREFIX}/streams/{{stream_id}}/metrics", dependencies=secured,
             tags=["streams"], responses=errors(400, 404))  # fmt: skip
    def stream_metrics(stream_id: StreamId) -> StreamMetrics:
        check_stream_id(stream_id)
        return StreamMetrics(**manager.figures(stream_id))

    @app.get(f"{PREFIX}/streams/{{stream_id}}/logs", dependencies=secured, tags=["streams"],
             responses=errors(400, 404))  # fmt: skip
    def stream_logs(stream_id: StreamId, limit: int = Query(100, ge=0, le=500)) -> StreamLogs:
        check_stream_id(stream_id)
        return StreamLogs(lines=manager.logs(stream_id, limit))

    @app.get(f"{PREFIX}/streams/{{stream_id}}/versions", dependencies=secured,
             tags=["streams"], responses=errors(400, 404))  # fmt: skip
    def stream_versions(stream_id: StreamId) -> VersionList:
        check_stream_id(stream_id)
        return VersionList(
            versions=[
                VersionInfo(
                    version=v.version,
                    created_at=v.created_at.isoformat(),
                    created_by=v.created_by,
                    config_yaml=shown(v.config_yaml),
                )
                for v in manager.store.versions(stream_id)
            ]
        )

    @app.post(f"{PREFIX}/streams/{{stream_id}}/versions/{{version}}/restore",
              dependencies=secured, tags=["streams"],
              responses=errors(400, 402, 404, 409))  # fmt: skip
    def restore_version(
        stream_id: StreamId, version: int, request: Request, response: Response
    ) -> StreamDetail:
        check_stream_id(stream_id)
        manager.store.get(stream_id)  # 404 names the stream when there is none
        try:
            view = manager.restore(stream_id, version, by=access_of(request).identity.subject)
        except NotFound:
            raise HTTPException(404, f"stream {stream_id!r} has no version {version}") from None
        response.headers["ETag"] = view.stored.etag
        return _detail(view)

    # -- operator actions (alarms, dead letters) ------------------------------------------------
    from streamforge.manager.operations_api import add_operation_routes

    add_operation_routes(app, manager, secured, errors)

    # -- administration (licence, system) -------------------------------------------------------
    from streamforge.manager.admin_api import add_admin_routes

    add_admin_routes(
        app, manager, secured, errors, identities=identities, things=things,
        reloaders=(authorizer.reload,),
    )  # fmt: skip

    return app


def _allowed(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at `path` (Starlette lists only the first route's)."""
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, Route) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)


class _Stale(Exception):
    def __init__(self, stream_id: str, etag: str) -> None:
        super().__init__(stream_id)
        self.stream_id = stream_id
        self.etag = etag


def _action_route(app: FastAPI, manager: Manager, action: str, secured: list[Any]) -> None:
    """POST /streams/{id}/start|stop|restart."""

    def act(stream_id: StreamId) -> StreamDetail:
        check_stream_id(stream_id)
        if action == "restart":
            view = manager.restart(stream_id)
        else:
            view = manager.set_desired(stream_id, "running" if action == "start" else "stopped")
        return _detail(view)

    app.post(
        f"{PREFIX}/streams/{{stream_id}}/{action}",
        dependencies=secured,
        tags=["streams"],
        responses=errors(400, 402, 404),
        name=f"{action}_stream",
        summary=f"{action.capitalize()} a stream (its desired state is stored)",
    )(act)
