"""`nodered_js` and `tag_processor`: benthos-umh's documented shapes, errors, limits and lint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from component_helpers import Ctx, build, lint_processors

from streamforge.message import Message

pytest.importorskip("quickjs")


def nodered(code: str, **extra: Any) -> Any:
    return build("processor", "nodered_js", {"code": code, **extra}, Ctx())


def tagger(**conf: Any) -> Any:
    return build("processor", "tag_processor", conf, Ctx())


HISTORIAN = """
msg.meta.location_path = "acme.dortmund.press-shop.line2";
msg.meta.data_contract = "_historian";
msg.meta.tag_name = "pressure";
return msg;
"""


# -- nodered_js ------------------------------------------------------------------------------
def test_pass_through_keeps_payload_and_metadata() -> None:
    proc = nodered("return msg;")
    [out] = proc.process_batch([Message(b'{"rpm": 1450, "load": 0.7}', {"machine": "m4"})])
    assert out.value == {"rpm": 1450, "load": 0.7}
    assert out.metadata == {"machine": "m4"}


def test_payload_array_length_and_string_upper_case() -> None:
    length = nodered("msg.payload = msg.payload.length;\nreturn msg;")
    [out] = length.process_batch([Message(b'["bolt", "nut", "washer", "pin"]')])
    assert out.value == 4
    upper = nodered("msg.payload = msg.payload.toUpperCase();\nreturn msg;")
    [out] = upper.process_batch([Message(b'"line stopped"')])
    assert out.value == "LINE STOPPED"


def test_payload_that_is_not_json_arrives_as_text() -> None:
    proc = nodered("msg.payload = msg.payload + '!';\nreturn msg;")
    [out] = proc.process_batch([Message(b"plain text")])
    assert out.payload == b"plain text!"


def test_new_message_object_replaces_payload_and_metadata() -> None:
    proc = nodered("return {payload: {doubled: msg.payload.raw * 2}};")
    [out] = proc.process_batch([Message(b'{"raw": 617}', {"source": "plc"})])
    assert out.value == {"doubled": 1234}
    assert out.metadata == {}


def test_null_drops_and_filters() -> None:
    proc = nodered('if (msg.payload.state === "fault") {\n  return null;\n}\nreturn msg;')
    out = proc.process_batch(
        [
            Message(b'{"state": "run"}'),
            Message(b'{"state": "fault"}'),
            Message(b'{"state": "idle"}'),
        ]
    )
    assert [m.value["state"] for m in out] == ["run", "idle"]


def test_metadata_changes_become_strings() -> None:
    proc = nodered(
        'msg.meta.checked = "true";\nmsg.meta.count = 3;\nmsg.meta.ok = false;\n'
        'msg.meta.origin = "via-" + msg.meta.origin;\nreturn msg;'
    )
    [out] = proc.process_batch([Message(b"{}", {"origin": "gw7"})])
    assert out.metadata == {"origin": "via-gw7", "checked": "true", "count": "3", "ok": "false"}


def test_array_fans_out_and_skips_nulls() -> None:
    proc = nodered(
        "return msg.payload.rows.map(r => r.skip ? null : ({payload: r, meta: msg.meta}));"
    )
    [a, b] = proc.process_batch(
        [Message(b'{"rows": [{"id": 1}, {"id": 2, "skip": true}, {"id": 3}]}', {"src": "erp"})]
    )
    assert (a.value, b.value) == ({"id": 1}, {"id": 3})
    assert a.metadata == b.metadata == {"src": "erp"}


def test_bad_return_values_fail_the_message() -> None:
    proc = nodered("return 42;")
    [out] = proc.process_batch([Message(b"1")])
    assert out.error is not None and "must return a message object" in out.error
    arr = nodered("return [msg, 7];")
    [out] = arr.process_batch([Message(b"1")])
    assert out.error is not None and "array elements must be message objects" in out.error


def test_a_throw_names_the_line_and_others_go_on() -> None:
    proc = nodered(
        "var limit = 10;\nif (msg.payload.v > limit) {\n  msg.payload.deep.x = 1;\n}\nreturn msg;"
    )
    out = proc.process_batch([Message(b'{"v": 1}'), Message(b'{"v": 99}'), Message(b'{"v": 2}')])
    assert [m.error for m in (out[0], out[2])] == [None, None]
    assert out[1].error == "nodered_js: TypeError: cannot set property 'x' of undefined (line 3)"
    assert out[1].value == {"v": 99}  # the failed message keeps its content


def test_an_endless_loop_is_stopped_and_the_processor_goes_on() -> None:
    proc = nodered("if (msg.payload.spin) {\n  while (true) {}\n}\nreturn msg;", timeout="100ms")
    start = time.monotonic()
    out = proc.process_batch([Message(b'{"spin": true}'), Message(b'{"spin": false}')])
    assert time.monotonic() - start < 5
    assert out[0].error == "nodered_js: the code ran longer than 100ms and was stopped"
    assert out[1].error is None and out[1].value == {"spin": False}


def test_memory_is_bounded_and_the_context_recovers() -> None:
    proc = nodered(
        "if (msg.payload.hog) {\n  var a = [];\n  while (true) { a.push('x'.repeat(1000)); }\n}\n"
        "return msg;",
        memory_limit_mb=16,
        timeout="5s",
    )
    out = proc.process_batch([Message(b'{"hog": true}'), Message(b'{"hog": false}')])
    assert out[0].error is not None and "memory" in out[0].error
    assert out[1].error is None


def test_cache_keeps_state_across_messages() -> None:
    proc = nodered(
        'var n = cache.exists("count") ? cache.get("count") : 0;\n'
        'cache.set("count", n + 1);\nmsg.payload = {count: n + 1};\nreturn msg;'
    )
    out = proc.process_batch([Message(b"{}") for _ in range(3)])
    assert [m.value["count"] for m in out] == [1, 2, 3]


def test_cache_dedup_key_ignores_writes_of_a_repeated_event() -> None:
    proc = nodered(
        'var n = cache.exists("n") ? cache.get("n") : 0;\n'
        'cache.set("n", n + 1);\nmsg.payload = n + 1;\nreturn msg;',
        cache={"dedupKey": "event_id"},
    )
    out = proc.process_batch([Message(b"0", {"event_id": e}) for e in ("a", "b", "b", "c")])
    assert [m.value for m in out] == [1, 2, 3, 3]


def test_console_logs_to_the_stream_log(caplog: pytest.LogCaptureFixture) -> None:
    proc = nodered('console.warn("hot:", msg.payload.t);\nreturn msg;')
    with caplog.at_level("INFO"):
        proc.process_batch([Message(b'{"t": 81.5}')])
    assert any("hot: 81.5" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_no_file_or_process_access() -> None:
    proc = nodered(
        "msg.payload = [typeof require, typeof std, typeof os, typeof process];\nreturn msg;"
    )
    [out] = proc.process_batch([Message(b"0")])
    assert out.value == ["undefined"] * 4


# -- tag_processor ---------------------------------------------------------------------------
def test_defaults_build_topic_and_payload() -> None:
    proc = tagger(defaults=HISTORIAN)
    before = time.time() * 1000
    [out] = proc.process_batch([Message(b"6.25")])
    topic = "umh.v1.acme.dortmund.press-shop.line2._historian.pressure"
    assert out.metadata["umh_topic"] == topic and out.metadata["topic"] == topic
    assert out.value["value"] == 6.25
    assert before - 1 <= out.value["timestamp_ms"] <= time.time() * 1000 + 1
    assert set(out.value) == {"value", "timestamp_ms"}


def test_condition_sets_virtual_path() -> None:
    proc = tagger(
        defaults=HISTORIAN.replace('msg.meta.tag_name = "pressure";\n', ""),
        conditions=[
            {
                "if": 'msg.meta.opcua_node_id === "ns=3;i=1017"',
                "then": 'msg.meta.virtual_path = "hydraulics.main";\n'
                'msg.meta.tag_name = "actual";\nreturn msg;',
            },
            {
                "if": "true",
                "then": 'msg.meta.tag_name = msg.meta.tag_name || "other";\nreturn msg;',
            },
        ],
    )
    a, b = proc.process_batch(
        [Message(b"1", {"opcua_node_id": "ns=3;i=1017"}), Message(b"2", {"opcua_node_id": "x"})]
    )
    assert a.metadata["umh_topic"] == (
        "umh.v1.acme.dortmund.press-shop.line2._historian.hydraulics.main.actual"
    )
    assert b.metadata["umh_topic"] == "umh.v1.acme.dortmund.press-shop.line2._historian.other"


def test_yaml_boolean_condition_and_location_extension() -> None:
    proc = tagger(
        defaults=HISTORIAN,
        conditions=[{"if": True, "then": 'msg.meta.location_path += ".cell3";\nreturn msg;'}],
    )
    [out] = proc.process_batch([Message(b"1")])
    assert out.metadata["location_path"] == "acme.dortmund.press-shop.line2.cell3"


def test_advanced_processing_drops_and_duplicates() -> None:
    proc = tagger(
        defaults=HISTORIAN,
        advancedProcessing=(
            "if (msg.payload < 0) {\n  return null;\n}\n"
            "return [msg, {payload: msg.payload * 10, meta: Object.assign({}, msg.meta, "
            '{data_contract: "_custom", tag_name: "pressure_x10"})}];'
        ),
    )
    out = proc.process_batch([Message(b"-3"), Message(b"4.5")])
    assert [(m.metadata["umh_topic"].split(".", 6)[-1], m.value["value"]) for m in out] == [
        ("_historian.pressure", 4.5),
        ("_custom.pressure_x10", 45),
    ]


def test_value_formatting_of_arrays_objects_and_datatype() -> None:
    proc = tagger(defaults=HISTORIAN)
    arr, obj, text, flag = proc.process_batch(
        [Message(b'["a","b"]'), Message(b'{"k": 2}'), Message(b'"2340925"'), Message(b"true")]
    )
    assert arr.value["value"] == '["a","b"]'
    assert obj.value["value"] == '{"k":2}'
    assert text.value["value"] == "2340925"
    assert flag.value["value"] is True
    number = tagger(
        defaults=HISTORIAN.replace("return msg;", 'msg.meta.datatype = "number";\nreturn msg;')
    )
    [out] = number.process_batch([Message(b'"2340925"')])
    assert out.value["value"] == 2340925


def test_timestamp_from_metadata_in_ms_or_rfc3339() -> None:
    proc = tagger(
        defaults=HISTORIAN.replace(
            "return msg;", "msg.meta.timestamp_ms = msg.meta.source_ts;\nreturn msg;"
        )
    )
    a, b = proc.process_batch(
        [
            Message(b"1", {"source_ts": "1717243200123"}),
            Message(b"2", {"source_ts": "2024-06-01T12:00:00.5Z"}),
        ]
    )
    assert a.value["timestamp_ms"] == 1717243200123
    assert b.value["timestamp_ms"] == 1717243200500


def test_missing_required_metadata_flags_the_message() -> None:
    proc = tagger(defaults='msg.meta.location_path = "acme";\nreturn msg;')
    [out] = proc.process_batch([Message(b"1")])
    assert out.error is not None
    assert "missing metadata data_contract, tag_name" in out.error


def test_stage_errors_name_the_stage_and_line() -> None:
    proc = tagger(defaults=HISTORIAN, advancedProcessing="var a = 1;\nundefinedFn();\nreturn msg;")
    [out] = proc.process_batch([Message(b"1")])
    assert out.error == (
        "tag_processor: advancedProcessing: ReferenceError: undefinedFn is not defined (line 2)"
    )


def test_endless_condition_is_stopped() -> None:
    proc = tagger(
        defaults=HISTORIAN,
        conditions=[
            {
                "if": "(function(){ while (msg.payload > 0) {} return true; })()",
                "then": "return msg;",
            }
        ],
        timeout="100ms",
    )
    a, b = proc.process_batch([Message(b"1"), Message(b"0")])
    assert a.error is not None and "conditions.0.if" in a.error and "longer than 100ms" in a.error
    assert b.error is None


# -- lint ------------------------------------------------------------------------------------
def test_lint_reports_javascript_syntax_errors_at_the_field(tmp_path: Path) -> None:
    procs = """\
        - nodered_js:
            code: |
              var x = 1;
              return (;
        - tag_processor:
            conditions:
              - if: msg.meta.a ===
                then: return msg;
    """
    problems = lint_processors(tmp_path, procs)
    assert problems[0] == (
        "s.yaml:6:15: field code: SyntaxError: unexpected token in expression: ';' (line 2)"
    )
    assert problems[1].startswith("s.yaml:11:17: field conditions.0.if: SyntaxError")
    assert len(problems) == 2


def test_documented_shapes_lint(tmp_path: Path) -> None:
    procs = """\
        - tag_processor:
            defaults: |
              msg.meta.location_path = "acme.hamburg.assembly.line1.cell2.plc7";
              msg.meta.data_contract = "_historian";
              msg.meta.tag_name = "value";
              msg.payload = msg.payload;
              return msg;
            conditions:
              - if: msg.meta.opcua_tag_path && msg.meta.opcua_tag_path.includes("Motor")
                then: |
                  msg.meta.virtual_path = "drive." + msg.meta.opcua_tag_path;
                  return msg;
            advancedProcessing: |
              msg.payload = parseFloat(msg.payload) * 2;
              return msg;
        - nodered_js:
            code: |
              console.log("value " + msg.payload.value);
              return msg;
    """
    assert lint_processors(tmp_path, procs) == []
