"""http_server -> file killed with SIGKILL at seeded points while clients post, and counted.

Client threads post ids one request at a time, as a real client would: only a 2xx answer means
delivered; a refused or broken connection, or any other status, is retried after a short pause
until a 2xx comes. The stream is killed three times once its file holds a seeded number of
lines and started again on the same port with the same `--recovery-dir`; once every id was
answered it is stopped with SIGTERM. Every answered id must be in the file (the input answers
only once the output wrote the message); a duplicate is an id the killed process had written but
not yet answered, which the client then sent again.
"""

from __future__ import annotations

import http.client
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from crash_table import ROWS, Row
from peers.ports import free_port
from peers.stream_run import CLI, out_lines, write
from test_kill_and_count import KILLS, SEED, SNAPSHOT, count

TOTAL = 2000
CLIENTS = 4
#: how long a client waits before sending a request again
RETRY_PAUSE = 0.05


@pytest.fixture
def rows(request: pytest.FixtureRequest) -> list[Row]:
    """The crash table's rows (printed at the end of the session)."""
    return request.config.stash[ROWS]


class Clients:
    """Threads posting ids to the stream until each one got a 2xx answer."""

    def __init__(self, port: int, ids: list[str]) -> None:
        self.port = port
        self.ids = ids
        self.answered: list[str] = []
        self.statuses: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._post_all, args=(ids[k::CLIENTS],), daemon=True)
            for k in range(CLIENTS)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self.threads)

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _post_all(self, ids: list[str]) -> None:
        conn: http.client.HTTPConnection | None = None
        for value in ids:
            while not self._stop.is_set():
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                try:
                    conn.request("POST", "/ingest", body=value.encode())
                    resp = conn.getresponse()
                    resp.read()
                    status = str(resp.status)
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = None
                    status = type(exc).__name__
                with self._lock:
                    self.statuses[status] += 1
                    if status.startswith("2"):
                        self.answered.append(value)
                        break
                self._stop.wait(RETRY_PAUSE)
        if conn is not None:
            conn.close()


def test_http_server_to_file(tmp_path: Path, rows: list[Row]) -> None:
    out = tmp_path / "out.txt"
    port = free_port()
    config = write(
        tmp_path / "http_to_file.yaml",
        f"""
        input:
          http_server:
            address: 127.0.0.1:{port}
            path: /ingest
        output:
          file: {{ path: "{out}" }}
        http:
          enabled: false
        """,
    )
    args = [*CLI, "--recovery-dir", str(tmp_path / "recovery"), *SNAPSHOT, str(config)]
    log = tmp_path / "stream.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log, "ab") as fh:
            return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)

    def running(proc: subprocess.Popen[bytes], deadline: float, what: str) -> None:
        assert proc.poll() is None, f"the stream ended by itself:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text()}"

    ids = [f"id-{i:05d}" for i in range(TOTAL)]
    clients = Clients(port, ids)
    rng = random.Random(f"{SEED}:http")
    targets = sorted(rng.randrange(TOTAL // 10, TOTAL * 7 // 10) for _ in range(KILLS))
    kills = 0
    proc = start()
    try:
        clients.start()
        for seeded in targets:
            # a resumed run writes lines of its own before it is killed
            target = max(seeded, len(out_lines(out)) + 1)
            deadline = time.monotonic() + 60
            while len(out_lines(out)) < target:
                running(proc, deadline, f"fewer than {target} lines written")
                time.sleep(0.01)
            proc.kill()
            proc.wait(timeout=30)
            kills += 1
            proc = start()
        deadline = time.monotonic() + 60
        while not clients.done():
            running(proc, deadline, f"ids still unanswered; answers so far {clients.statuses}")
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        clients.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(clients.answered) == ids, clients.statuses
    row = count(rows, "http_server -> file", clients.answered, out_lines(out), kills,
                "at least once (a 2xx means written)")  # fmt: skip
    assert row.kills == KILLS
    assert row.missing == 0
