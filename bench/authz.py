"""Authorization: what deciding a request costs, in-process and through `streamforge serve`.

Goal: the authorization decision adds < 1 ms to a request. In one run:

* in-process: `Authorizer.decide` (the compiled `policies/authz.rego` bundle) for an admin, a
  viewer, an engineer scoped to `line-2.*` and a custom role, per call in µs (median and p99):
  uncached (every call asks about a stream never asked about before) and cached (the same
  question again), and the viewer's uncached once more with 3 ms between calls, as between
  requests. Baseline: the same decision by the interpreted `RegoEngine`, which compiles the
  modules per query (what the bundle replaced);
* end to end: `streamforge serve` (a subprocess on a free loopback port, temp home) with two
  idle streams, `line-2.press` and `line-3.oven`; the same keep-alive GETs by the admin token,
  a viewer's API key and the scoped engineer's API key, taking turns, p50/p99 in ms:
  - `GET /wot/binding/streams/line-2.press` and `GET /wot/binding/streams` (the list checks
    each stream), against `GET /health/live` (public: no token, no decision) as baseline;
    the difference is everything a secured request adds (token, decision, the handler's work);
  - `GET /wot/binding/streams/line-2.missing-<n>` with a new id on every request (the guard's
    decision is a cache miss; the answer is 404 after it), against the same request for one
    id (a cache hit): the difference is what an uncached decision adds to a request.

    python bench/authz.py [--calls 2000] [--cached-calls 50000] [--requests 800]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _peers  # noqa: F401  (puts the integration tests' peers on sys.path)
import httpx
from argon2 import PasswordHasher
from peers.manager import TOKEN, ManagerRun

from streamforge.license.policy import RegoEngine
from streamforge.manager.authz import Authorizer, Resource, Subject, builtin_authz_policy
from streamforge.manager.db import open_database, sqlite_url
from streamforge.manager.identities import Identities

GOAL_MS = 1.0
#: the pause between spaced decisions
GAP_S = 0.003
PREFIX = "/wot/binding"
CUSTOM_ROLE = "alarm-desk"
CUSTOM_PERMISSIONS = ["alarms:*", "streams:read", "dlq:read"]
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

SUBJECTS = {
    "admin": Subject("admin", ("admin",)),
    "viewer": Subject("viewer-1", ("viewer",)),
    "engineer, scoped line-2.*": Subject("line2-engineer", ("engineer",), ("line-2.*",)),
    f"custom role {CUSTOM_ROLE}": Subject("desk-1", (CUSTOM_ROLE,)),
}

IDLE = """
input:
  generate:
    interval: 1h
    mapping: 'root = {"n": counter()}'
output:
  drop: {}
