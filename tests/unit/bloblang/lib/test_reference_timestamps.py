"""Benthos' reference for the "Timestamp Manipulation" methods: every documented example."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError

#: the methods Benthos (Redpanda Connect) lists under "Timestamp Manipulation"
REFERENCE_METHODS = [
    "parse_duration", "parse_duration_iso8601", "ts_add_iso8601", "ts_format", "ts_parse",
    "ts_round", "ts_strftime", "ts_strptime", "ts_sub", "ts_sub_iso8601", "ts_tz", "ts_unix",
    "ts_unix_micro", "ts_unix_milli", "ts_unix_nano",
]  # fmt: skip

#: (mapping, input payload, output payload) as the reference writes them
EXAMPLES: list[tuple[str, str, str]] = [
    ("root.delay_for_ns = this.delay_for.parse_duration()", '{"delay_for":"50us"}',
     '{"delay_for_ns":50000}'),
    ("root.delay_for_s = this.delay_for.parse_duration() / 1000000000", '{"delay_for":"2h"}',
     '{"delay_for_s":7200}'),
    ("root.delay_for_ns = this.delay_for.parse_duration_iso8601()",
     '{"delay_for":"P3Y6M4DT12H30M5S"}', '{"delay_for_ns":110839937000000000}'),
    ("root.delay_for_s = this.delay_for.parse_duration_iso8601() / 1000000000",
     '{"delay_for":"PT2H"}', '{"delay_for_s":7200}'),
    ('root.next_year = this.created_at.ts_add_iso8601("P1Y")',
     '{"created_at":"2020-08-14T05:54:23Z"}', '{"next_year":"2021-08-14T05:54:23Z"}'),
    ('root.future_date = this.created_at.ts_add_iso8601("P1Y2M3DT4H5M6S")',
     '{"created_at":"2020-01-01T00:00:00Z"}', '{"future_date":"2021-03-04T04:05:06Z"}'),
    ('root.something_at = this.created_at.ts_format("2006-Jan-02 15:04:05")',
     '{"created_at":"2020-08-14T11:50:26.371Z"}', '{"something_at":"2020-Aug-14 11:50:26"}'),
    ('root.something_at = this.created_at.ts_format(format: "2006-Jan-02 15:04:05", tz: "UTC")',
     '{"created_at":1597405526}', '{"something_at":"2020-Aug-14 11:45:26"}'),
    ('root.doc.timestamp = this.doc.timestamp.ts_parse("2006-Jan-02")',
     '{"doc":{"timestamp":"2020-Aug-14"}}', '{"doc":{"timestamp":"2020-08-14T00:00:00Z"}}'),
    ('root.parsed = this.timestamp.ts_parse("Jan 2, 2006 at 3:04pm (MST)")',
     '{"timestamp":"Aug 14, 2020 at 5:54am (UTC)"}', '{"parsed":"2020-08-14T05:54:00Z"}'),
    ('root.created_at_hour = this.created_at.ts_round("1h".parse_duration())',
     '{"created_at":"2020-08-14T05:54:23Z"}', '{"created_at_hour":"2020-08-14T06:00:00Z"}'),
    ('root.created_at_minute = this.created_at.ts_round("1m".parse_duration())',
     '{"created_at":"2020-08-14T05:54:23Z"}', '{"created_at_minute":"2020-08-14T05:54:00Z"}'),
    ('root.something_at = this.created_at.ts_strftime("%Y-%b-%d %H:%M:%S")',
     '{"created_at":"2020-08-14T11:50:26.371Z"}', '{"something_at":"2020-Aug-14 11:50:26"}'),
    ('root.something_at = this.created_at.ts_strftime("%Y-%b-%d %H:%M:%S.%f", "UTC")',
     '{"created_at":"2020-08-14T11:50:26.371Z"}',
     '{"something_at":"2020-Aug-14 11:50:26.371000"}'),
    ('root.doc.timestamp = this.doc.timestamp.ts_strptime("%Y-%b-%d")',
     '{"doc":{"timestamp":"2020-Aug-14"}}', '{"doc":{"timestamp":"2020-08-14T00:00:00Z"}}'),
    ('root.doc.timestamp = this.doc.timestamp.ts_strptime("%Y-%b-%d %H:%M:%S.%f")',
     '{"doc":{"timestamp":"2020-Aug-14 11:50:26.371000"}}',
     '{"doc":{"timestamp":"2020-08-14T11:50:26.371Z"}}'),
    ('root.between = this.started_at.ts_sub("2020-08-14T05:54:23Z").abs()',
     '{"started_at":"2020-08-13T05:54:23Z"}', '{"between":86400000000000}'),
    ("root.duration_ns = this.end_time.ts_sub(this.start_time)",
     '{"start_time":"2020-08-14T10:00:00Z","end_time":"2020-08-14T11:30:00Z"}',
     '{"duration_ns":5400000000000}'),
    ('root.last_year = this.created_at.ts_sub_iso8601("P1Y")',
     '{"created_at":"2020-08-14T05:54:23Z"}', '{"last_year":"2019-08-14T05:54:23Z"}'),
    ('root.past_date = this.created_at.ts_sub_iso8601("P1Y2M3DT4H5M6S")',
     '{"created_at":"2021-03-04T04:05:06Z"}', '{"past_date":"2020-01-01T00:00:00Z"}'),
    ('root.created_at_utc = this.created_at.ts_tz("UTC")',
     '{"created_at":"2021-02-03T17:05:06+01:00"}', '{"created_at_utc":"2021-02-03T16:05:06Z"}'),
    ('root.created_at_ny = this.created_at.ts_tz("America/New_York")',
     '{"created_at":"2021-02-03T16:05:06Z"}', '{"created_at_ny":"2021-02-03T11:05:06-05:00"}'),
    ("root.created_at_unix = this.created_at.ts_unix()", '{"created_at":"2009-11-10T23:00:00Z"}',
     '{"created_at_unix":1257894000}'),
    ("root.timestamp = this.ts.ts_unix()", '{"ts":1257894000}', '{"timestamp":1257894000}'),
    ("root.created_at_unix = this.created_at.ts_unix_micro()",
     '{"created_at":"2009-11-10T23:00:00Z"}', '{"created_at_unix":1257894000000000}'),
    ("root.precise_time = this.timestamp.ts_unix_micro()",
     '{"timestamp":"2020-08-14T11:45:26.123456Z"}', '{"precise_time":1597405526123456}'),
    ("root.created_at_unix = this.created_at.ts_unix_milli()",
     '{"created_at":"2009-11-10T23:00:00Z"}', '{"created_at_unix":1257894000000}'),
    ("root.js_timestamp = this.event_time.ts_unix_milli()",
     '{"event_time":"2020-08-14T11:45:26.123Z"}', '{"js_timestamp":1597405526123}'),
    ("root.created_at_unix = this.created_at.ts_unix_nano()",
     '{"created_at":"2009-11-10T23:00:00Z"}', '{"created_at_unix":1257894000000000000}'),
    ("root.precise_time = this.timestamp.ts_unix_nano()",
     '{"timestamp":"2020-08-14T11:45:26.123456789Z"}', '{"precise_time":1597405526123456789}'),
]  # fmt: skip


@pytest.mark.parametrize(("mapping", "given", "expected"), EXAMPLES)
def test_documented_example(
    doc_example: Callable[[str, str, str], None], mapping: str, given: str, expected: str
) -> None:
    doc_example(mapping, given, expected)


def test_every_reference_method_is_registered() -> None:
    missing = [name for name in REFERENCE_METHODS if name not in registry.methods]
    assert missing == []


@pytest.mark.parametrize(
    ("mapping", "value", "message"),
    [
        ("root = this.parse_duration()", "5 parsecs", "unknown unit"),
        ("root = this.parse_duration_iso8601()", "3 days", "'P' period mark"),
        ('root = this.ts_parse("2006-01-02")', "14/08/2020", "cannot parse"),
        ('root = this.ts_tz("Mars/Olympus_Mons")', "2020-08-14T05:54:23Z", "unknown time zone"),
    ],
)
def test_documented_errors(mapping: str, value: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse(mapping).query(value)
