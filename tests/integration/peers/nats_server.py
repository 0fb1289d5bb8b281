"""A private NATS server (with JetStream, file storage) for restart and authentication tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from peers.private_server import PrivateServer, serve, start_private

__all__ = ["NatsServer", "nats_server", "start_nats"]


@dataclass
class NatsServer(PrivateServer):
    token: str = ""

    scheme = "nats"
    log_name = "nats.log"

    def args(self) -> list[str]:
        args = [
            self.binary, "-a", "127.0.0.1", "-p", str(self.port),
            "-js", "-sd", str(self.workdir / "store"), "-l", str(self.log_path),
        ]  # fmt: skip
        if self.token:
            args += ["--auth", self.token]
        return args


def start_nats(workdir: Path, token: str = "") -> NatsServer:
    return start_private(NatsServer, "nats-server", workdir, token=token)


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A NATS server of the test's own, with JetStream, on a free port."""
    yield from serve(start_nats(tmp_path_factory.mktemp("nats")))
