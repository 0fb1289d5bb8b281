"""Schedules as Benthos' `generate.interval` writes them: a duration ("5s", `@every 5s`) or a
cron expression, with an optional seconds field first (`0 */3 * * * *`, `0,30 */2 * * *`), a
descriptor (`@hourly`) and an optional time zone (`TZ=Europe/Berlin 0 6 * * *`, UTC by
default). Cron expressions are evaluated by croniter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any

from streamforge.durations import parse_duration

__all__ = ["DESCRIPTORS", "CronSchedule", "parse_cron", "parse_schedule"]

#: cron descriptors besides `@every <duration>` (which is a duration)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_ZONE_PREFIXES = ("TZ=", "CRON_TZ=")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression and the time zone its fields are read in."""

    expression: str
    zone: tzinfo = timezone.utc
    #: the text as written (for messages)
    text: str = ""

    def next_after(self, moment: datetime) -> datetime:
        """The first time after `moment` (aware) the schedule fires, in UTC."""
        from croniter import croniter

        local = moment.astimezone(self.zone)
        following = croniter(self.expression, local, second_at_beginning=True)
        fired: datetime = following.get_next(datetime)
        return fired.astimezone(timezone.utc)


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin)") from None


def parse_cron(text: str) -> CronSchedule:
    """A cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds
    first), or a descriptor, optionally after `TZ=<zone>`; ValueError saying what is wrong."""
    rest = text.strip()
    zone: tzinfo = timezone.utc
    for prefix in _ZONE_PREFIXES:
        if rest.startswith(prefix):
            name, _, rest = rest[len(prefix) :].partition(" ")
            zone = _zone(name)
            rest = rest.strip()
            break
    if rest.startswith("@"):
        if rest.lower() not in DESCRIPTORS:
            raise ValueError(
                f"unknown cron descriptor {rest!r} (one of {', '.join(DESCRIPTORS)}, "
                "or @every <duration>)"
            )
        expression = rest.lower()
    else:
        fields = rest.split()
        if len(fields) not in (5, 6):
            raise ValueError(
                f"a cron expression has 5 fields (minute hour day-of-month month day-of-week) "
                f"or 6 with seconds first, got {len(fields)}"
            )
        expression = " ".join(fields)
    from croniter import CroniterError, croniter

    try:
        croniter(expression, datetime.now(zone), second_at_beginning=True)
    except CroniterError as exc:
        raise ValueError(f"bad cron expression {rest!r}: {exc}") from None
    return CronSchedule(expression, zone, text.strip())


def parse_schedule(value: Any) -> float | CronSchedule:
    """Seconds between events (0: as fast as possible) for a duration or `@every <duration>`,
    else the cron schedule; ValueError naming both readings when it is neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = f"{value}s"  # a bare number is seconds, as durations elsewhere
    text = "" if value is None else str(value).strip()
    if _NUMBER.fullmatch(text):
        text += "s"
    if text == "@every" or text.startswith("@every "):
        every = text[len("@every") :].strip()
        if not every:
            raise ValueError("@every needs a duration, e.g. @every 5s")
        seconds = parse_duration(every)
    else:
        try:
            seconds = parse_duration(text)
        except ValueError as not_duration:
            try:
                return parse_cron(text)
            except ValueError as not_cron:
                if " " not in text and not text.startswith(("@", *_ZONE_PREFIXES)):
                    raise ValueError(f"{not_duration} (nor a cron expression)") from None
                raise not_cron from None
    if seconds < 0:
        raise ValueError(f"{text!r} must not be negative")
    return seconds
