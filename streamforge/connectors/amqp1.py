"""What the `amqp_1` input and output share: fields as Benthos spells them (`urls`, `url`,
`tls`, `sasl`) and an AMQP 1.0 connection (Qpid Proton) that comes back after a loss.

Proton is not thread-safe: each component connection runs a Proton reactor on a thread of its
own, and other threads hand it callables (`call`, `run`). `Amqp1Client` connects (trying the
URLs in turn, with backoff and jitter), lets the component attach its link (`attach`), and
after a lost connection, or a link or session the broker closed, connects and attaches again;
every connection is a new `generation`, so deliveries of a closed one are not settled on the
next. Proton is imported when a client is made (it comes with the `amqp1` extra).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from streamforge.connectors.peer import PeerLink, check_url, display_url
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.plugin import BuildContext, Field
from streamforge.plugin.connection import Backoff
from streamforge.plugin.optional import require
from streamforge.plugin.spec import ParsedField

__all__ = [
    "SASL_MECHANISMS",
    "Amqp1Client",
    "Amqp1Settings",
    "Capabilities",
    "ConnectionLost",
    "amqp1_tls_field",
    "capabilities_field",
    "connection_fields",
    "describe_condition",
    "refuses_modified",
    "sasl_field",
    "wait_all",
]

T = TypeVar("T")

SASL_MECHANISMS = ("none", "plain", "anonymous")
#: seconds without a frame from the broker before the connection counts as dead
IDLE_TIMEOUT = 20.0
#: seconds a link must stay attached before a loss starts the backoff from the beginning
STABLE_AFTER = 2.0
#: seconds a closing client waits for the broker to confirm the close
CLOSE_GRACE = 2.0


_Call = tuple[Callable[[], Any], "concurrent.futures.Future[Any]"]


class ConnectionLost(ConnectionError):
    """The connection went away before the broker settled what was sent on it."""


def _check_urls(value: Any) -> Any:
    """A `url` or `urls` item: amqp:// or amqps:// URLs, comma-separated."""
    for part in str(value or "").split(","):
        if part.strip():
            _check_url(part.strip())
    return value


def _check_url(url: str) -> None:
    try:
        check_url(url, ("amqp", "amqps"), f"{url!r} is not an amqp:// or amqps:// URL")
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("urls: ")) from None


def connection_fields() -> list[Field]:
    """`url` (deprecated) and `urls`, as the Benthos amqp_1 components take them."""
    return [
        ParsedField(
            "url",
            "string",
            parser=_check_urls,
            default="",
            description="Deprecated: one broker URL (use `urls`).",
            advanced=True,
            examples=("amqp://localhost:5672/",),
        ),
        Field(
            "urls",
            "array",
            default=[],
            item=ParsedField("url", "string", parser=_check_urls),
            description=(
                "Broker URLs, tried in turn until one connects; an item with commas is split "
                "into several. `amqp://user:password@host:5672/` logs in with SASL PLAIN, "
                "`amqps://` connects with TLS."
            ),
            examples=(
                ["amqp://guest:guest@127.0.0.1:5672/"],
                ["amqp://127.0.0.1:5672/,amqp://127.0.0.2:5672/"],
            ),
        ),
    ]


def amqp1_tls_field() -> Field:
    return tls_field(
        "Custom TLS settings (TLS is on for `amqps://` URLs; these settings apply then).",
        default={"enabled": False},
    )


def sasl_field() -> Field:
    return Field(
        "sasl",
        "object",
        default={"mechanism": "none", "user": "", "password": ""},
        description="SASL authentication (otherwise the URL's user and password, if any, "
        "log in with PLAIN).",
        advanced=True,
        fields=(
            Field(
                "mechanism",
                "string",
                default="none",
                options=SASL_MECHANISMS,
                description="`none` (the URL's credentials, if any), `plain` (user and "
                "password) or `anonymous`.",
            ),
            Field("user", "string", default="", description="The SASL PLAIN user name."),
            Field(
                "password",
                "string",
                default="",
                description="The SASL PLAIN password.",
                secret=True,
            ),
        ),
    )


