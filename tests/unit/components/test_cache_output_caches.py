"""`cache` output, `file` and `multilevel` caches: round trips, a stream run, lint errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from component_helpers import lint_stream

from streamforge.caches.file import FileCache, file_name
from streamforge.caches.memory import MemoryCache
from streamforge.caches.multilevel import MultilevelCache
from streamforge.message import Message
from streamforge.plugin import Cache, CacheError, registry
from streamforge.plugin.testing import PluginTestContext


def ctx(**caches: Cache) -> PluginTestContext:
    return PluginTestContext(label="c", type_name="cache", caches=caches)


def cache_output(cache: Cache, **conf: Any) -> Any:
    spec = registry.get("output", "cache")
    assert spec is not None
    return spec.factory({"target": "c", "key": "", "ttl": "", **conf}, ctx(c=cache))


def build_cache(name: str, conf: Any, **caches: Cache) -> Cache:
    spec = registry.get("cache", name)
    assert spec is not None
    built = spec.factory(conf, ctx(**caches))
    assert isinstance(built, Cache)
    return built


class Refusing(MemoryCache):
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if key == "bad":
            raise CacheError("disk full")
        super().set(key, value, ttl)


class RecordingTtl(MemoryCache):
    def __init__(self) -> None:
        super().__init__(60)
        self.ttls: list[float | None] = []

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.ttls.append(ttl)
        super().set(key, value, ttl)


# -- cache output -------------------------------------------------------------------------
def test_output_sets_each_payload_under_its_key_into_a_file_cache(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "store")
    out = cache_output(cache, key='${! json("id") }')
    batch = [Message.from_value({"id": "a", "v": 1}), Message.from_value({"id": "b/c", "v": 2})]
    assert out.write_batch(batch) == []
    assert cache.get("a") == b'{"id":"a","v":1}'
    assert cache.get("b/c") == b'{"id":"b/c","v":2}'
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["a", "b%2Fc"]


def test_output_default_key_is_unique_per_message() -> None:
    cache = MemoryCache(60)
    spec = registry.get("output", "cache")
    assert spec is not None
    out = spec.factory({"target": "c"}, ctx(c=cache))
    assert out.write_batch([Message(b"x"), Message(b"y"), Message(b"z")]) == []
    assert len(cache) == 3
    assert sorted(v for v, _ in cache._entries.values()) == [b"x", b"y", b"z"]


def test_output_fails_only_the_message_whose_set_fails() -> None:
    out = cache_output(Refusing(60), key="${! content() }")
    batch = [Message(b"good"), Message(b"bad"), Message(b"fine")]
    failed = out.write_batch(batch)
    assert [m.payload for m in failed] == [b"bad"]
    assert failed[0].error == "cache: set failed for key 'bad': disk full"
    assert batch[0].error is None and batch[2].error is None


def test_output_renders_ttl_per_message_and_flags_a_bad_one() -> None:
    cache = RecordingTtl()
    out = cache_output(cache, key="${! content() }", ttl='${! meta("ttl") }')
    a, b, c = Message(b"a"), Message(b"b"), Message(b"c")
    a.metadata["ttl"] = "5m"
    b.metadata["ttl"] = "soon"
    c.metadata["ttl"] = ""
    failed = out.write_batch([a, b, c])
    assert failed == [b] and b.error is not None and "ttl" in b.error
    assert cache.ttls == [300.0, None]
    static = RecordingTtl()
    cache_output(static, key="k", ttl="10s").write_batch([Message(b"x")])
    assert static.ttls == [10.0]


def test_output_config_errors() -> None:
    with pytest.raises(ValueError, match="target"):
        cache_output(MemoryCache(60), target="")
    with pytest.raises(ValueError, match="ttl"):
        cache_output(MemoryCache(60), ttl="never")
    with pytest.raises(ValueError, match="max_in_flight"):
        cache_output(MemoryCache(60), max_in_flight=0)


# -- file cache ---------------------------------------------------------------------------
def test_file_cache_get_set_add_delete_round_trip(tmp_path: Path) -> None:
    cache = build_cache("file", {"directory": str(tmp_path / "d")})
    assert cache.get("k") is None
    cache.set("k", b"one", 0.001)  # ttl ignored
    assert cache.get("k") == b"one"
    assert (tmp_path / "d" / "k").read_bytes() == b"one"
    assert cache.add("k", b"two") is False
    assert cache.get("k") == b"one"
    cache.set("k", b"three")
    assert cache.get("k") == b"three"
    cache.delete("k")
    cache.delete("k")  # absent is fine
    assert cache.get("k") is None
    assert cache.add("k", b"four") is True
    assert cache.get("k") == b"four"
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["k"]  # no temp files left


def test_file_cache_keys_stay_inside_the_directory_and_distinct(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "d")
    keys = ["../escape", "..", ".", "", "a/b", "a%2Fb", "sp ace", "ünï", ".hidden"]
    for i, key in enumerate(keys):
        cache.set(key, str(i).encode())
    for i, key in enumerate(keys):
        assert cache.get(key) == str(i).encode()
    names = [p.name for p in (tmp_path / "d").iterdir()]
    assert len(names) == len(keys) and not any(n.startswith(".") for n in names)
    assert list(tmp_path.iterdir()) == [tmp_path / "d"]
    assert file_name("a/b") == "a%2Fb"


def test_file_cache_survives_a_new_instance(tmp_path: Path) -> None:
    FileCache(tmp_path).set("k", b"v")
    assert FileCache(tmp_path).get("k") == b"v"


def test_file_cache_needs_a_directory() -> None:
    with pytest.raises(ValueError, match="directory"):
        build_cache("file", {"directory": ""})


# -- multilevel cache ---------------------------------------------------------------------
def levels() -> tuple[MemoryCache, Cache]:
    hot = MemoryCache(60)
    cold = build_cache("lru", {"cap": 10, "init_values": {"seeded": "deep"}})
    return hot, cold


def test_multilevel_get_reads_through_and_writes_back() -> None:
    hot, cold = levels()
    ml = build_cache("multilevel", ["hot", "cold"], hot=hot, cold=cold)
    assert hot.get("seeded") is None
    assert ml.get("seeded") == b"deep"
    assert hot.get("seeded") == b"deep"
    hot.set("only-hot", b"h")
    assert ml.get("only-hot") == b"h"
    assert cold.get("only-hot") is None
    assert ml.get("nowhere") is None


def test_multilevel_set_and_delete_go_to_every_level(tmp_path: Path) -> None:
    hot, _ = levels()
    disk = FileCache(tmp_path)
    ml = build_cache("multilevel", ["hot", "disk"], hot=hot, disk=disk)
    ml.set("k", b"v")
    assert hot.get("k") == b"v" and disk.get("k") == b"v"
    ml.delete("k")
    assert hot.get("k") is None and disk.get("k") is None


def test_multilevel_add_as_benthos() -> None:
    hot, cold = levels()
    ml = build_cache("multilevel", ["hot", "cold"], hot=hot, cold=cold)
    assert ml.add("new", b"1") is True
    assert hot.get("new") == b"1" and cold.get("new") == b"1"
    assert ml.add("new", b"2") is False
    assert ml.add("seeded", b"2") is False  # the last level refuses
    assert hot.get("seeded") is None
    hot.set("h", b"x")
    assert ml.add("h", b"y") is False  # an earlier level holds it
    assert cold.get("h") is None


def test_multilevel_config_errors() -> None:
    with pytest.raises(ValueError, match="at least two"):
        build_cache("multilevel", ["one"], one=MemoryCache(60))
    with pytest.raises(ValueError, match="own levels"):
        build_cache("multilevel", ["c", "other"])
    assert isinstance(MultilevelCache(["a", "b"], lambda _: MemoryCache(1)).levels[0], Cache)


# -- lint ---------------------------------------------------------------------------------
def test_lint_reports_a_missing_or_undefined_target(tmp_path: Path) -> None:
    head = 'input:\n  generate: {count: 1, interval: "", mapping: root = 1}\n'
    missing = lint_stream(tmp_path, head + "output:\n  cache:\n    key: k\n")
    assert len(missing) == 1 and "stream.yaml:4:" in missing[0] and "target" in missing[0]
    undefined = lint_stream(tmp_path, head + "output:\n  cache:\n    target: nope\n")
    assert len(undefined) == 1 and "stream.yaml:5:13:" in undefined[0] and "nope" in undefined[0]
    levels_missing = lint_stream(
        tmp_path,
        head + "output:\n  cache: {target: ml}\n"
        "cache_resources:\n  - label: ml\n    multilevel: [hot, cold]\n"
        "  - label: hot\n    memory: {}\n",
    )
    assert len(levels_missing) == 1 and "cold" in levels_missing[0]
    ok = lint_stream(
        tmp_path,
        head + "output:\n  cache: {target: ml}\n"
        "cache_resources:\n  - label: ml\n    multilevel: [hot, disk]\n"
        f"  - label: hot\n    memory: {{}}\n  - label: disk\n    file: {{directory: {tmp_path}}}\n",
    )
    assert ok == []


# -- a stream through `streamforge run` ----------------------------------------------------
def run(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    done = subprocess.run(
        [sys.executable, "-m", "streamforge", "run", "--http-address", "127.0.0.1:0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_stream_writes_to_a_file_cache_and_another_reads_it_back(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(
        tmp_path,
        "write.yaml",
        f"""
        input:
          generate:
            count: 4
            interval: ""
            mapping: 'root = {{"id": "dev-" + count("w").string(), "temp": count("t") * 10}}'
        output:
          cache:
            target: disk
            key: '${{! json("id") }}'
        cache_resources:
          - label: disk
            file:
              directory: {store}
        """,
    )
    assert len(list(store.iterdir())) == 4
    out = tmp_path / "out.jsonl"
    run(
        tmp_path,
        "read.yaml",
        f"""
        input:
          generate:
            count: 5
            interval: ""
            mapping: 'root = {{"id": "dev-" + count("r").string()}}'
        pipeline:
          processors:
            - cache:
                resource: levels
                operator: get
                key: '${{! json("id") }}'
            - mapping: 'root = if errored() {{ {{"missing": true}} }} else {{ this }}'
        output:
          file:
            path: {out}
            codec: lines
        cache_resources:
          - label: levels
            multilevel: [hot, disk]
          - label: hot
            memory: {{}}
          - label: disk
            file:
              directory: {store}
        """,
    )
    lines = out.read_text().splitlines()
    assert lines == [
        '{"id":"dev-1","temp":10}',
        '{"id":"dev-2","temp":20}',
        '{"id":"dev-3","temp":30}',
        '{"id":"dev-4","temp":40}',
        '{"missing":true}',
    ]
