"""/wot/things: a Thing directory shaped like the W3C WoT Discovery directory API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from streamforge.manager.access import access_of
from streamforge.manager.tags import parse_tags
from streamforge.manager.things import InvalidThing, Things
from streamforge.wot import TdProblem

__all__ = ["ThingProblems", "add_thing_routes", "invalid_thing_answer"]

PREFIX = "/wot/things"
TD_MEDIA = "application/td+json"


class ThingProblem(BaseModel):
    field: str
    description: str


class ThingProblems(BaseModel):
    """A TD refused: each problem at its JSON path (as the Discovery API's validationErrors)."""

    detail: str
    validationErrors: list[ThingProblem]  # noqa: N815 - the Discovery API's name


def invalid_thing_answer(exc: InvalidThing) -> JSONResponse:
    return JSONResponse(
        {
            "detail": str(exc),
            "validationErrors": [{"field": p.path, "description": p.message} for p in exc.problems],
        },
        status_code=400,
    )


async def _td_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidThing([TdProblem("$", f"not JSON: {exc}")]) from exc


def _tags(text: str | None) -> tuple[str, ...] | None:
    """The `tags` query parameter; 422 when a tag is not allowed."""
    try:
        return parse_tags(text)
    except ValueError as exc:
        raise HTTPException(422, f"query.tags: {exc}") from None


TD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            TD_MEDIA: {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


def add_thing_routes(
    app: FastAPI,
    things: Things,
    secured: list[Any],
    errors: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    """Register the directory's routes on `app`."""
    refused: dict[int | str, dict[str, Any]] = {
        400: {"model": ThingProblems, "description": "The TD has problems"}
    }

    tags_query = Query(
        None, description="Comma-separated tags for scoped access (kept when absent on PUT)"
    )

    @app.get(PREFIX, dependencies=secured, tags=["things"], responses=errors())
    def list_things(
        request: Request, limit: int = Query(100, ge=1, le=1000), cursor: str | None = None
    ) -> Response:
        page = things.store.page(after=cursor, limit=limit + 1)
        more = len(page) > limit
        page = page[:limit]
        headers = {}
        if more:
            cursor_id = quote(page[-1].id, safe=":")
            headers["Link"] = f'<{PREFIX}?limit={limit}&cursor={cursor_id}>; rel="next"'
        access = access_of(request)
        shown = [t.td for t in page if access.permits("thing", t.id, t.tags)]
        return JSONResponse(shown, headers=headers, media_type="application/json")

    @app.post(PREFIX, status_code=201, dependencies=secured, tags=["things"],
              responses={**errors(402, 403, 409), **refused},
              openapi_extra=TD_BODY)  # fmt: skip
    async def create_thing(request: Request, tags: str | None = tags_query) -> Response:
        given = _tags(tags) or ()
        access = access_of(request)
        thing_id, _ = things.put(
            None, await _td_body(request), create_only=True, tags=given,
            allowed=lambda tid: access.require("thing", tid, given),
        )  # fmt: skip
        location = f"{PREFIX}/{quote(thing_id, safe=':/')}"
        return Response(status_code=201, headers={"Location": location})

    @app.get(f"{PREFIX}/{{thing_id:path}}", dependencies=secured, tags=["things"],
             responses=errors(404))  # fmt: skip
    def get_thing(thing_id: str) -> Response:
        stored = things.store.get(thing_id)
        return JSONResponse(stored.td, media_type=TD_MEDIA)

    put_answers: dict[int | str, dict[str, Any]] = {
        **errors(402),
        **refused,
        201: {"description": "The Thing was created (204: an existing one was replaced)"},
        404: {**errors(404)[404], "description": "No route: the id holds a line break"},
    }

    @app.put(f"{PREFIX}/{{thing_id:path}}", status_code=204, dependencies=secured,
             tags=["things"], responses=put_answers, openapi_extra=TD_BODY)  # fmt: skip
    async def put_thing(thing_id: str, request: Request, tags: str | None = tags_query) -> Response:
        given = _tags(tags)
        if given is not None:
            access_of(request).require("thing", thing_id, given)
        _, created = things.put(thing_id, await _td_body(request), tags=given)
        return Response(status_code=201 if created else 204)

    @app.patch(f"{PREFIX}/{{thing_id:path}}", status_code=204, dependencies=secured,
               tags=["things"], responses={**errors(404), **refused},
               openapi_extra=TD_BODY)  # fmt: skip
    async def patch_thing(thing_id: str, request: Request) -> Response:
        things.patch(thing_id, await _td_body(request))
        return Response(status_code=204)

    @app.delete(f"{PREFIX}/{{thing_id:path}}", status_code=204, dependencies=secured,
                tags=["things"], responses=errors(404))  # fmt: skip
    def delete_thing(thing_id: str) -> Response:
        things.store.delete(thing_id)
        return Response(status_code=204)
