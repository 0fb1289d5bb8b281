"""The state of one component's link to its peer: metrics, /ready, logs, and retried writes.

`PeerLink` wraps a `Connection` (shown in `streamforge_connected` and /ready) and words what
happens in the log: `connected to`, `reconnected to`, and failures naming the peer and the
cause (the same cause at most every `RELOG_SECONDS`). `retry_until` runs an operation again
with backoff while the peer is away, up to a deadline, for outputs that wait for their peer;
`retry_each` does so on an event loop for many publishes at once, trying again only those
that failed for a transient cause. Also here: what the network clients share in checking
URLs and wording failures, and the `write_timeout` field of the outputs that wait.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field
from streamforge.plugin.connection import Backoff, connection

__all__ = [
    "NETWORK_ERRORS",
    "RELOG_SECONDS",
    "PeerDown",
    "PeerLink",
    "check_url",
    "describe_network_error",
    "display_url",
    "fail_each",
    "prepare_each",
    "write_timeout_field",
]

#: the same failure is logged again at most this often (seconds)
RELOG_SECONDS = 30.0

T = TypeVar("T")

#: failures of the network itself, after which a new connection may succeed
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    TimeoutError,
    ConnectionError,
    OSError,
)


def check_url(url: str, schemes: tuple[str, ...], wrong_scheme: str) -> SplitResult:
    """`url` split, with a known scheme (else `wrong_scheme`), a valid port and a host."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ValueError(wrong_scheme)
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"urls: bad port in {url!r}: {exc}") from None
    if not parts.hostname:
        raise ValueError(f"urls: no host in {url!r}")
    return parts


