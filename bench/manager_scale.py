"""Manager scale: N streams created, run and watched through `streamforge serve`'s REST API.

In one run, with a temporary home and a development licence signed here (without a licence the
manager allows 5 streams):

* baseline: one `streamforge run` of the same stream outside the manager (a subprocess): its
  start time, memory (RSS, PSS) and CPU over the window, busy and idle;
* busy set: `streamforge serve` (a subprocess) gets N streams POSTed one after another, each
  `generate` (10 msg/s, interval 100 ms) -> a four-assignment `mapping` -> `file` (its own file
  under the data root). Printed: creates/s (POST answered), create-to-running p50/p99 (POST sent
  to the stream first listed `running` by GET /wot/binding/streams, polled every 100 ms, paged
  with `next`), RSS and PSS (/proc/<pid>/smaps_rollup) of the manager and of all its children,
  the CPU (user+sys, /proc/<pid>/stat) of the manager and its children over `--window` seconds,
  the lines the files grew by in that window, and the p50/p99 of GET /streams and GET
  /streams/{id}/metrics over `--requests` requests each;
* idle set: the busy set is deleted (DELETE each, timed; no child may be left behind), then N
  streams whose input produces nothing (`--idle-input`: an `http_server` on port 0 that nobody
  posts to, the default, or a `generate` with an interval of one hour) are created and
  measured the same way: the processes, their endpoints and dataflows run, no message comes.
  An idle input is chosen over stopped streams because a stopped stream has no process;
* `--push`: everything is deleted, then busy streams are added in steps of `--push-step` until
  a create fails, a step's create-to-running p99 exceeds 30 s, a stream fails, memory would run
  low (MemAvailable after the next step, estimated from the PSS measured so far, below
  `--reserve-mb`), the manager dies, or `--push-limit` streams run.

At the end every stream is deleted and the manager stopped with SIGTERM; the run checks that no
process it started is left. The default N is 100 unless MemAvailable cannot hold that many
(at an assumed 150 MB per stream plus the reserve); the reason is printed when it is lowered.

    python bench/manager_scale.py [--streams 100] [--window 10] [--requests 200] [--push]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _peers import StreamRun, development_licence, free_port

TOKEN = "bench-manager-scale-token-0123456789"
PREFIX = "/wot/binding"
#: assumed memory of one stream's process before any is measured (only to choose the default N)
ASSUMED_MB_PER_STREAM = 150
#: create-to-running p99 beyond which --push stops
PUSH_P99_LIMIT_S = 30.0
TICKS = os.sysconf("SC_CLK_TCK")

INPUTS = {
    "busy": """
  generate:
    interval: 100ms
    mapping: 'root = {"n": counter(), "at": now()}'""",
    # nobody posts to it: the process, its endpoints and its dataflow run, no message arrives
    "http_server": """
  http_server: { address: 127.0.0.1:0, path: /in }""",
    # one message at start, then none for an hour
    "generate": """
  generate:
    interval: 1h
    mapping: 'root = {"n": counter(), "at": now()}'""",
}

STREAM = """
input:{input}
pipeline:
  processors:
    - mapping: |
        root.n = this.n
        root.double = this.n * 2
        root.at = this.at
        root.stream = "{name}"
output:
  file: {{ path: {path} }}
