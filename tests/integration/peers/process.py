"""What every peer run as a child process shares: restart, liveness, its log."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


class PeerProcess:
    """Mixin for a peer class that defines `proc`, `log_path`, `start()` and `stop()`."""

    proc: subprocess.Popen[bytes] | None
    log_path: Path

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down for `down_for` seconds, start again on the same ports."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
