"""Schedules as `generate.interval` takes them: durations, `@every`, cron with an optional
seconds field, descriptors and time zones, and what a bad one says."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from streamforge.schedules import CronSchedule, parse_schedule

START = datetime(2026, 3, 2, 10, 14, 7, tzinfo=timezone.utc)  # a Monday


def fires(text: str, count: int = 3, start: datetime = START) -> list[str]:
    schedule = parse_schedule(text)
    assert isinstance(schedule, CronSchedule)
    out, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        out.append(moment.strftime("%a %H:%M:%S"))
    return out


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("", 0.0),
        ("0s", 0.0),
        ("@every 250ms", 0.25),
        (2, 2.0),
        ("1.5", 1.5),
    ],
)
def test_durations_and_every_are_seconds(text: str | int, seconds: float) -> None:
    assert parse_schedule(text) == seconds


def test_six_fields_put_seconds_first_and_five_fields_fire_on_the_minute() -> None:
    assert fires("* * * * * *") == ["Mon 10:14:08", "Mon 10:14:09", "Mon 10:14:10"]
    assert fires("0 */3 * * * *") == ["Mon 10:15:00", "Mon 10:18:00", "Mon 10:21:00"]
    assert fires("0,30 */2 * * *") == ["Mon 10:30:00", "Mon 12:00:00", "Mon 12:30:00"]
    assert fires("*/20 * * * * *") == ["Mon 10:14:20", "Mon 10:14:40", "Mon 10:15:00"]


def test_descriptors() -> None:
    assert fires("@hourly", 2) == ["Mon 11:00:00", "Mon 12:00:00"]
    assert fires("@daily", 2) == ["Tue 00:00:00", "Wed 00:00:00"]
    assert fires("@midnight", 1) == ["Tue 00:00:00"]
    assert fires("@weekly", 1) == ["Sun 00:00:00"]
    schedule = parse_schedule("@monthly")
    assert isinstance(schedule, CronSchedule)
    assert schedule.next_after(START) == datetime(2026, 4, 1, tzinfo=timezone.utc)


def test_a_time_zone_reads_the_fields_in_local_time() -> None:
    # 06:30 in Berlin is 05:30 UTC in winter and 04:30 UTC in summer (DST from 29 March 2026)
    schedule = parse_schedule("TZ=Europe/Berlin 30 6 * * *")
    assert isinstance(schedule, CronSchedule)
    winter = schedule.next_after(START)
    assert winter == datetime(2026, 3, 3, 5, 30, tzinfo=timezone.utc)
    summer = schedule.next_after(datetime(2026, 4, 1, tzinfo=timezone.utc))
    assert summer == datetime(2026, 4, 1, 4, 30, tzinfo=timezone.utc)
    utc = parse_schedule("CRON_TZ=UTC 0 * * * *")
    assert isinstance(utc, CronSchedule)
    assert (utc.expression, utc.zone) == ("0 * * * *", timezone.utc)


def test_each_firing_is_after_the_moment_given() -> None:
    schedule = parse_schedule("* * * * * *")
    assert isinstance(schedule, CronSchedule)
    on_the_second = START.replace(microsecond=0)
    assert schedule.next_after(on_the_second) == on_the_second + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5 minutes", "a cron expression has 5 fields"),
        ("* * * * * * *", "got 7"),
        ("61 * * * * *", "bad cron expression '61 * * * * *'"),
        ("0 0 32 * *", "bad cron expression"),
        ("@fortnightly", "unknown cron descriptor '@fortnightly'"),
        ("@every", "@every needs a duration"),
        ("@every soon", "soon"),
        ("TZ=Mars/Olympus 0 * * * *", "unknown time zone 'Mars/Olympus'"),
        ("soon", "nor a cron expression"),
        ("-5s", "must not be negative"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_schedule(text)
    assert message in str(info.value)