def capabilities_field(name: str, what: str) -> Field:
    """`source_capabilities` / `target_capabilities`."""
    return Field(
        name,
        "array",
        default=[],
        item=Field("capability", "string"),
        description=f"Extension capabilities the {what} asks of the broker's terminus.",
        examples=(["queue"], ["topic"]),
        advanced=True,
    )


class Capabilities:
    """Link option: capabilities asked of the source (a receiver's) or target (a sender's)."""

    def __init__(self, capabilities: list[str]) -> None:
        self.capabilities = capabilities

    def apply(self, link: Any) -> None:
        from proton import Data

        terminus = link.source if link.is_receiver else link.target
        data = terminus.capabilities
        data.put_array(False, Data.SYMBOL)
        data.enter()
        for capability in self.capabilities:
            data.put_symbol(capability)
        data.exit()

    def test(self, link: Any) -> bool:
        return True


def _split_urls(conf: dict[str, Any]) -> tuple[list[str], str]:
    """The URLs to try, and the field they came from."""
    urls = [
        part.strip()
        for item in conf.get("urls") or []
        for part in str(item).split(",")
        if part.strip()
    ]
    if urls:
        return urls, "urls"
    single = str(conf.get("url") or "").strip()
    return ([single] if single else []), "url"


@dataclass
class Amqp1Settings:
    """An AMQP 1.0 connection config, checked."""

    urls: list[str]
    tls: dict[str, Any] = field(default_factory=dict)
    mechanism: str = "none"
    user: str = ""
    password: str = ""

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> Amqp1Settings:
        urls, where = _split_urls(conf)
        if not urls:
            raise ValueError("urls: at least one broker URL is required")
        for url in urls:
            try:
                _check_url(url)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        sasl = dict(conf.get("sasl") or {})
        mechanism = str(sasl.get("mechanism") or "none")
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"sasl.mechanism: {mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}"
            )
        user = str(sasl.get("user") or "")
        if mechanism == "plain" and not user:
            raise ValueError("sasl.user: the plain mechanism needs a user name")
        tls = dict(conf.get("tls") or {})
        if tls.get("enabled"):
            check_tls_files(tls)
        return cls(urls, tls, mechanism, user, str(sasl.get("password") or ""))

    @property
    def display(self) -> str:
        return ",".join(display_url(u) for u in self.urls)

    def uses_tls(self, url: str) -> bool:
        return bool(self.tls.get("enabled")) or url.startswith("amqps://")

    def connect_options(self, url: str, ssl_domain: Any) -> dict[str, Any]:
        """Keyword arguments of Proton's `Container.connect` for `url`."""
        parts = urlsplit(url)
        user = unquote(parts.username or "")
        password = unquote(parts.password or "")
        scheme = "amqps" if self.uses_tls(url) else "amqp"
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port or (5671 if scheme == 'amqps' else 5672)}"
        opts: dict[str, Any] = {
            "url": urlunsplit((scheme, netloc, "", "", "")),
            "reconnect": False,
            "heartbeat": IDLE_TIMEOUT,
        }
        if scheme == "amqps":
            opts["ssl_domain"] = ssl_domain
        if self.mechanism == "plain":
            user, password = self.user, self.password
        if self.mechanism == "anonymous":
            opts["allowed_mechs"] = "ANONYMOUS"
        elif user:
            opts.update(user=user, password=password, allowed_mechs="PLAIN")
        else:
            opts["allowed_mechs"] = "ANONYMOUS"
        return opts


