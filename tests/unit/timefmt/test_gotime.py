"""Go reference-time layouts, nanosecond timestamps and strftime, as Benthos uses them."""

from __future__ import annotations

import contextlib
import copy
import pickle
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamforge.bloblang.errors import MappingError
from streamforge.timefmt import gotime
from streamforge.timefmt.gotime import (
    ANSIC,
    KITCHEN,
    RFC822,
    RFC822Z,
    RFC850,
    RFC1123,
    RFC1123Z,
    RFC3339,
    RFC3339_NANO,
    RUBY_DATE,
    STAMP_MICRO,
    UNIX_DATE,
    UTC,
    Timestamp,
    format_go,
    format_rfc3339_nano,
    from_unix_nanos,
    load_location,
    parse_go,
    to_zone,
    unix_nanos,
)
from streamforge.timefmt.strftime import format_strftime, parse_strptime

MST = timezone(timedelta(hours=-7), "MST")


def ts(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
    ns: int = 0, tz: timezone | object = UTC,
) -> Timestamp:  # fmt: skip
    wall = datetime(year, month, day, hour, minute, second, tzinfo=tz)  # type: ignore[arg-type]
    return Timestamp.of(wall, ns)


REFERENCE = ts(2006, 1, 2, 15, 4, 5, 0, MST)
SAMPLE = ts(2020, 8, 14, 11, 45, 26, 123_456_789)


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Run with a given local zone (as $TZ); restores the real one afterwards."""

    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        gotime.local_zone.cache_clear()

    yield use
    monkeypatch.undo()
    gotime.local_zone.cache_clear()


# -- formatting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [RUBY_DATE, RFC822, RFC822Z, RFC850, RFC1123, RFC1123Z, KITCHEN, "2006-01-02T15:04:05-07:00",
     "Monday January 2 2006 03:04:05 PM -07", "06/1/2 3:4:5 pm"],
)  # fmt: skip
def test_the_reference_time_formats_as_its_own_layout(layout: str) -> None:
    assert format_go(REFERENCE, layout) == layout


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (RFC3339, "2020-08-14T11:45:26Z"),
        (RFC3339_NANO, "2020-08-14T11:45:26.123456789Z"),
        (ANSIC, "Fri Aug 14 11:45:26 2020"),
        (UNIX_DATE, "Fri Aug 14 11:45:26 UTC 2020"),
        (STAMP_MICRO, "Aug 14 11:45:26.123456"),
        ("2006-01-02 15:04:05.000", "2020-08-14 11:45:26.123"),
        ("15:04:05,000000000", "11:45:26,123456789"),
        ("15:04:05.99", "11:45:26.12"),
        ("15:04:05.9999999999", "11:45:26.123456789"),
        ("002 __2", "227 227"),
        ("January Monday", "August Friday"),
        ("3PM==3pm==15h", "11AM==11am==11h"),
        ("Z07:00 Z0700 Z07 -07:00:00", "Z Z Z +00:00:00"),
        ("_2006", "_2020"),
        ("Janx Month", "Janx Month"),
    ],
)
def test_format_go_layout_elements(layout: str, expected: str) -> None:
    assert format_go(SAMPLE, layout) == expected


def test_fraction_nines_drop_trailing_zeros_and_the_dot() -> None:
    assert format_go(ts(2020, 1, 1, 0, 0, 1, 500_000_000), "05.999") == "01.5"
    assert format_go(ts(2020, 1, 1, 0, 0, 1), "05.999") == "01"
    assert format_go(ts(2020, 1, 1, 0, 0, 1), "05.000") == "01.000"


def test_space_padded_days_and_year_days() -> None:
    t = ts(2020, 1, 5)
    assert format_go(t, ANSIC) == "Sun Jan  5 00:00:00 2020"
    assert format_go(t, "__2|002") == "  5|005"


def test_zone_elements_for_offsets_and_names() -> None:
    t = ts(2021, 2, 3, 17, 5, 6, 0, timezone(timedelta(hours=5, minutes=30)))
    assert format_go(t, "-07 -0700 -07:00 Z07:00 -070000") == "+05 +0530 +05:30 +05:30 +053000"
    # An unnamed offset prints as a number where Go prints the zone name.
    assert format_go(t, "MST") == "+0530"
    berlin = to_zone(t, load_location("Europe/Berlin"))
    assert format_go(berlin, "15:04 MST -07:00") == "12:35 CET +01:00"


def test_twelve_hour_clock_at_midnight_and_noon() -> None:
    assert format_go(ts(2020, 1, 1, 0, 5), KITCHEN) == "12:05AM"
    assert format_go(ts(2020, 1, 1, 12, 5), KITCHEN) == "12:05PM"


def test_format_rfc3339_nano_trims_zeros_like_go() -> None:
    assert (
        format_rfc3339_nano(ts(2020, 8, 14, 11, 50, 26, 371_000_000)) == "2020-08-14T11:50:26.371Z"
    )
    assert format_rfc3339_nano(ts(2020, 8, 14, tz=timezone(timedelta(hours=-5)))) == (
        "2020-08-14T00:00:00-05:00"
    )


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "layout", "expected"),
    [
        ("2020-Aug-14", "2006-Jan-02", "2020-08-14T00:00:00Z"),
        ("Aug 14, 2020 at 5:54am (UTC)", "Jan 2, 2006 at 3:04pm (MST)", "2020-08-14T05:54:00Z"),
        ("2020-08-14T11:45:26.123456789+02:00", RFC3339, "2020-08-14T11:45:26.123456789+02:00"),
        ("2020-08-14T5:54:23Z", RFC3339, "2020-08-14T05:54:23Z"),
        ("Fri Aug  7 11:45:26 2020", ANSIC, "2020-08-07T11:45:26Z"),
        ("2020-060", "2006-002", "2020-02-29T00:00:00Z"),
        ("2019- 60", "2006-__2", "2019-03-01T00:00:00Z"),
        ("12:30:00 AM 2020-01-02", "03:04:05 PM 2006-01-02", "2020-01-02T00:30:00Z"),
        ("11:06:39.1234 2015", "15:04:05 2006", "2015-01-01T11:06:39.1234Z"),
        ("11:06:39,5 2015", "15:04:05.000 2006", None),
        ("august 3 2020", "January 2 2006", "2020-08-03T00:00:00Z"),
        ("2020-08-14   10:00", "2006-01-02 15:04", "2020-08-14T10:00:00Z"),
        ("14 Aug 20 10:00 -0130", RFC822Z, "2020-08-14T10:00:00-01:30"),
        ("2020-08-14 10:00:00.5 +0000 UTC", "2006-01-02 15:04:05.999999999 -0700 MST",
         "2020-08-14T10:00:00.5Z"),
    ],
)  # fmt: skip
def test_parse_go_layouts(text: str, layout: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(MappingError):
            parse_go(text, layout)
        return
    assert format_rfc3339_nano(parse_go(text, layout)) == expected


@pytest.mark.parametrize(
    ("text", "layout", "message"),
    [
        ("x", "2006-01-02",
         'parsing time "x" as "2006-01-02": cannot parse "x" as "2006"'),
        ("2020-08-14T10:00:00", RFC3339,
         'parsing time "2020-08-14T10:00:00" as "2006-01-02T15:04:05Z07:00": '
         'cannot parse "" as "Z07:00"'),
        ("2020/08/14", "2006-01-02",
         'parsing time "2020/08/14" as "2006-01-02": cannot parse "/08/14" as "-"'),
        ("2020-13-01", "2006-01-02", 'parsing time "2020-13-01": month out of range'),
        ("2021-02-29", "2006-01-02", 'parsing time "2021-02-29": day out of range'),
        ("25:00", "2006 15:04",
         'parsing time "25:00" as "2006 15:04": cannot parse "25:00" as "2006"'),
        ("2020 25:00", "2006 15:04", 'parsing time "2020 25:00": hour out of range'),
        ("2020-01-01 junk", "2006-01-02", 'parsing time "2020-01-01 junk": extra text: " junk"'),
        ("2020 Foo", "2006 Jan",
         'parsing time "2020 Foo" as "2006 Jan": cannot parse "Foo" as "Jan"'),
        ("2021-366", "2006-002", 'parsing time "2021-366": day-of-year out of range'),
        ("2020 xyz", "2006 MST",
         'parsing time "2020 xyz" as "2006 MST": cannot parse "xyz" as "MST"'),
        ("20200101", "2006-01-02",
         'parsing time "20200101" as "2006-01-02": cannot parse "0101" as "-"'),
    ],
)  # fmt: skip
def test_parse_errors_use_go_wording(text: str, layout: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_go(text, layout)
    assert str(info.value) == message


def test_parsed_zone_names_and_offsets() -> None:
    t = parse_go("Thu, 14 Aug 2020 11:45:26 PST", RFC1123)
    # An abbreviation the local zone does not use keeps its name with a zero offset (Go).
    assert format_go(t, "15:04 MST -0700") == "11:45 PST +0000"
    t = parse_go("2020-08-14 10:00 GMT+3", "2006-01-02 15:04 MST")
    assert format_go(t, "-0700 MST") == "+0300 GMT+3"
    t = parse_go("2020-08-14T10:00:00-03:30", RFC3339)
    assert format_go(t, "15:04 -07:00 MST") == "10:00 -03:30 -0330"
    assert unix_nanos(t) == unix_nanos(ts(2020, 8, 14, 13, 30))


def test_parse_uses_the_local_zone_for_its_abbreviations_and_offsets(local_tz) -> None:
    local_tz("Europe/Berlin")
    t = parse_go("Fri, 14 Aug 2020 11:45:26 CEST", RFC1123)
    assert format_rfc3339_nano(t) == "2020-08-14T11:45:26+02:00"
    t = parse_go("2020-01-14T11:45:26+01:00", RFC3339)
    assert format_go(t, "MST") == "CET"


def test_time_only_layouts_are_reported_as_out_of_range() -> None:
    with pytest.raises(MappingError, match="year 0 is outside the supported range"):
        parse_go("10:30", "15:04")


def test_layout_tokenisation_is_cached() -> None:
    gotime._tokenize.cache_clear()
    for _ in range(3):
        format_go(SAMPLE, "2006-01-02 weird layout 15:04")
    info = gotime._tokenize.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# -- property tests ---------------------------------------------------------------------------

_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
_stamps = st.builds(
    lambda dt, ns, tz: Timestamp.of(dt.replace(tzinfo=tz), ns),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=0, max_value=999_999_999),
    _offsets,
)
_FULL_LAYOUTS = [
    RFC3339_NANO,
    "Mon Jan _2 15:04:05.000000000 -0700 2006",
    "2006-002 15:04:05.999999999 Z07:00",
    "January 2 2006 3:04:05,000000000PM -07:00",
    "Monday 02-Jan-2006 15h04m05s .000000000 Z0700",
]


@settings(max_examples=150, deadline=None)
@given(stamp=_stamps, layout=st.sampled_from(_FULL_LAYOUTS))
def test_format_then_parse_is_the_same_instant_and_offset(stamp: Timestamp, layout: str) -> None:
    back = parse_go(format_go(stamp, layout), layout)
    assert unix_nanos(back) == unix_nanos(stamp)
    assert back.utcoffset() == stamp.utcoffset()
    assert back.nanosecond == stamp.nanosecond


@settings(max_examples=100, deadline=None)
@given(
    stamp=_stamps.filter(lambda t: 1969 <= t.year <= 2068),
)
def test_two_digit_years_round_trip_within_go_century_window(stamp: Timestamp) -> None:
    layout = "06-01-02 15:04:05.000000000 -0700"
    back = parse_go(format_go(stamp, layout), layout)
    assert back == stamp


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="0123456789-:.,TZ+ APMJanFebMonSTUC_", max_size=40),
    layout=st.sampled_from(_FULL_LAYOUTS + [RFC1123, KITCHEN, "2006-01-02", "__2 002"]),
)
def test_parse_of_arbitrary_text_fails_only_with_mapping_error(text: str, layout: str) -> None:
    with contextlib.suppress(MappingError):
        parse_go(text, layout)


@settings(max_examples=100, deadline=None)
@given(layout=st.text(alphabet="0123456789-:.,_JanMonMSTPMpmZ ", max_size=30), stamp=_stamps)
def test_any_layout_formats_without_error(layout: str, stamp: Timestamp) -> None:
    assert isinstance(format_go(stamp, layout), str)


# -- the Timestamp type ---------------------------------------------------------------------------


def test_timestamps_compare_and_hash_with_nanoseconds() -> None:
    a = ts(2020, 1, 1, ns=1)
    b = ts(2020, 1, 1, ns=2)
    assert a != b and a < b and b > a and a <= a
    assert a == to_zone(a, load_location("Asia/Tokyo"))
    plain = datetime(2020, 1, 1, tzinfo=UTC)
    assert ts(2020, 1, 1) == plain and hash(ts(2020, 1, 1)) == hash(plain)
    assert len({a, b, to_zone(a, load_location("Asia/Tokyo"))}) == 2


def test_timestamps_survive_copy_pickle_and_timedelta_arithmetic() -> None:
    t = to_zone(SAMPLE, load_location("America/New_York"))
    assert copy.deepcopy(t) is t
    back = pickle.loads(pickle.dumps(t))
    assert back == t and back.nanosecond == 123_456_789 and back.tzinfo == t.tzinfo
    later = t + timedelta(seconds=1)
    assert isinstance(later, Timestamp) and later.nanosecond == 123_456_789
    assert unix_nanos(later) - unix_nanos(t) == 1_000_000_000


def test_unix_nanos_round_trip_before_and_after_the_epoch() -> None:
    for ns in (0, -1, -1_500_000_000, 1_597_405_526_123_456_789):
        assert unix_nanos(from_unix_nanos(ns)) == ns


def test_unknown_zone_names_fail_with_go_wording() -> None:
    with pytest.raises(MappingError, match="^unknown time zone Mars/Olympus$"):
        load_location("Mars/Olympus")
    assert load_location("UTC") is UTC


# -- strftime / strptime -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%Y-%b-%d %H:%M:%S", "2020-Aug-14 11:45:26"),
        ("%Y-%b-%d %H:%M:%S.%f", "2020-Aug-14 11:45:26.123456"),
        ("%a %A %B %h %j %U %W %V %G %g %u %w", "Fri Friday August Aug 227 32 32 33 2020 20 5 5"),
        ("%c", "Fri Aug 14 11:45:26 2020"),
        ("%F %T %D %R %r", "2020-08-14 11:45:26 08/14/20 11:45 11:45:26 AM"),
        ("%z %:z %::z %Z", "+0000 +00:00 +00:00:00 UTC"),
        ("%s", "1597405526"),
        ("%-d/%-m %e %_H %^a %#b %10A|%-3d", "14/8 14 11 FRI AUG     Friday| 14"),
        ("100%% %Q", "100% %Q"),
    ],
)
def test_strftime_directives(fmt: str, expected: str) -> None:
    assert format_strftime(SAMPLE, fmt) == expected


def test_strftime_pads_single_digits() -> None:
    t = ts(2020, 3, 5, 7, 8, 9, 5000)
    assert (
        format_strftime(t, "%d %e %H %k %I %l %M %S %f %p") == "05  5 07  7 07  7 08 09 000005 AM"
    )


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("2020-Aug-14", "%Y-%b-%d", "2020-08-14T00:00:00Z"),
        ("2020-Aug-14 11:50:26.371000", "%Y-%b-%d %H:%M:%S.%f", "2020-08-14T11:50:26.371Z"),
        ("14/08/20 03:04 PM +0530", "%d/%m/%y %I:%M %p %z", "2020-08-14T15:04:00+05:30"),
        ("2020 227", "%Y %j", "2020-08-14T00:00:00Z"),
        ("1597405526", "%s", "2020-08-14T11:45:26Z"),
        ("Fri Aug 14 11:45:26 2020", "%c", "2020-08-14T11:45:26Z"),
        ("2020-08-14T11:45:26+02:00", "%Y-%m-%dT%H:%M:%S%:z", "2020-08-14T11:45:26+02:00"),
    ],
)
def test_strptime_directives(text: str, fmt: str, expected: str) -> None:
    assert format_rfc3339_nano(parse_strptime(text, fmt)) == expected


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("2020-Aug-14", "%Y-%m-%d",
         'failed to parse "2020-Aug-14" with "%Y-%m-%d": cannot parse "%m"'),
        ("2020", "%Y-%m", "failed to parse \"2020\" with \"%Y-%m\": expected '-'"),
        ("2020x", "%Y", 'failed to parse "2020x" with "%Y": unparsed string "x"'),
        ("2020", "%Y %Q", 'failed to parse "2020" with "%Y %Q": expected \' \''),
        ("2020 1", "%Y %Q", 'failed to parse "2020 1" with "%Y %Q": unexpected format "%Q"'),
    ],
)  # fmt: skip
def test_strptime_errors(text: str, fmt: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_strptime(text, fmt)
    assert str(info.value) == message


@settings(max_examples=100, deadline=None)
@given(stamp=_stamps.map(lambda t: Timestamp.of(t, t.nanosecond // 1000 * 1000)))
def test_strftime_then_strptime_round_trips_to_the_microsecond(stamp: Timestamp) -> None:
    fmt = "%Y-%m-%d %H:%M:%S.%f %z"
    back = parse_strptime(format_strftime(stamp, fmt), fmt)
    assert back == stamp and back.utcoffset() == stamp.utcoffset()


@settings(max_examples=200, deadline=None)
@given(fmt=st.text(alphabet="%-_^#0123:zZYmdHMSfjabpcs+ xQ", max_size=20), stamp=_stamps)
def test_any_strftime_format_formats_and_parses_without_crashing(
    fmt: str, stamp: Timestamp
) -> None:
    text = format_strftime(stamp, fmt)
    assert isinstance(text, str)
    with contextlib.suppress(MappingError):
        parse_strptime(text, fmt)
