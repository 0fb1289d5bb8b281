"""A server of the test's own, run as a child process on a free port: started, killed
outright (SIGKILL) and started again on the same port and data directory."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from peers.ports import free_port, wait_listening
from peers.process import PeerProcess

__all__ = ["PrivateServer", "serve", "start_private"]

S = TypeVar("S", bound="PrivateServer")


@dataclass
class PrivateServer(PeerProcess):
    """Subclasses name the URL scheme and log file and give the command line (`args`)."""

    binary: str
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    scheme: ClassVar[str]
    log_name: ClassVar[str]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / self.log_name

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_listening(self.port)

    def stop(self) -> None:
        """Kill the server outright (SIGKILL): only what it wrote to disk survives."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


def start_private(cls: type[S], program: str, workdir: Path, **options: Any) -> S:
    """Start `program` (found on PATH) as a `cls` server on a free port."""
    binary = shutil.which(program)
    assert binary, f"{program} is not installed (apt-get install {program})"
    server = cls(binary=binary, workdir=workdir, port=free_port(), **options)
    server.start()
    return server


def serve(server: S) -> Iterator[S]:
    """Yield a started server to a fixture; kill it afterwards."""
    try:
        yield server
    finally:
        server.stop()