class _TlsFiles:
    """A Proton SSL domain from a `tls` object; inline PEM text goes to private temp files."""

    def __init__(self, tls: dict[str, Any]) -> None:
        self.tls = tls
        self.dir: str | None = None

    def _file(self, name: str, text: str) -> str:
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="sf-amqp1-")
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path

    def domain(self, proton: Any) -> Any:
        tls = self.tls
        domain = proton.SSLDomain(proton.SSLDomain.MODE_CLIENT)
        cas = str(tls.get("root_cas_file") or "")
        if str(tls.get("root_cas") or ""):
            cas = self._file("root_cas.pem", str(tls["root_cas"]))
        if cas:
            domain.set_trusted_ca_db(cas)
        if tls.get("skip_cert_verify"):
            domain.set_peer_authentication(proton.SSLDomain.ANONYMOUS_PEER)
        elif cas:
            domain.set_peer_authentication(proton.SSLDomain.VERIFY_PEER_NAME, cas)
        else:
            domain.set_peer_authentication(proton.SSLDomain.VERIFY_PEER_NAME)
        for i, cert in enumerate(tls.get("client_certs") or []):
            cert = cert or {}
            cert_file = str(cert.get("cert_file") or "")
            key_file = str(cert.get("key_file") or "")
            if str(cert.get("cert") or ""):
                cert_file = self._file(f"cert{i}.pem", str(cert["cert"]))
            if str(cert.get("key") or ""):
                key_file = self._file(f"key{i}.pem", str(cert["key"]))
            if cert_file:
                domain.set_credentials(
                    cert_file, key_file or cert_file, str(cert.get("password") or "") or None
                )
                break
        return domain

    def remove(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def refuses_modified(connection: Any) -> bool:
    """Whether the broker is RabbitMQ before 4.0, whose AMQP 1.0 plugin closes the session
    on a `modified` outcome (it knows accepted, rejected and released)."""
    props = connection.remote_properties or {}
    values = {str(k): str(v) for k, v in props.items()}
    if values.get("product") != "RabbitMQ":
        return False
    major = values.get("version", "").split(".")[0]
    return major.isdigit() and int(major) < 4


def describe_condition(condition: Any, fallback: str = "closed by the broker") -> str:
    """Words for a Proton error condition (name and description)."""
    if condition is None:
        return fallback
    name = str(getattr(condition, "name", "") or "")
    text = str(getattr(condition, "description", "") or "").strip()
    if name == "amqp:unauthorized-access" or "SASL" in text.upper() and "auth" in text.lower():
        return f"the broker refused the login ({text or name}): check the user and password"
    if "Connection refused" in text:
        return "connection refused (is the broker running?)"
    if name and text:
        return f"{text} ({name})"
    return text or name or fallback


class Amqp1Client:
    """One AMQP 1.0 connection on a Proton reactor thread, attached again after every loss.

    `attach(connection)` runs on the reactor thread once a connection is open and creates the
    component's link(s); `on_lost()` runs there when the connection goes. A component's link
    reports itself open with `opened()`; `ready` is set from then until the connection goes.
    """

    def __init__(
        self,
        settings: Amqp1Settings,
        *,
        kind: str,
        ctx: BuildContext | None,
        logger: logging.Logger,
        handler: Any,
    ) -> None:
        self.proton = require("proton", "amqp1", f"the amqp_1 {kind}")
        proton_log = logging.getLogger("proton")
        if proton_log.level == logging.NOTSET:
            # Proton logs every connection attempt at INFO; the link's own log says it better
            proton_log.setLevel(logging.WARNING)
        reactor = require("proton.reactor", "amqp1", f"the amqp_1 {kind}")
        handlers = require("proton.handlers", "amqp1", f"the amqp_1 {kind}")
        self.settings = settings
        self.log = logger
        self.link = PeerLink("amqp_1", kind, ctx, settings.display, logger)
        self.closing = threading.Event()
        self.ready = threading.Event()
        #: counts connections; deliveries carry the one they came on
        self.generation = 0
        self.connection: Any = None
        self._component = handler
        self._backoff = Backoff(initial=0.2, maximum=10.0)
        self._index = 0
        self._tls = _TlsFiles(settings.tls)
        self._ssl_domain: Any = None
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._injector = reactor.EventInjector()
        self._event = reactor.ApplicationEvent
        self._timer = _Timer(self)
        self._trigger_lock = threading.Lock()
        self._stopped = False
        self._up_since: float | None = None
        #: the current connection's transport (its socket), once bound
        self.transport: Any = None
        #: why the current connection is being closed (the broker refused something)
        self._cause: str | None = None
        self.container = reactor.Container(_make_handler(handlers.MessagingHandler, self))
        self.container.selectable(self._injector)
        self._thread = threading.Thread(
            target=self._main, name=f"amqp1-{self.link.label}", daemon=True
        )
        self._thread.start()

    # -- on the reactor thread ---------------------------------------------------------------

    def _main(self) -> None:
        try:
            self.container.run()
        except Exception as exc:  # noqa: BLE001 - the reactor died: say so, stop cleanly
            self.log.error("amqp_1 %s: the AMQP client stopped: %s", self.link.label, exc)
            self.link.down(f"client stopped: {exc}")
        finally:
            self._tls.remove()
            with self._trigger_lock:
                self._stopped = True
                for fd in self._injector.pipe:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            # calls handed over too late: their callers learn the client is stopped
            while True:
                try:
                    _, future = self._calls.get_nowait()
                except queue.Empty:
                    break
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_exception(ConnectionLost("the AMQP client is stopped"))

    def connect_next(self) -> None:
        """Connect to the next URL in turn."""
        if self.closing.is_set():
            return
        url = self.settings.urls[self._index % len(self.settings.urls)]
        self._index += 1
        try:
            if self.settings.uses_tls(url) and self._ssl_domain is None:
                self._ssl_domain = self._tls.domain(self.proton)
            opts = self.settings.connect_options(url, self._ssl_domain)
            self._cause = None
            self.generation += 1
            self.connection = self.container.connect(**opts)
        except Exception as exc:  # noqa: BLE001 - reported, then tried again
            self.connection = None
            self.link.down(str(exc) or type(exc).__name__)
            self.retry_later()

    def retry_later(self) -> None:
        if not self.closing.is_set():
            self.container.schedule(self._backoff.next_delay(), self._timer)

    def current(self, connection: Any) -> bool:
        """Whether `connection` (a Proton wrapper: compared by what it wraps) is the one in
        use."""
        return self.connection is not None and connection == self.connection

    def opened(self) -> None:
        """The component's link is attached: the connection counts as up."""
        self._up_since = time.monotonic()
        self.link.up()
        self.ready.set()

    def fail(self, cause: str) -> None:
        """The broker refused or closed something: report, close, connect again later."""
        self._cause = self._cause or cause
        self.link.down(cause)
        self.ready.clear()
        connection = self.connection
        if connection is not None:
            connection.close()

    def bound(self, connection: Any, transport: Any) -> None:
        """The current connection got its transport (its socket)."""
        if self.current(connection):
            self.transport = transport

    def transport_closed(self, transport: Any, cause: str) -> None:
        """A socket closed: if it was the current connection's, connect again later."""
        if self.transport is None or transport != self.transport:
            return
        self.transport = None
        if self.closing.is_set():
            self.container.stop()
            return
        self.connection = None
        self.ready.clear()
        if self._up_since is not None and time.monotonic() - self._up_since > STABLE_AFTER:
            self._backoff.reset()  # it worked for a while: try again soon
        self._up_since = None
        try:
            self._component.on_lost()
        finally:
            self.link.down(self._cause or cause)
            self.retry_later()

    def run_calls(self) -> None:
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def _shutdown(self) -> None:
        """Close the connection (the reactor stops once it is closed, or after a grace)."""
        connection, self.connection = self.connection, None
        self.ready.clear()
        try:
            self._component.on_lost()
        finally:
            self._injector.close()
            if connection is None or self.transport is None:
                self.container.stop()
            else:
                connection.close()
                self.container.schedule(CLOSE_GRACE, _Stop(self.container))

    # -- from other threads ------------------------------------------------------------------

    def call(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run `fn` on the reactor thread; its result (or exception) in the future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._trigger_lock:
            if self._stopped:
                future.set_exception(ConnectionLost("the AMQP client is stopped"))
                return future
            self._calls.put((fn, future))
            self._injector.trigger(self._event("sf_call"))
        return future

    def run(self, fn: Callable[[], T], timeout: float) -> T:
        return self.call(fn).result(timeout)

    def wait_ready(self, timeout: float) -> bool:
        return self.ready.wait(max(timeout, 0.0))

    def close(self) -> None:
        if self.closing.is_set():
            return
        self.closing.set()
        if self._thread.is_alive():
            self.call(self._shutdown)
            self._thread.join(CLOSE_GRACE + 3.0)
        self.link.close()


class _Timer:
    """The reconnect timer's handler."""

    def __init__(self, client: Amqp1Client) -> None:
        self.client = client

    def on_timer_task(self, event: Any) -> None:
        self.client.connect_next()


class _Stop:
    """Stops the reactor when closing took too long."""

    def __init__(self, container: Any) -> None:
        self.container = container

    def on_timer_task(self, event: Any) -> None:
        self.container.stop()


def _make_handler(base: type, client: Amqp1Client) -> Any:
    """The reactor's handler: connection events for the client, link events for the
    component (`client._component`)."""

    class Handler(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(prefetch=0, auto_accept=False, auto_settle=True)

        def on_start(self, event: Any) -> None:
            client.connect_next()

        def on_sf_call(self, event: Any) -> None:
            client.run_calls()

        def on_connection_opened(self, event: Any) -> None:
            if not client.current(event.connection):
                return
            try:
                client._component.attach(event.connection)
            except Exception as exc:  # noqa: BLE001 - a link that cannot be made
                client.fail(str(exc) or type(exc).__name__)

        def on_link_opened(self, event: Any) -> None:
            if client.current(event.connection):
                client._component.link_opened(event.link)

        def on_link_error(self, event: Any) -> None:
            if client.current(event.connection):
                client.fail(describe_condition(event.link.remote_condition, "link closed"))

        def on_link_closing(self, event: Any) -> None:
            if client.current(event.connection) and not client.closing.is_set():
                client.fail("the broker detached the link")

        def on_session_error(self, event: Any) -> None:
            if client.current(event.connection):
                client.fail(describe_condition(event.session.remote_condition, "session closed"))

        def on_connection_error(self, event: Any) -> None:
            if client.current(event.connection):
                client.fail(describe_condition(event.connection.remote_condition))

        def on_connection_bound(self, event: Any) -> None:
            client.bound(event.connection, event.transport)

        def on_transport_error(self, event: Any) -> None:
            condition = event.transport.condition
            if client.transport is not None and event.transport == client.transport:
                client.link.down(describe_condition(condition, "connection lost"))

        def on_transport_closed(self, event: Any) -> None:
            condition = event.transport.condition if event.transport else None
            client.transport_closed(
                event.transport, describe_condition(condition, "connection lost")
            )

        def on_message(self, event: Any) -> None:
            if client.current(event.connection):
                client._component.received(event.delivery, event.message, client.generation)

        def on_sendable(self, event: Any) -> None:
            if client.current(event.connection):
                client._component.sendable()

        def on_accepted(self, event: Any) -> None:
            client._component.outcome(event.delivery, None)

        def on_rejected(self, event: Any) -> None:
            condition = event.delivery.remote.condition
            client._component.outcome(
                event.delivery, "the broker rejected the message: " + describe_condition(condition)
            )

        def on_released(self, event: Any) -> None:
            client._component.outcome(
                event.delivery, ConnectionLost("the broker released the message")
            )

    return Handler()


def wait_all(
    futures: list[concurrent.futures.Future[Any]], deadline: float
) -> list[BaseException | str | None]:
    """Each future's outcome by `deadline`: None (done), a refusal, or an exception."""
    concurrent.futures.wait(futures, timeout=max(deadline - time.monotonic(), 0.0))
    out: list[BaseException | str | None] = []
    for f in futures:
        if not f.done():
            out.append(TimeoutError("the broker did not settle the message in time"))
        elif f.cancelled():
            out.append(ConnectionLost("cancelled"))
        elif f.exception() is not None:
            out.append(f.exception())
        else:
            out.append(f.result())
    return out
