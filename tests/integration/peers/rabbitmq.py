"""A private RabbitMQ node for restart tests: its own node name, ports and data directory,
started from the rabbitmq-server script (without the wrapper that switches users); optionally
with plugins enabled in its own enabled-plugins file (`rabbitmq_amqp1_0` serves AMQP 1.0 on the
node's AMQP port)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from peers.ports import free_port, wait_listening
from peers.process import PeerProcess

__all__ = ["RabbitMq", "rabbitmq", "rabbitmq_amqp1"]

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


@dataclass
class RabbitMq(PeerProcess):
    workdir: Path
    port: int
    dist_port: int
    plugins: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.workdir / "rabbitmq.out"

    def _env(self) -> dict[str, str]:
        d = self.workdir
        return {
            **os.environ,
            "RABBITMQ_NODENAME": f"sftest{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_MNESIA_DIR": str(d / "mnesia" / "node"),
            "RABBITMQ_QUORUM_DIR": str(d / "mnesia" / "quorum"),
            "RABBITMQ_STREAM_DIR": str(d / "mnesia" / "stream"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(d / "feature_flags"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(d / "plugins-expand"),
            "RABBITMQ_CONFIG_FILE": str(d / "none"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
        }

    def start(self) -> None:
        if self.running:
            return
        (self.workdir / "log").mkdir(parents=True, exist_ok=True)
        (self.workdir / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.workdir / "enabled_plugins").write_text(f"[{','.join(self.plugins)}].\n")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [SERVER],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_listening(self.port, timeout=60)

    def stop(self) -> None:
        """Kill the node outright (SIGKILL to its process group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def _node(tmp_path_factory: pytest.TempPathFactory, plugins: tuple[str, ...]) -> Iterator[RabbitMq]:
    assert shutil.which("erl") and os.path.exists(SERVER), "rabbitmq-server is not installed"
    node = RabbitMq(tmp_path_factory.mktemp("rabbitmq"), free_port(), free_port(), plugins)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMq]:
    """A RabbitMQ node of the test's own on free ports, killed at the end."""
    with _node(tmp_path_factory, ()) as node:
        yield node


@pytest.fixture(scope="module")
def rabbitmq_amqp1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMq]:
    """A RabbitMQ node with the AMQP 1.0 plugin, shared by the tests of one module."""
    with _node(tmp_path_factory, ("rabbitmq_amqp1_0",)) as node:
        yield node
