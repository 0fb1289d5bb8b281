"""A protocol server on its own thread and event loop, with a plant tick at a fixed interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from types import TracebackType

__all__ = ["BackgroundServer"]

_log = logging.getLogger("streamforge.simulators")


class BackgroundServer(ABC):
    """Serves on a daemon thread; `start()` returns once listening, `stop()` once closed."""

    kind = "simulator"
    port: int

    def __init__(self, host: str, port: int, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.host = host
        self.port = port
        self.interval = interval
        self.ticks = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @abstractmethod
    async def _open(self) -> int:
        """Start listening; returns the bound port."""

    @abstractmethod
    async def _tick(self) -> None:
        """Advance the simulation by one interval and publish the new values."""

    @abstractmethod
    async def _close(self) -> None:
        """Stop listening and drop the clients."""

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 30.0) -> None:
        """Serve on a background thread; returns once the server listens (raises if it cannot)."""
        if self.running:
            return
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name=f"streamforge-{self.kind}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.kind} did not start within {timeout}s")
        if self._error is not None:
            self._thread.join(timeout)
            raise RuntimeError(f"{self.kind} could not start: {self._error}") from self._error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end (a no-op when not running)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopping = asyncio.Event()
        try:
            self.port = await self._open()
        except BaseException as exc:  # noqa: BLE001 - reported to the thread that called start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            next_at = loop.time()
            while not self._stopping.is_set():
                try:
                    await self._tick()
                    self.ticks += 1
                except Exception:  # noqa: BLE001 - one failed update must not stop the plant
                    _log.exception("%s: update failed", self.kind)
                next_at += self.interval
                delay = next_at - loop.time()
                if delay < 0:  # fell behind: carry on from now instead of catching up in a burst
                    next_at, delay = loop.time(), 0.0
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            await self._close()
