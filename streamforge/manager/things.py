"""Things in the manager: the Thing directory and streams generated from Thing Descriptions.

A TD is checked (`streamforge.wot.check_td`) before it is stored; a stream is generated from
it through the binding templates (`streamforge.wot.generate_stream`) and then created like any
other stream, so it is checked, stored and supervised the same way. Credentials for the TD's
security schemes are stored apart from it (a TD never carries secrets).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamforge.manager.merge_patch import merge_patch
from streamforge.manager.service import LicenceRefused, Manager, StreamView
from streamforge.manager.store import Conflict
from streamforge.manager.td_fetch import FetchError, fetch_td_text
from streamforge.manager.thing_store import ThingStore
from streamforge.wot import GenerateOptions, TdError, TdProblem, check_td, generate_stream
from streamforge.wot import stream_id_for as _safe_id

__all__ = ["BINDINGS", "InvalidThing", "ThingBinding", "Things"]

BINDINGS = ("mqtt", "modbus", "opcua", "http", "kafka")


class InvalidThing(Exception):
    """A TD with problems (each at its JSON path): a 400."""

    def __init__(self, problems: list[TdProblem], detail: str = "") -> None:
        super().__init__(detail or f"the Thing Description has {len(problems)} problem(s)")
        self.problems = problems


@dataclass(frozen=True)
class ThingBinding:
    """A stream generated from a Thing: the stream and what generation noted."""

    view: StreamView
    stream_name: str
    thing_id: str
    warnings: list[str]


def _parsed(doc: Any) -> dict[str, Any]:
    """A TD (JSON text or an object) checked; InvalidThing listing every problem."""
    problems = check_td(doc)
    if problems:
        raise InvalidThing(problems)
    parsed = json.loads(doc) if isinstance(doc, str | bytes) else doc
    if not isinstance(parsed, dict):
        raise InvalidThing([TdProblem("$", "a Thing Description is a JSON object")])
    return parsed


class Things:
    """The Thing directory and TD -> stream generation over the manager."""

    def __init__(
        self,
        manager: Manager,
        store: ThingStore,
        *,
        fetch_allow: frozenset[str] = frozenset(),
        output_dir: str = "things",
        default_output: dict[str, Any] | None = None,
    ) -> None:
        self.manager = manager
        self.default_output = default_output
        self.store = store
        self.fetch_allow = fetch_allow
        self.output_dir = output_dir

    # -- the directory ----------------------------------------------------------------------
    def _check_thing_limit(self, thing_id: str) -> None:
        decisions = self.manager.decisions
        if decisions is None or self.store.exists(thing_id):
            return
        from streamforge.config.model import Location, Problem
        from streamforge.license.gate import check_limit

        message = check_limit(decisions, "things", self.store.count() + 1)
        if message is not None:
            raise LicenceRefused([Problem(Location("license", 1, 1), message)])

    def put(
        self, thing_id: str | None, doc: Any, *, create_only: bool = False,
        tags: tuple[str, ...] | None = None, allowed: Callable[[str], None] | None = None,
    ) -> tuple[str, bool]:  # fmt: skip
        """Store a TD (its `id` when `thing_id` is None, else a new `urn:uuid:`); returns the
        id and whether it was created. `allowed` may refuse the id (raising) before anything
        is stored."""
        td = _parsed(doc)
        given = td.get("id")
        if thing_id is not None and isinstance(given, str) and given and given != thing_id:
            raise InvalidThing(
                [TdProblem("$.id", f"the TD's id {given!r} is not the id in the path")]
            )
        thing_id = thing_id or (given if isinstance(given, str) and given else None)
        thing_id = thing_id or f"urn:uuid:{uuid.uuid4()}"
        td["id"] = thing_id
        if allowed is not None:
            allowed(thing_id)
        self._check_thing_limit(thing_id)
        created = self.store.put(thing_id, td, create_only=create_only, tags=tags)
        return thing_id, created

    def patch(self, thing_id: str, patch: Any) -> None:
        """Apply a JSON merge patch (RFC 7386); the result is checked like a new TD."""
        current = self.store.get(thing_id).td
        self.put(thing_id, merge_patch(current, patch))

    # -- streams from Things ------------------------------------------------------------------
    def fetch(self, url: str) -> str:
        try:
            return fetch_td_text(url, self.fetch_allow)
        except FetchError as exc:
            raise ValueError(f"thing_description_url: {exc}") from exc

    def bind(
        self,
        *,
        thing_id: str | None,
        td: Any,
        binding: str,
        options: dict[str, Any],
        stream_id: str | None = None,
        by: str = "admin",
        tags: tuple[str, ...] = (),
        allowed: Callable[[str], None] | None = None,
    ) -> ThingBinding:
        """Generate `binding`'s stream from a TD (stored in the directory too) and create it;
        `allowed` may refuse the stream's id (raising) before anything is stored."""
        if binding not in BINDINGS:
            raise ValueError(f"binding_type {binding!r}: one of {', '.join(BINDINGS)}")
        parsed = _parsed(td)
        if thing_id is None:
            given = parsed.get("id")
            thing_id = given if isinstance(given, str) and given else f"urn:uuid:{uuid.uuid4()}"
        parsed["id"] = thing_id
        credentials = dict(self.store.credentials(thing_id))
        credentials.update(options.get("credentials") or {})
        generate = GenerateOptions(
            properties=options.get("properties"),
            events=options.get("events"),
            interval=options.get("interval"),
            output=options.get("output") or self.default_output,
            output_dir=self.output_dir,
            credentials=credentials,
        )
        try:
            generated = generate_stream(parsed, binding, generate)
        except TdError as exc:
            raise InvalidThing(exc.problems, "a stream cannot be generated from this TD") from exc
        self._check_thing_limit(thing_id)
        stream_name = f"things.{thing_id}.{binding}"
        stream_id = stream_id or _safe_id(stream_name)[:128]
        if allowed is not None:
            allowed(stream_id)
        if self.manager.supervisor.get(stream_id) is not None:
            raise Conflict(f"stream {stream_id!r} exists already")
        view = self.manager.create(stream_id, generated.yaml, by=by, tags=tags)
        self.store.put(thing_id, parsed)
        if options.get("credentials"):
            self.store.set_credentials(thing_id, credentials)
        return ThingBinding(view, stream_name, thing_id, list(generated.warnings))
