"""A real Mosquitto broker for the MQTT tests, started once per test session.

Listeners on free loopback ports: anonymous MQTT over TCP; MQTT with a password file and TLS
(a CA and server certificate generated at session start); anonymous MQTT over websockets.
Persistence is on, so a broker stopped and started again keeps persistent sessions and their
queued QoS 1/2 messages.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import ipaddress
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

__all__ = ["Mosquitto", "TlsFiles", "mosquitto"]

USER = "sf-user"
PASSWORD = "sf-secret"


@dataclass
class TlsFiles:
    """Paths of the generated PKI: the CA that signed the server cert, and an unrelated CA."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


@dataclass
class Mosquitto(PeerProcess):
    """A running broker: ports, credentials, PKI, and stop/start for restart tests."""

    binary: str
    workdir: Path
    port: int
    tls_port: int
    ws_port: int | None
    tls: TlsFiles
    user: str = USER
    password: str = PASSWORD
    auth: bool = True
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"ssl://127.0.0.1:{self.tls_port}"

    @property
    def ws_url(self) -> str | None:
        return None if self.ws_port is None else f"ws://127.0.0.1:{self.ws_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> None:
        """Start the broker (again) and wait until every listener accepts connections."""
        if self.running:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.workdir / "mosquitto.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        for port in (self.port, self.tls_port, self.ws_port):
            if port is not None:
                try:
                    wait_listening(port, timeout=10)
                except TimeoutError:
                    self.stop()
                    raise RuntimeError(f"mosquitto did not start: {self.log_tail()}") from None

    def stop(self) -> None:
        """Stop the broker gracefully (it saves persistent sessions to disk)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _find_binary() -> str | None:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _write_pki(directory: Path) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and a second CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = _dt.datetime.now(_dt.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return key, cert

    ca_key, ca_cert = make_ca("StreamForge test CA")
    _, other_cert = make_ca("Unrelated test CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = TlsFiles(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server.key",
        other_ca=directory / "other-ca.pem",
    )
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.other_ca.write_bytes(other_cert.public_bytes(pem))
    files.cert.write_bytes(server_cert.public_bytes(pem))
    files.key.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(files.key, 0o600)
    return files


def _write_password_file(directory: Path) -> Path | None:
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not os.access(tool, os.X_OK):
        return None
    path = directory / "passwd"
    subprocess.run([tool, "-c", "-b", str(path), USER, PASSWORD], check=True, capture_output=True)
    os.chmod(path, 0o600)
    return path


def _websockets_supported(binary: str, directory: Path) -> bool:
    """Whether this mosquitto build has websockets (it refuses the config otherwise)."""
    port = free_port()
    conf = directory / "ws-probe.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nprotocol websockets\nallow_anonymous true\n")
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening(port, timeout=3)
        return True
    except TimeoutError:
        return False
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One Mosquitto broker for the whole session (skips when the OS package is missing)."""
    binary = _find_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    workdir = tmp_path_factory.mktemp("mosquitto")
    tls = _write_pki(workdir)
    passwd = _write_password_file(workdir)
    ws = _websockets_supported(binary, workdir)
    broker = Mosquitto(
        binary=binary,
        workdir=workdir,
        port=free_port(),
        tls_port=free_port(),
        ws_port=free_port() if ws else None,
        tls=tls,
        auth=passwd is not None,
    )
    lines = [
        f"user {getpass.getuser()}",
        "per_listener_settings true",
        "persistence true",
        f"persistence_location {workdir}/",
        "autosave_interval 1",
        "max_queued_messages 0",
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"listener {broker.port} 127.0.0.1",
        "allow_anonymous true",
        f"listener {broker.tls_port} 127.0.0.1",
        f"cafile {tls.ca}",
        f"certfile {tls.cert}",
        f"keyfile {tls.key}",
    ]
    if passwd is not None:
        lines += ["allow_anonymous false", f"password_file {passwd}"]
    else:
        lines += ["allow_anonymous true"]
    if broker.ws_port is not None:
        lines += [
            f"listener {broker.ws_port} 127.0.0.1",
            "protocol websockets",
            "allow_anonymous true",
        ]
    (workdir / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
