"""Private memcached servers (OS package `memcached`): each on a free loopback port, TCP only,
killed at the end of the module; `restart` brings one back empty on the same port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from peers.private_server import PrivateServer, serve, start_private

__all__ = ["MemcachedServer", "memcached_server", "other_memcached_server"]


@dataclass
class MemcachedServer(PrivateServer):
    scheme = "memcached"
    log_name = "memcached.log"

    @property
    def address(self) -> str:
        """`host:port`, as the `memcached` cache's `addresses` take it."""
        return f"127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return [self.binary, "-u", "root", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0"]


def _serve(factory: pytest.TempPathFactory) -> Iterator[MemcachedServer]:
    yield from serve(start_private(MemcachedServer, "memcached", factory.mktemp("memcached")))


@pytest.fixture(scope="module")
def memcached_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemcachedServer]:
    """A memcached server of the module's own."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def other_memcached_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MemcachedServer]:
    """A second memcached server, for keys spread over two."""
    yield from _serve(tmp_path_factory)
