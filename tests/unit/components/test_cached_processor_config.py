"""`cached` processor: results stored per key and served again, several and no messages,
`skip_on`, `ttl`, errors on the message, and lint at file:line:col."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamforge.caches.memory import MemoryCache
from streamforge.config import lint_paths
from streamforge.message import Message
from streamforge.plugin import CacheError, registry
from streamforge.plugin.testing import PluginTestContext
from streamforge.processors.cached import (
    CachedProcessor,
    NotACachedResult,
    decode_result,
    encode_result,
)


class Recording(MemoryCache):
    """A memory cache that records the TTL of each write."""

    def __init__(self) -> None:
        super().__init__(60)
        self.ttls: list[float | None] = []

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.ttls.append(ttl)
        super().set(key, value, ttl)


class Unreadable(MemoryCache):
    def get(self, key: str) -> bytes | None:
        raise CacheError("redis unreachable: connection refused")


class Unwritable(MemoryCache):
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        raise CacheError("redis unreachable: connection refused")


def cached(cache: MemoryCache, processors: list[Any], **conf: Any) -> CachedProcessor:
    spec = registry.get("processor", "cached")
    assert spec is not None
    ctx = PluginTestContext(label="cached", type_name="cached", caches={"c": cache})
    built = spec.factory({"cache": "c", "processors": processors, **conf}, ctx)
    assert isinstance(built, CachedProcessor)
    return built


COUNTING = {"mapping": 'root = {"id": this.id, "run": counter()}'}


def docs(*values: Any) -> list[Message]:
    return [Message.from_value(v) for v in values]


def test_a_key_held_in_the_cache_is_served_without_running_the_processors() -> None:
    proc = cached(MemoryCache(60), [COUNTING], key='${! json("id") }')
    out = proc.process_batch(docs({"id": "a"}, {"id": "b"}, {"id": "a"}))
    assert [m.value for m in out] == [
        {"id": "a", "run": 1},
        {"id": "b", "run": 2},
        {"id": "a", "run": 1},  # stored result: the counter did not move
    ]
    later = proc.process_batch(docs({"id": "b"}, {"id": "c"}))
    assert [m.value for m in later] == [{"id": "b", "run": 2}, {"id": "c", "run": 3}]


def test_a_served_message_keeps_its_own_metadata() -> None:
    proc = cached(MemoryCache(60), [{"mapping": 'root = "x"\nmeta added = "yes"'}], key="k")
    first, second = Message(b"1", {"own": "one"}), Message(b"2", {"own": "two"})
    out = proc.process_batch([first, second])
    assert [(m.payload, m.metadata) for m in out] == [
        (b"x", {"own": "one", "added": "yes"}),
        (b"x", {"own": "two"}),
    ]


def test_a_result_of_several_messages_or_none_is_stored_as_it_is() -> None:
    splitting = {"mapping": 'root = [this.id, this.id + "-2"]'}
    proc = cached(MemoryCache(60), [splitting, {"unarchive": {"format": "json_array"}}], key="k")
    assert [m.payload for m in proc.process_batch(docs({"id": "a"}))] == [b"a", b"a-2"]
    assert [m.payload for m in proc.process_batch(docs({"id": "b"}))] == [b"a", b"a-2"]
    dropping = cached(MemoryCache(60), [{"mapping": "root = deleted()"}], key="k")
    assert dropping.process_batch(docs({"id": 1}, {"id": 2})) == []


def test_skip_on_keeps_a_result_out_of_the_cache() -> None:
    flaky = {
        "mapping": 'root = if this.n < 3 { throw("not yet") } else { "ready-%v".format(this.n) }'
    }
    cache = MemoryCache(60)
    proc = cached(cache, [flaky], key="k", skip_on="errored()")
    out = proc.process_batch(docs({"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}))
    assert [m.error is not None for m in out] == [True, True, False, False]
    assert [m.payload for m in out[2:]] == [b"ready-3", b"ready-3"]  # n=4 got n=3's result
    assert decode_result(cache.get("k") or b"") == [b"ready-3"]


def test_without_skip_on_an_errored_result_is_stored_without_its_error() -> None:
    failing = {"mapping": 'root = throw("lookup failed")'}
    proc = cached(MemoryCache(60), [failing], key="k")
    out = proc.process_batch(docs({"n": 1}, {"n": 2}))
    assert out[0].error is not None and "lookup failed" in out[0].error
    assert out[1].error is None and out[1].value == {"n": 1}


def test_a_skip_on_that_fails_or_is_not_a_bool_stores_nothing() -> None:
    for skip_on in ("this.missing.field", '"yes"'):
        cache = MemoryCache(60)
        proc = cached(cache, [COUNTING], key="k", skip_on=skip_on)
        proc.process_batch(docs({"id": 1}))
        assert cache.get("k") is None, skip_on


def test_ttl_static_and_interpolated_is_passed_to_the_cache() -> None:
    cache = Recording()
    cached(cache, [COUNTING], key='${! json("id") }', ttl="90s").process_batch(docs({"id": 1}))
    per_message = cached(cache, [COUNTING], key='${! json("id") }', ttl='${! json("ttl") }')
    out = per_message.process_batch(docs({"id": 2, "ttl": "1m"}, {"id": 3, "ttl": "soon"}))
    assert cache.ttls == [90.0, 60.0]
    assert out[1].error is not None and "ttl must be a duration" in out[1].error


def test_a_bad_static_ttl_or_missing_key_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="ttl must be a duration"):
        cached(MemoryCache(60), [COUNTING], key="k", ttl="forever")
    with pytest.raises(ValueError, match="key: must not be empty"):
        cached(MemoryCache(60), [COUNTING], key="")


def test_failures_flag_only_their_message() -> None:
    key = '${! json("id").uppercase() }'
    out = cached(MemoryCache(60), [COUNTING], key=key).process_batch(docs({"id": 5}, {"id": "a"}))
    assert out[0].error is not None and out[0].error.startswith("cached: key interpolation error")
    assert out[1].value == {"id": "a", "run": 1}
    down = cached(Unreadable(60), [COUNTING], key="k").process_batch(docs({"id": 1}))
    assert down[0].error == "cached: reading key 'k' failed: redis unreachable: connection refused"
    assert down[0].value == {"id": 1}  # the processors did not run


def test_a_result_that_cannot_be_stored_goes_on() -> None:
    out = cached(Unwritable(60), [COUNTING], key="k").process_batch(docs({"id": 1}, {"id": 2}))
    assert [m.value for m in out] == [{"id": 1, "run": 1}, {"id": 2, "run": 2}]
    assert all(m.error is None for m in out)


def test_a_value_stored_by_something_else_flags_the_message() -> None:
    cache = MemoryCache(60, init_values={"k": b"plain text"})
    out = cached(cache, [COUNTING], key="k").process_batch(docs({"id": 1}))
    assert out[0].error is not None
    assert out[0].error.startswith("cached: the value under key 'k' was not stored by a cached")


def test_the_stored_format_round_trips_and_refuses_anything_else() -> None:
    for payloads in ([], [b""], [b"a", b"\x00\xff" * 100, b"{}"]):
        assert decode_result(encode_result(payloads)) == payloads
    good = encode_result([b"abc"])
    for bad in (b"", b"sfcached", good[:-1], good + b"x", b"x" * 20):
        with pytest.raises(NotACachedResult):
            decode_result(bad)


# -- lint -------------------------------------------------------------------------------------

STREAM = """\
input:
  generate:
    count: 1
    mapping: root = {}
