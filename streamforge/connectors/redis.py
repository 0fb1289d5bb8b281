"""What the Redis inputs and outputs share: the connection fields, as Benthos spells them, and
clients for a single server, a cluster or a Sentinel-managed failover group.

`url` is one URL (`redis://[user:password@]host:port/db`, `rediss://` for TLS, `tcp://` as
`redis://`) or, for `cluster` and `failover`, several separated by commas (the seed nodes, or
the Sentinels). redis-py is imported when a client is made, so registering the components does
not need it installed (it comes with the `redis` extra).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, unquote, urlsplit

from streamforge.connectors.acked_reader import AckedReader
from streamforge.connectors.peer import PeerDown, PeerLink
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output
from streamforge.plugin.connection import Backoff
from streamforge.plugin.in_flight import InFlightBatches

if TYPE_CHECKING:
    import redis

__all__ = [
    "KINDS",
    "RedisAddress",
    "RedisOutput",
    "RedisSettings",
    "RedisThreadReader",
    "connection_fields",
    "max_in_flight_field",
    "write_timeout_field",
    "describe_error",
    "transient_errors",
]

KINDS = ("simple", "cluster", "failover")
_SCHEMES = {"redis": False, "tcp": False, "rediss": True, "tls": True}


def connection_fields() -> list[Field]:
    """`url`, `kind`, `master` and `tls`, shared by every Redis component."""
    return [
        Field(
            "url",
            "string",
            description=(
                "The URL of the Redis server; the database is the path. For `cluster` and "
                "`failover`, a comma-separated list (seed nodes, or Sentinels). `rediss://` "
                "turns TLS on."
            ),
            examples=(
                "redis://:6379",
                "redis://localhost:6379",
                "redis://user:password@redis.plant.local:6379/1",
                "redis://localhost:6379/1,redis://localhost:6380/1",
            ),
        ),
        Field(
            "kind",
            "string",
            default="simple",
            options=KINDS,
            description=(
                "simple: one server; cluster: a Redis Cluster reached through the listed "
                "nodes; failover: the master of a Sentinel group (`master`), found through "
                "the listed Sentinels."
            ),
            advanced=True,
        ),
        Field(
            "master",
            "string",
            default="",
            description="Name of the Sentinel master group (kind `failover`).",
            examples=("mymaster",),
            advanced=True,
        ),
        tls_field(
            "Custom TLS settings (TLS is on for `rediss://` URLs; these settings apply then).",
            default={"enabled": False},
            peer="server",
        ),
    ]


@dataclass(frozen=True)
class RedisAddress:
    """One server (or Sentinel) of a `url`."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    tls: bool

    @property
    def display(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.db}"


