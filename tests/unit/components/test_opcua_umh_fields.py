"""The `opcua` input's benthos-umh fields without a server: queueSize, deadbandType/Value,
insecure, clientCertificate, userCertificate/userPrivateKey, SHA3-512 fingerprints."""

from __future__ import annotations

import base64
import hashlib
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from asyncua.crypto.cert_gen import generate_private_key, generate_self_signed_app_certificate
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from streamforge.config import lint_paths
from streamforge.config.loader import load_stream
from streamforge.connectors.opcua_security import (
    InlineCertificate,
    fingerprints,
    parse_client_certificate,
    parse_fingerprint,
    parse_user_certificate,
)
from streamforge.engine.instantiate import build_problems
from streamforge.inputs.opcua.opcua import OpcuaInput
from streamforge.plugin import load_builtins, registry

load_builtins()

ENDPOINT = "opc.tcp://127.0.0.1:4840"
PEM = serialization.Encoding.PEM


@cache
def pair(uri: str = "urn:example:client") -> tuple[bytes, bytes]:
    """(certificate PEM, RSA key PEM) of a self-signed certificate naming `uri`."""
    key = generate_private_key()
    cert = generate_self_signed_app_certificate(
        key, "client", {}, [x509.UniformResourceIdentifier(uri)],
        [ExtendedKeyUsageOID.CLIENT_AUTH],
    )  # fmt: skip
    key_pem = key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(PEM), key_pem


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def lint(tmp_path: Path, opcua: str) -> list[str]:
    """Problems of a stream with this opcua input (each in a directory of its own)."""
    where = tmp_path / str(len(list(tmp_path.iterdir())))
    where.mkdir()
    path = where / "s.yaml"
    body = textwrap.indent(textwrap.dedent(opcua).strip(), " " * 4)
    path.write_text(f"input:\n  opcua:\n{body}\noutput:\n  drop: {{}}\n")
    problems = [str(p) for p in lint_paths([str(path)])]
    if not problems:  # then what building refuses, as `streamforge lint` reports it
        problems = [str(p) for p in build_problems(load_stream(path))]
    return [p.replace(str(where) + "/", "") for p in problems]


def build(**conf: Any) -> OpcuaInput:
    return OpcuaInput({"endpoint": ENDPOINT, "nodeIDs": ["ns=2;s=Plant"], **conf})


def test_fields_are_declared_with_benthos_umh_names_and_defaults() -> None:
    spec = registry.get("input", "opcua")
    assert spec is not None
    fields = {f.name: f for f in spec.fields}
    for name in ("queueSize", "deadbandType", "deadbandValue", "insecure", "clientCertificate",
                 "userCertificate", "userPrivateKey"):  # fmt: skip
        assert name in fields and fields[name].description, name
    assert fields["queueSize"].default == 10
    assert fields["deadbandType"].default == "none"
    assert fields["clientCertificate"].secret and fields["userPrivateKey"].secret
    s = build().settings
    assert s.queue_size == 10 and s.deadband == ("none", 0.0) and s.user_certificate is None


def test_deadband_and_queue_size_settings() -> None:
    s = build(subscribeEnabled=True, queueSize=3, deadbandType="absolute", deadbandValue=0.5)
    assert s.settings.queue_size == 3 and s.settings.deadband == ("absolute", 0.5)
    s = build(subscribeEnabled=True, deadbandType="Percent", deadbandValue=2)
    assert s.settings.deadband == ("percent", 2.0)
    # benthos-umh ignores the value when the type is none
    assert build(deadbandValue=3).settings.deadband == ("none", 3.0)


@pytest.mark.parametrize(
    ("conf", "error"),
    [
        ({"subscribeEnabled": True, "deadbandType": "relative"}, "'relative' is not one of"),
        ({"subscribeEnabled": True, "deadbandType": "absolute", "deadbandValue": -1}, ">= 0"),
        ({"subscribeEnabled": True, "deadbandType": "percent", "deadbandValue": 150}, "0..100"),
        ({"deadbandType": "absolute", "deadbandValue": 1}, "needs subscribeEnabled: true"),
        ({"queueSize": -1}, "outside 0..4294967295"),
        ({"insecure": True, "securityMode": "Sign", "securityPolicy": "Basic256Sha256"},
         "insecure: true connects without security"),
    ],
)  # fmt: skip
def test_refused_combinations(conf: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(".", r"\.")):
        build(**conf)


def test_insecure_means_no_security() -> None:
    s = build(insecure=True).settings
    assert (s.mode, s.policy) == ("None", "None")


def test_client_certificate_base64_bundle_or_pem_text() -> None:
    cert, key = pair("urn:plant:gateway")
    for text in (b64(cert + key), (key + cert).decode()):
        inline = parse_client_certificate(text)
        assert isinstance(inline, InlineCertificate)
        assert inline.uri == "urn:plant:gateway"
        der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
        assert inline.cert_der == der
        assert inline.fingerprint == hashlib.sha256(der).hexdigest()
    s = build(
        clientCertificate=b64(cert + key), securityMode="SignAndEncrypt",
        securityPolicy="Basic256Sha256",
    ).settings  # fmt: skip
    assert isinstance(s.certificate, InlineCertificate)


