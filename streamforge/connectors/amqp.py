"""What the `amqp_0_9` input and output share: fields as Benthos spells them (`urls`, `tls`),
and an aio-pika connection on an event loop of its own that comes back after a loss.

Each component connection runs on a `LoopThread`. `AmqpClient` connects (trying the URLs in
turn, with backoff and jitter), runs the component's `setup(connection)` (declare, bind,
consume, open a channel), and on a lost connection or channel does it all again; every
(re)connection is a new `generation`, so deliveries of a closed channel are not acknowledged
on the next. aio-pika is imported when a client is made (it comes with the `amqp` extra).
"""

from __future__ import annotations

import asyncio
import logging
import threading
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
)
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.plugin import BuildContext, Field
from streamforge.plugin.connection import Backoff

__all__ = [
    "AmqpClient",
    "AmqpSettings",
    "connection_fields",
    "describe_error",
    "transient_errors",
]


def connection_fields() -> list[Field]:
    """`urls`, shared by the AMQP components (`tls` comes last, as Benthos lists it)."""
    return [
        Field(
            "urls",
            "array",
            item=Field("url", "string"),
            description=(
                "Broker URLs, tried in turn until one connects: "
                "`amqp://user:password@host:5672/vhost`, `amqps://` for TLS."
            ),
            examples=(
                ["amqp://guest:guest@127.0.0.1:5672/"],
                ["amqp://127.0.0.1:5672/", "amqp://127.0.0.2:5672/"],
            ),
        ),
    ]


def amqp_tls_field() -> Field:
    return tls_field(
        "Custom TLS settings (TLS is on for `amqps://` URLs; these settings apply then).",
        default={"enabled": False},
    )


def _check_url(url: str) -> str:
    text = url.strip()
    check_url(text, ("amqp", "amqps"), f"urls: {url!r} is not an amqp:// or amqps:// URL")
    return text


@dataclass
class AmqpSettings:
    """An AMQP connection config, checked."""

    urls: list[str]
    tls: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> AmqpSettings:
        urls = [_check_url(str(u)) for u in conf.get("urls") or [] if str(u).strip()]
        if not urls:
            raise ValueError("urls: at least one broker URL is required")
        tls = dict(conf.get("tls") or {})
        if tls.get("enabled"):
            check_tls_files(tls)
        return cls(urls, tls)

    @property
    def display(self) -> str:
        return ",".join(display_url(u, path=True) for u in self.urls)

    def connect_options(self, url: str) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.tls.get("enabled") or url.startswith("amqps://"):
            from streamforge.connectors.mqtt import build_ssl_context

            opts["ssl_context"] = build_ssl_context(self.tls)
            if url.startswith("amqp://"):
                url = "amqps://" + url[len("amqp://") :]
        opts["url"] = url
        return opts


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors after which an operation may succeed on a new connection or channel."""
    from aio_pika import exceptions as e

    return (
        e.AMQPConnectionError,
        e.ChannelInvalidStateError,
        e.ChannelClosed,
        e.ConnectionClosed,
        *NETWORK_ERRORS,
    )


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    from aio_pika import exceptions as e

    if isinstance(exc, (e.ProbableAuthenticationError, e.AuthenticationError)):
        return f"the broker refused the login ({text}): check user and password in urls"
    return describe_network_error(exc, "broker") or text or type(exc).__name__


class AmqpClient:
    """One AMQP connection on an event loop thread, set up again after every loss."""

    def __init__(
        self,
        settings: AmqpSettings,
        *,
        kind: str,
        ctx: BuildContext | None,
        logger: logging.Logger,
        setup: Callable[[Any], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.log = logger
        self.link = PeerLink("amqp", kind, ctx, settings.display, logger)
        self.loop = LoopThread(f"amqp-{self.link.label}")
        self.closing = threading.Event()
        #: counts (re)connections; deliveries carry the one they came on
        self.generation = 0
        self.connection: Any = None
        self._setup = setup
        self._ready: asyncio.Event | None = None
        self._lost: asyncio.Event | None = None
        self._task = self.loop.submit(self._run())

    # -- on the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        import aio_pika

        self._ready = asyncio.Event()
        backoff = Backoff(initial=0.2, maximum=10.0)
        index = 0
        while not self.closing.is_set():
            url = self.settings.urls[index % len(self.settings.urls)]
            index += 1
            lost = asyncio.Event()
            self._lost = lost
            try:
                opts = self.settings.connect_options(url)
                connection = await aio_pika.connect(timeout=5, **opts)
                connection.close_callbacks.add(lambda *_, lost=lost: lost.set())
                self.connection = connection
                self.generation += 1
                await self._setup(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported, then tried again
                self.link.down(describe_error(exc))
                await self._drop()
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self.link.up()
            self._ready.set()
            await lost.wait()
            self._ready.clear()
            if self.closing.is_set():
                break
            self.link.down("connection lost")
            await self._drop()
            await asyncio.sleep(backoff.next_delay())

    async def _drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), 2.0)
            except Exception as exc:  # noqa: BLE001 - closing a broken connection
                self.log.debug("amqp %s: closing: %s", self.link.label, exc)

    def lose(self) -> None:
        """Treat the connection as lost (a channel closed under us): set up again."""
        if self._lost is not None:
            self._lost.set()

    async def wait_ready(self, timeout: float) -> bool:
        """On the loop: wait until connected and set up."""
        ready = self._ready
        if ready is None:
            return False
        try:
            await asyncio.wait_for(ready.wait(), max(timeout, 0.0))
        except (asyncio.TimeoutError, TimeoutError):
            return False
        return True

    # -- from other threads ------------------------------------------------------------------

    def close(self) -> None:
        self.closing.set()
        self.lose()
        try:
            self.loop.run(self._drop(), 5.0)
        except Exception as exc:  # noqa: BLE001 - closing anyway
            self.log.debug("amqp %s: closing: %s", self.link.label, exc)
        self._task.cancel()
        self.loop.stop()
        self.link.close()