def _parse_one(text: str) -> RedisAddress:
    text = text.strip()
    if "://" not in text:
        text = f"redis://{text}"
    parts: SplitResult = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(
            f"url: unsupported scheme {parts.scheme!r} in {text!r} (use redis://, rediss:// "
            "or tcp://)"
        )
    try:
        port = parts.port or 6379
    except ValueError as exc:
        raise ValueError(f"url: bad port in {text!r}: {exc}") from None
    db_text = parts.path.strip("/")
    if db_text and not db_text.isdigit():
        raise ValueError(f"url: the path of {text!r} must be a database number")
    return RedisAddress(
        host=parts.hostname or "localhost",
        port=port,
        db=int(db_text or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=_SCHEMES[scheme],
    )


def parse_urls(url: str) -> list[RedisAddress]:
    """The addresses of a `url` field (comma-separated)."""
    items = [u for u in str(url or "").split(",") if u.strip()]
    if not items:
        raise ValueError("url: a Redis URL is required")
    return [_parse_one(u) for u in items]


@dataclass
class RedisSettings:
    """A Redis connection config, checked; `client()` makes a client (lazily connecting)."""

    addresses: list[RedisAddress]
    kind: str = "simple"
    master: str = ""
    tls: dict[str, Any] = field(default_factory=dict)
    #: files written for inline client certificates (kept for the client's life)
    _cert_files: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> RedisSettings:
        """The settings of a component config; raises ValueError naming the bad field."""
        kind = str(conf.get("kind") or "simple")
        if kind not in KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
        addresses = parse_urls(str(conf.get("url") or ""))
        master = str(conf.get("master") or "")
        if kind == "failover" and not master:
            raise ValueError("master: kind failover needs the name of the Sentinel master group")
        if kind == "simple" and len(addresses) > 1:
            raise ValueError("url: kind simple takes one URL (use cluster or failover for more)")
        if kind == "cluster" and any(a.db for a in addresses):
            raise ValueError("url: a Redis Cluster has only database 0")
        tls = dict(conf.get("tls") or {})
        if tls.get("enabled"):
            check_tls_files(tls)
        return cls(addresses, kind, master, tls)

    @property
    def use_tls(self) -> bool:
        return bool(self.tls.get("enabled")) or any(a.tls for a in self.addresses)

    @property
    def display(self) -> str:
        """The peer as logs and /ready name it."""
        urls = ",".join(a.display for a in self.addresses)
        if self.kind == "failover":
            return f"{self.master} via sentinels {urls}"
        if self.kind == "cluster":
            return f"cluster {urls}"
        return urls

    def _tls_kwargs(self) -> dict[str, Any]:
        if not self.use_tls:
            return {}
        tls = self.tls
        kwargs: dict[str, Any] = {"ssl": True}
        if tls.get("skip_cert_verify"):
            kwargs["ssl_cert_reqs"] = "none"
            kwargs["ssl_check_hostname"] = False
        if tls.get("root_cas_file"):
            kwargs["ssl_ca_certs"] = str(tls["root_cas_file"])
        if tls.get("root_cas"):
            kwargs["ssl_ca_data"] = str(tls["root_cas"])
        certs = [c for c in tls.get("client_certs") or [] if c]
        if certs:
            cert = certs[0]
            cert_file, key_file = str(cert.get("cert_file") or ""), str(cert.get("key_file") or "")
            if not cert_file and cert.get("cert"):
                cert_file = self._write_secret(str(cert["cert"]))
                key_file = self._write_secret(str(cert.get("key") or ""))
            if cert_file:
                kwargs["ssl_certfile"] = cert_file
                kwargs["ssl_keyfile"] = key_file or None
                if cert.get("password"):
                    kwargs["ssl_password"] = str(cert["password"])
        return kwargs

    def _write_secret(self, text: str) -> str:
        fd, path = tempfile.mkstemp(prefix="streamforge-redis-", suffix=".pem")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        self._cert_files.append(path)
        return path

    def client(self, *, socket_timeout: float | None = 10.0, name: str = "") -> redis.Redis:
        """A client of the configured kind (it connects on its first command)."""
        import redis as redis_lib
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        first = self.addresses[0]
        common: dict[str, Any] = {
            "username": first.username,
            "password": first.password,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": 5.0,
            # reconnecting is ours (with backoff and state in metrics), not redis-py's
            "retry": Retry(NoBackoff(), 0),
            **self._tls_kwargs(),
        }
        if name:
            common["client_name"] = name
        if self.kind == "cluster":
            from redis.cluster import ClusterNode, RedisCluster

            common.pop("retry")
            nodes = [ClusterNode(a.host, a.port) for a in self.addresses]
            cluster: Any = RedisCluster(startup_nodes=nodes, **common)
            return cluster  # type: ignore[no-any-return]
        if self.kind == "failover":
            from redis.sentinel import Sentinel

            sentinel_kwargs = {
                k: v for k, v in common.items() if k.startswith("ssl") or k == "socket_timeout"
            }
            if first.password is not None:
                sentinel_kwargs["password"] = first.password
                if first.username:
                    sentinel_kwargs["username"] = first.username
            sentinel = Sentinel(
                [(a.host, a.port) for a in self.addresses],
                sentinel_kwargs=sentinel_kwargs,
                **common,
            )
            master: Any = sentinel.master_for(self.master, db=first.db)
            return master  # type: ignore[no-any-return]
        return redis_lib.Redis(host=first.host, port=first.port, db=first.db, **common)

    def cleanup(self) -> None:
        """Remove files written for inline certificates."""
        for path in self._cert_files:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._cert_files.clear()


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors after which a command may succeed once the server is back (redis-py's)."""
    from redis import exceptions as e

    return (
        e.ConnectionError,
        e.TimeoutError,
        e.ClusterDownError,
        e.TryAgainError,
        e.ReadOnlyError,
        e.MasterDownError,
        ConnectionError,
        OSError,
    )


def describe_error(exc: BaseException) -> str:
    """A short cause for logs and failed messages."""
    text = str(exc).strip() or type(exc).__name__
    from redis import exceptions as e

    if isinstance(exc, e.AuthenticationError):
        return f"authentication failed ({text}): check the user and password in url"
    if isinstance(exc, e.BusyLoadingError):
        return "the server is loading its data set"
    if isinstance(exc, e.ResponseError):
        return f"the server refused: {text}"
    return text


class RedisThreadReader(AckedReader):
    """A reader whose Redis work runs on a thread of its own: `poll(client)` reads once (it
    may block up to about a second) and puts records; failures mark the peer down and are
    retried with backoff, on a fresh connection."""

    #: seconds a blocking read may wait on the server
    block_seconds: float = 1.0

    def __init__(
        self,
        settings: RedisSettings,
        *,
        component: str,
        ctx: BuildContext | None,
        logger: logging.Logger,
        replay_nacks: bool = True,
    ) -> None:
        self.settings = settings
        self.link = PeerLink("redis", component, ctx, settings.display, logger)
        super().__init__(f"{component} {self.link.label}", logger, replay_nacks=replay_nacks)
        self._halt = threading.Event()
        self._client: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"redis-{self.link.label}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _connect(self) -> Any:
        client = self.settings.client(socket_timeout=self.block_seconds + 10.0)
        self._client = client
        return client

    def _run(self) -> None:
        from redis.exceptions import ResponseError

        retried: tuple[type[BaseException], ...] = (*transient_errors(), ResponseError)

        backoff = Backoff(initial=0.2, maximum=10.0)
        client: Any = None
        while not self._halt.is_set():
            try:
                if client is None:
                    client = self._connect()
                    client.ping()
                    self.link.up()
                    self.connected(client)
                if self.stopping.is_set():
                    self.idle(client)
                    continue
                self.poll(client)
                backoff.reset()
            except retried as exc:
                if self._halt.is_set():
                    break
                self.link.down(describe_error(exc))
                self._drop(client)
                client = None
                backoff.sleep(self._halt)
            except Exception as exc:
                self.log.exception("%s: unexpected failure: %s", self.name, exc)
                self._drop(client)
                client = None
                backoff.sleep(self._halt)
        self.finish(client)
        self._drop(client)

    @staticmethod
    def _drop(client: Any) -> None:
        if client is None:
            return
        with contextlib.suppress(Exception):
            client.close()

    def connected(self, client: Any) -> None:
        """Called on the reader thread after each (re)connection."""

    def poll(self, client: Any) -> None:
        """Read once (blocking at most about `block_seconds`) and `put` what came."""
        raise NotImplementedError

    def idle(self, client: Any) -> None:
        """While the reader closes, before shutdown (default: wait)."""
        self._halt.wait(0.05)

    def finish(self, client: Any) -> None:
        """Last work on the reader thread before the client is closed (final acks)."""

    def shutdown(self) -> None:
        self.stopping.set()
        self._halt.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(self.block_seconds + 5.0)
        self.link.close()
        self.settings.cleanup()


def write_timeout_field() -> Field:
    """How long a write waits for the server to come back (a StreamForge addition)."""
    return Field(
        "write_timeout",
        "duration",
        default="10s",
        description=(
            "How long a batch may wait for the server (reconnecting with backoff) before its "
            "messages fail (for `fallback` to route, or for the input to deliver again)."
        ),
        advanced=True,
    )


def max_in_flight_field(default: int = 64) -> Field:
    return Field(
        "max_in_flight",
        "int",
        default=default,
        description=(
            "Batches written at once, each as one pipeline of commands. Above 1, batches "
            "may arrive out of order; 1 keeps their order."
        ),
        advanced=True,
    )


Command = Callable[[Any], None]


class RedisOutput(InFlightBatches, Output):
    """Base of the Redis outputs: each batch is one pipeline (no transaction), up to
    `max_in_flight` at once; a message whose command the server refused fails alone; while
    the server is away the batch is retried with backoff up to `write_timeout`, then fails."""

    protocol_name = "redis"

    def __init__(
        self,
        conf: dict[str, Any],
        ctx: BuildContext | None,
        logger: logging.Logger,
        name: str,
    ) -> None:
        from streamforge.durations import parse_duration

        self.settings = RedisSettings.from_conf(conf)
        self.name = name
        self.write_timeout = parse_duration(conf.get("write_timeout") or "10s")
        if self.write_timeout <= 0:
            raise ValueError("write_timeout: must be positive")
        self.link = PeerLink("redis", "output", ctx, self.settings.display, logger)
        self.log = logger
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._transient = transient_errors()
        self._closed = threading.Event()
        self.start_in_flight(int(conf.get("max_in_flight", 64) or 1), name)
        threading.Thread(target=self._connect_early, name=f"redis-{name}", daemon=True).start()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.settings.client()
        return self._client

    def _connect_early(self) -> None:
        """Reach the server once at start, so metrics and /ready tell at once."""
        backoff = Backoff(initial=0.2, maximum=10.0)
        while not self._closed.is_set() and not self.link.connected:
            try:
                self.client.ping()
                self.link.up()
                return
            except self._transient as exc:
                self.link.down(describe_error(exc))
            except Exception as exc:  # noqa: BLE001 - reported, then retried
                self.link.down(describe_error(exc))
            backoff.sleep(self._closed)

    def command(self, msg: Message, batch: list[Message], index: int) -> Command:
        """What one message makes the pipeline do (raise ValueError to fail the message)."""
        raise NotImplementedError

    def write_now(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        todo: list[tuple[Message, Command]] = []
        for i, msg in enumerate(batch):
            try:
                todo.append((msg, self.command(msg, batch, i)))
            except Exception as exc:  # noqa: BLE001 - a bad interpolation fails its message
                msg.error = f"{self.name}: {exc}"
                failed.append(msg)
        if not todo:
            return failed

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for _, cmd in todo:
                cmd(pipe)
            return list(pipe.execute(raise_on_error=False))

        try:
            results = self.link.retry_until(
                run,
                transient=self._transient,
                describe=describe_error,
                deadline=time.monotonic() + self.write_timeout,
                stop=self._closed,
            )
        except PeerDown as exc:
            for msg, _ in todo:
                msg.error = f"{self.name}: {exc}"
                failed.append(msg)
            return failed
        for (msg, _), result in zip(todo, results):
            if isinstance(result, Exception):
                msg.error = f"{self.name}: {describe_error(result)}"
                failed.append(msg)
        return failed

    def close(self) -> None:
        self._closed.set()
        self.stop_in_flight()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self.link.close()
        self.settings.cleanup()
