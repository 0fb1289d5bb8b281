"""Components whose behaviour depends on Bloblang checks, maps and interpolation."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from component_helpers import Fn, Recorder, build, msgs

from streamforge.message import Message


def doc(**kv) -> Message:  # type: ignore[no-untyped-def]
    return Message.from_value(kv)


def tag(label: str) -> Fn:
    def fn(m: Message) -> Message:
        m.metadata.setdefault("path", []).append(label)
        return m

    return Fn(fn)


# -- switch processor -----------------------------------------------------------------------


def test_switch_runs_first_matching_case_and_keeps_order(ctx) -> None:  # type: ignore[no-untyped-def]
    conf = [
        {"check": 'this.type == "a"', "processors": [tag("A")], "fallthrough": False},
        {"check": 'this.type == "b"', "processors": [tag("B")], "fallthrough": False},
        {"check": "", "processors": [tag("other")], "fallthrough": False},
    ]
    proc = build("processor", "switch", conf, ctx)
    batch = [doc(type="b"), doc(type="a"), doc(type="c"), doc(type="a")]
    out = proc.process_batch(batch)
    assert [m.value["type"] for m in out] == ["b", "a", "c", "a"]
    assert [m.metadata["path"] for m in out] == [["B"], ["A"], ["other"], ["A"]]


def test_switch_fallthrough_runs_the_next_case_without_its_check(ctx) -> None:  # type: ignore[no-untyped-def]
    conf = [
        {"check": "this.n > 0", "processors": [tag("pos")], "fallthrough": True},
        {"check": "false", "processors": [tag("next")], "fallthrough": False},
        {"check": "", "processors": [tag("last")], "fallthrough": False},
    ]
    proc = build("processor", "switch", conf, ctx)
    out = proc.process_batch([doc(n=1), doc(n=-1)])
    assert out[0].metadata["path"] == ["pos", "next"]
    assert out[1].metadata["path"] == ["last"]


def test_switch_check_errors_flag_the_message(ctx) -> None:  # type: ignore[no-untyped-def]
    conf = [
        {"check": "this.n > 0", "processors": [tag("a")], "fallthrough": False},
        {"check": "", "processors": [tag("b")], "fallthrough": False},
    ]
    proc = build("processor", "switch", conf, ctx)
    out = proc.process_batch([doc(n="text"), Message(b"not json")])
    assert all(m.error for m in out)
    assert all("path" not in m.metadata for m in out)


def test_switch_non_bool_check_is_an_error(ctx) -> None:  # type: ignore[no-untyped-def]
    proc = build("processor", "switch", [{"check": "this.n", "processors": []}], ctx)
    (out,) = proc.process_batch([doc(n=5)])
    assert out.error == "expected bool value, got number (5)"


def test_switch_unmatched_messages_pass_unchanged(ctx) -> None:  # type: ignore[no-untyped-def]
    proc = build("processor", "switch", [{"check": "false", "processors": [tag("x")]}], ctx)
    (out,) = proc.process_batch([doc(n=1)])
    assert out.value == {"n": 1} and "path" not in out.metadata


def test_switch_with_mapping_case_keeps_batch_order(ctx) -> None:  # type: ignore[no-untyped-def]
    conf = [
        {"check": "this.n % 2 == 0", "processors": [{"mapping": "root.n = this.n * 10"}]},
    ]
    proc = build("processor", "switch", conf, ctx)
    out = proc.process_batch([doc(n=i) for i in range(5)])
    assert [m.value["n"] for m in out] == [0, 1, 20, 3, 40]


# -- branch processor -----------------------------------------------------------------------


def test_branch_maps_the_result_into_the_original(ctx) -> None:  # type: ignore[no-untyped-def]
    conf = {
        "request_map": "root.id = this.doc.id",
        "processors": [{"mapping": 'root.score = this.id.length()\nmeta origin = "enricher"'}],
        "result_map": 'root.doc.score = this.score\nmeta enriched_by = metadata("origin")',
    }
    proc = build("processor", "branch", conf, ctx)
    original = Message(b'{"doc": {"id": "abcd", "body": "keep me"}}', {"src": "plc"})
    (out,) = proc.process_batch([original])
    assert out is original
    assert out.value == {"doc": {"id": "abcd", "body": "keep me", "score": 4}}
    assert out.metadata == {"src": "plc", "enriched_by": "enricher"}


def test_branch_result_map_reads_original_metadata_with_at(ctx) -> None:  # type: ignore[no-untyped-def]
    conf = {"processors": [{"mapping": "root = {}"}], "result_map": "root.src = @src"}
    proc = build("processor", "branch", conf, ctx)
    (out,) = proc.process_batch([Message(b'{"a": 1}', {"src": "plc"})])
    assert out.value == {"a": 1, "src": "plc"}


def test_branch_deleted_request_skips_the_branch(ctx) -> None:  # type: ignore[no-untyped-def]
    seen = Fn(lambda m: m)
    conf = {
        "request_map": "root = if this.skip { deleted() } else { this }",
        "processors": [seen],
        "result_map": "root.done = true",
    }
    proc = build("processor", "branch", conf, ctx)
    out = proc.process_batch([doc(skip=True), doc(skip=False)])
    assert len(seen.seen) == 1
    assert out[0].value == {"skip": True}
    assert out[1].value == {"skip": False, "done": True}


def test_branch_request_map_failure_flags_and_skips(ctx) -> None:  # type: ignore[no-untyped-def]
    seen = Fn(lambda m: m)
    conf = {"request_map": "root = this.n + 1", "processors": [seen], "result_map": ""}
    proc = build("processor", "branch", conf, ctx)
    (out,) = proc.process_batch([doc(n="x")])
    assert out.error and out.error.startswith("request mapping failed")
    assert seen.seen == []


def test_branch_result_map_failure_leaves_the_message_unchanged(ctx) -> None:  # type: ignore[no-untyped-def]
    conf = {
        "processors": [{"mapping": 'root = {"v": "text"}'}],
        "result_map": "root.a = 1\nroot.b = this.v + 1",
    }
    proc = build("processor", "branch", conf, ctx)
    (out,) = proc.process_batch([doc(keep=1)])
    assert out.value == {"keep": 1}
    assert out.error and out.error.startswith("result mapping failed")


# -- log processor --------------------------------------------------------------------------


def test_log_interpolates_and_attaches_fields(ctx, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    conf = {
        "level": "WARN",
        "message": "got ${! this.id } from ${! @asset }",
        "fields_mapping": 'root.id = this.id\nroot.kind = "reading"',
    }
    proc = build("processor", "log", conf, ctx)
    batch = [Message(b'{"id": 7}', {"asset": "pump"})]
    with caplog.at_level(logging.INFO, logger="streamforge.log"):
        out = proc.process_batch(batch)
    assert out == batch
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "got 7 from pump"
    assert record.fields["id"] == 7 and record.fields["kind"] == "reading"  # type: ignore[attr-defined]
    assert record.fields["label"] == ctx.label  # type: ignore[attr-defined]


def test_log_below_level_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    proc = build("processor", "log", {"level": "DEBUG", "message": "x", "fields_mapping": ""})
    with caplog.at_level(logging.INFO, logger="streamforge.log"):
        proc.process_batch(msgs("a"))
    assert caplog.records == []


# -- sleep with interpolation -----------------------------------------------------------------


def test_sleep_duration_from_the_message() -> None:
    proc = build("processor", "sleep", {"duration": "${! @wait }"})
    (out,) = proc.process_batch([Message(b"x", {"wait": "1ms"})])
    assert out.error is None
    (bad,) = proc.process_batch([Message(b"x", {"wait": "soon"})])
    assert bad.error and "sleep duration" in bad.error


# -- outputs --------------------------------------------------------------------------------


def test_file_output_path_is_interpolated_per_message(tmp_path: Path) -> None:
    out = build("output", "file", {"path": str(tmp_path) + "/${! @asset }/data.jsonl"})
    out.write_batch([Message(b"1", {"asset": "a"}), Message(b"2", {"asset": "b"})])
    out.write_batch([Message(b"3", {"asset": "a"})])
    out.close()
    assert (tmp_path / "a" / "data.jsonl").read_text() == "1\n3\n"
    assert (tmp_path / "b" / "data.jsonl").read_text() == "2\n"


def test_switch_output_routes_by_check(ctx) -> None:  # type: ignore[no-untyped-def]
    alarms, rest = Recorder(), Recorder()
    conf = {
        "cases": [
            {"check": 'this.kind == "alarm"', "output": alarms},
            {"check": "", "output": rest},
        ]
    }
    out = build("output", "switch", conf, ctx)
    out.write_batch([doc(kind="alarm"), doc(kind="reading")])
    assert [m.value["kind"] for m in alarms.messages] == ["alarm"]
    assert [m.value["kind"] for m in rest.messages] == ["reading"]


def test_switch_output_routes_errored_messages(ctx) -> None:  # type: ignore[no-untyped-def]
    dlq, ok = Recorder(), Recorder()
    conf = {"cases": [{"check": "errored()", "output": dlq}, {"output": ok}]}
    out = build("output", "switch", conf, ctx)
    out.write_batch([Message(b"a", error="failed"), Message(b"b")])
    assert dlq.payloads == [b"a"] and ok.payloads == [b"b"]


@pytest.mark.parametrize("strict", [False, True])
def test_switch_output_unmatched_dropped_or_failed(ctx, strict: bool) -> None:  # type: ignore[no-untyped-def]
    target = Recorder()
    conf = {"strict_mode": strict, "cases": [{"check": "this.n > 5", "output": target}]}
    out = build("output", "switch", conf, ctx)
    failed = out.write_batch([doc(n=1)])
    assert target.messages == []
    assert len(failed) == (1 if strict else 0)


def test_batching_check_ends_a_batch(ctx) -> None:  # type: ignore[no-untyped-def]
    from streamforge.plugin.batching import with_batching

    rec = Recorder()
    out = with_batching(rec, {"check": 'this.type == "end"'})
    out.write_batch([doc(type="a"), doc(type="b")])
    assert rec.batches == []
    out.write_batch([doc(type="end"), doc(type="c")])
    assert [[m.value["type"] for m in b] for b in rec.batches] == [["a", "b", "end"]]
