"""A real asyncua OPC UA server for tests, on its own thread and event loop.

Known nodes in namespace `urn:streamforge:test` (index 2), string ids = dotted browse paths:

    Plant                         folder
      Types/<Name>                one variable per data type (TYPE_VALUES)
      Line1/Boiler                object: Temperature (Double), Pressure (Float), Running (Boolean)
      Line1/Pump                  object: Speed (Int32)
      Counter                     Int32, for tests that write changes
      Deep/V0, Deep/L1/V1, ...    12 nested folders; Vk sits k+1 levels below Deep
    Setpoints                     folder beside Plant: writable variables (SETPOINTS) whose
                                  every accepted client write is kept in `OpcuaServer.writes`;
                                  Limited clamps to 0..100, Slow shows a write 0.3 s later

`opcua_server` is shared by a test module; `opcua_secure_server` offers only Basic256Sha256
Sign and SignAndEncrypt endpoints and only user name logins (USERS). Both can be stopped and
started again on the same port; a restarted server has its initial values again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID

from peers.ports import free_port, wait_listening

__all__ = [
    "DEEP_LEVELS",
    "NS",
    "SETPOINTS",
    "TYPE_VALUES",
    "USERS",
    "OpcuaServer",
    "ServerCertificate",
    "node",
    "opcua_server",
    "opcua_server_certificate",
    "opcua_secure_server",
]

NS_URI = "urn:streamforge:test"
NS = 2
USERS = {"operator": "s3cret"}
DEEP_LEVELS = 12
APP_URI = "urn:streamforge:test:server"

V = ua.VariantType
#: browse name: (value, variant type); arrays are lists
TYPE_VALUES: dict[str, tuple[Any, ua.VariantType]] = {
    "Double": (3.25, V.Double),
    "Float": (1.5, V.Float),
    "Int16": (-1234, V.Int16),
    "Int32": (-123456, V.Int32),
    "Int64": (-(2**40), V.Int64),
    "UInt16": (65535, V.UInt16),
    "UInt32": (4_000_000_000, V.UInt32),
    "UInt64": (2**63 + 5, V.UInt64),
    "Byte": (200, V.Byte),
    "SByte": (-100, V.SByte),
    "Boolean": (True, V.Boolean),
    "String": ("hello, plant", V.String),
    "DateTime": (datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc), V.DateTime),
    "ByteString": (b"\x00\x01\xff", V.ByteString),
    "DoubleArray": ([1.5, -2.5, 3.0], V.Double),
    "Int32Array": ([1, 2, 3], V.Int32),
    "StringArray": (["a", "b"], V.String),
}


#: writable variables under Setpoints: name -> (initial value, variant type, data type);
#: `Any` is declared BaseDataType and holds a Double
SETPOINTS: dict[str, tuple[Any, ua.VariantType, int]] = {
    "Double": (0.0, V.Double, ua.ObjectIds.Double),
    "Float": (0.0, V.Float, ua.ObjectIds.Float),
    "Int32": (0, V.Int32, ua.ObjectIds.Int32),
    "Int16": (0, V.Int16, ua.ObjectIds.Int16),
    "UInt64": (0, V.UInt64, ua.ObjectIds.UInt64),
    "Boolean": (False, V.Boolean, ua.ObjectIds.Boolean),
    "String": ("", V.String, ua.ObjectIds.String),
    "DateTime": (datetime(2000, 1, 1, tzinfo=timezone.utc), V.DateTime, ua.ObjectIds.DateTime),
    "Any": (0.0, V.Double, ua.ObjectIds.BaseDataType),
    "Limited": (0.0, V.Double, ua.ObjectIds.Double),
    "Slow": (0, V.Int32, ua.ObjectIds.Int32),
}
SLOW_SECONDS = 0.3


def node(path: str) -> str:
    """The node id string of a test node, e.g. `node("Plant.Counter")`."""
    return f"ns={NS};s={path}"


@dataclass(frozen=True)
class ServerCertificate:
    """The secure server's certificate (DER) and key (PEM), made once per test session."""

    cert: Path
    key: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.cert.read_bytes()).hexdigest()

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.cert.read_bytes()).hexdigest()


