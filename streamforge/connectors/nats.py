"""What the NATS and JetStream inputs and outputs share: fields as Benthos spells them (`urls`,
`tls`, `auth`), and a nats-py client on an event loop of its own.

nats-py is asyncio: each component connection runs one client on a `LoopThread`. The client
reconnects by itself (subscriptions are renewed), with our backoff and jitter between attempts;
its state goes to metrics and /ready through a `PeerLink`. nats-py is imported when a client
is made (it comes with the `nats` extra).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from streamforge.connectors.loop_thread import LoopThread
from streamforge.connectors.peer import (
    NETWORK_ERRORS,
    PeerLink,
    check_url,
    describe_network_error,
    display_url,
    prepare_each,
    write_timeout_field,
)
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.durations import parse_duration
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.metadata_filter import MetadataFilter, metadata_filter_field
from streamforge.plugin import BuildContext, Field, Output
from streamforge.plugin.connection import Backoff

__all__ = [
    "NatsClient",
    "NatsOutputBase",
    "NatsSettings",
    "check_nats_output",
    "connection_fields",
    "describe_error",
    "headers_of",
    "nats_output_fields",
    "security_fields",
    "transient_errors",
]

_SCHEMES = ("nats", "tls", "ws", "wss")


def connection_fields() -> list[Field]:
    """`urls`, `tls` and `auth`, shared by every NATS component (`subject` and the rest are
    each component's own)."""
    return [
        Field(
            "urls",
            "array",
            item=Field("url", "string"),
            description=(
                "NATS server URLs; user and password (or a token) may be in the URL. Several "
                "URLs: the client picks one and moves on when it goes away."
            ),
            examples=(
                ["nats://127.0.0.1:4222"],
                ["nats://username:password@127.0.0.1:4222"],
            ),
        ),
    ]


def security_fields() -> list[Field]:
    """`tls` and `auth`."""
    return [
        tls_field("Custom TLS settings.", default={"enabled": False}, peer="server"),
        Field(
            "auth",
            "object",
            default={},
            description="Optional NATS authentication (besides a user or token in the URL).",
            advanced=True,
            fields=(
                Field(
                    "nkey_file",
                    "string",
                    default="",
                    description="A file holding an NKey seed.",
                ),
                Field(
                    "nkey",
                    "string",
                    default="",
                    description="An NKey seed, inline.",
                    secret=True,
                ),
                Field(
                    "user_credentials_file",
                    "string",
                    default="",
                    description="A NATS credentials file (JWT and NKey seed).",
                ),
                Field(
                    "user_jwt",
                    "string",
                    default="",
                    description="A user JWT, inline (with `user_nkey_seed`).",
                    secret=True,
                ),
                Field(
                    "user_nkey_seed",
                    "string",
                    default="",
                    description="The NKey seed signing for `user_jwt`.",
                    secret=True,
                ),
            ),
        ),
    ]


def _check_url(url: str) -> str:
    text = url.strip()
    if not text:
        raise ValueError("urls: an empty URL")
    if "://" not in text:
        text = f"nats://{text}"
    check_url(text, _SCHEMES, f"urls: unsupported scheme in {url!r} (use nats://, tls://, ws://)")
    return text


@dataclass
class NatsSettings:
    """A NATS connection config, checked."""

    urls: list[str]
    tls: dict[str, Any] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> NatsSettings:
        urls = [_check_url(str(u)) for u in conf.get("urls") or []]
        if not urls:
            raise ValueError("urls: at least one NATS URL is required")
        tls = dict(conf.get("tls") or {})
        if tls.get("enabled"):
            check_tls_files(tls)
        auth = {k: str(v) for k, v in (conf.get("auth") or {}).items() if v}
        if bool(auth.get("user_jwt")) != bool(auth.get("user_nkey_seed")):
            raise ValueError("auth: user_jwt and user_nkey_seed go together")
        for key in ("nkey_file", "user_credentials_file"):
            if auth.get(key):
                try:
                    with open(auth[key], "rb"):
                        pass
                except OSError as exc:
                    raise ValueError(
                        f"auth.{key}: cannot read {auth[key]!r}: {exc.strerror or exc}"
                    ) from None
        return cls(urls, tls, auth)

    @property
    def display(self) -> str:
        return ",".join(display_url(u) for u in self.urls)

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments of nats-py's `connect` for TLS and authentication."""
        opts: dict[str, Any] = {"servers": list(self.urls)}
        tls = self.tls
        if tls.get("enabled") or any(u.startswith(("tls://", "wss://")) for u in self.urls):
            from streamforge.connectors.mqtt import build_ssl_context

            opts["tls"] = build_ssl_context(tls)
            if any(u.startswith("tls://") for u in self.urls):
                opts["servers"] = [u.replace("tls://", "nats://", 1) for u in self.urls]
        auth = self.auth
        if auth.get("nkey_file"):
            opts["nkeys_seed"] = auth["nkey_file"]
        if auth.get("nkey"):
            opts["nkeys_seed_str"] = auth["nkey"]
        if auth.get("user_credentials_file"):
            opts["user_credentials"] = auth["user_credentials_file"]
        if auth.get("user_jwt"):
            jwt, seed = auth["user_jwt"].encode(), auth["user_nkey_seed"].encode()

            def user_jwt() -> bytearray:
                return bytearray(jwt)

            def sign(nonce: str) -> bytes:
                import base64

                import nkeys

                kp = nkeys.from_seed(bytearray(seed))
                signed = kp.sign(nonce.encode())
                kp.wipe()
                return base64.b64encode(signed)

            opts["user_jwt_cb"] = user_jwt
            opts["signature_cb"] = sign
        return opts


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors after which an operation may succeed once the server is back."""
    from nats import errors as e

    return (
        e.TimeoutError,
        e.ConnectionClosedError,
        e.ConnectionReconnectingError,
        e.FlushTimeoutError,
        e.StaleConnectionError,
        e.NoServersError,
        e.OutboundBufferLimitError,
        e.UnexpectedEOF,
        *NETWORK_ERRORS,
    )


def describe_error(exc: BaseException) -> str:
    known = describe_network_error(exc, "server")
    if known is not None:
        return known
    text = str(exc).strip()
    name = type(exc).__name__
    if not text or text == "nats: " or text.endswith(": "):
        return name
    return text.removeprefix("nats: ")


def headers_of(msg: Any) -> dict[str, str]:
    """A received message's headers as metadata (the last value of a repeated one)."""
    headers = getattr(msg, "headers", None) or {}
    return {str(k): str(v) for k, v in headers.items()}


class NatsClient:
    """One nats-py connection on an event loop thread of its own.

    `setup(nc)` runs after the first connection (subscribing, say); when it fails it is
    retried with backoff. `ready` is set once connected and set up.
    """

    def __init__(
        self,
        settings: NatsSettings,
        *,
        kind: str,
        ctx: BuildContext | None,
        logger: logging.Logger,
        setup: Callable[[Any], Awaitable[None]] | None = None,
        protocol: str = "nats",
    ) -> None:
        self.settings = settings
        self.log = logger
        self.link = PeerLink(protocol, kind, ctx, settings.display, logger)
        self.loop = LoopThread(f"nats-{self.link.label}")
        self.nc: Any = None
        self.js: Any = None
        self.ready = threading.Event()
        self.closing = threading.Event()
        self._setup = setup
        self._backoff = Backoff(initial=0.2, maximum=10.0)
        self._attempt = 0
        self._task = self.loop.submit(self._start())

    # -- on the loop -------------------------------------------------------------------------

    async def _start(self) -> None:
        import nats

        opts = self.settings.connect_options()
        while not self.closing.is_set():
            try:
                self.nc = await nats.connect(
                    **opts,
                    name=f"streamforge {self.link.label}",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    ping_interval=5,
                    max_outstanding_pings=2,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    reconnect_to_server_handler=self._next_server,
                )
                break
            except Exception as exc:  # noqa: BLE001 - e.g. bad credentials: retried
                self.link.down(describe_error(exc))
                await asyncio.sleep(self._backoff.next_delay())
        else:
            return
        self._backoff.reset()
        self.js = self.nc.jetstream()
        self.link.up()
        while not self.closing.is_set():
            try:
                if self._setup is not None:
                    await self._setup(self.nc)
                self.ready.set()
                return
            except Exception as exc:  # noqa: BLE001 - e.g. no such stream yet: retried
                self.link.log.error(
                    "%s %s %s: setting up on %s failed: %s; retrying with backoff",
                    self.link.protocol,
                    self.link.kind,
                    self.link.label,
                    self.link.peer,
                    describe_error(exc),
                    extra=self.link.fields(),
                )
                await asyncio.sleep(self._backoff.next_delay())

    async def _on_error(self, exc: Exception) -> None:
        from nats import errors as e

        if isinstance(exc, e.SlowConsumerError):
            self.log.warning("nats %s: %s", self.link.label, describe_error(exc))
            return
        if not self.closing.is_set():
            self.link.down(describe_error(exc))

    async def _on_disconnected(self) -> None:
        if not self.closing.is_set():
            self.link.down("connection lost")

    async def _on_reconnected(self) -> None:
        self._backoff.reset()
        self._attempt = 0
        self.link.up()

    def _next_server(self, servers: list[Any], info: dict[str, Any]) -> tuple[Any, float]:
        """Round robin over the servers, waiting our backoff (with jitter) between tries."""
        server = servers[self._attempt % len(servers)] if servers else None
        self._attempt += 1
        return server, self._backoff.next_delay()

    # -- from other threads ------------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Wait until connected and set up; False after `timeout` seconds."""
        return self.ready.wait(timeout)

    @property
    def connected(self) -> bool:
        nc = self.nc
        return nc is not None and bool(nc.is_connected)

    def close(self, drain: bool = False) -> None:
        self.closing.set()
        nc = self.nc
        if nc is not None and not nc.is_closed:
            try:
                if nc.is_connected:
                    self.loop.run(nc.flush(timeout=2), 3.0)
            except Exception as exc:  # noqa: BLE001 - closing anyway
                self.log.debug("nats %s: flushing: %s", self.link.label, exc)
            try:
                self.loop.run(nc.drain() if drain and nc.is_connected else nc.close(), 5.0)
            except Exception as exc:  # noqa: BLE001 - closing a broken connection
                self.log.debug("nats %s: closing: %s", self.link.label, exc)
        self._task.cancel()
        self.loop.stop()
        self.link.close()


def nats_output_fields(max_in_flight: int) -> list[Field]:
    """The fields of the `nats` and `nats_jetstream` outputs."""
    return [
        *connection_fields(),
        Field(
            "subject",
            "string",
            interpolable=True,
            description="The subject to publish to; interpolated per message.",
            examples=("plant.${! @asset_id }.telemetry",),
        ),
        Field(
            "headers",
            "map",
            default={},
            description="Headers to set, each value interpolated per message.",
            examples=({"Content-Type": "application/json", "Site": "${! @site }"},),
        ),
        metadata_filter_field("metadata", "Which metadata is sent as headers (none by default)."),
        Field(
            "max_in_flight",
            "int",
            default=max_in_flight,
            description="Most publishes awaiting the server's answer at a time.",
        ),
        *security_fields(),
        write_timeout_field("server"),
    ]


def check_nats_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> NatsSettings:
    if not str(conf.get("subject") or ""):
        raise ValueError("subject: the subject to publish to is required")
    if int(conf.get("max_in_flight") or 1) < 1:
        raise ValueError("max_in_flight: must be at least 1")
    if parse_duration(conf.get("write_timeout") or "10s") <= 0:
        raise ValueError("write_timeout: must be positive")
    headers = conf.get("headers") or {}
    if not isinstance(headers, dict):
        raise ValueError("headers: must be a map of names to (interpolated) values")
    MetadataFilter(conf.get("metadata"))
    return NatsSettings.from_conf(conf)


class NatsOutputBase(Output):
    """What the `nats` and `nats_jetstream` outputs share: subject, headers, the client."""

    protocol = "nats"

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None) -> None:
        settings = check_nats_output(conf)
        self.subject = InterpolatedString(str(conf["subject"]))
        self.headers = {
            str(k): InterpolatedString(str(v)) for k, v in (conf.get("headers") or {}).items()
        }
        meta = MetadataFilter(conf.get("metadata"))
        self.meta = meta if meta.active else None
        self.max_in_flight = int(conf.get("max_in_flight") or 64)
        self.write_timeout = parse_duration(conf.get("write_timeout") or "10s")
        self.client = NatsClient(
            settings,
            kind="output",
            ctx=ctx,
            logger=logging.getLogger(f"streamforge.outputs.{self.protocol}"),
            protocol=self.protocol,
        )
        self.name = f"{self.protocol} output {self.client.link.label}"
        self._transient = transient_errors()

    def prepare(
        self, batch: list[Message], failed: list[Message]
    ) -> list[tuple[Message, str, dict[str, str] | None]]:
        """Each message's subject and headers; a message whose interpolation fails fails."""

        def prepare(msg: Message, i: int) -> tuple[str, dict[str, str] | None]:
            subject = self.subject.render(msg, batch, i)
            if not subject:
                raise ValueError("the interpolated subject is empty")
            headers: dict[str, str] = {}
            if self.meta is not None:
                wanted = self.meta
                headers.update((k, str(v)) for k, v in msg.metadata.items() if wanted(k))
            for name, value in self.headers.items():
                headers[name] = value.render(msg, batch, i)
            return subject, headers or None

        return [(m, s, h) for m, (s, h) in prepare_each(self.name, batch, prepare, failed)]

    def wait_connected(self, deadline: float) -> str | None:
        """None once connected; else why not, at the deadline."""
        if self.client.wait_ready(max(deadline - time.monotonic(), 0.0)):
            return None
        why = self.client.link.last_error
        return f"not connected to {self.client.link.peer}" + (f" ({why})" if why else "")

    def close(self) -> None:
        self.client.close()
