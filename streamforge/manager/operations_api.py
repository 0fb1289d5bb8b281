"""Operator actions on a stream: its alarms (read, acknowledge, suppress) and dead letters
(read, replay)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from streamforge.manager.alarms import (
    OperationRefused,
    alarm_action,
    has_alarm_processor,
    read_alarms,
)
from streamforge.manager.benthos_api import StreamId, check_stream_id
from streamforge.manager.dlq import (
    dead_letter_files,
    dead_letter_patterns,
    read_dead_letters,
    replay_dead_letters,
)
from streamforge.manager.service import Manager

__all__ = ["add_operation_routes"]

PREFIX = "/wot/binding/streams/{stream_id}"
TAGS: list[str | Any] = ["operations"]

#: what an action body may not carry, and why
_UNSUPPORTED = {
    "duration": "the alarm processor suppresses until an operator unsuppresses; "
    "timed suppression is not supported",
    "comment": "the alarm processor does not record comments",
    "by": "who acts is the identity of the request",
}


class Alarm(BaseModel):
    id: str = Field(description="asset_id:parameter:name; use it in the action paths")
    name: str
    asset_id: str
    parameter: str
    state: str = Field(description="ACTIVE, ACKNOWLEDGED or SUPPRESSED")
    severity: str | None
    message: str
    since: str | None = Field(description="When the state began (RFC 3339)")
    value: Any = Field(default=None, description="The series' latest reading")
    unit: Any = None
    threshold: float | None
    acknowledged_by: str | None = None
    suppressed_by: str | None = None
    component: str | None = Field(default=None, description="The alarm processor's label")


class AlarmList(BaseModel):
    alarms: list[Alarm]


class AlarmActionAnswer(BaseModel):
    action: str
    applied: bool = Field(description="The alarm's state shows the action (false: still on "
                          "its way through the stream; the answer is then 202)")  # fmt: skip
    alarm: Alarm


class DeadLetterEntry(BaseModel):
    file: str = Field(description="The dead-letter file, relative to the data root")
    line: int
    payload: str = Field(description="The original message (text, or base64: see encoding)")
    encoding: str = Field(description="text or base64")
    metadata: dict[str, Any]
    error: str | None
    when: str | None = Field(description="When it was dead-lettered, when the record says")


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterEntry]
    total: int
    next: str | None = Field(description="The cursor of the next page; null on the last")


class ReplayAnswer(BaseModel):
    files: int = Field(description="Dead-letter files replayed (moved aside as NAME.replayed-*)")
    replayed: int = Field(description="Records read from them")
    passed: int = Field(description="Records the stream now writes to its output")
    still_failing: int = Field(description="Records dead-lettered again (listed by GET /dlq)")
    dropped: int = Field(description="Records the pipeline dropped")


def _action_body(body: Any) -> None:
    if body is None:
        return
    if not isinstance(body, dict):
        raise HTTPException(400, "body: expected a JSON object (or none)")
    for key in body:
        reason = _UNSUPPORTED.get(str(key), "not a field of an alarm action (none are needed)")
        raise HTTPException(400, f"{key}: {reason}")


def add_operation_routes(
    app: FastAPI,
    manager: Manager,
    secured: list[Any],
    errors: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    """Register the alarm and dead-letter routes of every stream on `app`."""
    replaying: set[str] = set()
    replay_lock = threading.Lock()

    def alarm_config(stream_id: str) -> None:
        check_stream_id(stream_id)
        stored = manager.store.get(stream_id)
        if not has_alarm_processor(stored.config_yaml):
            raise HTTPException(404, f"stream {stream_id!r} has no alarm processor")

    def refused(exc: OperationRefused) -> HTTPException:
        return HTTPException(exc.status, exc.detail)

    @app.get(f"{PREFIX}/alarms", dependencies=secured, tags=TAGS,
             responses=errors(400, 404, 409))  # fmt: skip
    def list_alarms(stream_id: StreamId) -> AlarmList:
        """The alarms the running stream's alarm processors hold."""
        alarm_config(stream_id)
        try:
            items = read_alarms(stream_id, manager.supervisor.get(stream_id))
        except OperationRefused as exc:
            raise refused(exc) from None
        return AlarmList(alarms=[Alarm.model_validate(i) for i in items])

    def act(action: str) -> Callable[..., AlarmActionAnswer]:
        def handler(
            stream_id: StreamId,
            alarm: str,
            request: Request,
            response: Response,
            body: Annotated[dict[str, Any] | None, Body()] = None,
        ) -> AlarmActionAnswer:
            alarm_config(stream_id)
            _action_body(body)
            identity = getattr(request.state, "identity", None)
            by = str(getattr(identity, "subject", None) or "admin")
            try:
                now, applied = alarm_action(
                    stream_id, manager.supervisor.get(stream_id), alarm, action, by
                )
            except OperationRefused as exc:
                raise refused(exc) from None
            if not applied:
                response.status_code = 202
            return AlarmActionAnswer(
                action=action, applied=applied, alarm=Alarm.model_validate(now)
            )

        return handler

    for action, summary in (
        ("ack", "Acknowledge an ACTIVE alarm"),
        ("suppress", "Suppress an alarm: it raises and clears nothing until unsuppressed"),
    ):
        app.post(
            f"{PREFIX}/alarms/{{alarm}}/{action}",
            dependencies=secured,
            tags=TAGS,
            responses=errors(400, 404, 409),
            name=f"alarm_{action}",
            summary=summary,
        )(act(action))

    def dead_letter_config(stream_id: str) -> tuple[str, list[str]]:
        check_stream_id(stream_id)
        stored = manager.store.get(stream_id)
        patterns = dead_letter_patterns(
            stored.config_yaml, manager.supervisor.data_root, manager.supervisor.env
        )
        if not patterns:
            raise HTTPException(
                404,
                f"stream {stream_id!r} has no dead-letter output (a file output after the "
                "first of a fallback, or on a switch case checking errored())",
            )
        return stored.config_yaml, patterns

    @app.get(f"{PREFIX}/dlq", dependencies=secured, tags=TAGS, responses=errors(400, 404))
    def list_dead_letters(
        stream_id: StreamId,
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = Query(None, description="`next` of the previous page"),
    ) -> DeadLetterList:
        """The stream's dead letters, oldest file first, in the order they were written."""
        _, patterns = dead_letter_config(stream_id)
        root = manager.supervisor.data_root
        page = read_dead_letters(dead_letter_files(patterns), root, limit, cursor)
        return DeadLetterList(
            dead_letters=[DeadLetterEntry(**vars(e)) for e in page.entries],
            total=page.total,
            next=page.next,
        )

    @app.post(f"{PREFIX}/dlq/replay", dependencies=secured, tags=TAGS,
              responses=errors(400, 404, 409))  # fmt: skip
    def replay(stream_id: StreamId) -> ReplayAnswer:
        """Run the dead letters through the stream's pipeline and output again (as
        `streamforge dlq replay --consume`); what fails again is dead-lettered anew."""
        config_yaml, patterns = dead_letter_config(stream_id)
        with replay_lock:
            if stream_id in replaying:
                raise HTTPException(409, f"a replay of stream {stream_id!r} runs already")
            replaying.add(stream_id)
        try:
            outcome = replay_dead_letters(
                stream_id, config_yaml, dead_letter_files(patterns),
                workdir=manager.supervisor.workdir(stream_id),
                data_root=manager.supervisor.data_root, env=manager.supervisor.env,
            )  # fmt: skip
        except (RuntimeError, OSError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else "the replay failed"
            raise HTTPException(409, why) from None
        finally:
            with replay_lock:
                replaying.discard(stream_id)
        return ReplayAnswer(
            files=outcome.files,
            replayed=outcome.read,
            passed=outcome.passed,
            still_failing=outcome.failed,
            dropped=outcome.dropped,
        )