class _Users(UserManager):
    """Only the users in USERS, with their passwords."""

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None,
        certificate: Any = None,
    ) -> User | None:  # fmt: skip
        if username is not None and USERS.get(username) == password:
            return User(role=UserRole.User)
        return None


@dataclass
class OpcuaServer:
    """A server on 127.0.0.1:`port`; `start`, `stop`, `restart`, `write` from any thread."""

    port: int = field(default_factory=free_port)
    certificate: ServerCertificate | None = None
    #: Setpoints name -> the values clients wrote, in order (kept across restarts)
    writes: dict[str, list[Any]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _server: Server | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/streamforge/"

    @property
    def running(self) -> bool:
        return self._server is not None

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, daemon=True, name="opcua-srv")
            self._thread.start()
            self._loop = loop
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def start(self) -> None:
        """Build the address space and listen (again, on the same port)."""
        if self._server is None:
            self._server = self._call(self._build())
            wait_listening(self.port)

    def stop(self) -> None:
        """Stop listening and drop every session."""
        if self._server is not None:
            server, self._server = self._server, None
            self._call(server.stop())

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._loop is not None:
            self._call(_cancel_others())
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            self._loop.close()
            self._loop = None

    def write(self, path: str, value: Any, vtype: ua.VariantType | None = None) -> None:
        """Write a value to a node (by dotted path under ns=2), as a device update would."""
        assert self._server is not None, "server not running"
        var = self._server.get_node(node(path))
        variant = ua.Variant(value, vtype) if vtype is not None else ua.Variant(value)
        now = datetime.now(timezone.utc)
        dv = ua.DataValue(variant, SourceTimestamp=now, ServerTimestamp=now)
        self._call(var.write_value(dv))

    def read(self, path: str) -> Any:
        """The value a node (by dotted path under ns=2) has now."""
        assert self._server is not None, "server not running"
        return self._call(self._server.get_node(node(path)).read_value())

    def write_status(self, path: str, code: int) -> None:
        """Give a node a status (e.g. UncertainLastUsableValue) keeping its value."""
        assert self._server is not None, "server not running"
        var = self._server.get_node(node(path))

        async def go() -> None:
            old = await var.read_data_value()
            now = datetime.now(timezone.utc)
            await var.write_value(
                ua.DataValue(old.Value, StatusCode=ua.StatusCode(code), SourceTimestamp=now)
            )

        self._call(go())

    async def _build(self) -> Server:
        server = Server(user_manager=_Users() if self.certificate else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("StreamForge test server")
        if self.certificate is not None:
            await server.set_application_uri(APP_URI)
            await server.load_certificate(str(self.certificate.cert))
            await server.load_private_key(str(self.certificate.key))
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                ]
            )
            server.set_identity_tokens([ua.UserNameIdentityToken])
        ns = await server.register_namespace(NS_URI)
        assert ns == NS
        await _address_space(server)
        await self._setpoints(server)
        await server.start()
        return server

    async def _setpoints(self, server: Server) -> None:
        folder = await server.nodes.objects.add_folder(
            ua.NodeId("Setpoints", NS), ua.QualifiedName("Setpoints", NS)
        )
        aspace = server.iserver.aspace
        loop = asyncio.get_running_loop()
        for name, (value, vtype, dtype) in SETPOINTS.items():
            nodeid = ua.NodeId(f"Setpoints.{name}", NS)
            var = await folder.add_variable(
                nodeid, ua.QualifiedName(name, NS), value, vtype, datatype=ua.NodeId(dtype)
            )
            await var.set_writable()
            status = aspace.set_attribute_value_setter(
                nodeid, ua.AttributeIds.Value, self._setter(name, loop)
            )
            assert status.is_good(), status

    def _setter(self, name: str, loop: asyncio.AbstractEventLoop) -> Any:
        """Keep what a client wrote (Limited clamps it, Slow shows it later) and record it."""

        def store(attval: Any, dv: ua.DataValue) -> None:
            attval.value = dv
            attval.value_callback = None

        def setter(node_data: Any, attr: ua.AttributeIds, dv: ua.DataValue) -> None:
            attval = node_data.attributes[attr]
            written = dv.Value.Value if dv.Value is not None else None
            self.writes.setdefault(name, []).append(written)
            if name == "Limited" and isinstance(written, float):
                dv = ua.DataValue(ua.Variant(min(max(written, 0.0), 100.0), V.Double))
            if name == "Slow":
                loop.call_later(SLOW_SECONDS, store, attval, dv)
            else:
                store(attval, dv)

        return setter