"""


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- in-process -----------------------------------------------------------------------------------


def timed_us(call: Callable[[], object], times: int) -> list[float]:
    """µs per call of `call`, `times` calls, each timed on its own."""
    out = []
    clock = time.perf_counter_ns
    for _ in range(times):
        start = clock()
        call()
        out.append((clock() - start) / 1000)
    return out


def spaced_uncached(
    authorizer: Authorizer, subject: Subject, calls: int, serial: Iterator[int]
) -> list[float]:
    """µs per uncached decision when the calls are `GAP_S` apart, not back to back."""
    out = []
    for _ in range(calls):
        time.sleep(GAP_S)
        resource = Resource("stream", f"line-2.s{next(serial)}", ("north",))
        start = time.perf_counter_ns()
        authorizer.decide(subject, "streams:read", resource)
        out.append((time.perf_counter_ns() - start) / 1000)
    return out


def in_process(calls: int, cached_calls: int, interpreted_calls: int) -> float:
    """Print decide() per call; return the worst uncached median in µs."""
    authorizer = Authorizer(custom_roles=lambda: {CUSTOM_ROLE: CUSTOM_PERMISSIONS})
    print("\nin-process: Authorizer.decide(subject, 'streams:read', stream), µs per decision")
    print(f"  uncached: {calls:,} calls, each about a stream never asked about; cached: "
          f"{cached_calls:,} calls about one stream")  # fmt: skip
    print(f"  {'subject':<30} {'uncached p50':>12} {'p99':>8} {'cached p50':>11} {'p99':>7}  "
          f"{'uncached/cached':>15}")  # fmt: skip
    worst = 0.0
    serial = iter(range(10**9))
    try:
        for label, subject in SUBJECTS.items():

            def fresh(subject: Subject = subject) -> object:
                resource = Resource("stream", f"line-2.s{next(serial)}", ("north",))
                decision = authorizer.decide(subject, "streams:read", resource)
                assert decision.allow, (subject, decision)
                return decision

            same = Resource("stream", "line-2.press", ("north",))
            assert authorizer.decide(subject, "streams:read", same).allow
            fresh()  # the first query warms the bundle
            uncached = timed_us(fresh, calls)

            def again(subject: Subject = subject, resource: Resource = same) -> object:
                return authorizer.decide(subject, "streams:read", resource)

            cached = timed_us(again, cached_calls)
            u50, c50 = statistics.median(uncached), statistics.median(cached)
            worst = max(worst, u50)
            print(f"  {label:<30} {u50:>12.1f} {quantile(uncached, 0.99):>8.1f} {c50:>11.2f} "
                  f"{quantile(cached, 0.99):>7.2f}  {u50 / c50:>14.0f}x")  # fmt: skip
        spaced = spaced_uncached(authorizer, SUBJECTS["viewer"], min(calls, 300), serial)
        print(f"  viewer, uncached, one call every {GAP_S * 1000:g} ms (as between requests, "
              f"CPU caches no longer warm): p50 {statistics.median(spaced):.1f} µs, "
              f"p99 {quantile(spaced, 0.99):.1f} µs")  # fmt: skip
        refusal = Resource("stream", "line-3.oven", ())
        scoped = SUBJECTS["engineer, scoped line-2.*"]
        assert not authorizer.decide(scoped, "streams:read", refusal).allow
    finally:
        authorizer.close()

    engine = RegoEngine([builtin_authz_policy()])
    document = {
        "subject": {"name": "viewer-1", "roles": ["viewer"], "scopes": []},
        "action": "streams:read",
        "resource": {"kind": "stream", "id": "line-2.press", "tags": ["north"]},
        "custom_roles": {},
    }
    answer = engine.query("data.streamforge.authz.decision", document)
    assert isinstance(answer, dict) and answer["allow"] is True, answer
    interpreted = timed_us(lambda: engine.query("data.streamforge.authz.decision", document),
                           interpreted_calls)  # fmt: skip
    i50 = statistics.median(interpreted)
    print(f"  baseline, interpreted RegoEngine (viewer, {interpreted_calls} calls): p50 "
          f"{i50:,.0f} µs, p99 {quantile(interpreted, 0.99):,.0f} µs; the compiled bundle "
          f"uncached is {i50 / worst:.1f}x faster (slowest subject)")  # fmt: skip
    return worst


# -- end to end -----------------------------------------------------------------------------------


@dataclass
class Case:
    """One kind of request, sent again and again; `path` may depend on the request's number."""

    name: str
    client: httpx.Client
    path: Callable[[int], str]
    status: int
    baseline: str | None
    samples: list[float]

    def send(self, n: int) -> None:
        start = time.perf_counter()
        reply = self.client.get(self.path(n))
        elapsed = (time.perf_counter() - start) * 1000
        if reply.status_code != self.status:
            raise SystemExit(f"{self.name}: {reply.status_code} {reply.text[:300]}")
        self.samples.append(elapsed)


@contextmanager
def served(work: Path) -> Iterator[tuple[ManagerRun, dict[str, str]]]:
    """A manager with the two streams and the users; their bearer tokens by caller."""
    run = ManagerRun(work / "home").start()
    engine = None
    try:
        for stream_id, tags in (("line-2.press", ["north"]), ("line-3.oven", [])):
            body = {"id": stream_id, "config": IDLE, "tags": tags}
            reply = run.api("POST", "/streams", json=body)
            if reply.status_code != 201:
                raise SystemExit(f"creating {stream_id}: {reply.status_code} {reply.text}")
        for stream_id in ("line-2.press", "line-3.oven"):
            run.wait_status(stream_id, "running", timeout=60)
        engine = open_database(sqlite_url(run.home))
        identities = Identities(engine, hasher=FAST)
        tokens = {"admin token": TOKEN}
        for label, name, roles, scopes in (
            ("viewer's API key", "viewer-1", ["viewer"], []),
            ("scoped engineer's API key", "line2-engineer", ["engineer"], ["line-2.*"]),
        ):
            identities.add_user(name, "bench password 1", roles, scopes)
            _, tokens[label] = identities.create_key(name, "bench", None)
        yield run, tokens
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        run.client.close()
        if engine is not None:
            engine.dispose()


