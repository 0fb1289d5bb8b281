"""`dedupe`: the first occurrence passes; duplicates in or across batches drop or are flagged."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, cast

import pytest
from component_helpers import Ctx, build

from streamforge.caches.memory import MemoryCache
from streamforge.config import load_stream
from streamforge.engine.instantiate import StreamBuilder, close_stream_caches
from streamforge.message import Message
from streamforge.plugin import Cache, CacheError
from streamforge.plugin.chain import ProcessorChain
from streamforge.processors.dedupe import DedupeProcessor

ENVELOPE_KEY = '${! json("asset_id") }-${! json("parameter") }-${! json("timestamps.device_time") }'


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CacheCtx(Ctx):
    """A build context with named caches."""

    def __init__(self, **caches: Cache) -> None:
        super().__init__()
        self.caches = caches

    def cache(self, label: str) -> Cache:
        return self.caches[label]


class BrokenCache(MemoryCache):
    """A cache whose server is down."""

    def add_many(self, items: Any, ttl: float | None = None) -> list[bool]:
        raise CacheError("connection refused")


def reading(asset: str, parameter: str, device_time: str, value: float) -> Message:
    return Message.from_value(
        {
            "asset_id": asset,
            "parameter": parameter,
            "value": value,
            "timestamps": {"device_time": device_time, "gateway_time": device_time},
        }
    )


def dedupe(ctx: CacheCtx, **conf: Any) -> Any:
    return build("processor", "dedupe", {"cache": "seen", "key": ENVELOPE_KEY, **conf}, ctx)


def values(batch: list[Message]) -> list[Any]:
    return [m.value["value"] for m in batch]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(clock: Clock) -> CacheCtx:
    return CacheCtx(seen=MemoryCache(300, clock=clock))


def test_duplicates_across_batches_are_dropped_and_the_first_passes(ctx: CacheCtx) -> None:
    proc = dedupe(ctx)
    first = [
        reading("boiler-1", "temp", "2024-05-01T10:00:00Z", 20.5),
        reading("boiler-1", "temp", "2024-05-01T10:00:01Z", 20.6),
        reading("boiler-2", "temp", "2024-05-01T10:00:00Z", 30.1),
    ]
    assert values(proc.process_batch(first)) == [20.5, 20.6, 30.1]
    resent = [
        reading("boiler-1", "temp", "2024-05-01T10:00:01Z", 20.6),
        reading("boiler-1", "temp", "2024-05-01T10:00:02Z", 20.7),
        reading("boiler-2", "temp", "2024-05-01T10:00:00Z", 30.1),
        reading("boiler-2", "pressure", "2024-05-01T10:00:00Z", 1.2),
    ]
    assert values(proc.process_batch(resent)) == [20.7, 1.2]


def test_duplicates_within_one_batch_keep_the_first_in_order(ctx: CacheCtx) -> None:
    proc = dedupe(ctx, key='${! json("id") }')
    batch = [Message.from_value({"id": i, "value": n}) for n, i in enumerate("abacbda")]
    assert values(proc.process_batch(batch)) == [0, 1, 3, 5]


def test_flag_keeps_duplicates_marked_in_metadata(ctx: CacheCtx) -> None:
    proc = dedupe(ctx, action="flag", key='${! json("id") }')
    out = proc.process_batch([Message.from_value({"id": i, "value": i}) for i in "aba"])
    assert values(out) == ["a", "b", "a"]
    assert [m.metadata.get("dedupe_duplicate") for m in out] == [None, None, True]
    out = proc.process_batch([Message.from_value({"id": "b", "value": "b"})])
    assert out[0].metadata["dedupe_duplicate"] is True and out[0].error is None


def test_a_key_passes_again_once_the_cache_ttl_is_over(ctx: CacheCtx, clock: Clock) -> None:
    proc = dedupe(ctx, key="${! content() }")
    assert len(proc.process_batch([Message("a")])) == 1
    clock.now += 299.0
    assert proc.process_batch([Message("a")]) == []
    clock.now += 1.0
    assert [m.payload for m in proc.process_batch([Message("a"), Message("a")])] == [b"a"]


def test_lru_cap_forgets_the_oldest_key(clock: Clock) -> None:
    proc = dedupe(CacheCtx(seen=MemoryCache(300, cap=2, clock=clock)), key="${! content() }")
    assert len(proc.process_batch([Message("a"), Message("b"), Message("c")])) == 3
    # "a" was evicted when "c" came; "b" and "c" are still known
    out = proc.process_batch([Message("c"), Message("b"), Message("a")])
    assert [m.payload for m in out] == [b"a"]


def test_a_key_that_fails_to_render_flags_only_its_message(ctx: CacheCtx) -> None:
    proc = dedupe(ctx, key='${! json("id").uppercase() }')
    batch = [
        Message.from_value({"id": "a"}),
        Message.from_value({"other": 1}),
        Message.from_value({"id": "a"}),
    ]
    out = proc.process_batch(batch)
    assert len(out) == 2
    assert out[0].error is None
    assert out[1].error is not None and out[1].error.startswith("dedupe: key: ")


def test_errored_messages_skip_dedupe_and_keep_their_place(ctx: CacheCtx) -> None:
    chain = ProcessorChain([dedupe(ctx, key="${! content() }")])
    batch = [Message("a"), Message("a", error="earlier failure"), Message("a")]
    out = chain.process_batch(batch)
    assert [(m.payload, m.error) for m in out] == [(b"a", None), (b"a", "earlier failure")]


def test_failing_cache_drops_by_default_and_flags_without_drop_on_err() -> None:
    ctx = CacheCtx(seen=BrokenCache())
    assert dedupe(ctx).process_batch([reading("a", "t", "x", 1)]) == []
    kept = dedupe(ctx, drop_on_err=False).process_batch([reading("a", "t", "x", 1)])
    assert len(kept) == 1
    assert kept[0].error == "dedupe: cache seen: CacheError: connection refused"


def test_bad_config_is_refused_naming_the_field(ctx: CacheCtx) -> None:
    with pytest.raises(ValueError, match="key: bad interpolation"):
        dedupe(ctx, key="${! json( }")
    with pytest.raises(ValueError, match='action: "keep" is not one of drop, flag'):
        dedupe(ctx, action="keep")


def test_workers_built_from_one_stream_share_its_cache(tmp_path: Path) -> None:
    path = tmp_path / "stream.yaml"
    path.write_text(
        textwrap.dedent(
            """
            input:
              generate: {mapping: 'root = {}', count: 1}
            pipeline:
              processors:
                - dedupe:
                    cache: seen
                    key: ${! content() }
            output:
              drop: {}
            cache_resources:
              - label: seen
                memory: {default_ttl: 1m}
            """
        )
    )
    stream = load_stream(path)
    worker_1, worker_2 = (
        cast(DedupeProcessor, StreamBuilder(stream).build_processor(stream.processors[0]))
        for _ in range(2)
    )
    assert worker_1.cache is worker_2.cache
    assert len(worker_1.process_batch([Message("x")])) == 1
    assert worker_2.process_batch([Message("x")]) == []
    close_stream_caches(stream)
    after_restart = cast(
        DedupeProcessor, StreamBuilder(stream).build_processor(stream.processors[0])
    )
    assert after_restart.cache is not worker_1.cache
    assert len(after_restart.process_batch([Message("x")])) == 1
