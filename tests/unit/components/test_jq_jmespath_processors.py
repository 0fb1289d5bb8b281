"""The `jq` and `jmespath` processors on batches: reshaping and filtering documents, raw text
in and out, several results, metadata kept, failures flagged per message, bad queries at lint."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from component_helpers import build, lint_processors, msgs, validated_conf

from streamforge.message import Message

PLANT = {
    "sensors": [
        {"name": "spindle", "line": "A", "temp": 71.5},
        {"name": "coolant", "line": "B", "temp": 18.0},
        {"name": "bearing", "line": "A", "temp": 64.0},
        {"name": "motor", "line": "A", "temp": 80.25},
    ]
}


def jq(**conf: Any) -> Any:
    return build("processor", "jq", validated_conf("processor", "jq", conf))


def jmespath(query: str) -> Any:
    return build("processor", "jmespath", validated_conf("processor", "jmespath", {"query": query}))


def payloads(batch: list[Message]) -> list[bytes]:
    return [m.payload for m in batch]


# -- jq -------------------------------------------------------------------------------------


def test_jq_collapses_a_filtered_array_into_one_field() -> None:
    proc = jq(query='{line_a: [.sensors[] | select(.line == "A") | .name] | sort | join(", ")}')
    out = proc.process_batch(msgs(json.dumps(PLANT)))
    assert payloads(out) == [b'{"line_a":"bearing, motor, spindle"}']


def test_jq_reshapes_objects_and_reads_metadata_which_it_keeps() -> None:
    proc = jq(query="{asset: $metadata.asset, hottest: (.sensors | max_by(.temp) | .name)}")
    batch = [Message(json.dumps(PLANT), {"asset": "press-7", "site": "hh"})]
    [msg] = proc.process_batch(batch)
    assert json.loads(msg.payload) == {"asset": "press-7", "hottest": "motor"}
    assert msg.metadata == {"asset": "press-7", "site": "hh"}


def test_jq_metadata_values_json_cannot_hold_are_given_as_text() -> None:
    when = datetime(2026, 3, 1, 6, 30, tzinfo=timezone.utc)
    batch = [Message("{}", {"raw": b"\x01ok", "at": when, "count": 3})]
    [msg] = jq(query="$metadata").process_batch(batch)
    assert json.loads(msg.payload) == {"raw": "\u0001ok", "at": "2026-03-01T06:30:00Z", "count": 3}


def test_jq_runs_per_message_of_a_batch_and_drops_those_with_no_result() -> None:
    proc = jq(query=".sensors[] | select(.temp > 70) | .name")
    cold = {"sensors": [{"name": "coolant", "temp": 18.0}]}
    hot_one = {"sensors": [{"name": "motor", "temp": 80.25}]}
    out = proc.process_batch(msgs(json.dumps(PLANT), json.dumps(cold), json.dumps(hot_one)))
    # two results become an array; none drops the message; one string stays a JSON string
    assert payloads(out) == [b'["spindle","motor"]', b'"motor"']


def test_jq_output_raw_writes_strings_unquoted_and_joins_several_results() -> None:
    proc = jq(query=".tags[]", output_raw=True)
    out = proc.process_batch(
        msgs('{"tags": ["line-", "A"]}', '{"tags": ["x", 3, {"k": 1.0}, null]}', '{"tags": [""]}')
    )
    assert payloads(out) == [b"line-A", b'x3{"k":1}null', b""]


def test_jq_raw_gives_the_query_the_payload_text() -> None:
    proc = jq(query='split(";") | {asset: .[0], temp: (.[1] | tonumber)}', raw=True)
    [msg] = proc.process_batch(msgs("press-7;71.5"))
    assert json.loads(msg.payload) == {"asset": "press-7", "temp": 71.5}
    # a JSON payload is text too: its length in characters, not its number of keys
    assert payloads(jq(query="length", raw=True).process_batch(msgs('{"a": 1}'))) == [b"8"]
    assert payloads(jq(query="length").process_batch(msgs('{"a": 1}'))) == [b"1"]


def test_jq_raw_in_and_out_upper_cases_text() -> None:
    proc = jq(query='ascii_upcase + "!"', raw=True, output_raw=True)
    assert payloads(proc.process_batch(msgs("stop line 3"))) == [b"STOP LINE 3!"]


def test_jq_failures_flag_only_their_message_with_the_reason() -> None:
    proc = jq(query=".temp + 2")
    batch = msgs('{"temp": 20}', "temp=20", '{"temp": "hot"}')
    out = proc.process_batch(batch)
    assert [m.error is None for m in out] == [True, False, False]
    assert out[0].payload == b"22"
    assert out[1].payload == b"temp=20"  # content unchanged for catch / fallback
    assert out[1].error is not None and out[1].error.startswith("jq: failed to parse")
    assert out[2].payload == b'{"temp": "hot"}'
    assert out[2].error == 'jq: string ("hot") and number (2) cannot be added'


def test_jq_passes_messages_that_failed_earlier_untouched() -> None:
    proc = jq(query=".a")
    failed = Message('{"a": 1}', error="earlier")
    [msg] = proc.process_batch([failed])
    assert msg.payload == b'{"a": 1}' and msg.error == "earlier"


def test_jq_query_cannot_read_the_environment_or_stop_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANT_DB_PASSWORD", "s3cret")
    proc = jq(query="[env.PLANT_DB_PASSWORD, $ENV.PLANT_DB_PASSWORD, (env | length)]")
    assert payloads(proc.process_batch(msgs("{}"))) == [b"[null,null,0]"]
    for query, error in [
        ('"stop" | halt_error', "jq: stop"),
        ("halt", "jq: halt"),
        ("input", "jq: input is not available in the jq processor"),
    ]:
        [msg] = jq(query=query).process_batch(msgs("{}"))
        assert msg.error == error


# -- jmespath -------------------------------------------------------------------------------


def test_jmespath_collapses_a_filtered_array_into_one_field() -> None:
    proc = jmespath("sensors[?line == 'A'].name | sort(@) | {line_a: join(', ', @)}")
    out = proc.process_batch(msgs(json.dumps(PLANT)))
    assert payloads(out) == [b'{"line_a":"bearing, motor, spindle"}']


def test_jmespath_reshapes_each_message_of_a_batch_and_keeps_metadata() -> None:
    proc = jmespath("{hottest: max_by(sensors, &temp).name, count: length(sensors)}")
    small = {"sensors": [{"name": "pump", "temp": 30}]}
    batch = [Message(json.dumps(PLANT), {"asset": "a1"}), Message(json.dumps(small), {"n": "2"})]
    out = proc.process_batch(batch)
    assert [json.loads(m.payload) for m in out] == [
        {"hottest": "motor", "count": 4},
        {"hottest": "pump", "count": 1},
    ]
    assert [m.metadata for m in out] == [{"asset": "a1"}, {"n": "2"}]


def test_jmespath_result_replaces_the_message_null_and_strings_as_json() -> None:
    out = jmespath("sensors[0].name").process_batch(msgs(json.dumps(PLANT), "{}"))
    assert payloads(out) == [b'"spindle"', b"null"]


def test_jmespath_failures_flag_only_their_message_with_the_reason() -> None:
    proc = jmespath("sort(sensors[].temp)")
    out = proc.process_batch(
        msgs(json.dumps(PLANT), "not json", '{"sensors": [{"temp": "hot"}, {"temp": 2}]}')
    )
    assert out[0].error is None and json.loads(out[0].payload) == [18.0, 64.0, 71.5, 80.25]
    assert out[1].payload == b"not json"
    assert out[1].error is not None and out[1].error.startswith("jmespath: failed to parse")
    assert out[2].error is not None and out[2].error.startswith("jmespath: In function sort()")
    assert json.loads(out[2].payload) == {"sensors": [{"temp": "hot"}, {"temp": 2}]}


# -- lint -----------------------------------------------------------------------------------


def test_queries_that_do_not_compile_are_lint_errors_at_the_query(tmp_path: Path) -> None:
    found = lint_processors(
        tmp_path,
        """
        - jq:
            query: '.sensors[] | selec(.ok)'
        - jq:
            query: |
              .sensors
              | map(.temp +
        - jmespath:
            query: "sensors[?line == 'A'"
        - jmespath:
            query: "lenght(sensors)"
        - jmespath:
            query: "sort_by(sensors)"
        - jq:
            query: ""
        """,
    )
    assert found == [
        "s.yaml:6:16: field query: selec/1 is not defined at line 1, column 14",
        "s.yaml:8:16: field query: syntax error, unexpected end of file at line 2, column 14",
        "s.yaml:12:16: field query: incomplete expression: the query ends at column 20",
        "s.yaml:14:16: field query: unknown function lenght(); did you mean length()?",
        "s.yaml:16:16: field query: function sort_by() takes 2 arguments, got 1",
        "s.yaml:18:16: field query: the query is empty",
    ]


def test_a_missing_library_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jq", None)  # what an interpreter without it imports
    found = lint_processors(tmp_path, "- jq: { query: '.a' }")
    assert found == [
        "s.yaml:5:20: field query: the jq processor needs the Python package 'jq': "
        "pip install 'streamforge[jq]'"
    ]
