"""`kind: failover` (through Redis Sentinel) and `kind: cluster` (a three-node Redis Cluster),
with servers of the test's own."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from peers.ports import free_port, free_port_pair, wait_listening
from peers.stream_run import Run, out_lines, run_to_end, wait_until, write


class Servers:
    """Redis processes started by a test, killed at its end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.binary = binary

    def start(self, *args: str) -> int:
        port = free_port_pair(10_000) if "--cluster-enabled" in args else free_port()
        d = self.workdir / str(port)
        d.mkdir()
        self.procs.append(
            subprocess.Popen(
                [self.binary, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                 "--save", "", "--logfile", str(d / "log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        wait_listening(port)
        return port

    def sentinel(self, master_port: int) -> int:
        port = free_port()
        conf = self.workdir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        )
        self.procs.append(
            subprocess.Popen(
                [self.binary, str(conf), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_listening(port)
        return port

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    s = Servers(tmp_path / "servers")
    s.workdir.mkdir()
    try:
        yield s
    finally:
        s.stop()


def test_failover_kind_finds_the_master_through_sentinel(servers: Servers, tmp_path: Path) -> None:
    master = servers.start()
    sentinel = servers.sentinel(master)
    cfg = write(
        tmp_path / "failover.yaml",
        f"""
        input:
          generate:
            count: 50
            interval: ""
            mapping: 'root = counter()'
        output:
          redis_list:
            url: redis://127.0.0.1:{sentinel}
            kind: failover
            master: mymaster
            key: via-sentinel
        http: {{ enabled: false }}
        """,
    )
    done = run_to_end(cfg)
    assert done.returncode == 0, done.stderr
    client = redis.Redis(port=master)
    assert client.llen("via-sentinel") == 50
    client.close()
    assert f"mymaster via sentinels redis://127.0.0.1:{sentinel}/0" in done.stdout + done.stderr


def test_cluster_kind_spreads_keys_over_the_nodes(servers: Servers, tmp_path: Path) -> None:
    ports = [
        servers.start("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        for _ in range(3)
    ]
    cli = shutil.which("redis-cli")
    assert cli
    subprocess.run(
        [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
         "--cluster-replicas", "0", "--cluster-yes"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    cluster = redis.RedisCluster(host="127.0.0.1", port=ports[0])
    wait_until(lambda: cluster.cluster_info()["cluster_state"] == "ok", 20, "the cluster")
    urls = ",".join(f"redis://127.0.0.1:{p}" for p in ports)
    gen = write(
        tmp_path / "gen.yaml",
        f"""
        input:
          generate:
            count: 300
            interval: ""
            mapping: 'root = counter()'
        output:
          redis_streams:
            url: {urls}
            kind: cluster
            stream: s-${{! this % 3 }}
        http: {{ enabled: false }}
        """,
    )
    done = run_to_end(gen)
    assert done.returncode == 0, done.stderr
    assert sum(int(cluster.xlen(f"s-{i}")) for i in range(3)) == 300
    nodes = {cluster.get_node_from_key(f"s-{i}").port for i in range(3)}
    assert len(nodes) > 1  # the keys live on different nodes
    out = tmp_path / "out.txt"
    run = Run(
        write(
            tmp_path / "read.yaml",
            f"""
            input:
              redis_streams:
                url: {urls}
                kind: cluster
                streams: [ s-0 ]
                consumer_group: g
                client_id: c
                limit: 100
            output:
              file: {{ path: "{out}", codec: lines }}
            http: {{ enabled: false }}
            """,
        )
    )
    try:
        wait_until(lambda: len(out_lines(out)) >= 100, 20, "the entries of one stream")
    finally:
        assert run.stop() == 0, run.logs()
        cluster.close()
    assert sorted(map(int, out_lines(out))) == list(range(3, 301, 3))
