"""Bloblang time functions and Timestamp Manipulation methods, from Benthos' documented examples."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamforge.bloblang import MappingError, parse
from streamforge.timefmt import gotime
from streamforge.timefmt.gotime import RFC3339_NANO, Timestamp, format_rfc3339_nano, parse_go

Run = Callable[[str, Any], Any]


def as_json(value: Any) -> str:
    """Compact JSON with timestamps as Go's RFC 3339 with nanoseconds (Benthos' encoding)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=format_rfc3339_nano)


def doc(mapping: str, value: Any) -> str:
    return as_json(parse(mapping).query(value))


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Run with a given local zone (as $TZ); restores the real one afterwards."""

    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        gotime.local_zone.cache_clear()

    yield use
    monkeypatch.undo()
    gotime.local_zone.cache_clear()


# -- documented examples -------------------------------------------------------------------------

DOC_EXAMPLES = [
    ('root.something_at = this.created_at.ts_format(format: "2006-Jan-02 15:04:05", tz: "UTC")',
     {"created_at": "2020-08-14T11:50:26.371Z"}, '{"something_at":"2020-Aug-14 11:50:26"}'),
    ('root.something_at = this.created_at.ts_format("2006-Jan-02 15:04:05.999999", "UTC")',
     {"created_at": 1597405526.123456}, '{"something_at":"2020-Aug-14 11:45:26.123456"}'),
    ('root.something_at = this.created_at.ts_format("2006-Jan-02 15:04:05.999999", "UTC")',
     {"created_at": "2020-08-14T11:50:26.371Z"}, '{"something_at":"2020-Aug-14 11:50:26.371"}'),
    ('root.something_at = this.created_at.ts_strftime("%Y-%b-%d %H:%M:%S", "UTC")',
     {"created_at": 1597405526}, '{"something_at":"2020-Aug-14 11:45:26"}'),
    ('root.something_at = this.created_at.ts_strftime("%Y-%b-%d %H:%M:%S", "UTC")',
     {"created_at": "2020-08-14T11:50:26.371Z"}, '{"something_at":"2020-Aug-14 11:50:26"}'),
    ('root.something_at = this.created_at.ts_strftime("%Y-%b-%d %H:%M:%S.%f", "UTC")',
     {"created_at": 1597405526}, '{"something_at":"2020-Aug-14 11:45:26.000000"}'),
    ('root.type = this.ts_parse("2006-01-02").type()', "2022-06-06", '{"type":"timestamp"}'),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "value", "expected"), DOC_EXAMPLES)
def test_documented_examples(mapping: str, value: Any, expected: str) -> None:
    assert doc(mapping, value) == expected


@pytest.mark.parametrize(
    ("mapping", "value", "expected"),
    [
        ('root.delay_for_s = this.delay_for.parse_duration() / 1000000000', {"delay_for": "2h"},
         7200),
        ('root.delay_for_s = this.delay_for.parse_duration_iso8601() / 1000000000',
         {"delay_for": "PT2H"}, 7200),
        ('root.delay_for_s = this.delay_for.parse_duration_iso8601() / 1000000000',
         {"delay_for": "PT2.5S"}, 2.5),
    ],
)  # fmt: skip
def test_documented_duration_arithmetic(mapping: str, value: Any, expected: float) -> None:
    assert parse(mapping).query(value)["delay_for_s"] == expected


def test_timestamps_in_a_message_serialise_as_rfc3339_nano(
    run_doc: Callable[[str, str], str],
) -> None:
    out = run_doc('root.t = this.t.ts_parse("2006-01-02T15:04:05.999999999Z07:00")',
                  '{"t":"2020-08-14T11:50:26.123456789Z"}')  # fmt: skip
    assert out == '{"t":"2020-08-14T11:50:26.123456789Z"}'


# -- functions -----------------------------------------------------------------------------------


def test_now_is_the_current_time_as_an_rfc3339_string(run: Run) -> None:
    before = time.time_ns()
    value = run("root = now()", None)
    after = time.time_ns()
    assert isinstance(value, str)
    assert before <= gotime.unix_nanos(parse_go(value, RFC3339_NANO)) <= after


def test_now_can_be_reformatted(run: Run) -> None:
    value = run('root = now().ts_format("Mon Jan 2 15:04:05 -0700 MST 2006", "UTC")', None)
    assert value.endswith(f" +0000 UTC {time.gmtime().tm_year}") or value.endswith(
        f" +0000 UTC {time.gmtime().tm_year + 1}"
    )


@pytest.mark.parametrize(
    ("name", "scale"),
    [("timestamp_unix", 10**9), ("timestamp_unix_milli", 10**6), ("timestamp_unix_micro", 10**3),
     ("timestamp_unix_nano", 1)],
)  # fmt: skip
def test_timestamp_unix_functions_count_from_the_epoch(run: Run, name: str, scale: int) -> None:
    before = time.time_ns() // scale
    value = run(f"root = {name}()", None)
    after = time.time_ns() // scale
    assert type(value) is int and before <= value <= after


# -- targets and zones -------------------------------------------------------------------------


def test_unix_numbers_are_shown_in_the_local_zone(
    run: Run, local_tz: Callable[[str], None]
) -> None:
    local_tz("America/New_York")
    assert run('root = this.ts_format("2006-01-02 15:04:05 MST")', 1597405526) == (
        "2020-08-14 07:45:26 EDT"
    )
    assert run("root = this.ts_format()", 1597405526.5) == "2020-08-14T07:45:26.5-04:00"
    assert run('root = this.ts_tz("Local").ts_format("MST")', "2020-01-14T00:00:00Z") == "EST"


def test_rfc3339_strings_keep_their_offset(run: Run) -> None:
    assert (
        run('root = this.ts_format("15:04 -07:00")', "2021-02-03T17:05:06+01:00") == "17:05 +01:00"
    )


def test_ts_tz_follows_daylight_saving_time(run: Run) -> None:
    mapping = 'root = this.ts_tz("Europe/Berlin").ts_format("2006-01-02 15:04 MST")'
    assert run(mapping, "2021-07-03T16:05:06Z") == "2021-07-03 18:05 CEST"
    assert run(mapping, "2021-01-03T16:05:06Z") == "2021-01-03 17:05 CET"


def test_negative_and_fractional_unix_seconds(run: Run) -> None:
    assert run('root = this.ts_format(tz: "UTC")', -1.5) == "1969-12-31T23:59:58.5Z"
    assert run("root = this.ts_unix_nano()", 1.25) == 1_250_000_000


def test_timestamps_keep_nanoseconds_through_methods(run: Run) -> None:
    value = run('root = this.ts_tz("Asia/Tokyo").ts_round(1000).ts_unix_nano()',
                "2020-08-14T11:45:26.123456789Z")  # fmt: skip
    assert value == 1597405526123457000


def test_ts_round_counts_from_go_zero_time(run: Run) -> None:
    # Go rounds from 0001-01-01 (a Monday), so weeks round to Mondays.
    week = 7 * 24 * 3600 * 10**9
    out = run(f"root = this.ts_round({week})", "2020-08-14T05:54:23Z")
    assert format_rfc3339_nano(out) == "2020-08-17T00:00:00Z"
    assert format_rfc3339_nano(run("root = this.ts_round(0)", "2020-08-14T05:54:23Z")) == (
        "2020-08-14T05:54:23Z"
    )


def test_ts_add_iso8601_follows_the_calendar(run: Run) -> None:
    assert (
        doc('root = this.ts_add_iso8601("P1M")', "2020-01-31T00:00:00Z") == '"2020-03-02T00:00:00Z"'
    )
    assert (
        doc('root = this.ts_add_iso8601("P1W")', "2020-02-25T10:00:00Z") == '"2020-03-03T10:00:00Z"'
    )
    assert doc('root = this.ts_add_iso8601("PT1.5S")', "2020-02-25T10:00:00Z") == (
        '"2020-02-25T10:00:01.5Z"'
    )
    assert (
        doc('root = this.ts_add_iso8601("-P1D")', "2020-03-01T10:00:00Z")
        == '"2020-02-29T10:00:00Z"'
    )
    # Across a DST change a day keeps the wall clock, an hour count does not.
    day = 'root = this.ts_tz("Europe/Berlin").ts_add_iso8601("P1D").ts_format("15:04 MST")'
    hours = 'root = this.ts_tz("Europe/Berlin").ts_add_iso8601("PT24H").ts_format("15:04 MST")'
    assert run(day, "2021-03-27T11:00:00Z") == "12:00 CEST"
    assert run(hours, "2021-03-27T11:00:00Z") == "13:00 CEST"


def test_iso8601_durations_keep_one_decimal(run: Run) -> None:
    assert run("root = this.parse_duration_iso8601()", "P3.5S") == 3_500_000_000
    assert run("root = this.parse_duration_iso8601()", "PT2.56S") == 2_500_000_000
    assert run("root = this.parse_duration_iso8601()", "P1W") == 7 * 86400 * 10**9
    assert run("root = this.parse_duration_iso8601()", "-PT1M") == -60 * 10**9


@pytest.mark.parametrize(
    ("text", "expected"),
    [("300ms", 300_000_000), ("-1.5h", -5_400_000_000_000), ("2h45m", 9_900_000_000_000),
     ("1µs", 1000), ("1.5us", 1500), ("0", 0), ("+5s", 5_000_000_000), (".5s", 500_000_000)],
)  # fmt: skip
def test_parse_duration_accepts_go_durations(run: Run, text: str, expected: int) -> None:
    assert run("root = this.parse_duration()", text) == expected


def test_coercion_method_timestamp(run: Run) -> None:
    out = run("root = this.ts.timestamp()", {"ts": "2020-08-14T05:54:23.5Z"})
    assert isinstance(out, Timestamp) and format_rfc3339_nano(out) == "2020-08-14T05:54:23.5Z"
    out = run("root = this.none.timestamp(1234567890.timestamp())", {})
    assert gotime.unix_nanos(out) == 1234567890 * 10**9
    with pytest.raises(MappingError):
        run("root = this.none.timestamp()", {"none": "nope"})


def test_deprecated_aliases_still_work(run: Run) -> None:
    assert (
        run('root = this.parse_timestamp("2006-Jan-02")', "2020-Aug-14") == "2020-08-14T00:00:00Z"
    )
    assert run('root = this.parse_timestamp_strptime("%Y-%b-%d")', "2020-Aug-14") == (
        "2020-08-14T00:00:00Z"
    )
    assert run('root = this.format_timestamp("2006", "UTC")', 0) == "1970"
    assert run('root = this.format_timestamp_strftime("%Y", "UTC")', 0) == "1970"
    assert run("root = this.format_timestamp_unix_milli()", "1970-01-01T00:00:01Z") == 1000
    assert run("root = this.format_timestamp_unix_nano()", "1970-01-01T00:00:01Z") == 10**9


def test_ts_parse_accepts_bytes_and_timestamps(
    run: Run, run_doc: Callable[[str, str], str]
) -> None:
    assert run_doc('root = content().ts_parse("2006-01-02").ts_unix()', "2020-01-02") == (
        "1577923200"
    )
    assert (
        format_rfc3339_nano(
            run(
                'root = this.ts_parse("2006-01-02").ts_parse("2006-01-02T15:04:05Z07:00")',
                "2020-01-02",
            )
        )
        == "2020-01-02T00:00:00Z"
    )


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "value", "message"),
    [
        ('root = this.ts_parse("2006-01-02")', "2020/01/02",
         'parsing time "2020/01/02" as "2006-01-02": cannot parse "/01/02" as "-"'),
        ('root = this.ts_format()', "yesterday",
         'parsing time "yesterday" as "2006-01-02T15:04:05.999999999Z07:00": '
         'cannot parse "yesterday" as "2006"'),
        ('root = this.ts_unix()', {"a": 1}, "expected number or string value, got object"),
        ('root = this.ts_unix()', True, "expected number or string value, got bool"),
        ('root = this.ts_parse("2006")', 5, "expected string value, got number"),
        ('root = this.ts_tz("Mars/Olympus")', "2020-01-01T00:00:00Z",
         "failed to parse timezone location name: unknown time zone Mars/Olympus"),
        ('root = this.ts_format("2006", "Nowhere")', 0,
         "failed to parse timezone location name: unknown time zone Nowhere"),
        ('root = this.parse_duration()', "1d", 'time: unknown unit "d" in duration "1d"'),
        ('root = this.parse_duration()', "10", 'time: missing unit in duration "10"'),
        ('root = this.parse_duration()', "soon", 'time: invalid duration "soon"'),
        ('root = this.parse_duration()', "", 'time: invalid duration ""'),
        ('root = this.parse_duration_iso8601()', "3 days", "expected 'P' period mark at the start"),
        ('root = this.ts_add_iso8601("PT")', "2020-01-01T00:00:00Z", "PT: expected a number"),
        ('root = this.ts_strptime("%Y-%m-%d")', "2020-Aug-14",
         'failed to parse "2020-Aug-14" with "%Y-%m-%d": cannot parse "%m"'),
    ],
)  # fmt: skip
def test_errors(run: Run, mapping: str, value: Any, message: str) -> None:
    with pytest.raises(MappingError) as info:
        run(mapping, value)
    assert message in str(info.value)
