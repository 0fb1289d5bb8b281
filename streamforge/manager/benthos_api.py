"""Benthos streams-mode paths at the root, over the same store, so Benthos tooling works.

`GET /streams` (a map of id -> active/uptime), `POST /streams` (replace the whole set),
`POST|GET|PUT|PATCH|DELETE /streams/{id}` with YAML or JSON bodies, `GET /streams/{id}/stats`.
Refused configs answer 400 with Benthos' `linting_errors` (strings) and `lint_errors` (line,
column, message). The bearer token is needed here too.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import yaml
from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from streamforge.manager.access import access_of
from streamforge.manager.checks import config_text, lint_errors
from streamforge.manager.merge_patch import merge_patch
from streamforge.manager.service import ID_PATTERN, Invalid, Manager, StreamView, shown
from streamforge.manager.store import NotFound

__all__ = [
    "MAX_DEPTH",
    "StreamId",
    "add_benthos_routes",
    "benthos_lint",
    "check_stream_id",
    "lint_answer",
    "shallow",
]

#: a stream id in a path; one outside the pattern is answered 400 with a `detail` (as in bodies)
StreamId = Annotated[
    str,
    Path(
        description="The stream's id: 1 to 128 of A-Z a-z 0-9 . _ -, not . or ..",
        json_schema_extra={"pattern": ID_PATTERN.pattern},
    ),
]

TAGS: list[str | Enum] = ["benthos streams mode"]


class StreamStatus(BaseModel):
    active: bool = Field(description="True while the stream runs")
    uptime: float = Field(description="Seconds since the stream's process started")
    uptime_str: str = Field(description="The uptime as a Go duration (1h2m3.5s)")


class StreamRead(StreamStatus):
    config: Any = Field(description="The stream's config, secrets redacted")


class InputStats(BaseModel):
    received: float


class OutputStats(BaseModel):
    sent: float


class StreamStats(BaseModel):
    input: InputStats
    output: OutputStats
    errors: float
    rate_1m: float = Field(description="Messages received per second over the last minute")
    latency_ms: dict[str, float | None] = Field(description="p50, p90 and p99 in milliseconds")
    uptime: float


class Done(BaseModel):
    """An empty object: the change is stored (and applied to the running stream)."""

    model_config = ConfigDict(extra="forbid")


def _config_body(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI request body read by hand: the same object as JSON or as YAML."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": schema},
                "application/yaml": {"schema": schema},
            },
        }
    }


CONFIG_BODY = _config_body(
    "The stream config (input, pipeline, output, resources) as JSON or YAML",
    {"type": "object", "additionalProperties": True},
)
EVERY_CONFIG_BODY = _config_body(
    "Every stream the manager should run: stream ids mapped to their configs",
    {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": True}},
)


def _uptime_str(seconds: float) -> str:
    """Go's duration format, as Benthos prints uptime (e.g. 1h2m3.5s)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, _ = divmod(rest, 60)
    secs = seconds - hours * 3600 - minutes * 60
    out = f"{hours}h" if hours else ""
    out += f"{minutes}m" if hours or minutes else ""
    return out + f"{secs:.6g}s"


def _status(view: StreamView) -> dict[str, Any]:
    uptime = view.child.uptime_s
    return {
        "active": view.status == "running",
        "uptime": uptime,
        "uptime_str": _uptime_str(uptime),
    }