async def _cancel_others() -> None:
    """Cancel what a stopped server leaves behind (session timeouts ...), before the loop ends."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _address_space(server: Server) -> None:
    objects = server.nodes.objects
    plant = await objects.add_folder(ua.NodeId("Plant", NS), ua.QualifiedName("Plant", NS))
    types = await plant.add_folder(ua.NodeId("Plant.Types", NS), ua.QualifiedName("Types", NS))
    for name, (value, vtype) in TYPE_VALUES.items():
        await types.add_variable(
            ua.NodeId(f"Plant.Types.{name}", NS), ua.QualifiedName(name, NS), value, vtype
        )
    line = await plant.add_folder(ua.NodeId("Plant.Line1", NS), ua.QualifiedName("Line1", NS))
    boiler = await line.add_object(
        ua.NodeId("Plant.Line1.Boiler", NS), ua.QualifiedName("Boiler", NS)
    )
    for name, value, vtype in (
        ("Temperature", 71.5, V.Double),
        ("Pressure", 2.5, V.Float),
        ("Running", True, V.Boolean),
    ):
        await boiler.add_variable(
            ua.NodeId(f"Plant.Line1.Boiler.{name}", NS), ua.QualifiedName(name, NS), value, vtype
        )
    pump = await line.add_object(ua.NodeId("Plant.Line1.Pump", NS), ua.QualifiedName("Pump", NS))
    await pump.add_variable(
        ua.NodeId("Plant.Line1.Pump.Speed", NS), ua.QualifiedName("Speed", NS), 1450, V.Int32
    )
    counter = await plant.add_variable(
        ua.NodeId("Plant.Counter", NS), ua.QualifiedName("Counter", NS), 0, V.Int32
    )
    await counter.set_writable()
    parent = await plant.add_folder(ua.NodeId("Plant.Deep", NS), ua.QualifiedName("Deep", NS))
    path = "Plant.Deep"
    for level in range(DEEP_LEVELS):
        await parent.add_variable(
            ua.NodeId(f"{path}.V{level}", NS), ua.QualifiedName(f"V{level}", NS), level, V.Int32
        )
        path = f"{path}.L{level + 1}"
        parent = await parent.add_folder(ua.NodeId(path, NS), ua.QualifiedName(f"L{level + 1}", NS))


def make_certificate(directory: Path) -> ServerCertificate:
    """A self-signed server certificate for 127.0.0.1 (RSA 2048)."""
    cert, key = directory / "server_cert.der", directory / "server_key.pem"
    asyncio.run(
        setup_self_signed_certificate(
            key,
            cert,
            APP_URI,
            socket.gethostname(),
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            {"commonName": "StreamForge test server"},
        )
    )
    return ServerCertificate(cert, key)


def _quiet_asyncua() -> None:
    """asyncua logs handshakes and expected failures at warning level; tests need no such noise."""
    logging.getLogger("asyncua").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def opcua_server_certificate(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    """One server certificate for the whole test session (key generation is slow)."""
    return make_certificate(tmp_path_factory.mktemp("opcua-server-pki"))


@pytest.fixture(scope="module")
def opcua_server() -> Iterator[OpcuaServer]:
    """A plain (security None, anonymous) server shared by a test module."""
    _quiet_asyncua()
    server = OpcuaServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def opcua_secure_server(opcua_server_certificate: ServerCertificate) -> Iterator[OpcuaServer]:
    """Basic256Sha256 Sign/SignAndEncrypt only, user name logins only (USERS)."""
    _quiet_asyncua()
    server = OpcuaServer(certificate=opcua_server_certificate)
    server.start()
    yield server
    server.close()
