"""`redis` cache: keys and values in a Redis server, shared by every process that uses it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from streamforge.caches._retrying import (
    RetryingCache,
    non_negative_duration,
    retries_field,
    retries_of,
)
from streamforge.connectors.tls import check_tls_files, tls_field
from streamforge.license.catalog import register_feature
from streamforge.plugin import (
    BuildContext,
    CacheError,
    Field,
    ParsedField,
    connection,
    describe_error,
    register_cache,
)
from streamforge.plugin.connection import Connection

__all__ = ["KINDS", "RedisCache", "redis_cache"]

KINDS = ("simple", "cluster", "failover")
T = TypeVar("T")
#: `initial_interval`, `max_interval` and `max_elapsed_time` of `retries`, as in Benthos
_RETRY_DEFAULTS = ("500ms", "1s", "5s")

register_feature("cache", "redis", "bindings", "redis")


def _urls(value: Any) -> list[str]:
    """The comma-separated URLs of `url`, each checked (tcp:// is read as redis://)."""
    urls = [u.strip() for u in str(value or "").split(",") if u.strip()]
    if not urls:
        raise ValueError("expected a URL such as redis://localhost:6379")
    out = []
    for url in urls:
        if url.startswith("tcp://"):
            url = "redis://" + url[len("tcp://") :]
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"{url!r}: the scheme must be redis, rediss, tcp or unix")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError(f"{url!r} names no host")
        out.append(url)
    return out


class RedisCache(RetryingCache):
    """A Cache over a Redis client: `prefix` before every key, TTLs in milliseconds.

    A command that fails to reach the server is retried with backoff until `max_elapsed`
    seconds passed, then raises CacheError; the client reconnects on its own. `watch`
    registers the connection state (metrics, /ready) when the first command runs.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "",
        default_ttl: float = 0.0,
        retry_initial: float = 0.5,
        retry_max: float = 1.0,
        max_elapsed: float = 5.0,
        watch: Callable[[], Connection] | None = None,
    ) -> None:
        import redis

        super().__init__(
            retry_initial=retry_initial,
            retry_max=retry_max,
            max_elapsed=max_elapsed,
            transient=(redis.ConnectionError, redis.TimeoutError, OSError),
            watch=watch,
        )
        self.client = client
        self.prefix = prefix
        self.default_ttl = default_ttl
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)

    # -- Cache ----------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        value = self._call(lambda c: c.get(self.prefix + key))
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        px = self._px(ttl)
        self._call(lambda c: c.set(self.prefix + key, value, px=px))

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        px = self._px(ttl)
        return bool(self._call(lambda c: c.set(self.prefix + key, value, px=px, nx=True)))

    def add_many(self, items: Sequence[tuple[str, bytes]], ttl: float | None = None) -> list[bool]:
        if not items:
            return []
        px = self._px(ttl)

        def run(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(self.prefix + key, value, px=px, nx=True)
            return list(pipe.execute())

        return [bool(r) for r in self._call(run)]

    def delete(self, key: str) -> None:
        self._call(lambda c: c.delete(self.prefix + key))

    def close(self) -> None:
        self._closed.set()
        try:
            self.client.close()
        finally:
            if self.conn is not None:
                self.conn.close()

    # -- internals ----------------------------------------------------------------------------
    def _px(self, ttl: float | None) -> int | None:
        seconds = self.default_ttl if ttl is None else ttl
        return max(1, int(seconds * 1000)) if seconds > 0 else None

    def _call(self, op: Callable[[Any], T]) -> T:
        try:
            result = self._retrying(lambda: op(self.client), self._failed, _unreachable)
        except self._errors as exc:
            raise CacheError(describe_error(exc)) from exc
        if self.conn is not None and not self.conn.connected:
            self.conn.up()
        return result

    def _failed(self, exc: Exception) -> None:
        if self.conn is not None:
            self.conn.down(describe_error(exc))


def _unreachable(exc: Exception) -> str:
    return f"redis unreachable: {describe_error(exc)}"


def _tls_options(tls: dict[str, Any]) -> dict[str, Any]:
    if not tls.get("enabled"):
        return {}
    options: dict[str, Any] = {}
    if tls.get("skip_cert_verify"):
        options.update(ssl_cert_reqs="none", ssl_check_hostname=False)
    if tls.get("root_cas_file"):
        options["ssl_ca_certs"] = tls["root_cas_file"]
    if tls.get("root_cas"):
        options["ssl_ca_data"] = tls["root_cas"]
    certs = [c for c in tls.get("client_certs") or [] if c and c.get("cert_file")]
    if certs:
        options["ssl_certfile"] = certs[0]["cert_file"]
        options["ssl_keyfile"] = certs[0].get("key_file") or None
        options["ssl_password"] = certs[0].get("password") or None
    return options


def _client(conf: dict[str, Any], urls: list[str]) -> Any:
    """A redis-py client for `kind` (connecting lazily, on its first command)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    tls = dict(conf.get("tls") or {})
    if tls.get("enabled"):
        urls = ["rediss://" + u.split("://", 1)[1] if u.startswith("redis://") else u for u in urls]
    options: dict[str, Any] = {
        "socket_timeout": 5.0,
        "socket_connect_timeout": 2.0,
        "client_name": str(conf.get("client_name") or "streamforge"),
        **_tls_options(tls),
    }
    kind = conf.get("kind", "simple")
    if kind == "cluster":
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(urls[0], **options)
    if kind == "failover":
        from redis.sentinel import Sentinel

        master = str(conf.get("master") or "")
        if not master:
            raise ValueError("master: the name of the master is required with kind failover")
        nodes = [(urlsplit(u).hostname or "localhost", urlsplit(u).port or 26379) for u in urls]
        return Sentinel(nodes, **options).master_for(master, retry=Retry(NoBackoff(), 0))
    return redis.Redis.from_url(urls[0], retry=Retry(NoBackoff(), 0), **options)


