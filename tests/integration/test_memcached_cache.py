"""The `memcached` cache against private memcached servers: the `cache` processor's set, add,
get and delete, TTLs, keys spread over two servers as Benthos places them, and a server killed
under a running stream."""

from __future__ import annotations

import json
import textwrap
import zlib
from pathlib import Path

import pytest
from peers.memcached import (  # noqa: F401 - fixtures
    MemcachedServer,
    memcached_server,
    other_memcached_server,
)
from peers.ports import free_port
from peers.stream_run import Run, out_lines, run_stream, wait_until, write

pymemcache = pytest.importorskip("pymemcache")
from pymemcache.client.base import Client  # noqa: E402 - after the skip

OPS = ("set", "add", "get", "delete", "sleep")


def direct(server: MemcachedServer) -> Client:
    """A plain client on one server, to look at what the stream left there."""
    return Client(("127.0.0.1", server.port), connect_timeout=2, timeout=2)


def cache_yaml(label: str, addresses: list[str], **fields: str) -> str:
    """One `memcached` cache resource, under `cache_resources` at the left margin."""
    extra = "".join(f"\n      {name}: {value}" for name, value in fields.items())
    return (
        f"cache_resources:\n  - label: {label}\n    memcached:\n"
        f"      addresses: {json.dumps(addresses)}{extra}\n"
    )


def run_steps(tmp_path: Path, name: str, steps: list[dict[str, str]], caches: str) -> list[str]:
    """Run `steps` (op, key, value, ttl) one message each through the `cache` processor on
    cache `c`; each message's end (its payload, or `error: ...`)."""
    out = tmp_path / f"{name}.jsonl"
    full = [{"key": "", "value": "", "ttl": "", **step} for step in steps]
    data = json.dumps(full).replace("'", "''")  # inside a single-quoted YAML string
    cases = "".join(
        f"""
                - check: this.op == "{op}"
                  processors:
                    - cache:
                        resource: c
                        operator: {op}
                        key: '${{! this.key }}'
                        value: '${{! this.value }}'
                        ttl: '${{! this.ttl }}'"""
        for op in OPS[:4]
    )
    run_stream(
        tmp_path / f"{name}.yaml",
        textwrap.dedent(
            f"""
        input:
          generate:
            count: {len(full)}
            interval: ""
            mapping: 'root = {data}.index(counter() - 1)'
        pipeline:
          processors:
            - switch:{cases}
                - check: this.op == "sleep"
                  processors:
                    - sleep:
                        duration: '${{! this.value }}'
            - catch:
                - mapping: 'root = "error: " + error()'
        """
        )
        + caches,
        out,
    )
    return out_lines(out)


