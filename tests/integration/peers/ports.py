"""Free loopback ports and waiting for a peer to listen."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterator

# Ports handed out come from below the kernel's ephemeral range (32768-60999 by default), each
# pytest-xdist worker from a block of its own: a peer killed and restarted on its port does not
# find it taken meanwhile by another worker's peer or by a port the kernel chose for a bind(0).
_FIRST, _LAST = 10000, 32767


def _worker_block() -> range:
    workers = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % workers if worker.isdigit() else 0
    size = (_LAST - _FIRST + 1) // workers
    start = _FIRST + index * size
    return range(start, start + size)


def _candidates() -> Iterator[int]:
    block = _worker_block()
    offset = (os.getpid() * 7919) % len(block)
    return itertools.cycle([*block[offset:], *block[:offset]])


_next_candidate = _candidates()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now and that this test process
    has not handed out recently (ports are given out in turn from the worker's own block)."""
    for _ in range(_LAST - _FIRST + 1):
        port = next(_next_candidate)
        if _bindable(port):
            return port
    raise OSError("no free port left in this worker's block")


def free_port_pair(offset: int) -> int:
    """A free port whose partner `port + offset` is a valid port and free too (a Redis cluster
    node listens on its port and on port + 10000)."""
    while True:
        port = free_port()
        if port + offset <= 65535 and _bindable(port + offset):
            return port


def wait_listening(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on `host:port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)