def test_client_certificate_refusals() -> None:
    cert, key = pair()
    other_cert, _ = pair("urn:other")
    with pytest.raises(ValueError, match="needs|set securityMode"):
        build(clientCertificate=b64(cert + key))
    with pytest.raises(ValueError, match="clientCertificate: neither PEM text nor base64"):
        parse_client_certificate("not base64 !!")
    with pytest.raises(ValueError, match="no PEM PRIVATE KEY"):
        parse_client_certificate(b64(cert))
    with pytest.raises(ValueError, match="does not belong to the certificate"):
        parse_client_certificate(b64(other_cert + key))
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="not RSA"):
        parse_client_certificate(b64(cert + ec_key))


def test_user_certificate_pem_der_and_refusals() -> None:
    cert, key = pair("urn:user")
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    for cert_text in (b64(cert), b64(der), cert.decode()):
        user = parse_user_certificate(cert_text, b64(key))
        assert user is not None and user.cert_der == der and "CN=client" in user.subject
    assert build(userCertificate=b64(cert), userPrivateKey=b64(key)).settings.user_certificate
    with pytest.raises(ValueError, match="userCertificate: set userPrivateKey too"):
        parse_user_certificate(b64(cert), "")
    with pytest.raises(ValueError, match="userPrivateKey: set userCertificate too"):
        parse_user_certificate("", b64(key))
    with pytest.raises(ValueError, match="not an X.509 certificate"):
        parse_user_certificate(b64(b"garbage"), b64(key))
    _, other_key = pair("urn:other")
    with pytest.raises(ValueError, match="does not belong"):
        parse_user_certificate(b64(cert), b64(other_key))
    with pytest.raises(ValueError, match="choose one login"):
        build(userCertificate=b64(cert), userPrivateKey=b64(key), username="u", password="p")


def test_sha3_512_fingerprint_as_benthos_umh_prints_it() -> None:
    cert, _ = pair()
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    sha3 = hashlib.sha3_512(der).hexdigest()
    assert fingerprints(der)["sha3_512"] == sha3
    assert parse_fingerprint(sha3.upper()) == sha3
    with pytest.raises(ValueError, match="SHA3-512"):
        parse_fingerprint("ab" * 50)


def test_lint_reports_the_new_fields_at_their_place(tmp_path: Path) -> None:
    problems = lint(
        tmp_path,
        f"""
        endpoint: {ENDPOINT}
        nodeIDs: [ ns=2;s=Plant ]
        subscribeEnabled: true
        deadbandType: sometimes
        queueSize: many
        """,
    )
    assert len(problems) == 2, problems
    assert any(p.startswith("s.yaml:6:") and "deadbandType" in p for p in problems), problems
    assert any(p.startswith("s.yaml:7:") and "queueSize" in p for p in problems), problems
    problems = lint(
        tmp_path,
        f"""
        endpoint: {ENDPOINT}
        nodeIDs: [ ns=2;s=Plant ]
        deadbandType: absolute
        deadbandValue: 0.5
        """,
    )
    assert problems == [
        "s.yaml:2:3: input 'opcua' (input): deadbandType absolute: the server filters monitored "
        "items, so a deadband needs subscribeEnabled: true"
    ]


def test_benthos_umh_shaped_configs_lint(tmp_path: Path) -> None:
    cert, key = pair()
    configs = [
        f"""
        endpoint: {ENDPOINT}
        nodeIDs: ['ns=2;s=IoTSensors']
        subscribeEnabled: true
        queueSize: 20
        samplingInterval: 1000.0
        deadbandType: absolute
        deadbandValue: 0.5
        """,
        f"""
        endpoint: {ENDPOINT}
        nodeIDs: ['ns=2;s=IoTSensors']
        insecure: true
        """,
        f"""
        endpoint: {ENDPOINT}
        nodeIDs: ['ns=2;s=IoTSensors']
        securityMode: SignAndEncrypt
        securityPolicy: Basic256Sha256
        userCertificate: '{b64(cert)}'
        userPrivateKey: '{b64(key)}'
        clientCertificate: '{b64(cert + key)}'
        serverCertificateFingerprint: '{"ab" * 64}'
        """,
    ]
    for conf in configs:
        assert lint(tmp_path, conf) == [], conf


def test_poll_rate_and_reconnect_interval() -> None:
    """benthos-umh's pollRate (ms) and reconnectIntervalInSeconds reach the session;
    autoReconnect is accepted (the input always reconnects)."""
    assert build(pollRate=250).settings.poll_seconds == 0.25
    assert build(pollInterval="2s").settings.poll_seconds == 2.0  # pollRate unset
    assert build(pollRate=250, pollInterval="2s").settings.poll_seconds == 0.25
    assert build(reconnectIntervalInSeconds=5).settings.first_reconnect_delay == 5.0
    assert build().settings.first_reconnect_delay == 0.2
    with pytest.raises(ValueError, match="pollRate: must not be negative"):
        build(pollRate=-1)


def test_the_documented_benthos_umh_connection_fields_lint(tmp_path: Path) -> None:
    assert (
        lint(
            tmp_path,
            """
            endpoint: opc.tcp://plc-7.plant.local:4840
            nodeIDs: [ 'ns=2;s=Line1' ]
            subscribeEnabled: false
            pollRate: 500
            autoReconnect: true
            reconnectIntervalInSeconds: 5
            """,
        )
        == []
    )