"""


IDLE_WHY = {
    "http_server": "an http_server input on 127.0.0.1:0 that nobody posts to (the process, its "
    "endpoints and its dataflow run; no message arrives). Chosen over stopping the streams: a "
    "stopped stream has no process, so there would be nothing to measure",
    "generate": "a generate input with an interval of 1h (one message at start, then none)",
}


def stream_config(name: str, path: str, kind: str = "busy") -> str:
    """The stream `name` writing to `path`; `kind` is busy (10 msg/s) or an idle input."""
    return STREAM.format(input=INPUTS[kind], name=name, path=path)


# -- the licence ----------------------------------------------------------------------------------


# -- /proc ----------------------------------------------------------------------------------------


def proc_table() -> dict[int, tuple[int, int]]:
    """Every process: pid -> (ppid, user+system clock ticks)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def descendants(root: int, table: dict[int, tuple[int, int]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_pss_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def meminfo_mb() -> dict[str, float]:
    info: dict[str, float] = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            name, value = line.split(":", 1)
            info[name] = int(value.split()[0]) / 1024
    return info


@dataclass
class Memory:
    manager_rss: float
    manager_pss: float
    children_rss: float
    children_pss: float
    children: int

    @property
    def total_pss(self) -> float:
        return self.manager_pss + self.children_pss


def memory_of(pid: int) -> Memory:
    """RSS and PSS (MB) of `pid` and, summed, of all its descendants."""
    kids = descendants(pid, proc_table())
    mrss, mpss = rss_pss_kb(pid)
    figures = [rss_pss_kb(k) for k in kids]
    return Memory(
        mrss / 1024,
        mpss / 1024,
        sum(r for r, _ in figures) / 1024,
        sum(p for _, p in figures) / 1024,
        len(kids),
    )


def cpu_cores(pid: int, seconds: float) -> tuple[float, float]:
    """Cores used by `pid` itself and by all its descendants over `seconds`."""
    before = proc_table()
    time.sleep(seconds)
    after = proc_table()
    own = (after[pid][1] - before[pid][1]) / TICKS / seconds if pid in after else 0.0
    kids = 0
    for kid in descendants(pid, after):
        kids += after[kid][1] - (before[kid][1] if kid in before else 0)
    return own, kids / TICKS / seconds


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


# -- the manager ----------------------------------------------------------------------------------


class Serve:
    """`streamforge serve` in a subprocess on a free loopback port, stopped with SIGTERM."""

    def __init__(self, home: Path, env: dict[str, str], log: Path) -> None:
        self.home = home
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = log
        self.errors: list[str] = []
        with open(log, "wb") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamforge", "serve", "--home", str(home),
                 "--address", self.url.removeprefix("http://")],
                stdout=fh, stderr=subprocess.STDOUT,
                env={**os.environ, **env, "STREAMFORGE_ADMIN_TOKEN": TOKEN},
            )  # fmt: skip
        self.client = self.new_client()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the manager exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the manager did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def new_client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        )

    def api(
        self, method: str, path: str, client: httpx.Client | None = None, **kw: Any
    ) -> httpx.Response:
        reply = (client or self.client).request(method, f"{PREFIX}{path}", **kw)
        if reply.status_code >= 500:
            self.errors.append(f"{method} {path}: {reply.status_code} {reply.text[:200]}")
        return reply

    def list_all(self, client: httpx.Client | None = None) -> list[dict[str, Any]]:
        """Every stream, following `next`."""
        streams: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"cursor": cursor} if cursor else {}
            reply = self.api("GET", "/streams", client, params=params)
            reply.raise_for_status()
            body = reply.json()
            streams += body["streams"]
            cursor = body["next"]
            if not cursor:
                return streams

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                print("  the manager did not stop within 90 s of SIGTERM; killed")
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


# -- phases ---------------------------------------------------------------------------------------


@dataclass
class Created:
    """A set of streams POSTed one after another and watched until they run."""

    posted: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    post_seconds: float = 0.0
    not_running: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def creates_per_s(self) -> float:
        return len(self.posted) / self.post_seconds if self.post_seconds else 0.0

    @property
    def to_running(self) -> list[float]:
        return [self.running[i] - self.posted[i] for i in self.running]

    def p(self, q: float) -> float:
        """Create-to-running quantile; infinite when a stream never ran."""
        if self.not_running or not self.running:
            waits = sorted(self.to_running) + [float("inf")] * len(self.not_running)
            return percentile(waits, q)
        return percentile(self.to_running, q)


