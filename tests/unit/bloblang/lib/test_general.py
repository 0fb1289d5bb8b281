"""General functions: counter, random_int, range, identifiers, env, file, hostname."""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamforge.bloblang import parse
from streamforge.bloblang.errors import MappingError
from streamforge.bloblang.lib import load_all
from streamforge.bloblang.lib.general import KSUID_EPOCH, ksuid_string
from streamforge.bloblang.registry import DELETED, NOTHING, ExecContext, functions

load_all()


def bind(name: str) -> Callable[..., Any]:
    """One call site of a function: stateful functions get their own state."""
    spec = functions[name]
    impl = spec.impl() if spec.per_call_site else spec.impl
    if spec.needs_ctx:
        return lambda *args: impl(ExecContext(None), *args)
    return impl


def compile_mapping(mapping: str) -> Any:
    return parse(mapping)


def run(mapping: str, doc: Any) -> Any:
    return compile_mapping(mapping).query(doc)


# -- through the language ------------------------------------------------------------------


def test_range_documented_example() -> None:
    mapping = (
        "root.a = range(0, 10)\n"
        "root.b = range(start: 0, stop: this.max, step: 2)\n"
        "root.c = range(0, -this.max, -2)"
    )
    assert run(mapping, {"max": 10}) == {
        "a": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        "b": [0, 2, 4, 6, 8],
        "c": [0, -2, -4, -6, -8],
    }


def test_counter_counts_per_mapping_across_messages() -> None:
    exe = compile_mapping("root.id = counter()")
    assert [exe.query({})["id"] for _ in range(3)] == [1, 2, 3]


def test_counter_set_resets_on_documented_condition() -> None:
    exe = compile_mapping(
        "root.consecutive_doggos = counter(min: 1, "
        'set: if !this.sound.lowercase().contains("woof") { 0 })'
    )
    sounds = ["woof woof", "woofer wooooo", "meow", "uuuuh uh uh woof uhhhhhh"]
    assert [exe.query({"sound": s})["consecutive_doggos"] for s in sounds] == [1, 2, 0, 1]


def test_counter_set_null_peeks() -> None:
    exe = compile_mapping("root.things = counter(set: if this.id == null { null })")
    docs = [{"id": "a"}, {"id": "b"}, {"what": "just checking"}, {"id": "c"}]
    assert [exe.query(d)["things"] for d in docs] == [1, 2, 2, 3]


def test_env_function_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_TEST_KEY", "hello")
    assert run('root.thing.key = env("SF_TEST_KEY").or("default value")', {}) == {
        "thing": {"key": "hello"}
    }
    assert run('root = env("SF_TEST_MISSING_KEY").or("default value")', {}) == "default value"


def test_file_function_documented_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "doc.json"
    target.write_text('{"foo":"bar"}')
    monkeypatch.setenv("BENTHOS_TEST_BLOBLANG_FILE", str(target))
    mapping = 'root.doc = file(env("BENTHOS_TEST_BLOBLANG_FILE")).parse_json()'
    assert run(mapping, {}) == {"doc": {"foo": "bar"}}


# -- counter -------------------------------------------------------------------------------


def test_counter_call_sites_are_independent() -> None:
    first, second = bind("counter"), bind("counter")
    assert [first(), first(), second()] == [1, 2, 1]


def test_counter_wraps_after_max() -> None:
    counter = bind("counter")
    assert [counter(3, 5) for _ in range(5)] == [3, 4, 5, 3, 4]


def test_counter_resolves_query_arguments_against_this() -> None:
    counter = bind("counter")
    assert counter(lambda this: 10, lambda this: 20) == 10


def test_counter_set_values() -> None:
    counter = bind("counter")
    assert counter(1, 100, lambda _: NOTHING) == 1
    assert counter(1, 100, lambda _: 42) == 42
    assert counter(1, 100, lambda _: None) == 42
    assert counter(1, 100, lambda _: NOTHING) == 43
    assert counter(1, 100, lambda _: DELETED) == 1


def test_counter_rejects_bad_bounds() -> None:
    with pytest.raises(MappingError, match="max argument must be >0 and >min"):
        bind("counter")(5, 5)
    with pytest.raises(MappingError, match="min argument must be >0"):
        bind("counter")(-1)
    with pytest.raises(MappingError, match="failed to resolve set argument"):
        bind("counter")(1, 10, lambda _: "x")


# -- random_int ----------------------------------------------------------------------------