pipeline:
  processors:
    - cached:
        cache: enrichment
        key: '${! json("id") }'
        skip_on: errored()
        ttl: 10m
        processors:
          - mapping: root = this
output:
  drop: {}
cache_resources:
  - label: enrichment
    memory: {}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "stream.yaml"
    path.write_text(text)
    return [str(p).replace(str(tmp_path) + "/", "") for p in lint_paths([str(path)])]


def test_the_benthos_shaped_config_lints_clean(tmp_path: Path) -> None:
    assert problems(tmp_path, STREAM) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "cache: enrichment",
            "cache: enrichmnt",
            'stream.yaml:8:16: field cache: cache resource "enrichmnt" is not defined',
        ),
        (
            "skip_on: errored()",
            "skip_on: errored(",
            "stream.yaml:10:26: field skip_on: bad Bloblang: expected a query, got end of input",
        ),
        ("ttl: 10m", "tll: 10m", 'stream.yaml:11:9: unknown field "tll"'),
        (
            "key: '${! json(\"id\") }'",
            "key: '${! json(\"id\" }'",
            "stream.yaml:9:29: field key: bad interpolation: expected ',' or ')'",
        ),
    ],
)
def test_a_bad_field_is_reported_at_its_place(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    found = problems(tmp_path, STREAM.replace(old, new))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_the_documented_example_lints_clean(tmp_path: Path) -> None:
    spec = registry.get("processor", "cached")
    assert spec is not None and spec.examples
    for example in spec.examples:
        text = "input:\n  generate:\n    mapping: root = {}\n" + example + "\noutput:\n  drop: {}\n"
        assert problems(tmp_path, text) == []