async def _body(request: Request) -> Any:
    """A request body as YAML or JSON (JSON is YAML)."""
    raw = await request.body()
    try:
        value = yaml.safe_load(raw.decode("utf-8")) if raw.strip() else None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"the body is neither YAML nor JSON: {exc}") from exc
    except RecursionError:
        raise ValueError(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    try:
        return shallow(value)
    except ValueError as exc:
        raise ValueError(f"the body is {exc}") from None


#: how deeply a config or message may nest; real configs stay far below, and deeper values
#: would exhaust the recursion of the YAML and JSON code that handles them
MAX_DEPTH = 100


def nesting(value: Any) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                todo.extend((child, depth + 1) for child in children)
    return deepest


def shallow(value: Any) -> Any:
    """`value`, or a ValueError when it nests deeper than MAX_DEPTH."""
    if nesting(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value


def check_stream_id(stream_id: str) -> None:
    """A ValueError (400) unless `stream_id` may name a stream (and its directory)."""
    if not ID_PATTERN.match(stream_id) or stream_id in (".", ".."):
        raise ValueError(
            f"stream id {stream_id!r} must match [A-Za-z0-9._-]{{1,128}} and not be . or .."
        )


def lint_answer(errors: list[dict[str, Any]]) -> JSONResponse:
    """A 400 with `lint_errors` (line, column, message), Benthos' `linting_errors` and a
    one-line `detail`."""
    count = len(errors)
    first = f": line {errors[0]['line']}: {errors[0]['message']}" if errors else ""
    more = f" (and {count - 1} more)" if count > 1 else ""
    return JSONResponse(
        {
            "detail": f"the config has {count} problem{'s' if count != 1 else ''}{first}{more}",
            "linting_errors": [f"line {e['line']}: {e['message']}" for e in errors],
            "lint_errors": errors,
        },
        status_code=400,
    )


def benthos_lint(exc: Invalid) -> JSONResponse:
    """The 400 answering a config that does not check."""
    return lint_answer(lint_errors(exc.problems))


def add_benthos_routes(
    app: FastAPI,
    manager: Manager,
    secured: list[Any],
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """Register the streams-mode routes on `app`; `responses` documents the error answers."""

    def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
        return {code: responses[code] for code in (400, 401, 403, 422, *codes)}

    def every_id() -> list[str]:
        ids: list[str] = []
        after: str | None = None
        while True:
            page = manager.store.page(after=after, limit=500)
            if not page:
                return ids
            ids += [s.id for s in page]
            after = page[-1].id

    @app.get("/streams", dependencies=secured, tags=TAGS, responses=errors())
    def streams_map(request: Request) -> dict[str, StreamStatus]:
        access = access_of(request)
        return {
            view.stored.id: StreamStatus(**_status(view))
            for view in _all(manager)
            if access.permits("stream", view.stored.id, view.stored.tags)
        }

    @app.post("/streams", dependencies=secured, tags=TAGS, responses=errors(402),
              openapi_extra=EVERY_CONFIG_BODY)  # fmt: skip
    async def replace_all(request: Request) -> Done:
        wanted = await _body(request)
        if not isinstance(wanted, dict):
            raise ValueError("the body must map stream ids to configs")
        access = access_of(request)
        existing = every_id()
        for stream_id in [*existing, *wanted]:
            access.require("stream", str(stream_id), manager.store.tags(str(stream_id)))
        for stream_id, config in wanted.items():
            check_stream_id(str(stream_id))
            manager.check(str(stream_id), config)  # every config checks before anything changes
        for stream_id in existing:
            if stream_id not in wanted:
                manager.delete(stream_id)
        for stream_id, config in wanted.items():
            sid = str(stream_id)
            try:
                stored = manager.store.get(sid)
            except NotFound:
                manager.create(sid, config, by=access.identity.subject)
                continue
            if stored.config_yaml != config_text(config):
                manager.replace(sid, config, by=access.identity.subject)
        return Done()

    @app.post("/streams/{stream_id}", dependencies=secured, tags=TAGS, responses=errors(402),
              openapi_extra=CONFIG_BODY)  # fmt: skip
    async def create_one(stream_id: StreamId, request: Request) -> Done:
        """Create a stream; 400 when the id is taken (as Benthos answers)."""
        check_stream_id(stream_id)
        try:
            manager.store.get(stream_id)
        except NotFound:
            manager.create(stream_id, await _body(request), by=_by(request))
            return Done()
        raise ValueError(f"stream {stream_id!r} already exists")

    @app.get("/streams/{stream_id}", dependencies=secured, tags=TAGS, responses=errors(404))
    def read_one(stream_id: StreamId) -> StreamRead:
        check_stream_id(stream_id)
        view = manager.view(stream_id)
        config = yaml.safe_load(shown(view.stored.config_yaml))
        return StreamRead(**_status(view), config=config)

    @app.put("/streams/{stream_id}", dependencies=secured, tags=TAGS, responses=errors(402),
             openapi_extra=CONFIG_BODY)  # fmt: skip
    async def update_one(stream_id: StreamId, request: Request) -> Done:
        """Replace a stream's config, or create the stream."""
        check_stream_id(stream_id)
        config = await _body(request)
        try:
            manager.store.get(stream_id)
        except NotFound:
            manager.create(stream_id, config, by=_by(request))
            return Done()
        manager.replace(stream_id, config, by=_by(request))
        return Done()

    @app.patch("/streams/{stream_id}", dependencies=secured, tags=TAGS,
               responses=errors(402, 404), openapi_extra=CONFIG_BODY)  # fmt: skip
    async def patch_one(stream_id: StreamId, request: Request) -> Done:
        """Merge the body into the stream's config (JSON merge patch: null removes a key)."""
        check_stream_id(stream_id)
        stored = manager.store.get(stream_id)
        patched = merge_patch(yaml.safe_load(stored.config_yaml), await _body(request))
        manager.replace(stream_id, patched, by=_by(request))
        return Done()

    @app.delete("/streams/{stream_id}", dependencies=secured, tags=TAGS,
                responses=errors(404))  # fmt: skip
    def delete_one(stream_id: StreamId) -> Done:
        check_stream_id(stream_id)
        manager.delete(stream_id)
        return Done()

    @app.get("/streams/{stream_id}/stats", dependencies=secured, tags=TAGS,
             responses=errors(404))  # fmt: skip
    def stats(stream_id: StreamId) -> StreamStats:
        check_stream_id(stream_id)
        figures = manager.figures(stream_id)
        return StreamStats(
            input=InputStats(received=figures["received"]),
            output=OutputStats(sent=figures["sent"]),
            errors=figures["errors"],
            rate_1m=figures["rate_1m"],
            latency_ms=figures["latency_ms"],
            uptime=figures["uptime_s"],
        )


def _by(request: Request) -> str:
    """Who makes a change, for the stream's version history."""
    return access_of(request).identity.subject


def _all(manager: Manager) -> list[StreamView]:
    views: list[StreamView] = []
    after: str | None = None
    while True:
        page = manager.page(after=after, limit=500, q="")
        if not page:
            return views
        views += page
        after = page[-1].stored.id
