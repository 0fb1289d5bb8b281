"""benthos-umh `opcua` fields against real asyncua servers: deadband filters (counted),
queueSize (seen by the server and in what it delivers), clientCertificate (the certificate the
server sees and trusts) and userCertificate/userPrivateKey (an X.509 user login)."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asyncua import Server, ua
from asyncua.crypto.cert_gen import generate_private_key, generate_self_signed_app_certificate
from asyncua.server.user_managers import CertificateUserManager
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from peers.opcua_reading import Reading
from peers.opcua_server import (
    APP_URI,
    NS,
    NS_URI,
    OpcuaServer,
    ServerCertificate,
    _address_space,
    node,
)
from peers.stream_run import wait_until

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def items(server: OpcuaServer) -> dict[str, Any]:
    """The server's monitored items (MonitoredItemData) by node id string."""
    assert server._server is not None
    found: dict[str, Any] = {}
    for sub in server._server.iserver.subscription_service.subscriptions.values():
        for data in sub.monitored_item_srv._monitored_items.values():
            found[data.read_value_id.NodeId.to_string()] = data
    return found


def is_deadband(server_filter: Any) -> bool:
    """A monitored item's filter as the server decoded it is a DataChangeFilter (an item
    without a filter holds an empty extension object)."""
    return type(server_filter).__name__ == "DataChangeFilter"


def subscribe_conf(server: OpcuaServer, *paths: str, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": server.endpoint,
        "nodeIDs": [node(p) for p in paths],
        "subscribeEnabled": True,
        "samplingInterval": "100ms",
        **extra,
    }


