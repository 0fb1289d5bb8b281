"""Benthos' reference for the Bloblang functions (General, Message Info, Environment, Fake
Data Generation, Encoding, Deprecated): each documented example in its documented shape."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from streamforge.bloblang import parse, registry
from streamforge.bloblang.errors import MappingError
from streamforge.message import Message

#: every function Redpanda Connect documents (its hidden `nothing` and `var` are not listed)
REFERENCE_FUNCTIONS = [
    # general
    "bytes", "counter", "deleted", "ksuid", "nanoid", "pi", "random_int", "range",
    "snowflake_id", "throw", "ulid", "uuid_v4", "uuid_v7",
    # message info
    "batch_index", "batch_size", "content", "error", "error_source_label",
    "error_source_name", "error_source_path", "errored", "json", "metadata", "tracing_id",
    "tracing_span",
    # environment
    "env", "file", "file_rel", "hostname", "now", "timestamp_unix", "timestamp_unix_micro",
    "timestamp_unix_milli", "timestamp_unix_nano",
    # fake data generation
    "fake",
    # encoding
    "with_schema_registry_header",
    # deprecated
    "count", "meta", "root_meta",
]  # fmt: skip


def _map(mapping: str, doc: Any = None, meta: dict[str, Any] | None = None) -> Any:
    return parse(mapping).query(doc if doc is not None else {}, meta)


def _payloads(mapping: str, docs: list[Any], errors: list[str | None] | None = None) -> list[Any]:
    """The mapping run over one batch of messages; their payloads as JSON (or raw text)."""
    errs = errors or [None] * len(docs)
    batch = [Message(json.dumps(d).encode(), {}, error=e) for d, e in zip(docs, errs)]
    return [json.loads(m.payload) for m in parse(mapping).map_batch(batch)]


def test_every_reference_function_is_registered() -> None:
    missing = [name for name in REFERENCE_FUNCTIONS if name not in registry.functions]
    assert missing == []


# -- general ------------------------------------------------------------------------------


def test_bytes() -> None:
    assert _map("root.data = bytes(4)") == {"data": b"\x00" * 4}
    out = _map("root.header = bytes(2)\nroot.payload = content()", {"k": 1})
    assert out == {"header": b"\x00\x00", "payload": b'{"k":1}'}
    with pytest.raises(MappingError, match="non-negative"):
        _map("root = bytes(-1)")


def test_counter() -> None:
    exe = parse("root.id = counter()")
    assert [exe.query({}) for _ in range(2)] == [{"id": 1}, {"id": 2}]
    exe = parse("root.n = counter(min: 10, max: 11)")
    assert [exe.query({})["n"] for _ in range(3)] == [10, 11, 10]
    exe = parse("map bump {\n  root = counter()\n}\nroot.a = null.apply(\"bump\")\n"
                "root.b = null.apply(\"bump\")")  # fmt: skip
    assert [exe.query({}) for _ in range(2)] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    exe = parse('root.run = counter(set: if this.state != "ok" { 0 })')
    states = ["ok", "ok", "bad", "ok"]
    assert [exe.query({"state": s})["run"] for s in states] == [1, 2, 0, 1]
    exe = parse("root.c = counter(set: if this.peek { null })")
    peeks = [False, False, True, False]
    assert [exe.query({"peek": p})["c"] for p in peeks] == [1, 2, 2, 3]


def test_deleted() -> None:
    assert _map("root = this\nroot.b = deleted()", {"a": 1, "b": 2}) == {"a": 1}
    out = _map("root.xs = this.xs.map_each(x -> if x < 5 { deleted() } else { x - 5 })",
               {"xs": [1, 6, 2, 9]})  # fmt: skip
    assert out == {"xs": [1, 4]}


def test_identifiers() -> None:
    out = _map(
        "root.k = ksuid()\nroot.n = nanoid()\nroot.n54 = nanoid(54)\n"
        'root.na = nanoid(12, "xyz")\nroot.s = snowflake_id()\nroot.s42 = snowflake_id(42)\n'
        'root.u = ulid()\nroot.uh = ulid("hex")\nroot.uf = ulid("crockford", "fast_random")\n'
        "root.v4 = uuid_v4()\nroot.v7 = uuid_v7()"
    )
    assert re.fullmatch(r"[0-9A-Za-z]{27}", out["k"])
    assert len(out["n"]) == 21 and len(out["n54"]) == 54
    assert re.fullmatch(r"[xyz]{12}", out["na"])
    assert out["s"].isdigit() and out["s42"].isdigit() and out["s"] != out["s42"]
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", out["u"])
    assert re.fullmatch(r"[0-9a-f]{32}", out["uh"]) and len(out["uf"]) == 26
    assert uuid.UUID(out["v4"]).version == 4 and uuid.UUID(out["v7"]).version == 7


def test_uuid_v7_at_a_given_time() -> None:
    out = _map('root.id = uuid_v7("2024-01-01T00:00:00Z")\n'
               'root.back = uuid_v7(now().ts_sub_iso8601("PT1M"))')  # fmt: skip
    assert out["id"].startswith("018cc251-f400-7")
    millis = int(out["back"].replace("-", "")[:12], 16)
    assert abs(millis - (time.time() - 60) * 1000) < 5000


def test_pi() -> None:
    assert _map("root.r = this.deg * (pi() / 180)", {"deg": 90}) == {"r": 1.5707963267948966}
    assert _map("root.d = this.r * (180 / pi())", {"r": 1.5707963267948966}) == {"d": 90.0}


def test_random_int() -> None:
    out = _map(
        "root.a = random_int()\nroot.b = random_int(1)\nroot.c = random_int(max: 20)\n"
        "root.d = random_int(min: 10, max: 20)\nroot.e = random_int(timestamp_unix_nano(), 5, 20)\n"
        "root.f = random_int(seed: timestamp_unix_nano(), max: 20)"
    )
    assert out["a"] >= 0 and out["b"] >= 0 and 0 <= out["c"] <= 20
    assert 10 <= out["d"] <= 20 and 5 <= out["e"] <= 20 and 0 <= out["f"] <= 20
    first, second = parse("root = random_int(42)"), parse("root = random_int(42)")
    assert [first.query({}) for _ in range(3)] == [second.query({}) for _ in range(3)]
    assert 0 <= _map("root = random_int(seed: timestamp_unix_nano(), min: 0, max: 100)") <= 100


def test_range() -> None:
    out = _map("root.a = range(0, 4)\nroot.b = range(start: 0, stop: this.max, step: 3)\n"
               "root.c = range(0, -this.max, -3)", {"max": 7})  # fmt: skip
    assert out == {"a": [0, 1, 2, 3], "b": [0, 3, 6], "c": [0, -3, -6]}
    out = _map("root.pages = range(0, this.n, 10).map_each(o -> {\"offset\": o, \"limit\": 10})",
               {"n": 25})  # fmt: skip
    assert out == {"pages": [{"offset": 0, "limit": 10}, {"offset": 10, "limit": 10},
                             {"offset": 20, "limit": 10}]}  # fmt: skip


def test_throw() -> None:
    mapping = ('root.kind = match {\n  this.exists("a") => "A"\n  _ => throw("no kind")\n}\n'
               "root.body = this.body | this.alt")  # fmt: skip
    assert _map(mapping, {"a": 1, "alt": "x"}) == {"kind": "A", "body": "x"}
    with pytest.raises(MappingError, match=r"^failed assignment \(line 1\): no kind$"):
        _map(mapping, {"nothing": True})
    guard = 'root = if this.exists("id") {\n  this\n} else {\n  throw("id is required")\n}'
    assert _map(guard, {"id": 1}) == {"id": 1}
    with pytest.raises(MappingError, match=r"^failed assignment \(line 1\): id is required$"):
        _map(guard, {"name": "x"})


# -- message info -------------------------------------------------------------------------


def test_batch_index_and_size() -> None:
    assert _payloads("root = if batch_index() > 0 { deleted() }", [{"i": 0}, {"i": 1}]) == [
        {"i": 0}
    ]
    out = _payloads('root.id = "%v-%v".format(timestamp_unix(), batch_index())\n'
                    "root.size = batch_size()\nroot.last = batch_index() == batch_size() - 1",
                    [{}, {}])  # fmt: skip
    assert [o["id"].endswith(f"-{i}") for i, o in enumerate(out)] == [True, True]
    assert [(o["size"], o["last"]) for o in out] == [(2, False), (2, True)]


def test_content() -> None:
    assert _map("root.doc = content().string()", {"k": "v"}) == {"doc": '{"k":"v"}'}
    out = _map('root.raw = content().string()\nroot.by = "me"', {"k": "v"})
    assert out == {"raw": '{"k":"v"}', "by": "me"}


def test_errors() -> None:
    mapping = (
        "root.error = error()\nroot.has_error = error() != null\nroot.errored = errored()\n"
        "root.status = if errored() { 400 } else { 200 }\n"
        "root.label = error_source_label()\nroot.name = error_source_name()\n"
        "root.path = error_source_path()"
    )
    ok, failed = _payloads(mapping, [{}, {}], [None, "boom"])
    assert ok == {"error": None, "has_error": False, "errored": False, "status": 200,
                  "label": None, "name": None, "path": None}  # fmt: skip
    assert failed["error"] == "boom" and failed["has_error"] is True
    assert failed["errored"] is True and failed["status"] == 400
    # StreamForge does not record which component failed a message: no component is
    # associated with the error, and Benthos answers null for each of these
    assert (failed["label"], failed["name"], failed["path"]) == (None, None, None)
    assert _payloads('root.c = error_source_label().or("unknown")', [{}], ["x"]) == [
        {"c": "unknown"}
    ]
    assert _payloads("root = if errored() { this } else { deleted() }", [{"a": 1}, {"a": 2}],
                     [None, "x"]) == [{"a": 2}]  # fmt: skip


def test_json() -> None:
    doc = {"a": {"b": "deep"}}
    assert _map('root.got = json("a.b")', doc) == {"got": "deep"}
    assert _map("root.all = json()", doc) == {"all": doc}
    assert _map('root.inner = this.a.map_each(kv -> json("a.b"))', doc) == {"inner": {"b": "deep"}}


def test_metadata_meta_and_root_meta() -> None:
    meta = {"topic": "t1", "partition": 3}
    assert _map('root.t = metadata("topic")', {}, meta) == {"t": "t1"}
    assert _map("root.m = metadata()", {}, meta) == {"m": meta}
    out = _map('root.src = {"topic": metadata("topic"), "p": metadata("partition")}', {}, meta)
    assert out == {"src": {"topic": "t1", "p": 3}}
    assert _map('root.t = meta("partition")', {}, meta) == {"t": "3"}
    assert _map("root.m = meta()", {}, meta) == {"m": {"topic": "t1", "partition": "3"}}
    out = _map('meta topic = "t2"\nroot.t = root_meta("topic")\nroot.all = root_meta()', {}, meta)
    assert out == {"t": "t2", "all": {"topic": "t2", "partition": "3"}}


def test_tracing() -> None:
    out = _map("root.id = tracing_id()\nroot.span = tracing_span()")
    assert out == {"id": "0" * 32, "span": None}
    exe = parse("root.log = this\nroot.log.trace_id = tracing_id()")
    out = exe.apply_message(Message(b'{"m":1}', {"trace_id": "abc"}))
    assert out is not None and json.loads(out.payload) == {"log": {"m": 1, "trace_id": "abc"}}


# -- environment --------------------------------------------------------------------------


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_REF_KEY", "secret")
    monkeypatch.delenv("SF_REF_MISSING", raising=False)
    out = _map('root.k = env("SF_REF_KEY")\nroot.d = env("SF_REF_MISSING").or("default")\n'
               "root.n = env(this.name)", {"name": "SF_REF_KEY"})  # fmt: skip
    assert out == {"k": "secret", "d": "default", "n": "secret"}
    exe = parse('root = env(name: "SF_REF_KEY", no_cache: true)')
    monkeypatch.setenv("SF_REF_KEY", "rotated")
    assert exe.query({}) == "rotated"


def test_file_and_file_rel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "doc.json"
    path.write_text('{"k":"v"}')
    monkeypatch.setenv("SF_REF_FILE", str(path))
    assert _map('root.doc = file(env("SF_REF_FILE")).parse_json()') == {"doc": {"k": "v"}}
    exe = parse('root.doc = file(path: env("SF_REF_FILE"), no_cache: true).parse_json()')
    path.write_text('{"k":"changed"}')
    assert exe.query({}) == {"doc": {"k": "changed"}}
    monkeypatch.chdir(tmp_path)
    assert _map('root = file_rel("doc.json").parse_json()') == {"k": "changed"}
    assert _map('root = file_rel(path: "doc.json", no_cache: true).string()') == '{"k":"changed"}'


def test_hostname_now_and_timestamps() -> None:
    out = _map(
        "root.host = hostname()\nroot.now = now()\n"
        'root.utc = now().ts_format("Mon Jan 2 15:04:05 -0700 MST 2006", "UTC")\n'
        "root.s = timestamp_unix()\nroot.ms = timestamp_unix_milli()\n"
        "root.us = timestamp_unix_micro()\nroot.ns = timestamp_unix_nano()"
    )
    assert out["host"] == socket.gethostname()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", out["now"])
    assert out["utc"].endswith(" +0000 UTC " + out["utc"].split()[-1])
    now = time.time()
    assert abs(out["s"] - now) < 5 and abs(out["ms"] / 1e3 - now) < 5
    assert abs(out["us"] / 1e6 - now) < 5 and abs(out["ns"] / 1e9 - now) < 5
    took = _map("root.took = timestamp_unix_micro() - this.start", {"start": int(now * 1e6)})
    assert 0 <= took["took"] < 5_000_000


# -- fake data ----------------------------------------------------------------------------


def test_fake() -> None:
    out = _map('root.user = {"id": fake("uuid_hyphenated"), "name": fake("name"), '
               '"email": fake("email"), "at": fake("timestamp")}\n'
               'root.net = {"ip": fake("ipv4"), "mac": fake("mac_address"), "url": fake("url")}\n'
               'root.t = fake("time_string")\nroot.jwt = fake("jwt")')  # fmt: skip
    assert uuid.UUID(out["user"]["id"]) and "@" in out["user"]["email"] and out["user"]["name"]
    assert out["user"]["at"]
    assert re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", out["net"]["ip"])
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", out["net"]["mac"])
    assert out["net"]["url"].startswith("http")
    assert re.fullmatch(r"\d\d:\d\d:\d\d", out["t"]) and out["jwt"].count(".") == 2
    with pytest.raises(MappingError):
        _map('root = fake("not_a_faker_function")')


# -- encoding -----------------------------------------------------------------------------


def test_with_schema_registry_header() -> None:
    exe = parse("root = with_schema_registry_header(513, content())")
    out = exe.apply_message(Message(b"avro-bytes", {}))
    assert out is not None and out.payload == b"\x00\x00\x00\x02\x01avro-bytes"
    exe = parse('root = with_schema_registry_header(meta("schema_id").number(), content())')
    out = exe.apply_message(Message(b"x", {"schema_id": "4294967295"}))
    assert out is not None and out.payload == b"\x00\xff\xff\xff\xffx"
    with pytest.raises(MappingError, match="out of range"):
        _map('root = with_schema_registry_header(4294967296, "x")')


# -- deprecated ---------------------------------------------------------------------------


def test_count() -> None:
    exe = parse('root = this\nroot.n = count("sf_reference_count")')
    assert [exe.query({"m": m}) for m in "ab"] == [{"m": "a", "n": 1}, {"m": "b", "n": 2}]
