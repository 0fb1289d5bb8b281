"""A private Redis server for restart tests: its own port and data directory, AOF fsync on
every write, so what the server acknowledged survives a kill."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from peers.private_server import PrivateServer, serve, start_private

__all__ = ["RedisServer", "redis_server"]


@dataclass
class RedisServer(PrivateServer):
    scheme = "redis"
    log_name = "redis.log"

    def args(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--logfile", str(self.log_path),
        ]  # fmt: skip


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server of the test's own on a free port, killed at the end."""
    yield from serve(start_private(RedisServer, "redis-server", tmp_path_factory.mktemp("redis")))
