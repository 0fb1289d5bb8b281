"""`mapping`, `mutation` and `bloblang` processors."""

from __future__ import annotations

from component_helpers import build

from streamforge.message import Message


def test_mapping_builds_a_new_document() -> None:
    proc = build("processor", "mapping", "root.a = this.x\nroot.b = this.y * 2")
    (out,) = proc.process_batch([Message(b'{"x": 1, "y": 2, "z": 3}', {"k": "v"})])
    assert out.value == {"a": 1, "b": 4}
    assert out.metadata == {"k": "v"}


def test_mapping_deleted_root_drops_the_message() -> None:
    proc = build("processor", "mapping", "root = if this.keep { this } else { deleted() }")
    out = proc.process_batch([Message(b'{"keep": true}'), Message(b'{"keep": false}')])
    assert [m.value for m in out] == [{"keep": True}]


def test_mapping_error_flags_the_original_and_keeps_it() -> None:
    proc = build("processor", "mapping", "root.n = this.n + 1")
    good, bad = Message(b'{"n": 1}'), Message(b'{"n": "x"}')
    out = proc.process_batch([good, bad])
    assert out[0].value == {"n": 2}
    assert out[1] is bad and bad.payload == b'{"n": "x"}'
    assert bad.error and "number" in bad.error


def test_mapping_on_a_non_json_payload_fails_only_that_message() -> None:
    proc = build("processor", "mapping", "root.v = this.v")
    out = proc.process_batch([Message(b"not json"), Message(b'{"v": 1}')])
    assert out[0].error is not None
    assert out[1].value == {"v": 1} and out[1].error is None


def test_mutation_edits_in_place_keeping_other_fields() -> None:
    proc = build("processor", "mutation", 'root.b = this.a + 1\nmeta seen = "yes"')
    (out,) = proc.process_batch([Message(b'{"a": 1, "keep": true}')])
    assert out.value == {"a": 1, "keep": True, "b": 2}
    assert out.metadata == {"seen": "yes"}


def test_bloblang_is_an_alias_of_mapping() -> None:
    proc = build("processor", "bloblang", "root = this.name.uppercase()")
    (out,) = proc.process_batch([Message(b'{"name": "ada"}')])
    assert out.payload == b"ADA"