def measure(work: Path, requests: int) -> list[Case]:
    """The cases, each with its latencies in ms, measured against a fresh manager."""
    with served(work) as (run, tokens):
        clients = {
            label: httpx.Client(base_url=run.url, timeout=30,
                                headers={"Authorization": f"Bearer {token}"})
            for label, token in tokens.items()
        }  # fmt: skip
        public = httpx.Client(base_url=run.url, timeout=30)
        cases = [Case("public GET /health/live", public, lambda n: "/health/live", 200, None, [])]
        for label, client in clients.items():
            cases += [
                Case(f"{label}: GET stream", client,
                     lambda n: f"{PREFIX}/streams/line-2.press", 200, cases[0].name, []),
                Case(f"{label}: GET list", client,
                     lambda n: f"{PREFIX}/streams", 200, cases[0].name, []),
            ]  # fmt: skip
        for label, client in clients.items():
            hit = Case(f"{label}: 404, cached", client,
                       lambda n: f"{PREFIX}/streams/line-2.missing", 404, None, [])  # fmt: skip
            miss = Case(f"{label}: 404, uncached", client,
                        lambda n: f"{PREFIX}/streams/line-2.missing-{n}", 404, hit.name,
                        [])  # fmt: skip
            cases += [hit, miss]
        print(f"\nend to end: streamforge serve at {run.url}, keep-alive httpx clients, "
              f"{requests} requests per case, the cases taking turns request by request "
              "(after warm-up)")  # fmt: skip
        serial = 0
        for case in cases:  # warm-up: connections, caches, code paths
            for _ in range(50):
                serial += 1
                case.send(serial)
            case.samples.clear()
        for _ in range(requests):  # one request per case in turn: load changes hit all alike
            for case in cases:
                serial += 1
                case.send(serial)
        for client in (*clients.values(), public):
            client.close()

    return cases


def end_to_end(requests: int) -> list[tuple[str, float, float]]:
    """Print the request latencies; return (caller, Δp50, Δp99) of an uncached decision."""
    with tempfile.TemporaryDirectory(prefix="sf-bench-authz-") as tmp:
        cases = measure(Path(tmp), requests)
    by_name = {c.name: c for c in cases}
    print(f"  {'request':<48} {'status':>6} {'p50 ms':>7} {'p99 ms':>7}  {'Δp50':>7} {'Δp99':>7}"
          f"  baseline")  # fmt: skip
    uncached = []
    for case in cases:
        p50, p99 = statistics.median(case.samples), quantile(case.samples, 0.99)
        line = f"  {case.name:<48} {case.status:>6} {p50:>7.3f} {p99:>7.3f}"
        if case.baseline is not None:
            base = by_name[case.baseline].samples
            d50, d99 = p50 - statistics.median(base), p99 - quantile(base, 0.99)
            line += f"  {d50:>+7.3f} {d99:>+7.3f}  {case.baseline}"
            if case.name.endswith("uncached"):
                uncached.append((case.name.split(":")[0], d50, d99))
        print(line)
    return uncached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="uncached decide() per subject")
    parser.add_argument("--cached-calls", type=int, default=50_000, help="cached decide() each")
    parser.add_argument("--interpreted-calls", type=int, default=30, help="baseline queries")
    parser.add_argument("--requests", type=int, default=800, help="HTTP requests per case")
    args = parser.parse_args()
    print(f"authorization cost, goal: the decision adds < {GOAL_MS:g} ms to a request "
          f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})")  # fmt: skip
    worst_us = in_process(args.calls, args.cached_calls, args.interpreted_calls)
    uncached = end_to_end(args.requests)

    print("\nverdict:")
    print(f"  in-process, slowest subject: an uncached decision {worst_us / 1000:.3f} ms (p50), "
          f"{'under' if worst_us / 1000 < GOAL_MS else 'OVER'} {GOAL_MS:g} ms; a cached one "
          f"is a dictionary look-up")  # fmt: skip
    for caller, d50, d99 in uncached:
        at50 = "met" if d50 < GOAL_MS else "NOT met"
        at99 = "met" if d99 < GOAL_MS else "NOT met"
        print(f"  {caller}: an uncached decision adds {d50:+.3f} ms at p50 ({at50}), "
              f"{d99:+.3f} ms at p99 ({at99}) to the request")  # fmt: skip
    print("  a decision is uncached only the first time a subject asks for an action on a "
          "resource;\n  after that (and for every repeated GET above) it costs the cached "
          "look-up measured in-process")  # fmt: skip


if __name__ == "__main__":
    main()