def display_url(url: str, *, path: bool = False) -> str:
    """A URL without its credentials (and, unless `path`, without its path)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    tail = (parts.path or "/") if path else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{tail}"


def describe_network_error(exc: BaseException, peer: str) -> str | None:
    """The words for a refused connection (naming the `peer`: server, broker) or a silent
    timeout; None for anything else."""
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused (is the {peer} running?)"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not str(exc).strip():
        return "timed out"
    return None


def write_timeout_field(peer: str) -> Field:
    """How long a batch of an output waits for its `peer` (server, broker) to come back."""
    return Field(
        "write_timeout",
        "duration",
        default="10s",
        description=(
            f"How long a batch may wait for the {peer} (reconnecting) before its messages "
            "fail (for `fallback` to route, or for the input to deliver again)."
        ),
        advanced=True,
    )


def prepare_each(
    name: str,
    batch: list[Message],
    prepare: Callable[[Message, int], T],
    failed: list[Message],
) -> list[tuple[Message, T]]:
    """Each message with what `prepare(msg, index)` makes of it; a message it raises for
    (a bad interpolation) fails alone, into `failed`."""
    items: list[tuple[Message, T]] = []
    for i, msg in enumerate(batch):
        try:
            items.append((msg, prepare(msg, i)))
        except Exception as exc:  # noqa: BLE001 - a bad interpolation fails its message
            msg.error = f"{name}: {exc}"
            failed.append(msg)
    return items


def fail_each(
    name: str,
    msgs: Iterable[Message],
    errors: Iterable[str | None],
    failed: list[Message],
) -> list[Message]:
    """Fail each message whose error is not None (into `failed`, which is returned)."""
    for msg, error in zip(msgs, errors):
        if error is not None:
            msg.error = f"{name}: {error}"
            failed.append(msg)
    return failed


class PeerDown(Exception):
    """The peer could not be reached before the deadline; the message says why."""


class PeerLink:
    """One component's connection to its peer, as metrics, /ready and the log see it."""

    def __init__(
        self,
        protocol: str,
        kind: str,
        ctx: BuildContext | None,
        peer: str,
        logger: logging.Logger,
    ) -> None:
        self.protocol = protocol
        self.kind = kind
        self.stream = ctx.stream if ctx is not None else "test"
        self.label = ctx.label if ctx is not None else f"{protocol}_{kind}"
        self.peer = peer
        self.log = logger
        self.connection = connection(self.stream, self.label, peer)
        self._connected_once = False
        self._last_logged: tuple[str, float] = ("", 0.0)
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def last_error(self) -> str:
        return self.connection.last_error

    def fields(self) -> dict[str, Any]:
        return {"fields": {"stream": self.stream, "component": self.label}}

    def up(self, detail: str = "") -> None:
        """The peer answers (again): log `connected to` once, `reconnected to` after a loss."""
        with self._lock:
            if self.connection.connected:
                return
            self.connection.up()
            verb = "reconnected" if self._connected_once else "connected"
            self._connected_once = True
            self._last_logged = ("", 0.0)
        self.log.info(
            "%s %s %s: %s to %s%s",
            self.protocol,
            self.kind,
            self.label,
            verb,
            self.peer,
            f" ({detail})" if detail else "",
            extra=self.fields(),
        )

    def down(self, cause: str) -> None:
        """The peer went away or refused us: metrics, /ready and a (rate-limited) error."""
        with self._lock:
            was = self.connection.connected
            self.connection.down(cause)
            now = time.monotonic()
            last_cause, last_time = self._last_logged
            if cause == last_cause and now - last_time < RELOG_SECONDS:
                return
            self._last_logged = (cause, now)
        what = "lost the connection to" if was else "cannot connect to"
        self.log.error(
            "%s %s %s: %s %s: %s; retrying with backoff",
            self.protocol,
            self.kind,
            self.label,
            what,
            self.peer,
            cause,
            extra=self.fields(),
        )

    def retry_until(
        self,
        op: Callable[[], T],
        *,
        transient: tuple[type[BaseException], ...],
        describe: Callable[[BaseException], str],
        deadline: float,
        stop: threading.Event | None = None,
    ) -> T:
        """Run `op`; while it fails with a `transient` error, mark the peer down and run it
        again with backoff. Raises `PeerDown` once the next attempt would pass `deadline`
        (a `time.monotonic()` value) or `stop` is set."""
        backoff = Backoff(initial=0.1, maximum=2.0)
        while True:
            try:
                result = op()
            except transient as exc:
                cause = describe(exc)
                self.down(cause)
                delay = backoff.next_delay()
                if time.monotonic() + delay > deadline:
                    raise PeerDown(f"not connected to {self.peer} ({cause})") from exc
                if stop is not None:
                    if stop.wait(delay):
                        raise PeerDown(f"closing; not connected to {self.peer} ({cause})") from exc
                else:
                    time.sleep(delay)
                continue
            self.up()
            return result

    async def retry_each(
        self,
        count: int,
        attempt: Callable[[int], Awaitable[BaseException | str | None]],
        *,
        transient: tuple[type[BaseException], ...],
        describe: Callable[[BaseException], str],
        deadline: float,
        ready: Callable[[], Awaitable[str | None]] | None = None,
        lost: Callable[[], None] | None = None,
    ) -> list[str | None]:
        """On an event loop: run `attempt(i)` for each of `count` items at once; per item
        None when done, else why not. `attempt` returns None, a refusal (a string, final),
        or the exception it caught; items that failed for a `transient` cause are tried
        again with backoff until `deadline`, after marking the peer down (and calling
        `lost`). `ready`, when given, waits before each round for the peer and says why
        not when it does not come."""
        results: list[str | None] = [None] * count
        todo = list(range(count))
        backoff = Backoff(initial=0.1, maximum=2.0)
        while todo:
            if ready is not None:
                why = await ready()
                if why is not None:
                    for i in todo:
                        results[i] = why
                    break
            outcomes = await asyncio.gather(*(attempt(i) for i in todo))
            again = []
            for i, outcome in zip(todo, outcomes):
                if outcome is None or isinstance(outcome, str):
                    results[i] = outcome
                elif isinstance(outcome, transient):
                    results[i] = describe(outcome)
                    again.append(i)
                else:
                    results[i] = describe(outcome)
            if again:
                self.down(results[again[0]] or "publish failed")
                if lost is not None:
                    lost()
                delay = backoff.next_delay()
                if time.monotonic() + delay > deadline:
                    break
                await asyncio.sleep(delay)
            todo = again
        return results

    def close(self) -> None:
        self.connection.close()
