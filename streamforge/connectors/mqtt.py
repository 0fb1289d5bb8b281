"""What the `mqtt` input and output share: config fields, broker URLs, TLS, and a client.

`MqttClient` wraps a paho-mqtt 2.x client whose network loop runs in its own thread. It
reconnects with exponential backoff and jitter (`runtime.connection.Backoff`), reports its
state through `runtime.connection` (metrics and /ready), and logs every failure naming the
component, the broker URL and the cause.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from streamforge.connectors.mqtt_frames import (
    PUBLISH,
    Publish,
    TopicCache,
    decode_publish,
    scan_frames,
)
from streamforge.connectors.tls import tls_field
from streamforge.durations import parse_duration
from streamforge.plugin import BuildContext, Field
from streamforge.plugin.connection import Backoff, Connection, connection

__all__ = [
    "BrokerUrl",
    "Delivered",
    "MqttClient",
    "MqttSettings",
    "connection_fields",
    "describe_error",
    "nanoid",
    "parse_url",
]

_SCHEMES: dict[str, tuple[str, bool, int]] = {
    # scheme: (paho transport, TLS, default port)
    "tcp": ("tcp", False, 1883),
    "mqtt": ("tcp", False, 1883),
    "ssl": ("tcp", True, 8883),
    "tls": ("tcp", True, 8883),
    "mqtts": ("tcp", True, 8883),
    "ws": ("websockets", False, 80),
    "wss": ("websockets", True, 443),
}

_NANOID_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: an MQTT 3.1.1 PUBACK: type, remaining length 2, packet id
_PUBACK = struct.Struct("!BBH")

#: a failure that repeats is logged again at most this often (seconds)
RELOG_SECONDS = 30.0


def nanoid(size: int = 21) -> str:
    """A random URL-safe identifier, as nanoid makes them."""
    return "".join(secrets.choice(_NANOID_ALPHABET) for _ in range(size))


@dataclass(frozen=True)
class BrokerUrl:
    """One broker address from `urls`."""

    url: str
    host: str
    port: int
    transport: str
    tls: bool
    path: str


def parse_url(url: str) -> BrokerUrl:
    """Parse `tcp://host:1883`, `ssl://`, `ws://host:8080/mqtt` ...; ValueError when bad.

    An address without a scheme (`localhost:1883`) is plain TCP, as in Benthos (whose MQTT
    client adds `tcp://` itself)."""
    text = url.strip()
    if not text:
        raise ValueError("url '': empty, e.g. tcp://localhost:1883")
    if "://" not in text:
        text = "tcp://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(
            f"url {url!r}: scheme {scheme!r} is not supported "
            f"(use one of {', '.join(sorted(_SCHEMES))})"
        )
    transport, tls, default_port = _SCHEMES[scheme]
    if not parts.hostname:
        raise ValueError(f"url {url!r}: no host")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"url {url!r}: the port is not a number in 1-65535") from None
    path = parts.path or ("/mqtt" if transport == "websockets" else "")
    if parts.query:
        path = f"{path}?{parts.query}"
    return BrokerUrl(text, parts.hostname, port, transport, tls, path)


def connection_fields() -> list[Field]:
    """Fields shared by the `mqtt` input and output (Benthos v4 names)."""
    return [
        Field(
            "urls",
            "array",
            item=Field("url", "string"),
            description=(
                "Brokers to connect to (tried in turn on failure): tcp://, ssl://, ws:// or "
                "wss://. Items containing commas are split into several URLs."
            ),
            examples=(["tcp://localhost:1883"], ["ssl://broker.plant.local:8883"]),
        ),
        Field(
            "client_id",
            "string",
            default="",
            description=(
                "Client identifier. Persistent sessions (`clean_session: false`) need a fixed "
                "one; when empty a random identifier is used."
            ),
        ),
        Field(
            "dynamic_client_id_suffix",
            "string",
            default="",
            description="Append a generated suffix to `client_id`: `nanoid`.",
            examples=("nanoid",),
            advanced=True,
        ),
        Field(
            "connect_timeout",
            "duration",
            default="30s",
            description="How long one connection attempt may take before it counts as failed.",
        ),
        Field(
            "will",
            "object",
            default={},
            description="A last-will message the broker publishes if this client vanishes.",
            advanced=True,
            fields=(
                Field("enabled", "bool", default=False, description="Send a last will."),
                Field("qos", "int", default=0, description="QoS of the will (0, 1 or 2)."),
                Field("retained", "bool", default=False, description="Retain the will."),
                Field("topic", "string", default="", description="Topic of the will."),
                Field("payload", "string", default="", description="Payload of the will."),
            ),
        ),
        Field("user", "string", default="", description="User name for authentication."),
        Field(
            "password",
            "string",
            default="",
            description="Password for authentication.",
            secret=True,
        ),
        Field(
            "keepalive",
            "int",
            default=30,
            description="Seconds between keep-alive pings; a silent broker counts as lost.",
            advanced=True,
        ),
        tls_field(
            "TLS settings; also enabled by ssl:// and wss:// URLs.",
            default={},
            extra=(
                Field(
                    "enable_renegotiation",
                    "bool",
                    default=False,
                    description="Accepted for Benthos compatibility; has no effect.",
                    advanced=True,
                ),
            ),
        ),
    ]


@dataclass
class Will:
    """The last-will message."""

    topic: str
    payload: str
    qos: int
    retained: bool


@dataclass
class MqttSettings:
    """Validated connection settings, parsed once from a component config."""

    urls: list[BrokerUrl]
    client_id: str
    clean_session: bool = True
    connect_timeout: float = 30.0
    keepalive: int = 30
    user: str = ""
    password: str = ""
    tls: dict[str, Any] = field(default_factory=dict)
    will: Will | None = None
    #: "3.1.1" or "5"
    protocol: str = "3.1.1"
    #: MQTT 5: how many unacknowledged QoS 1/2 messages the broker may send us at a time
    receive_maximum: int = 0

    @classmethod
    def from_conf(cls, conf: dict[str, Any], *, clean_session: bool = True) -> MqttSettings:
        """Check and convert the shared fields; ValueError names the field that is wrong."""
        raw = [str(u) for u in conf.get("urls") or []]
        urls = [parse_url(part) for u in raw for part in u.split(",") if part.strip()]
        if not urls:
            raise ValueError("urls: at least one broker URL is required")
        if len({(u.transport, u.tls) for u in urls}) > 1:
            raise ValueError("urls: all URLs must use the same kind of scheme (tcp, ssl, ws, wss)")
        suffix = str(conf.get("dynamic_client_id_suffix") or "")
        if suffix not in ("", "nanoid"):
            raise ValueError(f"dynamic_client_id_suffix: {suffix!r} is not supported (nanoid)")
        client_id = str(conf.get("client_id") or "")
        if not clean_session and (not client_id or suffix):
            raise ValueError(
                "clean_session: false needs a fixed client_id (and no dynamic_client_id_suffix) "
                "so the broker can find the session again"
            )
        if suffix == "nanoid":
            client_id += nanoid()
        if not client_id:
            client_id = f"streamforge-{nanoid(12)}"
        connect_timeout = parse_duration(conf.get("connect_timeout", "30s"))
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        keepalive = int(conf.get("keepalive", 30))
        if keepalive < 0 or keepalive > 65535:
            raise ValueError("keepalive must be between 0 and 65535 seconds")
        will = None
        will_conf = conf.get("will") or {}
        if will_conf.get("enabled"):
            topic = str(will_conf.get("topic") or "")
            if not topic:
                raise ValueError("will.topic is required when will.enabled is true")
            will = Will(
                topic=topic,
                payload=str(will_conf.get("payload") or ""),
                qos=check_qos(will_conf.get("qos", 0), "will.qos"),
                retained=bool(will_conf.get("retained", False)),
            )
        tls = dict(conf.get("tls") or {})
        for i, cc in enumerate(tls.get("client_certs") or []):
            has_files = bool(cc.get("cert_file")) and bool(cc.get("key_file"))
            has_inline = bool(cc.get("cert")) and bool(cc.get("key"))
            if not (has_files or has_inline):
                raise ValueError(
                    f"tls.client_certs.{i}: needs cert_file and key_file (or cert and key)"
                )
        return cls(
            urls=urls,
            client_id=client_id,
            clean_session=clean_session,
            connect_timeout=connect_timeout,
            keepalive=keepalive,
            user=str(conf.get("user") or ""),
            password=str(conf.get("password") or ""),
            tls=tls,
            will=will,
        )

    @property
    def use_tls(self) -> bool:
        return bool(self.tls.get("enabled")) or self.urls[0].tls

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context, or None for plain connections; ValueError when files are bad."""
        if not self.use_tls:
            return None
        return build_ssl_context(self.tls)


