"""`generate` input: messages made by a Bloblang mapping, at an interval, on a cron schedule or as
fast as possible."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Input, InputReader, register_input
from streamforge.plugin.spec import ParsedField
from streamforge.schedules import CronSchedule, parse_schedule

__all__ = ["GenerateInput", "GenerateReader", "parse_interval"]


def parse_interval(text: str | float | None) -> float | CronSchedule:
    """Seconds between batches (0: as fast as possible) for a duration or `@every <duration>`,
    or the cron schedule batches are generated on."""
    try:
        return parse_schedule(text)
    except ValueError as exc:
        raise ValueError(f"interval {str(text or '')!r}: {exc}") from None


log = logging.getLogger("streamforge.inputs.generate")


@register_input(
    "generate",
    fields=[
        Field(
            "mapping",
            "mapping",
            description="A Bloblang mapping run without an input document to build each message.",
            examples=('root = "hello world"', 'root = {"id": uuid_v4(), "n": counter()}'),
        ),
        ParsedField(
            "interval",
            "string",
            parser=parse_interval,
            default="1s",
            description='Time between batches as a duration ("" or "0s" generates as fast as '
            "possible), or a cron expression the batches follow: 5 fields (minute hour "
            "day-of-month month day-of-week) or 6 with seconds first, a descriptor "
            "(`@hourly`, `@daily` ...), optionally after `TZ=<IANA zone>` (UTC by default).",
            examples=(
                "5s",
                "1m",
                "",
                "@every 1s",
                "0,30 */2 * * * *",
                "@hourly",
                "TZ=Europe/Berlin 0 6 * * 1-5",
            ),
        ),
        Field(
            "count",
            "int",
            default=0,
            description="Total number of messages to generate, then the input ends; 0 is forever.",
        ),
        Field(
            "batch_size",
            "int",
            default=1,
            description="Number of messages generated per batch (per interval).",
        ),
        Field(
            "auto_replay_nacks",
            "bool",
            default=True,
            description="Accepted for Benthos compatibility; generated messages are not replayed.",
            advanced=True,
        ),
    ],
    summary="Generates messages with a Bloblang mapping, at an interval, on a cron schedule or "
    "as fast as possible.",
    examples=('generate:\n  count: 100\n  interval: ""\n  mapping: root = {"id": counter()}',),
)
class GenerateInput(Input):
    """Generates messages with a Bloblang mapping, at an interval, on a cron schedule or as fast
    as possible."""

    replays_from_snapshot = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        from streamforge.bloblang import parse

        self.executor = parse(conf["mapping"])
        schedule = parse_interval(str(conf.get("interval", "1s") or ""))
        self.cron = schedule if isinstance(schedule, CronSchedule) else None
        self.interval = 0.0 if isinstance(schedule, CronSchedule) else schedule
        self.count = int(conf.get("count", 0) or 0)
        self.batch_size = max(int(conf.get("batch_size", 1) or 1), 1)
        if self.count < 0:
            raise ValueError("count must not be negative")

    def open(self, partition: str, resume_state: Any | None) -> InputReader:
        if isinstance(resume_state, dict):  # {"generated": n, "mapping": [function states]}
            try:
                self.executor.resume(resume_state.get("mapping") or [])
            except ValueError as exc:
                log.warning(
                    "generate: the mapping changed since the snapshot (%s); its "
                    "counter() and random_int() start afresh",
                    exc,
                )
            return GenerateReader(self, int(resume_state.get("generated") or 0))
        return GenerateReader(self, int(resume_state or 0))


class GenerateReader(InputReader):
    """Produces one batch per read; ends when `count` messages have been generated."""

    def __init__(self, source: GenerateInput, generated: int = 0) -> None:
        from streamforge.bloblang import DELETED, NOTHING

        self._deleted, self._nothing = DELETED, NOTHING
        self.source = source
        self.generated = generated
        self._due: datetime | None = None

    def read(self) -> list[Message] | None:
        src = self.source
        if src.count and self.generated >= src.count:
            return None
        if src.cron is not None:
            if not self._cron_due(src.cron):
                return []
        elif src.interval:
            now = datetime.now(timezone.utc)
            if self._due is not None and now < self._due:
                return []
            step = timedelta(seconds=src.interval)
            due = (self._due or now) + step
            self._due = due if due > now else now + step
        n = src.batch_size
        if src.count:
            n = min(n, src.count - self.generated)
        batch: list[Message] = []
        for _ in range(n):
            msg = self._generate_one()
            if msg is not None:
                batch.append(msg)
        self.generated += n
        return batch

    def _cron_due(self, cron: CronSchedule) -> bool:
        """Whether the schedule fired since the last batch; notes when it fires next. The
        first batch waits for the first time after the start, and times missed while the
        stream was held up are skipped, not made up for."""
        now = datetime.now(timezone.utc)
        if self._due is None:
            self._due = cron.next_after(now)
            return False
        if now < self._due:
            return False
        upcoming = cron.next_after(self._due)
        self._due = upcoming if upcoming > now else cron.next_after(now)
        return True

    def _generate_one(self) -> Message | None:
        from streamforge.bloblang import MappingError

        meta: dict[str, Any] = {}
        try:
            value = self.source.executor.query(None, metadata=meta)
        except MappingError as exc:
            return Message(b"", meta, error=str(exc))
        if value is self._deleted:
            return None
        if value is self._nothing:
            return Message(b"", meta)
        if isinstance(value, (str, bytes)):
            return Message(value, meta)
        return Message.from_value(value, meta)

    def next_awake(self) -> datetime | None:
        return self._due

    def snapshot(self) -> dict[str, Any]:
        """How many messages were generated and the mapping's `counter()` (etc.) state."""
        return {"generated": self.generated, "mapping": self.source.executor.resume_state()}
