"""`memcached` cache: keys and values on one or more memcached servers, as Benthos' `memcached`.

Each key lives on one server, picked as Benthos' memcached client picks it (CRC-32 of the
prefixed key modulo the number of addresses, in the order given), so StreamForge and Benthos
configured with the same addresses find each other's keys.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from streamforge.caches._retrying import (
    RetryingCache,
    non_negative_duration,
    retries_field,
    retries_of,
)
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
from streamforge.plugin.optional import require

__all__ = ["MemcachedCache", "memcached_cache", "server_addresses"]

T = TypeVar("T")

#: memcached reads an expiry longer than 30 days as a Unix time
_RELATIVE_MAX = 30 * 24 * 3600
#: the longest key memcached stores, in bytes
_KEY_MAX = 250
#: seconds to connect and to wait for an answer (Benthos' client uses 500ms)
_TIMEOUT = 1.0
_DEFAULT_PORT = 11211
#: `initial_interval`, `max_interval` and `max_elapsed_time` of `retries`, as in Benthos
_RETRY_DEFAULTS = ("1s", "5s", "30s")

register_feature("cache", "memcached", "bindings", "memcached")


def _address(text: str) -> str:
    """One `host:port`, `[ipv6]:port`, `host` (port 11211) or `/unix/socket`, checked."""
    if text.startswith("/"):
        return text
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r} is not host:port")
        port_text = rest[1:]
    elif text.count(":") > 1:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, as [::1]:11211")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"{text!r} names no host")
    if (port_text or text.endswith(":")) and not (
        port_text.isdigit() and 0 < int(port_text) < 65536
    ):
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return text


def _split(value: Any) -> list[str]:
    return [_address(part.strip()) for part in str(value or "").split(",") if part.strip()]


def server_addresses(value: Any) -> list[str]:
    """The servers of `addresses`: each item may hold several, separated by commas."""
    items = value if isinstance(value, (list, tuple)) else [value]
    addresses = [address for item in items for address in _split(item)]
    if not addresses:
        raise ValueError("expected at least one address, such as localhost:11211")
    return addresses


def _server_spec(address: str) -> tuple[str, int] | str:
    """`address` as pymemcache takes it: (host, port), or the path of a unix socket."""
    if address.startswith("/"):
        return address
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest[1:] else _DEFAULT_PORT
    host, _, port = address.partition(":")
    return host, int(port) if port else _DEFAULT_PORT


def _check_key(key: bytes) -> None:
    if len(key) > _KEY_MAX:
        raise CacheError(f"key is {len(key)} bytes with its prefix; memcached takes {_KEY_MAX}")
    if any(b <= 0x20 or b == 0x7F for b in key):
        raise CacheError("key contains a space or a control character, which memcached refuses")


class MemcachedCache(RetryingCache):
    """A Cache over memcached servers: `prefix` before every key, TTLs in whole seconds.

    A command whose server cannot be reached is retried with backoff until `max_elapsed`
    seconds passed, then raises CacheError; the key stays on its server meanwhile (it does
    not move to another one). Each server has a pool of connections, so workers do not wait
    for each other. `watch` registers the connection state (metrics, /ready) when the first
    command runs.
    """

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        prefix: str = "",
        default_ttl: float = 300.0,
        retry_initial: float = 1.0,
        retry_max: float = 5.0,
        max_elapsed: float = 30.0,
        timeout: float = _TIMEOUT,
        watch: Callable[[], Connection] | None = None,
    ) -> None:
        require("pymemcache", "memcached", "the memcached cache")
        from pymemcache.client.base import PooledClient
        from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

        super().__init__(
            retry_initial=retry_initial,
            retry_max=retry_max,
            max_elapsed=max_elapsed,
            transient=(OSError, MemcacheUnexpectedCloseError),
            watch=watch,
        )
        self.addresses = list(addresses)
        self.prefix = prefix
        self._prefix = prefix.encode("utf-8")
        self.default_ttl = default_ttl
        self._clients = [
            PooledClient(
                _server_spec(address),
                connect_timeout=timeout,
                timeout=timeout,
                no_delay=True,
                default_noreply=False,
                allow_unicode_keys=True,
            )
            for address in self.addresses
        ]
        self._lock = threading.Lock()
        self._failing: set[int] = set()
        self._errors: tuple[type[Exception], ...] = (MemcacheError,)

    # -- Cache ----------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        value = self._call(key, lambda client, k: client.get(k))
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expire = self.expire(ttl)
        self._call(key, lambda client, k: client.set(k, value, expire=expire))

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        expire = self.expire(ttl)
        return bool(self._call(key, lambda client, k: client.add(k, value, expire=expire)))

    def delete(self, key: str) -> None:
        self._call(key, lambda client, k: client.delete(k))

    def close(self) -> None:
        self._closed.set()
        try:
            for client in self._clients:
                client.close()
        finally:
            if self.conn is not None:
                self.conn.close()

    # -- placement and expiry ---------------------------------------------------------------
    def server_of(self, key: str) -> str:
        """The address that holds `key` (prefix added here)."""
        return self.addresses[self._pick(self._prefix + key.encode("utf-8"))]

    def _pick(self, full_key: bytes) -> int:
        if len(self._clients) == 1:
            return 0
        return zlib.crc32(full_key) % len(self._clients)

    def expire(self, ttl: float | None) -> int:
        """memcached's expiry for a TTL in seconds (None: `default_ttl`): 0 never expires,
        a fraction of a second is rounded up, beyond 30 days it becomes a Unix time."""
        seconds = self.default_ttl if ttl is None else ttl
        if seconds <= 0:
            return 0
        whole = math.ceil(seconds)
        return int(time.time()) + whole if whole > _RELATIVE_MAX else whole

    # -- internals ----------------------------------------------------------------------------
    def _call(self, key: str, op: Callable[[Any, bytes], T]) -> T:
        full = self._prefix + key.encode("utf-8")
        _check_key(full)
        index = self._pick(full)
        client = self._clients[index]
        try:
            result = self._retrying(
                lambda: op(client, full),
                partial(self._failed, index),
                lambda exc: f"memcached {self.addresses[index]} unreachable: {describe_error(exc)}",
            )
        except self._errors as exc:
            raise CacheError(f"memcached {self.addresses[index]}: {exc}") from exc
        self._reached(index)
        return result

    def _failed(self, index: int, exc: Exception) -> None:
        with self._lock:
            self._failing.add(index)
        if self.conn is not None:
            self.conn.down(f"{self.addresses[index]}: {describe_error(exc)}")

    def _reached(self, index: int) -> None:
        conn = self.conn
        if conn is None or (conn.connected and index not in self._failing):
            return
        with self._lock:
            self._failing.discard(index)
            healthy = not self._failing
        if healthy:
            conn.up()


@register_cache(
    "memcached",
    fields=[
        ParsedField(
            "addresses",
            "array",
            parser=server_addresses,
            item=ParsedField("address", "string", parser=_split),
            description="The memcached servers, as `host:port` (`[ipv6]:port`, a host alone "
            "for port 11211, or the path of a unix socket); an item may list several "
            "separated by commas. Each key lives on one of them.",
            examples=(["localhost:11211"], ["cache-1:11211", "cache-2:11211"]),
        ),
        Field(
            "prefix",
            "string",
            default="",
            description="Put before every key, so streams sharing the servers do not collide.",
            examples=("line-7:",),
        ),
        ParsedField(
            "default_ttl",
            "duration",
            parser=non_negative_duration,
            default="300s",
            description="How long a key lives after it was written, unless the writer gives "
            "its own TTL; `0s` keeps keys until memcached evicts them. Rounded up to whole "
            "seconds.",
            examples=("10m", "24h"),
        ),
        retries_field(
            "How a command whose server cannot be reached is retried.",
            _RETRY_DEFAULTS,
            examples=(("50ms", "1s"), ("5s", "1m"), ("1m", "1h")),
        ),
    ],
    summary="Keys and values on memcached servers, shared by every process that uses them.",
    description=(
        "Each key lives on one of `addresses`, chosen from the prefixed key as Benthos' "
        "client chooses it. `add` is memcached's own `add`, atomic on the server, so `cache` "
        "and `dedupe` processors in several processes agree on the first writer. While a "
        "server cannot be reached, each command for its keys is retried as `retries` says, "
        "the cache shows as disconnected on `/ready`, and then the message gets the error; "
        "keys on the other servers keep working."
    ),
    examples=(
        "cache_resources:\n  - label: shared\n    memcached:\n"
        "      addresses: [ localhost:11211 ]\n      prefix: 'line-7:'\n      default_ttl: 1h",
    ),
)
def memcached_cache(conf: dict[str, Any], ctx: BuildContext | None = None) -> MemcachedCache:
    """Keys and values on memcached servers, shared by every process that uses them."""
    conf = conf or {}
    addresses = server_addresses(conf.get("addresses"))
    initial, maximum, elapsed = retries_of(conf, _RETRY_DEFAULTS)
    watch = None
    if ctx is not None:
        watch = partial(connection, ctx.stream, ctx.label, ",".join(addresses))
    return MemcachedCache(
        addresses,
        prefix=str(conf.get("prefix") or ""),
        default_ttl=non_negative_duration(conf.get("default_ttl", "300s")),
        retry_initial=initial,
        retry_max=maximum,
        max_elapsed=elapsed,
        watch=watch,
    )