def create_set(
    serve: Serve,
    ids: list[str],
    config: Callable[[str], str],
    timeout: float,
    *,
    stop_on_refusal: bool = False,
) -> Created:
    """POST `ids` one after another; poll the list every 100 ms until each is `running`."""
    result = Created()
    done = threading.Event()

    def poll() -> None:
        with serve.new_client() as client:
            while not done.is_set():
                try:
                    listed = serve.list_all(client)
                except httpx.HTTPError as exc:
                    serve.errors.append(f"GET /streams while polling: {exc}")
                    done.wait(0.1)
                    continue
                seen = time.perf_counter()
                for stream in listed:
                    sid = stream["id"]
                    if (
                        stream["status"] == "running"
                        and sid in result.posted
                        and sid not in result.running
                    ):
                        result.running[sid] = seen
                done.wait(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    start = time.perf_counter()
    for sid in ids:
        sent = time.perf_counter()
        try:
            reply = serve.api("POST", "/streams", json={"id": sid, "config": config(sid)})
        except httpx.HTTPError as exc:
            result.refused.append(f"{sid}: {type(exc).__name__}: {exc}")
            if stop_on_refusal:
                break
            continue
        if reply.status_code != 201:
            result.refused.append(f"{sid}: {reply.status_code} {reply.text[:300]}")
            if stop_on_refusal:
                break
            continue
        result.posted[sid] = sent
    result.post_seconds = time.perf_counter() - start
    deadline = time.monotonic() + timeout
    while len(result.running) < len(result.posted) and time.monotonic() < deadline:
        if serve.proc.poll() is not None:
            break
        time.sleep(0.2)
    done.set()
    poller.join(timeout=30)
    if len(result.running) < len(result.posted) and serve.proc.poll() is None:
        for stream in serve.list_all():
            if stream["id"] in result.posted and stream["id"] not in result.running:
                result.not_running[stream["id"]] = stream
    return result


def delete_all(serve: Serve, timeout: float) -> tuple[int, float, list[str]]:
    """DELETE every stream (each given `timeout` s to stop before it is killed); how many,
    the seconds it took, and what failed."""
    ids = [s["id"] for s in serve.list_all()]
    failed: list[str] = []
    start = time.perf_counter()
    for sid in ids:
        try:
            reply = serve.api("DELETE", f"/streams/{sid}", params={"timeout": timeout})
        except httpx.HTTPError as exc:
            failed.append(f"{sid}: {type(exc).__name__}: {exc}")
            continue
        if reply.status_code != 204:
            failed.append(f"{sid}: {reply.status_code} {reply.text[:200]}")
    return len(ids), time.perf_counter() - start, failed


def request_p99(serve: Serve, count: int, path: Callable[[int], str]) -> tuple[float, float, int]:
    """p50 and p99 (ms) of `count` sequential GETs, and how many were not 200."""
    times: list[float] = []
    bad = 0
    for i in range(count):
        start = time.perf_counter()
        reply = serve.api("GET", path(i))
        times.append((time.perf_counter() - start) * 1000)
        if reply.status_code != 200:
            bad += 1
    return percentile(times, 0.5), percentile(times, 0.99), bad


def lines_written(data: Path, prefix: str) -> int:
    total = 0
    for file in data.glob(f"{prefix}*.jsonl"):
        try:
            with open(file, "rb") as fh:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        except OSError:
            pass
    return total


@dataclass
class SetFigures:
    created: Created
    memory: Memory
    manager_cores: float
    children_cores: float
    lines_per_s: float
    list_ms: tuple[float, float, int] | None = None
    metrics_ms: tuple[float, float, int] | None = None


def measure_set(
    serve: Serve, data: Path, prefix: str, n: int, args: argparse.Namespace, kind: str
) -> SetFigures:
    idle = kind != "busy"
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    created = create_set(
        serve,
        ids,
        lambda sid: stream_config(sid, f"{sid}.jsonl", kind),
        timeout=max(60.0, 2.0 * n),
    )
    print_created(("idle" if idle else "busy") + " set", n, created)
    time.sleep(args.settle)
    memory = memory_of(serve.proc.pid)
    before = lines_written(data, prefix)
    manager_cores, children_cores = cpu_cores(serve.proc.pid, args.window)
    grown = lines_written(data, prefix) - before
    figures = SetFigures(created, memory, manager_cores, children_cores, grown / args.window)
    if not idle and created.posted:
        running = list(created.posted)
        figures.list_ms = request_p99(serve, args.requests, lambda _: "/streams")
        figures.metrics_ms = request_p99(
            serve, args.requests, lambda i: f"/streams/{running[i % len(running)]}/metrics"
        )
    return figures


# -- output ---------------------------------------------------------------------------------------


def print_created(name: str, n: int, created: Created) -> None:
    print(
        f"  {name}: {len(created.posted)}/{n} created in {created.post_seconds:.1f} s "
        f"({created.creates_per_s:.1f} creates/s); {len(created.running)} running; "
        f"create-to-running p50 {created.p(0.5):.2f} s, p99 {created.p(0.99):.2f} s, "
        f"max {max(created.to_running, default=float('nan')):.2f} s",
        flush=True,
    )
    for line in created.refused[:5]:
        print(f"    refused: {line}")
    for sid, stream in list(created.not_running.items())[:5]:
        print(
            f"    not running: {sid}: status {stream['status']}, restarts {stream['restarts']}, "
            f"last_error {stream['last_error']!r}"
        )


def print_set(name: str, n: int, f: SetFigures, window: float) -> None:
    m = f.memory
    per = max(len(f.created.running), 1)
    print(f"{name}: {n} streams")
    print(
        f"  memory: manager RSS {m.manager_rss:.0f} MB, PSS {m.manager_pss:.0f} MB; "
        f"{m.children} children RSS {m.children_rss:.0f} MB, PSS {m.children_pss:.0f} MB; "
        f"per stream PSS {m.children_pss / per:.1f} MB (with the manager's share "
        f"{m.total_pss / per:.1f} MB), RSS {m.children_rss / per:.1f} MB"
    )
    print(
        f"  CPU over {window:g} s: manager {f.manager_cores:.3f} cores, children "
        f"{f.children_cores:.3f} cores, total {f.manager_cores + f.children_cores:.3f} cores "
        f"({(f.manager_cores + f.children_cores) / per * 1000:.1f} millicores per stream); "
        f"files grew by {f.lines_per_s:,.0f} lines/s"
    )
    if f.list_ms is not None:
        print(
            f"  GET /streams: p50 {f.list_ms[0]:.1f} ms, p99 {f.list_ms[1]:.1f} ms "
            f"({f.list_ms[2]} not 200)"
        )
    if f.metrics_ms is not None:
        print(
            f"  GET /streams/{{id}}/metrics: p50 {f.metrics_ms[0]:.1f} ms, "
            f"p99 {f.metrics_ms[1]:.1f} ms ({f.metrics_ms[2]} not 200)"
        )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- baseline -------------------------------------------------------------------------------------


@dataclass
class Baseline:
    ready_s: float
    memory: Memory
    cores: float
    lines_per_s: float


def baseline(work: Path, env: dict[str, str], window: float, kind: str) -> Baseline:
    """One `streamforge run` of the same stream, outside the manager."""
    name = f"baseline-{kind}"
    out = work / f"{name}.jsonl"
    config = work / f"{name}.yaml"
    config.write_text("http:\n  address: ${HTTP_ADDRESS}\n" + stream_config(name, str(out), kind))
    start = time.perf_counter()
    run = StreamRun(config, env, work / f"{name}.log")
    try:
        run.wait_ready(timeout=60)
        ready = time.perf_counter() - start
        time.sleep(2)
        rss, pss = rss_pss_kb(run.proc.pid)
        kids = descendants(run.proc.pid, proc_table())
        memory = Memory(rss / 1024, pss / 1024, 0.0, 0.0, len(kids))
        before = lines_written(work, name)
        table0 = proc_table()
        time.sleep(window)
        table1 = proc_table()
        ticks = table1[run.proc.pid][1] - table0[run.proc.pid][1]
        grown = lines_written(work, name) - before
    finally:
        run.stop()
    return Baseline(ready, memory, ticks / TICKS / window, grown / window)


# -- push -----------------------------------------------------------------------------------------


def push(serve: Serve, args: argparse.Namespace, pss_per_stream: float) -> None:
    """Add busy streams in steps until something gives; print where and why."""
    count, removed_s = delete_all(serve, args.delete_timeout)[:2]
    print(f"push: {count} streams deleted first ({removed_s:.1f} s); steps of {args.push_step}")
    total = 0
    reason = f"reached --push-limit {args.push_limit}"
    step_no = 0
    while total < args.push_limit:
        step = min(args.push_step, args.push_limit - total)
        available = meminfo_mb()["MemAvailable"]
        need = step * pss_per_stream * 1.5
        if available - need < args.reserve_mb:
            reason = (
                f"memory would run low: MemAvailable {available:.0f} MB, the next {step} streams "
                f"need about {need:.0f} MB (1.5 x {pss_per_stream:.0f} MB PSS each), reserve "
                f"{args.reserve_mb} MB"
            )
            break
        ids = [f"push{step_no:02d}-{i:04d}" for i in range(step)]
        created = create_set(
            serve,
            ids,
            lambda sid: stream_config(sid, f"{sid}.jsonl", "busy"),
            timeout=max(60.0, PUSH_P99_LIMIT_S * 2),
            stop_on_refusal=True,
        )
        total += len(created.posted)
        step_no += 1
        time.sleep(args.settle)
        own, kids = cpu_cores(serve.proc.pid, min(args.window, 5.0))
        memory = memory_of(serve.proc.pid)
        p99 = created.p(0.99)
        print(
            f"  {total:>4} streams: +{len(created.posted)} at {created.creates_per_s:.1f} "
            f"creates/s, create-to-running p50 {created.p(0.5):.2f} s p99 {p99:.2f} s; "
            f"PSS total {memory.total_pss:,.0f} MB; CPU {own + kids:.2f} cores; "
            f"MemAvailable {meminfo_mb()['MemAvailable']:,.0f} MB",
            flush=True,
        )
        if serve.proc.poll() is not None:
            reason = f"the manager exited with {serve.proc.returncode}:\n{serve.log_tail()}"
            break
        if created.refused:
            reason = f"a create failed: {created.refused[0]}"
            break
        if created.not_running:
            sid, stream = next(iter(created.not_running.items()))
            reason = (
                f"{len(created.not_running)} streams not running after "
                f"{max(60.0, PUSH_P99_LIMIT_S * 2):.0f} s (e.g. {sid}: {stream['status']}, "
                f"{stream['last_error']!r})"
            )
            break
        if p99 > PUSH_P99_LIMIT_S:
            reason = f"create-to-running p99 {p99:.1f} s > {PUSH_P99_LIMIT_S:.0f} s"
            break
    print(f"push stopped at {total} streams: {reason}")


# -- main -----------------------------------------------------------------------------------------


def default_streams(reserve_mb: int) -> tuple[int, str]:
    available = meminfo_mb()["MemAvailable"]
    fits = int((available - reserve_mb) / ASSUMED_MB_PER_STREAM)
    if fits >= 100:
        return 100, ""
    n = max(fits, 1)
    return n, (
        f"100 streams do not fit: MemAvailable {available:.0f} MB less the {reserve_mb} MB "
        f"reserve holds {fits} at an assumed {ASSUMED_MB_PER_STREAM} MB each; using {n}"
    )


def leftovers(home: Path) -> list[str]:
    """Processes whose command line names the benchmark's home (none should outlive it)."""
    found = []
    needle = str(home).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            words = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry}: {words}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=None, help="N (default 100 if it fits)")
    parser.add_argument("--window", type=float, default=10.0, help="CPU window, seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="wait after all run, seconds")
    parser.add_argument("--requests", type=int, default=200, help="GETs per endpoint")
    parser.add_argument("--push", action="store_true", help="then add streams until it gives")
    parser.add_argument("--push-step", type=int, default=50)
    parser.add_argument("--push-limit", type=int, default=500)
    parser.add_argument(
        "--idle-input",
        choices=("http_server", "generate"),
        default="http_server",
        help="the idle set's input: http_server nobody posts to, or generate every hour",
    )
    parser.add_argument(
        "--delete-timeout", type=float, default=20.0, help="DELETE's stop timeout, seconds"
    )
    parser.add_argument("--reserve-mb", type=int, default=2048, help="memory left to the rest")
    args = parser.parse_args()
    mem = meminfo_mb()
    why = ""
    if args.streams is None:
        args.streams, why = default_streams(args.reserve_mb)
    n = args.streams

    print(
        f"manager scale: {n} streams, generate (interval 100 ms, 10 msg/s) -> mapping (four "
        f"assignments) -> file (its own file under the data root)"
    )
    print(f"  idle set: the same with {IDLE_WHY[args.idle_input]}")
    print(
        f"  machine: {os.cpu_count()} cores, MemTotal {mem['MemTotal']:,.0f} MB, MemAvailable "
        f"{mem['MemAvailable']:,.0f} MB; CPU window {args.window:g} s after {args.settle:g} s "
        f"settling; {args.requests} GETs per endpoint; list polled every 100 ms"
    )
    if why:
        print(f"  {why}")

    with tempfile.TemporaryDirectory(prefix="sf-manager-scale-") as tmp:
        work = Path(tmp)
        max_streams = max(n, args.push_limit) + 10
        env = development_licence(work, {"capabilities": {"max_streams": max_streams}})
        base_busy = baseline(work, env, args.window, "busy")
        base_idle = baseline(work, env, args.window, args.idle_input)
        home = work / "home"
        data = home / "data"
        serve = Serve(home, env, work / "manager.log")
        busy = idle = None
        try:
            time.sleep(2)
            empty = memory_of(serve.proc.pid)
            empty_cpu = cpu_cores(serve.proc.pid, min(args.window, 5.0))
            print(
                f"  manager with no streams: RSS {empty.manager_rss:.0f} MB, PSS "
                f"{empty.manager_pss:.0f} MB, CPU {sum(empty_cpu):.3f} cores",
                flush=True,
            )
            busy = measure_set(serve, data, "busy-", n, args, "busy")
            print_set("busy set (10 msg/s each)", n, busy, args.window)
            count, seconds, failed = delete_all(serve, args.delete_timeout)
            time.sleep(1)
            left = descendants(serve.proc.pid, proc_table())
            print(
                f"  deleted {count} streams in {seconds:.1f} s ({count / max(seconds, 1e-9):.1f}/s)"
                f"; {len(failed)} failed; {len(left)} children left"
            )
            for line in failed[:5]:
                print(f"    delete failed: {line}")
            idle = measure_set(serve, data, "idle-", n, args, args.idle_input)
            print_set("idle set (input produces nothing)", n, idle, args.window)
            if args.push:
                pss = idle.memory.children_pss / max(len(idle.created.running), 1)
                pss = max(pss, busy.memory.children_pss / max(len(busy.created.running), 1))
                push(serve, args, pss)
        finally:
            count, seconds, failed = (
                delete_all(serve, args.delete_timeout) if serve.proc.poll() is None else (0, 0, [])
            )
            left = descendants(serve.proc.pid, proc_table())
            code = serve.stop()
            time.sleep(1)
            remaining = leftovers(home)
            print(
                f"cleanup: {count} streams deleted in {seconds:.1f} s ({len(failed)} failed), "
                f"{len(left)} children left before SIGTERM; manager exit code {code}; "
                f"{len(remaining)} processes left after it"
            )
            for line in remaining[:5]:
                print(f"  left: {line}")
            if serve.errors:
                print(f"server errors ({len(serve.errors)}):")
                for line in serve.errors[:10]:
                    print(f"  {line}")
            errors = [
                line
                for line in serve.log.read_text(errors="replace").splitlines()
                if "level=error" in line or "Traceback" in line
            ]
            if errors:
                print(f"manager log errors ({len(errors)}), first ones:")
                for line in errors[:5]:
                    print(f"  {line[:300]}")

    print(
        f"baseline, one `streamforge run` outside the manager: ready in {base_busy.ready_s:.2f} s;"
        f" RSS {base_busy.memory.manager_rss:.0f} MB, PSS {base_busy.memory.manager_pss:.0f} MB; "
        f"busy {base_busy.cores * 1000:.1f} millicores ({base_busy.lines_per_s:.1f} lines/s), "
        f"idle {base_idle.cores * 1000:.1f} millicores"
    )
    if busy is None or idle is None:
        return
    running = len(busy.created.running)
    per_pss = busy.memory.total_pss / max(running, 1)
    busy_cores = busy.manager_cores + busy.children_cores
    idle_cores = idle.manager_cores + idle.children_cores
    print("ratios against the baseline:")
    print(
        f"  PSS per stream (manager share included) / standalone PSS: "
        f"{per_pss / max(base_busy.memory.manager_pss, 1e-9):.2f}"
    )
    print(
        f"  busy CPU per stream / standalone: "
        f"{busy_cores / max(running, 1) / max(base_busy.cores, 1e-9):.2f}"
    )
    print(
        f"  create-to-running p50 / standalone start-to-ready: "
        f"{busy.created.p(0.5) / base_busy.ready_s:.2f}"
    )
    list_p99 = busy.list_ms[1] if busy.list_ms else float("nan")
    metrics_p99 = busy.metrics_ms[1] if busy.metrics_ms else float("nan")
    targets = [
        (f"all {n} running", f"{running} running", running == n),
        (
            "create-to-running p99 < 5 s",
            f"{busy.created.p(0.99):.2f} s",
            busy.created.p(0.99) < 5,
        ),
        ("< 80 MB per stream (PSS)", f"{per_pss:.1f} MB", per_pss < 80),
        (
            f"{n} idle streams < 0.3 cores in total",
            f"{idle_cores:.3f} cores",
            idle_cores < 0.3,
        ),
        ("GET /streams p99 < 100 ms", f"{list_p99:.1f} ms", list_p99 < 100),
        ("GET /streams/{id}/metrics p99 < 100 ms", f"{metrics_p99:.1f} ms", metrics_p99 < 100),
    ]
    print("targets:")
    for target, value, ok in targets:
        print(f"  {target:<40} {value:>14}  {verdict(ok)}")
    print(
        f"  (for reference: {n} busy streams use {busy_cores:.2f} cores, "
        f"{busy_cores / max(running, 1) * 1000:.1f} millicores each)"
    )


if __name__ == "__main__":
    main()
