"""A private NATS server (with JetStream, file storage) for restart and authentication tests."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from peers.ports import free_port, wait_listening
from peers.process import PeerProcess

__all__ = ["NatsServer", "nats_server", "start_nats"]


@dataclass
class NatsServer(PeerProcess):
    binary: str
    workdir: Path
    port: int
    token: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "nats.log"

    def start(self) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary, "-a", "127.0.0.1", "-p", str(self.port),
            "-js", "-sd", str(self.workdir / "store"), "-l", str(self.log_path),
        ]  # fmt: skip
        if self.token:
            args += ["--auth", self.token]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def stop(self) -> None:
        """Kill the server outright (SIGKILL)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


def start_nats(workdir: Path, token: str = "") -> NatsServer:
    binary = shutil.which("nats-server")
    assert binary, "nats-server is not installed (apt-get install nats-server)"
    server = NatsServer(binary, workdir, free_port(), token)
    server.start()
    return server


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A NATS server of the test's own, with JetStream, on a free port."""
    server = start_nats(tmp_path_factory.mktemp("nats"))
    try:
        yield server
    finally:
        server.stop()