def test_set_add_get_delete_through_the_cache_processor(
    memcached_server: MemcachedServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    other_app = direct(memcached_server)
    other_app.set(b"line-7:from-elsewhere", b"written by another client")
    missing = "error: cache: operator failed for key '{}': key does not exist"
    steps = [
        ("set", "a", "alpha", "unchanged"),
        ("set", "b", "beta", "unchanged"),
        ("set", "a", "ALPHA", "unchanged"),
        ("get", "a", "", "ALPHA"),
        ("get", "missing", "", missing.format("missing")),
        ("add", "c", "gamma", "unchanged"),
        ("add", "b", "other", "error: cache: key already exists: b"),
        ("get", "b", "", "beta"),
        ("delete", "b", "", "unchanged"),
        ("get", "b", "", missing.format("b")),
        ("delete", "b", "", "unchanged"),
        ("add", "b", "again", "unchanged"),
        ("get", "from-elsewhere", "", "written by another client"),
        ("set", "zähler/ключ", "héllo ✓ 'quoted'", "unchanged"),
        ("get", "zähler/ключ", "", "héllo ✓ 'quoted'"),
        ("set", "has space", "x", "error: cache: operator failed for key 'has space': key contains "
         "a space or a control character, which memcached refuses"),
    ]  # fmt: skip
    ends = run_steps(
        tmp_path,
        "ops",
        [{"op": op, "key": key, "value": value} for op, key, value, _ in steps],
        cache_yaml("c", [memcached_server.address], prefix="'line-7:'"),
    )
    assert len(ends) == len(steps), ends
    for (op, key, value, expected), got in zip(steps, ends):
        if expected == "unchanged":
            assert json.loads(got) == {"op": op, "key": key, "value": value, "ttl": ""}
        else:
            assert got == expected, (op, key)
    stored = other_app.get_many([b"line-7:a", b"line-7:b", b"line-7:c", b"a"])
    assert stored == {b"line-7:a": b"ALPHA", b"line-7:b": b"again", b"line-7:c": b"gamma"}
    assert other_app.get("line-7:zähler/ключ".encode()) == "héllo ✓ 'quoted'".encode()
    other_app.close()


def test_keys_expire_after_their_ttl_or_the_default(
    memcached_server: MemcachedServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    steps = [
        {"op": "set", "key": "default", "value": "d"},
        {"op": "set", "key": "pinned", "value": "p", "ttl": "1h"},
        {"op": "set", "key": "brief", "value": "b", "ttl": "2s"},
        {"op": "get", "key": "default"},
        {"op": "get", "key": "brief"},
        {"op": "sleep", "value": "3500ms"},
        {"op": "get", "key": "default"},
        {"op": "get", "key": "pinned"},
        {"op": "get", "key": "brief"},
    ]
    ends = run_steps(
        tmp_path,
        "ttl",
        steps,
        cache_yaml("c", [memcached_server.address], prefix="ttl-", default_ttl="2s"),
    )
    gone = "error: cache: operator failed for key '{}': key does not exist"
    assert ends[3:5] == ["d", "b"], ends  # present right after they were written
    assert ends[6:] == [gone.format("default"), "p", gone.format("brief")], ends


def test_two_servers_share_the_keys_as_benthos_places_them(
    memcached_server: MemcachedServer,  # noqa: F811 - the fixture
    other_memcached_server: MemcachedServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    first, second = memcached_server, other_memcached_server
    n = 40
    # one item holding both, comma-separated
    run_stream(
        tmp_path / "spread.yaml",
        textwrap.dedent(
            f"""
        input:
          generate:
            count: {n}
            interval: ""
            mapping: 'root = counter()'
        output:
          cache:
            target: c
            key: 'k-${{! content() }}'
        """
        )
        + cache_yaml("c", [f"{first.address},{second.address}"], prefix="'spread:'"),
    )
    keys = [f"spread:k-{i}".encode() for i in range(1, n + 1)]
    on_first, on_second = (set(direct(s).get_many(keys)) for s in (first, second))
    assert on_first and on_second and not on_first & on_second
    assert on_first | on_second == set(keys)
    assert on_second == {k for k in keys if zlib.crc32(k) % 2 == 1}
    # the same two as a list find every key again
    out = tmp_path / "read.txt"
    run_stream(
        tmp_path / "read.yaml",
        textwrap.dedent(
            f"""
        input:
          generate:
            count: {n}
            interval: ""
            mapping: 'root = counter()'
        pipeline:
          processors:
            - cache:
                resource: c
                operator: get
                key: 'k-${{! content() }}'
        """
        )
        + cache_yaml("c", [first.address, second.address], prefix="'spread:'"),
        out,
    )
    assert out_lines(out) == [str(i) for i in range(1, n + 1)]


def test_a_killed_server_fails_messages_until_it_is_back(
    memcached_server: MemcachedServer,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    ok, failed = tmp_path / "ok.txt", tmp_path / "failed.txt"
    port = free_port()
    cfg = write(
        tmp_path / "restart.yaml",
        textwrap.dedent(
            f"""
        input:
          generate:
            interval: 50ms
            mapping: 'root = counter()'
        pipeline:
          processors:
            - cache:
                resource: c
                operator: set
                key: 'n-${{! content() }}'
                value: '${{! content() }}'
            - cache:
                resource: c
                operator: get
                key: 'n-${{! content() }}'
        output:
          fallback:
            - reject_errored:
                file: {{ path: "{ok}", codec: lines }}
            - file: {{ path: "{failed}", codec: lines }}
              processors:
                - mapping: 'root = content().string() + " " + @fallback_error'
        http:
          address: 127.0.0.1:{port}
        """
        )
        + cache_yaml(
            "c",
            [memcached_server.address],
            prefix="'restart:'",
            retries="{ initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 300ms }",
        ),
    )
    run = Run(cfg, http_port=port)
    try:
        wait_until(lambda: len(out_lines(ok)) >= 5, 20, "messages written before the kill")
        assert run.get("/ready")[0] == 200
        memcached_server.stop()
        wait_until(lambda: len(out_lines(failed)) >= 3, 20, "messages failing during the outage")
        status, body = run.get("/ready")
        assert status == 503 and f"{memcached_server.address}" in body, body
        memcached_server.start()
        after = len(out_lines(ok))
        wait_until(lambda: len(out_lines(ok)) >= after + 5, 20, "messages written after it")
        assert run.get("/ready")[0] == 200
        assert run.proc.poll() is None, run.logs()
    finally:
        memcached_server.start()
        run.stop()
    good = [int(line) for line in out_lines(ok)]
    bad = {int(line.split(" ")[0]): line for line in out_lines(failed)}
    for line in bad.values():
        assert "memcached 127.0.0.1:" in line and "unreachable" in line, line
    assert len(bad) >= 3 and sorted(set(good) | set(bad)) == sorted(good + list(bad))
    assert sorted(good + list(bad)) == list(range(1, len(good) + len(bad) + 1))
    # one outage: the failed messages are one run between written ones
    assert set(range(min(bad), max(bad) + 1)) == set(bad)
    assert min(good) < min(bad) and max(good) > max(bad)