def test_random_int_respects_bounds() -> None:
    rand = bind("random_int")
    values = {rand(0, 10, 20) for _ in range(200)}
    assert values <= set(range(10, 21)) and len(values) > 5


def test_random_int_seed_makes_sequences_repeatable() -> None:
    a, b = bind("random_int"), bind("random_int")
    assert [a(7) for _ in range(5)] == [b(7) for _ in range(5)]


def test_random_int_seed_is_resolved_once() -> None:
    calls = []

    def seed(this: Any) -> int:
        calls.append(this)
        return 3

    rand = bind("random_int")
    rand(seed)
    rand(seed)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, -1, 5), "must be a positive number"), ((0, 5, 1), "must be smaller or equal"),
     ((0, 0, 2**63 - 1), "max must be smaller than")],
)  # fmt: skip
def test_random_int_argument_errors(args: tuple[int, ...], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        bind("random_int")(*args)


# -- range ---------------------------------------------------------------------------------


def test_range_steps() -> None:
    rng = bind("range")
    assert rng(0, 10) == list(range(10))
    assert rng(0, -10, -2) == [0, -2, -4, -6, -8]
    assert rng(5, 5, -1) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 10, 0), "step must be greater than or less than 0"),
     ((10, 0, 1), r"with positive step arg start \(10\) must be < stop \(0\)"),
     ((0, 10, -1), r"with negative step arg stop \(10\) must be <= start \(0\)")],
)  # fmt: skip
def test_range_argument_errors(args: tuple[int, ...], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        bind("range")(*args)


# -- identifiers ---------------------------------------------------------------------------


def test_uuid_v4_is_a_random_version_4_uuid() -> None:
    a, b = bind("uuid_v4")(), bind("uuid_v4")()
    assert uuid.UUID(a).version == 4 and a != b


def test_uuid_v7_is_time_ordered() -> None:
    value = uuid.UUID(bind("uuid_v7")())
    assert value.version == 7
    assert abs((value.int >> 80) - time.time() * 1000) < 5000


def test_nanoid_lengths_and_alphabets() -> None:
    nanoid = bind("nanoid")
    assert re.fullmatch(r"[A-Za-z0-9_-]{21}", nanoid())
    assert len(nanoid(54)) == 54
    assert set(nanoid(54, "abcde")) <= set("abcde")
    with pytest.raises(MappingError, match="field length must be specified"):
        nanoid(None, "abc")


def test_ksuid_layout() -> None:
    value = bind("ksuid")()
    assert re.fullmatch(r"[0-9A-Za-z]{27}", value)
    assert ksuid_string(KSUID_EPOCH, bytes(16)) == "0" * 27
    # Reference value of the KSUID specification: max timestamp and payload.
    assert ksuid_string(KSUID_EPOCH + 0xFFFFFFFF, b"\xff" * 16) == "aWgEPTl1tmebfsQzFP4bxwgy80V"


def test_ksuids_sort_by_time() -> None:
    early = ksuid_string(KSUID_EPOCH + 1000, b"\xff" * 16)
    late = ksuid_string(KSUID_EPOCH + 1001, bytes(16))
    assert early < late


def test_ulid_encodings() -> None:
    ulid = bind("ulid")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", ulid())
    assert re.fullmatch(r"[0-9a-f]{32}", ulid("hex", "fast_random"))
    with pytest.raises(MappingError, match="invalid ulid encoding"):
        ulid("base64")


# -- environment ---------------------------------------------------------------------------


def test_env_is_cached_per_call_site_unless_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_TEST_VAR", "one")
    cached, uncached = bind("env"), bind("env")
    assert cached("SF_TEST_VAR") == "one" and uncached("SF_TEST_VAR", True) == "one"
    monkeypatch.setenv("SF_TEST_VAR", "two")
    assert cached("SF_TEST_VAR") == "one"
    assert uncached("SF_TEST_VAR", True) == "two"
    assert bind("env")("SF_TEST_UNSET_VAR_X") is None


def test_file_reads_bytes_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"hello")
    read = bind("file")
    assert read(str(path)) == b"hello"
    path.write_bytes(b"changed")
    assert read(str(path)) == b"hello"
    assert read(str(path), True) == b"changed"
    with pytest.raises(MappingError, match="no_such_file"):
        read(str(tmp_path / "no_such_file"))


def test_hostname() -> None:
    assert bind("hostname")() == socket.gethostname()
