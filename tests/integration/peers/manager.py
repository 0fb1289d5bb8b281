"""`streamforge serve` as a child process on a free loopback port, driven with httpx."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from peers.ports import free_port

TOKEN = "manager-test-token-0123456789"


class ManagerRun:
    """A running manager: its home, base URL, an authenticated client and its log."""

    def __init__(
        self, home: Path, *extra: str, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.env = env or {}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"{home.name}-manager.log"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )

    def start(self) -> ManagerRun:
        env = {**os.environ, "STREAMFORGE_ADMIN_TOKEN": TOKEN, **self.env}
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamforge", "serve", "--home", str(self.home),
                 "--address", f"127.0.0.1:{self.port}", *self.extra],
                stdout=fh, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.logs()
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.1)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    # -- API helpers ----------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"/wot/binding{path}", **kwargs)

    def stream(self, stream_id: str) -> dict[str, Any]:
        reply = self.api("GET", f"/streams/{stream_id}")
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def wait_status(self, stream_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            current = self.stream(stream_id)
            if current["status"] == status:
                return current
            assert time.monotonic() < deadline, (current, self.logs()[-3000:])
            time.sleep(0.1)


def licence_env(directory: Path, subject: str, features: dict[str, Any]) -> dict[str, str]:
    """The environment of a manager running under a licence of its own (a new vendor key)."""
    from datetime import datetime, timedelta, timezone

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from streamforge.license.token import issue_token

    key = ed25519.Ed25519PrivateKey.generate()
    public = directory / f"{subject}.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = issue_token(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        subject=subject,
        features=features,
        expires=datetime.now(timezone.utc) + timedelta(days=1),
    )
    return {"STREAMFORGE_LICENSE": token, "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": str(public)}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[ManagerRun]:
    """A started manager with a fresh home; stopped (streams too) after the test."""
    run = ManagerRun(tmp_path / "home").start()
    try:
        yield run
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        run.client.close()