@register_cache(
    "redis",
    fields=[
        ParsedField(
            "url",
            "string",
            parser=_urls,
            description="The server's URL (`redis://`, `rediss://` for TLS, `tcp://` as "
            "`redis://`, `unix://`); with `kind: cluster` or `failover`, a comma-separated list.",
            examples=("redis://localhost:6379", "redis://:secret@redis.plant.local:6379/1"),
        ),
        Field(
            "kind",
            "string",
            default="simple",
            options=KINDS,
            advanced=True,
            description="A single server (`simple`), a Redis Cluster (`cluster`) or a master "
            "found through Sentinels (`failover`, the URLs naming the Sentinels).",
        ),
        Field(
            "master",
            "string",
            default="",
            advanced=True,
            description="The name of the master with `kind: failover`.",
            examples=("mymaster",),
        ),
        Field(
            "client_name",
            "string",
            default="streamforge",
            advanced=True,
            description="The name the connection gives itself (`CLIENT SETNAME`).",
        ),
        tls_field("TLS to the server.", default={}, peer="server"),
        Field(
            "prefix",
            "string",
            default="",
            description="Put before every key, so streams sharing a server do not collide.",
            examples=("readings:",),
        ),
        ParsedField(
            "default_ttl",
            "duration",
            parser=non_negative_duration,
            default="",
            description="How long a key lives after it was written, unless the writer gives "
            "its own TTL; empty or `0s` keeps keys until deleted.",
            examples=("10m", "24h"),
        ),
        retries_field("How a command that cannot reach the server is retried.", _RETRY_DEFAULTS),
    ],
    summary="Keys and values in a Redis server, shared by every process that uses it.",
    description=(
        "`add` is atomic on the server (`SET NX`), so a `dedupe` or `cache` processor in "
        "several processes of a cluster agree on the first writer. `dedupe` sends a whole "
        "batch in one round trip. While the server is unreachable, each command is retried "
        "as `retries` says, the component shows as disconnected on `/ready`, and the client "
        "reconnects on its own."
    ),
    examples=(
        "cache_resources:\n  - label: shared\n    redis:\n      url: redis://localhost:6379\n"
        "      prefix: 'line-7:'\n      default_ttl: 1h",
    ),
)
def redis_cache(conf: dict[str, Any], ctx: BuildContext | None = None) -> RedisCache:
    """Keys and values in a Redis server, shared by every process that uses it."""
    conf = conf or {}
    urls = _urls(conf.get("url"))
    tls = dict(conf.get("tls") or {})
    if tls.get("enabled"):
        check_tls_files(tls)
    initial, maximum, elapsed = retries_of(conf, _RETRY_DEFAULTS)
    client = _client(conf, urls)
    watch = None
    if ctx is not None:
        peer = urlsplit(urls[0])
        where = f"{peer.hostname}:{peer.port or 6379}" if peer.hostname else peer.path
        watch = partial(connection, ctx.stream, ctx.label, where)
    return RedisCache(
        client,
        prefix=str(conf.get("prefix") or ""),
        default_ttl=non_negative_duration(conf.get("default_ttl", "")),
        retry_initial=initial,
        retry_max=maximum,
        max_elapsed=elapsed,
        watch=watch,
    )
