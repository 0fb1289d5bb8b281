"""Benthos streams-mode paths at the root, over the same store, so Benthos tooling works.

`GET /streams` (a map of id -> active/uptime), `POST /streams` (replace the whole set),
`POST|GET|PUT|PATCH|DELETE /streams/{id}` with YAML or JSON bodies, `GET /streams/{id}/stats`.
Refused configs answer 400 with Benthos' `linting_errors` (strings) and `lint_errors` (line,
column, message). The bearer token is needed here too.
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from streamforge.manager.checks import config_text, lint_errors
from streamforge.manager.service import ID_PATTERN, Invalid, Manager, StreamView, shown
from streamforge.manager.store import NotFound

__all__ = ["add_benthos_routes", "benthos_lint"]


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
        return yaml.safe_load(raw.decode("utf-8")) if raw.strip() else None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"the body is neither YAML nor JSON: {exc}") from exc


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def benthos_lint(exc: Invalid) -> JSONResponse:
    """A 400 with `lint_errors` (line, column, message) and Benthos' `linting_errors`."""
    errors = lint_errors(exc.problems)
    return JSONResponse(
        {
            "linting_errors": [f"line {e['line']}: {e['message']}" for e in errors],
            "lint_errors": errors,
        },
        status_code=400,
    )


def add_benthos_routes(app: FastAPI, manager: Manager, secured: list[Any]) -> None:
    """Register the streams-mode routes on `app`."""

    def check_id(stream_id: str) -> None:
        if not ID_PATTERN.match(stream_id):
            raise ValueError(f"stream id {stream_id!r} must match [A-Za-z0-9._-]{{1,128}}")

    def every_id() -> list[str]:
        ids: list[str] = []
        after: str | None = None
        while True:
            page = manager.store.page(after=after, limit=500)
            if not page:
                return ids
            ids += [s.id for s in page]
            after = page[-1].id

    @app.get("/streams", dependencies=secured, tags=["benthos streams mode"])
    def streams_map() -> dict[str, Any]:
        return {view.stored.id: _status(view) for view in _all(manager)}

    @app.post("/streams", dependencies=secured, tags=["benthos streams mode"])
    async def replace_all(request: Request) -> JSONResponse:
        wanted = await _body(request)
        if not isinstance(wanted, dict):
            raise ValueError("the body must map stream ids to configs")
        for stream_id, config in wanted.items():
            check_id(str(stream_id))
            manager.check(str(stream_id), config)  # every config checks before anything changes
        for stream_id in every_id():
            if stream_id not in wanted:
                manager.delete(stream_id)
        for stream_id, config in wanted.items():
            sid = str(stream_id)
            try:
                stored = manager.store.get(sid)
            except NotFound:
                manager.create(sid, config)
                continue
            if stored.config_yaml != config_text(config):
                manager.replace(sid, config)
        return JSONResponse({})

    @app.post("/streams/{stream_id}", dependencies=secured, tags=["benthos streams mode"])
    async def create_one(stream_id: str, request: Request) -> JSONResponse:
        check_id(stream_id)
        try:
            manager.store.get(stream_id)
        except NotFound:
            manager.create(stream_id, await _body(request))
            return JSONResponse({})
        raise ValueError(f"stream {stream_id!r} already exists")

    @app.get("/streams/{stream_id}", dependencies=secured, tags=["benthos streams mode"])
    def read_one(stream_id: str) -> dict[str, Any]:
        check_id(stream_id)
        view = manager.view(stream_id)
        return {**_status(view), "config": yaml.safe_load(shown(view.stored.config_yaml))}

    @app.put("/streams/{stream_id}", dependencies=secured, tags=["benthos streams mode"])
    async def update_one(stream_id: str, request: Request) -> JSONResponse:
        check_id(stream_id)
        config = await _body(request)
        try:
            manager.store.get(stream_id)
        except NotFound:
            manager.create(stream_id, config)
            return JSONResponse({})
        manager.replace(stream_id, config)
        return JSONResponse({})

    @app.patch("/streams/{stream_id}", dependencies=secured, tags=["benthos streams mode"])
    async def patch_one(stream_id: str, request: Request) -> JSONResponse:
        check_id(stream_id)
        stored = manager.store.get(stream_id)
        patched = _merge(yaml.safe_load(stored.config_yaml), await _body(request))
        manager.replace(stream_id, patched)
        return JSONResponse({})

    @app.delete("/streams/{stream_id}", dependencies=secured, tags=["benthos streams mode"])
    def delete_one(stream_id: str) -> JSONResponse:
        check_id(stream_id)
        manager.delete(stream_id)
        return JSONResponse({})

    @app.get("/streams/{stream_id}/stats", dependencies=secured,
             tags=["benthos streams mode"])  # fmt: skip
    def stats(stream_id: str) -> dict[str, Any]:
        check_id(stream_id)
        figures = manager.figures(stream_id)
        return {
            "input": {"received": figures["received"]},
            "output": {"sent": figures["sent"]},
            "errors": figures["errors"],
            "rate_1m": figures["rate_1m"],
            "latency_ms": figures["latency_ms"],
            "uptime": figures["uptime_s"],
        }


def _all(manager: Manager) -> list[StreamView]:
    views: list[StreamView] = []
    after: str | None = None
    while True:
        page = manager.page(after=after, limit=500, q="")
        if not page:
            return views
        views += page
        after = page[-1].stored.id
