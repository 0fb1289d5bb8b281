"""One run per recovery directory: an exclusive lock the operating system drops when the run dies.

Two processes resuming from the same recovery directory overwrite each other's snapshots and
write their outputs twice. `run --recovery-dir D` therefore holds `fcntl.flock` on
`D/.streamforge-run-<process id>.lock` for as long as it runs; the kernel releases it when the
process ends in any way, `kill -9` included, so a stale lock never needs cleaning up. Each
member of a Bytewax cluster locks its own file, so members sharing one directory on one host run
side by side while a second copy of the same member is refused. The holder writes its pid into
the file so the refusal can name it. The file stays behind after the run; it is harmless.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["RecoveryDirInUse", "RecoveryLock", "lock_path", "recovery_lock"]

#: how long a refused run waits for the holder to have written its pid
_PID_WAIT_SECONDS = 0.5


class RecoveryDirInUse(RuntimeError):
    """Another live process holds the lock of this recovery directory (and process id)."""

    def __init__(self, directory: Path, process_id: int | None, holder_pid: int | None) -> None:
        self.directory = directory
        self.process_id = process_id
        self.holder_pid = holder_pid
        member = f" as cluster process {process_id}" if process_id is not None else ""
        holder = f"pid {holder_pid}" if holder_pid is not None else "pid unknown"
        super().__init__(
            f"recovery directory {directory} is in use by another run{member} ({holder})"
        )


def lock_path(directory: Path, process_id: int | None = None) -> Path:
    """The lock file of cluster member `process_id` (None: a single process, member 0)."""
    return directory / f".streamforge-run-{process_id or 0}.lock"


class RecoveryLock:
    """A held lock on a recovery directory; `release()` (or the process ending) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the directory up; the lock file stays."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor drops the flock

    @classmethod
    def acquire(cls, directory: Path, process_id: int | None = None) -> RecoveryLock:
        """Lock `directory` (created when missing) for this process, or raise
        `RecoveryDirInUse` naming the live holder. Never waits for the holder to finish."""
        directory.mkdir(parents=True, exist_ok=True)
        path = lock_path(directory, process_id)
        # no O_TRUNC: opening must not wipe the pid a live holder wrote. Python opens it
        # close-on-exec, so processes the stream starts do not inherit (and keep) the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(fd)
            os.close(fd)
            raise RecoveryDirInUse(directory, process_id, holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)


def _holder_pid(fd: int) -> int | None:
    """The pid the holder wrote; it may have locked a moment ago and not written it yet."""
    deadline = time.monotonic() + _PID_WAIT_SECONDS
    while True:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


@contextlib.contextmanager
def recovery_lock(directory: Path | None, process_id: int | None = None) -> Iterator[None]:
    """Hold the lock of `directory` for the block; no lock when there is no recovery directory.

    Raises `RecoveryDirInUse` before the block runs when another process holds it.
    """
    if directory is None:
        yield
        return
    lock = RecoveryLock.acquire(directory, process_id)
    try:
        yield
    finally:
        lock.release()