def check_qos(value: Any, name: str = "qos") -> int:
    """A QoS level 0, 1 or 2."""
    if isinstance(value, bool) or value not in (0, 1, 2):
        raise ValueError(f"{name}: must be 0, 1 or 2, got {value!r}")
    return int(value)


def build_ssl_context(tls: dict[str, Any]) -> ssl.SSLContext:
    """A client TLS context from the `tls` fields."""
    import tempfile

    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    try:
        if tls.get("root_cas_file"):
            ctx.load_verify_locations(cafile=str(tls["root_cas_file"]))
        if tls.get("root_cas"):
            ctx.load_verify_locations(cadata=str(tls["root_cas"]))
        for cc in tls.get("client_certs") or []:
            password = cc.get("password") or None
            if cc.get("cert_file"):
                ctx.load_cert_chain(cc["cert_file"], cc["key_file"], password=password)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = f"{tmp}/cert.pem", f"{tmp}/key.pem"
                with open(cert, "w") as fh:
                    fh.write(cc["cert"])
                with open(key, "w") as fh:
                    fh.write(cc["key"])
                ctx.load_cert_chain(cert, key, password=password)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"tls: cannot load certificates: {exc}") from exc
    if tls.get("skip_cert_verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def describe_error(exc: BaseException, timeout: float | None = None) -> str:
    """A short cause for a failed connection attempt, as a user would want to read it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the broker running and listening there?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror or exc})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g}s" if timeout else "timed out"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the broker"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return f"{type(exc).__name__}: {exc}"


def describe_reason(reason: Any) -> str:
    """A CONNACK/DISCONNECT reason as text; refused credentials say so plainly."""
    text = str(getattr(reason, "getName", lambda: reason)())
    low = text.lower()
    if "authori" in low or "user name or password" in low:
        return f"not authorised: the broker refused the credentials ({text})"
    return text


class _BufferedReads:
    """Reads a paho client's socket in large chunks and handles every packet they hold.

    paho reads each packet with three `recv` calls (type, length, rest) and handles one
    packet per `select`; at thousands of messages a second those system calls cost more
    than the messages. Installed on one client, this serves paho's small reads from a
    buffer filled by one `recv` and lets `loop_read` go on while the buffer holds data.
    """

    CHUNK = 1 << 16

    def __init__(self, client: Any) -> None:
        self.client = client
        self._recv: Callable[[int], bytes] = client._sock_recv
        self._loop_read: Callable[[int], Any] = client.loop_read
        self._sock: Any = None
        self._data = b""
        self._pos = 0
        #: called after the packets of one read were handled
        self.after: Callable[[], None] | None = None
        #: hot-path handlers: PUBLISH (QoS 0/1) and PUBACK frames bypass paho when set
        self.topics: TopicCache | None = None
        self.on_publishes: Callable[[list[Publish]], None] | None = None
        self.on_pubacks: Callable[[list[int]], None] | None = None
        #: PUBLISH frames carry MQTT 5 properties
        self.v5 = False

    @classmethod
    def install(cls, client: Any) -> _BufferedReads | None:
        """Wrap the client's reads (left alone when this paho has other internals)."""
        if not (callable(getattr(client, "_sock_recv", None)) and hasattr(client, "_sock")):
            return None
        reads = cls(client)
        client._sock_recv = reads.recv
        client.loop_read = reads.loop_read
        return reads

    def recv(self, bufsize: int) -> bytes:
        sock = self.client._sock
        if sock is not self._sock:  # a new connection: nothing buffered belongs to it
            self._sock, self._data, self._pos = sock, b"", 0
        pos, data = self._pos, self._data
        if pos >= len(data):
            data = self._recv(self.CHUNK)  # raises BlockingIOError when nothing is there
            if not data:
                return data
            self._data, pos = data, 0
        end = min(pos + bufsize, len(data))
        self._pos = end
        return data[pos:end]

    def loop_read(self, max_packets: int = 1) -> Any:
        rc = self._loop_read(max_packets)
        fast = self.on_publishes is not None or self.on_pubacks is not None
        while (
            rc == 0
            and self._pos < len(self._data)
            and self._sock is not None
            and self._sock is self.client._sock
        ):
            if fast and self.client._in_packet["command"] == 0:
                self._scan()
                if self._pos >= len(self._data):
                    break
            rc = self._loop_read(max_packets)
        after = self.after
        if after is not None:
            after()
        return rc

    def _scan(self) -> None:
        """Handle the complete PUBLISH/PUBACK frames paho has not read yet, in one loop."""
        publishes: list[Publish] = []
        acks: list[int] | None = [] if self.on_pubacks is not None else None
        topics = self.topics if self.on_publishes is not None else None
        pos = scan_frames(self._data, self._pos, topics, publishes, acks, v5=self.v5)
        if pos == self._pos:
            return
        self._pos = pos
        self.client._last_bytes_received = time.monotonic()
        if publishes and self.on_publishes is not None:
            self.on_publishes(publishes)
        if acks and self.on_pubacks is not None:
            self.on_pubacks(acks)


class Delivered(Protocol):
    """A received message as far as acknowledging it goes."""

    qos: int
    mid: int
    #: the `MqttClient.generation` of the connection it came on
    generation: int


class MqttClient:
    """One paho client with its network thread, reconnects, state and failure logs.

    `on_connected(client, session_present)` runs on the network thread after every successful
    connection; `on_message(message)` receives every PUBLISH (on the network thread).
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        kind: str,
        ctx: BuildContext | None,
        logger: logging.Logger,
        manual_ack: bool = False,
        on_connected: Callable[[Any, bool], None] | None = None,
        on_message: Callable[[Any], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        import paho.mqtt.client as paho

        self._paho = paho
        self.settings = settings
        self.stream = getattr(ctx, "stream", "") or "stream"
        self.label = getattr(ctx, "label", "") or f"mqtt_{kind}"
        self.kind = kind
        self.log = logger
        self._on_connected = on_connected
        self._on_message = on_message
        self.manual_ack = manual_ack
        self.backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self.stop_event = threading.Event()
        self._url_index = 0
        self._refused = False
        self._last_logged: tuple[str, float] = ("", 0.0)
        self._connected_once = False
        self._state_lock = threading.Lock()
        self._connected_cond = threading.Condition(self._state_lock)
        #: increases with every successful connection (acks of older ones are stale)
        self.generation = 0
        self._last_exception: BaseException | None = None
        self.connection: Connection = connection(
            self.stream, self.label, ", ".join(u.url for u in settings.urls)
        )
        ssl_context = settings.ssl_context()
        first = settings.urls[0]
        v5 = settings.protocol == "5"
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=None if v5 else settings.clean_session,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            transport=first.transport,  # type: ignore[arg-type]
            manual_ack=manual_ack,
            reconnect_on_failure=True,
        )
        client.connect_timeout = settings.connect_timeout
        client.reconnect_delay_set(0, 0)  # the backoff (with jitter) is slept in callbacks
        client.max_queued_messages_set(0)
        if ssl_context is not None:
            client.tls_set_context(ssl_context)
            if settings.tls.get("skip_cert_verify"):
                client.tls_insecure_set(True)
        if first.transport == "websockets":
            client.ws_set_options(path=first.path)
        if settings.user or settings.password:
            client.username_pw_set(settings.user or None, settings.password or None)
        if settings.will is not None:
            w = settings.will
            client.will_set(w.topic, w.payload, qos=w.qos, retain=w.retained)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_connect_fail = self._handle_connect_fail
        if on_message is not None:
            client.on_message = self._handle_message
        self.client = client
        self._wrap_reconnect()
        self._reads = _BufferedReads.install(client)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> BrokerUrl:
        return self.settings.urls[self._url_index]

    @property
    def is_connected(self) -> bool:
        return self.connection.connected

    def start(self) -> None:
        """Start connecting in the background (never blocks, never raises on a dead peer)."""
        url = self.url
        settings = self.settings
        if settings.protocol != "5":
            self.client.connect_async(url.host, url.port, keepalive=settings.keepalive)
        else:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            if settings.receive_maximum:
                props.ReceiveMaximum = settings.receive_maximum
            # a persistent session outlives the connection, as with MQTT 3.1.1
            props.SessionExpiryInterval = 0 if settings.clean_session else 0xFFFFFFFF
            self.client.connect_async(
                url.host,
                url.port,
                keepalive=settings.keepalive,
                clean_start=settings.clean_session,
                properties=props,
            )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected, for at most `timeout` seconds; False when still down."""
        deadline = time.monotonic() + timeout
        with self._connected_cond:
            while not self.connection.connected and not self.stop_event.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._connected_cond.wait(min(left, 0.2))
            return self.connection.connected

    def receive_fast(self, handler: Callable[[list[Publish]], None]) -> bool:
        """Hand every QoS 0/1 PUBLISH to `handler` (network thread) without paho's messages.

        Frames are decoded in bulk from each read; paho still handles QoS 2 and everything
        else. False when this paho's internals differ (use `on_message` then).
        """
        reads = self._reads
        client = self.client
        original = getattr(client, "_handle_publish", None)
        if reads is None or original is None or not hasattr(client, "_in_packet"):
            return False
        topics = TopicCache()
        v5 = self.settings.protocol == "5"

        def handle_publish() -> Any:
            packet = client._in_packet
            frame = decode_publish(packet["command"], packet["packet"], topics, v5=v5)
            if frame is None:
                return original()
            handler([frame])
            return 0

        client._handle_publish = handle_publish  # type: ignore[method-assign]
        reads.topics = topics
        reads.v5 = v5
        reads.on_publishes = handler
        return True

    def confirm_fast(self, handler: Callable[[list[int]], None]) -> bool:
        """Hand every PUBACK's packet id to `handler` (network thread): for publishes sent
        with `send_frames`, which paho does not know. False when paho's internals differ."""
        reads = self._reads
        client = self.client
        original = getattr(client, "_handle_pubackcomp", None)
        if (
            reads is None
            or original is None
            or not hasattr(client, "_in_packet")
            or not callable(getattr(client, "_packet_queue", None))
        ):
            return False

        def handle_pubackcomp(cmd: str) -> Any:
            body = client._in_packet["packet"]
            if cmd != "PUBACK" or len(body) < 2:
                return original(cmd)
            handler([(body[0] << 8) | body[1]])
            return 0

        client._handle_pubackcomp = handle_pubackcomp  # type: ignore[method-assign]
        reads.on_pubacks = handler
        return True

    def send_frames(self, data: bytes) -> None:
        """Queue encoded PUBLISH frames for the network thread to write in one go."""
        self.client._packet_queue(PUBLISH, data, 0, 1)

    def after_reads(self, hook: Callable[[], None]) -> bool:
        """Call `hook` on the network thread after the packets of each read were handled.

        False when this paho's reads could not be wrapped (the hook is then never called).
        """
        if self._reads is None:
            return False
        self._reads.after = hook
        return True

    def puback(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (manual_ack), their PUBACKs written together.

        paho queues and wakes its network thread once per acknowledgement; one queued write
        holding all of them costs the same for a batch as paho's way costs for one message.
        """
        if not self.manual_ack:
            return  # paho acknowledged them on arrival
        queue = getattr(self.client, "_packet_queue", None)
        if queue is None or len(mids) < 2:
            for mid in mids:
                self.client.ack(mid, 1)
            return
        data = b"".join([_PUBACK.pack(0x40, 2, mid) for mid in mids])
        try:
            queue(0x40, data, 0, 0)
        except TypeError:  # another paho version: acknowledge one by one, its public way
            for mid in mids:
                self.client.ack(mid, 1)

    def acknowledge(self, received: Sequence[Delivered]) -> None:
        """Acknowledge the QoS 1 and 2 messages (manual_ack) that came on the current
        connection; those of an earlier one are stale: the broker sends them again."""
        current = self.generation
        self.puback([r.mid for r in received if r.qos == 1 and r.generation == current])
        for r in received:
            if r.qos == 2 and r.generation == current:
                self.client.ack(r.mid, 2)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.stop_event.set()
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        self.connection.down("closed")
        self.connection.close()

    # -- callbacks (network thread) --------------------------------------------------------

    def _wrap_reconnect(self) -> None:
        """Keep the exception of a failed connection attempt, to log its cause."""
        original = self.client.reconnect

        def reconnect() -> Any:
            try:
                return original()
            except Exception as exc:
                self._last_exception = exc
                raise

        self.client.reconnect = reconnect  # type: ignore[method-assign]

    def _handle_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._refused = True
            self._failed(describe_reason(reason))
            return
        self.backoff.reset()
        with self._connected_cond:
            self.generation += 1
            self.connection.up()
            self._connected_cond.notify_all()
        session = bool(getattr(flags, "session_present", False))
        verb = "reconnected" if self._connected_once else "connected"
        self._connected_once = True
        self._last_logged = ("", 0.0)
        self.log.info(
            "mqtt %s %s: %s to %s as client %r%s",
            self.kind,
            self.label,
            verb,
            self.url.url,
            self.settings.client_id,
            " (session resumed)" if session else "",
            extra=self._fields(),
        )
        if self._on_connected is not None:
            try:
                self._on_connected(client, session)
            except Exception as exc:  # noqa: BLE001 - never kill the network thread
                self.log.error(
                    "mqtt %s %s: setting up the connection failed: %s",
                    self.kind,
                    self.label,
                    exc,
                    extra=self._fields(),
                )

    def _handle_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if self.stop_event.is_set():
            return
        if self._refused:
            self._refused = False  # already reported by the CONNACK
        else:
            was = self.connection.connected
            cause = describe_reason(reason)
            if was:
                cause = f"connection lost ({cause})"
            self._failed(cause)
        self._wait_before_retry()

    def _handle_connect_fail(self, client: Any, userdata: Any) -> None:
        if self.stop_event.is_set():
            return
        exc = self._last_exception
        cause = describe_error(exc, self.settings.connect_timeout) if exc else "connect failed"
        self._failed(cause)
        self._wait_before_retry()

    def _handle_message(self, client: Any, userdata: Any, message: Any) -> None:
        if self._on_message is not None:
            self._on_message(message)

    # -- helpers ---------------------------------------------------------------------------

    def _failed(self, cause: str) -> None:
        self.connection.down(cause)
        now = time.monotonic()
        last_cause, last_time = self._last_logged
        if cause == last_cause and now - last_time < RELOG_SECONDS:
            return
        self._last_logged = (cause, now)
        self.log.error(
            "mqtt %s %s: cannot connect to %s: %s; retrying with backoff",
            self.kind,
            self.label,
            self.url.url,
            cause,
            extra=self._fields(),
        )

    def _wait_before_retry(self) -> None:
        """Sleep the backoff delay, then point the client at the next URL."""
        if not self.backoff.sleep(self.stop_event):
            return
        if len(self.settings.urls) > 1:
            self._url_index = (self._url_index + 1) % len(self.settings.urls)
            url = self.url
            try:
                self.client.host = url.host
                self.client.port = url.port
                if url.transport == "websockets":
                    self.client.ws_set_options(path=url.path)
            except Exception as exc:  # noqa: BLE001 - keep the previous address
                self.log.debug("cannot switch broker url: %s", exc)

    def _fields(self) -> dict[str, Any]:
        return {"fields": {"stream": self.stream, "component": self.label}}