def settle(r: Reading, seconds: float = 0.6) -> None:
    """Let the publishes of what was written arrive (several publishing intervals)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r.drain()
        time.sleep(0.05)


# -- deadband ------------------------------------------------------------------------------------


def test_absolute_deadband_filters_small_changes(opcua_server: OpcuaServer, reading: Any) -> None:
    opcua_server.write("Plant.Line1.Pump.Speed", 1000, ua.VariantType.Int32)
    filtered = reading(
        subscribe_conf(
            opcua_server, "Plant.Line1.Pump.Speed", deadbandType="absolute", deadbandValue=5
        )
    )
    unfiltered = reading(subscribe_conf(opcua_server, "Plant.Line1.Pump.Speed"))
    for r in (filtered, unfiltered):
        r.until(lambda ms: len(ms) >= 1, "the initial value")
    data = items(opcua_server)[node("Plant.Line1.Pump.Speed")]
    # two subscriptions on the node: the server holds one filtered item
    filters = [
        d.filter
        for sub in opcua_server._server.iserver.subscription_service.subscriptions.values()  # type: ignore[union-attr]
        for d in sub.monitored_item_srv._monitored_items.values()
        if d.read_value_id.NodeId == data.read_value_id.NodeId
    ]
    deadbands = [f for f in filters if is_deadband(f)]
    assert len(deadbands) == 1 and len(filters) == 2, filters
    assert deadbands[0].DeadbandType == int(ua.DeadbandType.Absolute)
    assert deadbands[0].DeadbandValue == 5.0
    assert deadbands[0].Trigger == ua.DataChangeTrigger.StatusValue
    # steps of at most 5 are filtered; the jumps of 20 and 30 pass
    for value in (1001, 1003, 1006, 1011, 1031, 1034, 1004):
        opcua_server.write("Plant.Line1.Pump.Speed", value, ua.VariantType.Int32)
    unfiltered.until(lambda ms: len(ms) >= 8, "every change without a deadband")
    settle(filtered)
    assert unfiltered.of("Speed") == [1000, 1001, 1003, 1006, 1011, 1031, 1034, 1004]
    assert filtered.of("Speed") == [1000, 1031, 1004]


def test_deadband_zero_suppresses_repeats_and_skips_non_numeric(
    opcua_server: OpcuaServer, reading: Any
) -> None:
    r = reading(
        subscribe_conf(opcua_server, "Plant.Line1.Boiler", deadbandType="absolute", deadbandValue=0)
    )
    r.until(lambda ms: len(ms) >= 3, "the boiler's three values")
    seen = items(opcua_server)
    temperature = seen[node("Plant.Line1.Boiler.Temperature")]
    running = seen[node("Plant.Line1.Boiler.Running")]
    assert temperature.filter is not None and temperature.filter.DeadbandValue == 0.0
    assert is_deadband(temperature.filter)
    assert not is_deadband(running.filter)  # Boolean: servers refuse one
    for value in (71.5, 71.5, 72.0):
        opcua_server.write("Plant.Line1.Boiler.Temperature", value, ua.VariantType.Double)
    opcua_server.write("Plant.Line1.Boiler.Running", False, ua.VariantType.Boolean)
    r.until(lambda ms: len(r.of("Running")) >= 2, "the Boolean's change")
    settle(r)
    assert r.of("Temperature") == [71.5, 72.0]
    assert r.of("Running") == [True, False]
    opcua_server.write("Plant.Line1.Boiler.Temperature", 71.5, ua.VariantType.Double)
    opcua_server.write("Plant.Line1.Boiler.Running", True, ua.VariantType.Boolean)


def test_percent_deadband_is_requested_from_the_server(
    opcua_server: OpcuaServer, reading: Any
) -> None:
    r = reading(
        subscribe_conf(
            opcua_server, "Plant.Line1.Boiler.Temperature", deadbandType="percent",
            deadbandValue=2.5,
        )
    )  # fmt: skip
    r.until(lambda ms: len(ms) >= 1, "the initial value")
    filt = items(opcua_server)[node("Plant.Line1.Boiler.Temperature")].filter
    assert filt.DeadbandType == int(ua.DeadbandType.Percent) and filt.DeadbandValue == 2.5


# -- queueSize ------------------------------------------------------------------------------------


def test_queue_size_is_what_the_server_keeps_between_publishes(
    opcua_server: OpcuaServer, reading: Any
) -> None:
    path = "Plant.Line1.Boiler.Pressure"
    deep = reading(subscribe_conf(opcua_server, path, samplingInterval="1500ms", queueSize=7))
    shallow = reading(subscribe_conf(opcua_server, path, samplingInterval="1500ms", queueSize=1))
    for r in (deep, shallow):
        r.until(lambda ms: len(ms) >= 1, "the initial value")
    sizes = sorted(
        d.queue_size
        for sub in opcua_server._server.iserver.subscription_service.subscriptions.values()  # type: ignore[union-attr]
        for d in sub.monitored_item_srv._monitored_items.values()
        if d.read_value_id.NodeId.to_string() == node(path)
    )
    assert sizes == [1, 7]
    start = len(deep.messages), len(shallow.messages)
    written = [3.0, 3.5, 4.0, 4.5, 5.0]
    for value in written:
        opcua_server.write(path, value, ua.VariantType.Float)
    deep.until(lambda ms: len(ms) - start[0] >= 5, "every queued change")
    shallow.until(lambda ms: 5.0 in [m.value for m in ms], "the last change")
    settle(shallow, 0.3)
    assert [m.value for m in deep.messages[start[0] :]] == written
    # a queue of one keeps the newest only: a publish carries one change
    assert len(shallow.messages) - start[1] < len(written)
    opcua_server.write(path, 2.5, ua.VariantType.Float)


# -- client and user certificates ---------------------------------------------------------------


@dataclass
class Identity:
    """A self-signed certificate and its RSA key (PEM)."""

    cert: bytes
    key: bytes

    @property
    def der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.cert).public_bytes(DER)


def identity(name: str, uri: str, usage: Any) -> Identity:
    key = generate_private_key()
    cert = generate_self_signed_app_certificate(
        key, name, {}, [x509.UniformResourceIdentifier(uri)], [usage]
    )
    key_pem = key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Identity(cert.public_bytes(PEM), key_pem)


@dataclass
class CertificateServer(OpcuaServer):
    """Basic256Sha256 only; X.509 user logins only (the `users` certificates); client
    application certificates are accepted only when in `clients` (when it is not empty), and
    every one presented is recorded in `presented`."""

    users: list[bytes] = field(default_factory=list)
    clients: list[bytes] = field(default_factory=list)
    presented: list[bytes] = field(default_factory=list)

    async def _build(self) -> Server:
        manager = CertificateUserManager()
        server = Server(user_manager=manager)
        await server.init()
        for i, der in enumerate(self.users):
            path = Path(self.tmp) / f"user{i}.der"
            path.write_bytes(der)
            await manager.add_user(path, name=f"user{i}")
        server.set_endpoint(self.endpoint)
        assert self.certificate is not None
        await server.set_application_uri(APP_URI)
        await server.load_certificate(str(self.certificate.cert))
        await server.load_private_key(str(self.certificate.key))
        server.set_security_policy(
            [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        )
        server.set_identity_tokens([ua.X509IdentityToken])

        async def validate(cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
            der = cert.public_bytes(DER)
            self.presented.append(der)
            if self.clients and der not in self.clients:
                raise ua.UaStatusCodeError(ua.StatusCodes.BadCertificateUntrusted)

        server.set_certificate_validator(validate)
        ns = await server.register_namespace(NS_URI)
        assert ns == NS
        await _address_space(server)
        await server.start()
        return server

    tmp: str = ""


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    client = ExtendedKeyUsageOID.CLIENT_AUTH
    return {
        "operator": identity("operator", "urn:plant:user:operator", client),
        "stranger": identity("stranger", "urn:plant:user:stranger", client),
        "gateway": identity("gateway", "urn:plant:gateway", client),
    }


@pytest.fixture(scope="module")
def cert_server(
    opcua_server_certificate: ServerCertificate,
    people: dict[str, Identity],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CertificateServer]:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = CertificateServer(
        certificate=opcua_server_certificate,
        users=[people["operator"].der],
        tmp=str(tmp_path_factory.mktemp("opcua-users")),
    )
    server.start()
    yield server
    server.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def user_conf(server: OpcuaServer, who: Identity, tmp: Path, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint": server.endpoint,
        "nodeIDs": [node("Plant.Line1.Boiler")],
        "securityMode": "SignAndEncrypt",
        "securityPolicy": "Basic256Sha256",
        "userCertificate": b64(who.cert),
        "userPrivateKey": b64(who.key),
        "certificateDir": str(tmp / "pki"),
        "pollInterval": 0.1,
        **extra,
    }


def test_user_certificate_login(
    cert_server: CertificateServer, people: dict[str, Identity], tmp_path: Path, reading: Any
) -> None:
    r = reading(user_conf(cert_server, people["operator"], tmp_path))
    r.until(lambda ms: len(ms) >= 3, "values with the operator's certificate")
    assert 71.5 in r.of("Temperature")
    assert r.reader.conn.connected
    # DER user certificates work as well, on a signed channel
    der = reading(
        user_conf(
            cert_server, people["operator"], tmp_path, securityMode="Sign",
            userCertificate=b64(people["operator"].der),
        )
    )  # fmt: skip
    der.until(lambda ms: len(ms) >= 3, "values with the DER certificate")


def test_untrusted_user_certificate_is_refused(
    cert_server: CertificateServer, people: dict[str, Identity], tmp_path: Path, reading: Any
) -> None:
    r = reading(user_conf(cert_server, people["stranger"], tmp_path))
    expected = "the server rejected the user certificate 'CN=stranger' (BadUserAccessDenied)"
    wait_until(lambda: expected in r.reader.conn.last_error, 15, expected)
    r.drain()
    assert r.messages == [] and not r.reader.conn.connected


def test_client_certificate_is_the_one_the_server_sees_and_trusts(
    cert_server: CertificateServer, people: dict[str, Identity], tmp_path: Path, reading: Any
) -> None:
    gateway = people["gateway"]
    cert_server.clients[:] = [gateway.der]
    try:
        r = reading(
            user_conf(
                cert_server, people["operator"], tmp_path,
                clientCertificate=b64(gateway.cert + gateway.key),
            )
        )  # fmt: skip
        r.until(lambda ms: len(ms) >= 3, "values over the channel of the given certificate")
        assert gateway.der in cert_server.presented
        # without it, the generated certificate of certificateDir is presented and refused
        other = reading(user_conf(cert_server, people["operator"], tmp_path / "other"))
        expected = "BadCertificateUntrusted"
        wait_until(lambda: expected in other.reader.conn.last_error, 15, expected)
        generated = (tmp_path / "other" / "pki" / "client_cert.der").read_bytes()
        assert generated in cert_server.presented and not other.reader.conn.connected
    finally:
        cert_server.clients[:] = []
