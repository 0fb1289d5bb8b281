"""`cache` processor: each operator per message, errors on the message, config checked."""

from __future__ import annotations

from typing import Any

import pytest

from streamforge.caches.memory import MemoryCache
from streamforge.message import Message
from streamforge.plugin import Cache, CacheError, registry
from streamforge.plugin.testing import PluginTestContext
from streamforge.processors.cache import CacheProcessor


class Recording(MemoryCache):
    """A memory cache that records the TTL each write asked for."""

    def __init__(self) -> None:
        super().__init__(60)
        self.ttls: list[float | None] = []

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.ttls.append(ttl)
        super().set(key, value, ttl)

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        self.ttls.append(ttl)
        return super().add(key, value, ttl)


class Down(MemoryCache):
    def get(self, key: str) -> bytes | None:
        raise CacheError("redis unreachable: connection refused")

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        raise CacheError("redis unreachable: connection refused")


def proc(cache: Cache, **conf: Any) -> CacheProcessor:
    spec = registry.get("processor", "cache")
    assert spec is not None
    ctx = PluginTestContext(label="cache", type_name="cache", caches={"c": cache})
    built = spec.factory({"resource": "c", "value": "", "ttl": "", **conf}, ctx)
    assert isinstance(built, CacheProcessor)
    return built


def docs(*values: Any) -> list[Message]:
    return [Message.from_value(v) for v in values]


def test_set_then_get_round_trips_and_get_replaces_the_payload() -> None:
    cache = MemoryCache(60)
    setter = proc(cache, operator="set", key='${! json("id") }', value="${! content() }")
    batch = setter.process_batch(docs({"id": "a", "v": 1}, {"id": "b", "v": 2}))
    assert [m.error for m in batch] == [None, None]
    assert cache.get("a") == b'{"id":"a","v":1}'
    getter = proc(cache, operator="get", key='${! json("k") }')
    out = getter.process_batch(docs({"k": "b"}, {"k": "a"}))
    assert [m.value for m in out] == [{"id": "b", "v": 2}, {"id": "a", "v": 1}]


def test_get_of_a_missing_key_flags_only_that_message() -> None:
    cache = MemoryCache(60, init_values={"x": b"stored"})
    out = proc(cache, operator="get", key='${! json("k") }').process_batch(
        docs({"k": "x"}, {"k": "nope"})
    )
    assert out[0].error is None and out[0].payload == b"stored"
    assert out[1].error == "cache: operator failed for key 'nope': key does not exist"
    assert out[1].value == {"k": "nope"}  # the payload is kept


def test_add_flags_a_duplicate_within_and_across_batches() -> None:
    cache = MemoryCache(60)
    add = proc(cache, operator="add", key='${! json("id") }', value="t")
    first = add.process_batch(docs({"id": 1}, {"id": 2}, {"id": 1}))
    assert [m.error for m in first] == [None, None, "cache: key already exists: 1"]
    second = add.process_batch(docs({"id": 2}))
    assert second[0].error == "cache: key already exists: 2"
    assert cache.get("1") == b"t"


def test_delete_removes_and_an_absent_key_is_fine() -> None:
    cache = MemoryCache(60, init_values={"a": b"1"})
    out = proc(cache, operator="delete", key='${! json("k") }').process_batch(
        docs({"k": "a"}, {"k": "never"})
    )
    assert [m.error for m in out] == [None, None]
    assert cache.get("a") is None


def test_exists_replaces_the_payload_with_a_bool() -> None:
    cache = MemoryCache(60, init_values={"a": b"1"})
    out = proc(cache, operator="exists", key='${! json("k") }').process_batch(
        docs({"k": "a"}, {"k": "b"})
    )
    assert [m.payload for m in out] == [b"true", b"false"]


def test_ttl_static_and_per_message() -> None:
    cache = Recording()
    proc(cache, operator="set", key="k", value="v", ttl="90s").process_batch(docs({}))
    proc(cache, operator="add", key="k2", value="v").process_batch(docs({}))
    per_message = proc(
        cache, operator="set", key='${! json("k") }', value="v", ttl='${! json("t") }'
    )
    out = per_message.process_batch(
        docs({"k": "a", "t": "5m"}, {"k": "b", "t": "soon"}, {"k": "c", "t": ""})
    )
    assert cache.ttls == [90.0, None, 300.0, None]
    assert out[1].error is not None and out[1].error.startswith("cache: ttl must be a duration")
    assert cache.get("b") is None and cache.get("c") == b"v"


def test_key_and_value_errors_flag_their_message_only() -> None:
    cache = MemoryCache(60)
    out = proc(cache, operator="set", key='${! json("id").not_null() }', value="v").process_batch(
        docs({"id": "a"}, {"other": 1})
    )
    assert out[0].error is None
    assert out[1].error is not None and out[1].error.startswith("cache: key interpolation error")
    out = proc(cache, operator="set", key="k", value='${! json("v").not_null() }').process_batch(
        docs({})
    )
    assert out[0].error is not None and out[0].error.startswith("cache: value interpolation error")


def test_a_failing_cache_flags_the_messages_and_raises_nothing() -> None:
    out = proc(Down(60), operator="set", key="k", value="v").process_batch(docs({}, {}))
    assert [m.error for m in out] == [
        "cache: operator failed for key 'k': redis unreachable: connection refused"
    ] * 2
    out = proc(Down(60), operator="get", key="k").process_batch(docs({}))
    assert out[0].error is not None and "connection refused" in out[0].error


def test_batch_functions_see_the_whole_batch() -> None:
    cache = MemoryCache(60)
    proc(
        cache, operator="set", key="${! batch_index() }", value="${! batch_size() }"
    ).process_batch(docs({}, {}, {}))
    assert [cache.get(k) for k in ("0", "1", "2")] == [b"3", b"3", b"3"]


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"operator": "sett", "key": "k"}, "operator"),
        ({"operator": "set", "key": ""}, "key: must not be empty"),
        ({"operator": "set", "key": "k", "ttl": "soon"}, "ttl must be a duration"),
        ({"operator": "set", "key": "${! json( }"}, "key: bad interpolation"),
    ],
)
def test_bad_configs_are_refused_when_built(conf: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        proc(MemoryCache(60), **conf)
