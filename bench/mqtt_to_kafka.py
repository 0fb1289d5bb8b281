"""MQTT -> mapping -> Kafka: sustained throughput and end-to-end latency through `streamforge run`.

Starts Mosquitto and Tansu on free loopback ports, then, in one run:

* baseline: a publisher (QoS 1, its own process) -> Mosquitto -> a paho subscriber
  (QoS 1, its own process), without StreamForge: what a Python MQTT client can carry.
* StreamForge: the same publisher -> Mosquitto -> `streamforge run bench/streams/
  mqtt_to_kafka.yaml` (a subprocess) -> Tansu -> a confluent-kafka consumer (its own process).

The publisher (`_mqtt_publisher.py`) writes QoS 1 PUBLISH packets over a plain socket and
counts a message as sent once the broker acknowledged it; it offers well over 100k msg/s, so
the load generator is not what limits the "max" phase on a small machine.

Each phase publishes JSON readings carrying their send time (`time.time_ns()`) for `--seconds`,
at a fixed rate (open loop: 1k, 5k and 20k msg/s) or as fast as the system under test delivers
("max": closed loop, at most `--lead` messages sent but not yet received, so the broker holds
a bounded backlog and the publisher does not take the CPU the system under test needs). The
receiving process computes each message's latency (receive time - send time). Printed per
phase: messages sent / received / missing / duplicated, the publisher's rate, the sustained
throughput (unique messages received / time from first send to last receive), p50/p99/max
latency and each process's CPU use; then the issue's targets (>= 20k msg/s sustained, p99 < 50 ms
at 5k msg/s) and StreamForge's ratio to the baseline at max.

    python bench/mqtt_to_kafka.py [--seconds 5] [--rates 1000,5000,20000,max] [--lead 20000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _mqtt_publisher import publish
from _peers import StreamRun, mosquitto, tansu

CONFIG = Path(__file__).resolve().parent / "streams" / "mqtt_to_kafka.yaml"
#: a phase ends when every sent message arrived, or nothing arrived for this long
IDLE_END = 5.0
TARGET_RATE = 20_000
TARGET_P99_MS = 50.0


# -- receivers (own process) -------------------------------------------------------------------


class Tally:
    """What arrived per phase: ids, latencies, first and last receive times."""

    def __init__(self) -> None:
        self.ids: dict[str, set[int]] = {}
        self.count: dict[str, int] = {}
        self.lat: dict[str, list[int]] = {}
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.last_mono: dict[str, float] = {}
        #: messages received in all phases (shared with the publishers of the max phase)
        self.total = 0

    def add(self, payload: bytes, now_ns: int) -> None:
        doc = json.loads(payload)
        phase = doc["phase"]
        if phase not in self.ids:
            self.ids[phase], self.count[phase], self.lat[phase] = set(), 0, []
            self.first[phase] = now_ns
        self.ids[phase].add(doc["id"])
        self.count[phase] += 1
        self.total += 1
        self.lat[phase].append(now_ns - doc["ts"])
        self.last[phase] = now_ns
        self.last_mono[phase] = time.monotonic()

    def received(self, phase: str) -> int:
        return len(self.ids.get(phase, ()))

    def summary(self, phase: str, sent: int) -> dict[str, Any]:
        ids = self.ids.get(phase, set())
        lat = sorted(self.lat.get(phase, []))

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6 if lat else float("nan")

        return {
            "received": len(ids),
            "duplicates": self.count.get(phase, 0) - len(ids),
            "missing": max(sent - len(ids), 0),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": lat[-1] / 1e6 if lat else float("nan"),
            "first_ns": self.first.get(phase, 0),
            "last_ns": self.last.get(phase, 0),
        }


def _serve(poll: Any, tally: Tally, control: Any, results: Any, received: Any) -> None:
    """Receive until told to stop; report a phase once all its messages arrived (or idle)."""
    waiting: dict[str, tuple[int, float]] = {}
    while True:
        poll()
        received.value = tally.total
        try:
            cmd = control.get_nowait()
        except queue.Empty:
            cmd = None
        if cmd == "stop":
            return
        if cmd is not None:
            phase, sent = cmd
            waiting[phase] = (sent, time.monotonic())
        for phase, (sent, since) in list(waiting.items()):
            got = tally.received(phase)
            idle_since = max(since, tally.last_mono.get(phase, 0.0))
            if got >= sent or time.monotonic() - idle_since > IDLE_END:
                results.put((phase, tally.summary(phase, sent)))
                del waiting[phase]


def receive_mqtt(
    port: int, topic: str, control: Any, results: Any, ready: Any, received: Any
) -> None:
    """Baseline receiver: a paho subscriber with QoS 1."""
    import paho.mqtt.client as paho

    tally = Tally()
    inbox: queue.SimpleQueue[tuple[bytes, int]] = queue.SimpleQueue()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        inbox.put((msg.payload, time.time_ns()))

    def on_subscribe(*_: Any) -> None:
        ready.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-sub")
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()

    def poll() -> None:
        try:
            payload, now = inbox.get(timeout=0.05)
        except queue.Empty:
            return
        tally.add(payload, now)
        while True:
            try:
                payload, now = inbox.get_nowait()
            except queue.Empty:
                return
            tally.add(payload, now)

    try:
        _serve(poll, tally, control, results, received)
    finally:
        client.disconnect()
        client.loop_stop()


def receive_kafka(
    address: str, topic: str, control: Any, results: Any, ready: Any, received: Any
) -> None:
    """StreamForge's receiver: a confluent-kafka consumer of the output topic."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    tally = Tally()
    consumer = Consumer(
        {
            "bootstrap.servers": address,
            "group.id": "bench-reader",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    ready.set()

    def poll() -> None:
        # consume() waits out its timeout unless the whole batch is there: wait for one
        # message with poll(), then take what is already fetched without waiting
        first = consumer.poll(0.05)
        if first is None:
            return
        now = time.time_ns()
        msgs = [first, *consumer.consume(1000, timeout=0)]
        for m in msgs:
            if m.error() is None:
                tally.add(m.value(), now)

    try:
        _serve(poll, tally, control, results, received)
    finally:
        consumer.close()


# -- phases ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phases(
    ctx: Any,
    port: int,
    topic: str,
    phases: list[tuple[str, float | None]],
    args: argparse.Namespace,
    control: Any,
    results: Any,
    received: Any,
    pids: dict[str, int],
    seconds: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Publish each phase, then collect what its receiver saw (and who used the CPU).

    `received` counts what the receiver got so far: the max phase keeps its publishers at
    most `--lead` messages ahead of it.
    """
    out: dict[str, dict[str, Any]] = {}
    seconds = args.seconds if seconds is None else seconds
    for name, rate in phases:
        count = 1 if rate else args.publishers
        pub_out = ctx.Queue()
        procs = [
            ctx.Process(
                target=publish,
                args=(
                    port,
                    topic,
                    name,
                    rate,
                    seconds,
                    args.publisher_inflight,
                    j * 1_000_000_000,
                    pub_out,
                    None if rate else received,
                    args.lead,
                    count,
                ),
            )  # fmt: skip
            for j in range(count)
        ]
        cpu0 = {k: cpu_seconds(pid) for k, pid in pids.items()}
        wall0 = time.monotonic()
        for proc in procs:
            proc.start()
        pubs = [pub_out.get(timeout=seconds + 60) for _ in procs]
        for proc in procs:
            proc.join()
        sent = sum(p["acked"] for p in pubs)
        if sent != sum(p["sent"] for p in pubs):
            print(f"{name}: the broker did not acknowledge every message in 30 s")
        control.put((name, sent))
        phase, summary = results.get(timeout=600)
        wall = time.monotonic() - wall0
        assert phase == name
        first_ns = min(p["first_ns"] for p in pubs)
        span = (summary["last_ns"] - first_ns) / 1e9
        summary.update(
            sent=sent,
            publishers=count,
            throughput=summary["received"] / span if span > 0 else 0.0,
            publish_rate=sent / max(p["seconds"] for p in pubs),
            cpu={k: (cpu_seconds(pid) - cpu0[k]) / wall for k, pid in pids.items()},
        )
        summary["cpu"]["publisher"] = sum(p["cpu"] for p in pubs) / wall
        out[name] = summary
    return out


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(title)
    print(
        f"  {'phase':>5} {'sent':>8} {'received':>8} {'missing':>7} {'dups':>5} "
        f"{'publish/s':>10} {'sustained/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  "
        "CPU (cores)"
    )
    for name, r in rows.items():
        cpu = " ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
        print(
            f"  {name:>5} {r['sent']:>8} {r['received']:>8} {r['missing']:>7} "
            f"{r['duplicates']:>5} {r['publish_rate']:>10,.0f} {r['throughput']:>11,.0f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}  {cpu}"
        )


def parse_rates(text: str) -> list[tuple[str, float | None]]:
    phases: list[tuple[str, float | None]] = []
    for item in text.split(","):
        item = item.strip().lower()
        if item == "max":
            phases.append(("max", None))
        elif item:
            rate = float(item)
            phases.append((f"{rate / 1000:g}k" if rate >= 1000 else f"{rate:g}", rate))
    return phases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=5.0, help="publishing time per phase")
    parser.add_argument("--rates", default="1000,5000,20000,max", help="msg/s per phase, or max")
    parser.add_argument(
        "--broker-inflight",
        type=int,
        default=1000,
        help="Mosquitto max_inflight_messages (QoS 1 messages unacknowledged per subscriber)",
    )
    parser.add_argument(
        "--publisher-inflight", type=int, default=1000, help="the publisher's QoS 1 window"
    )
    parser.add_argument(
        "--publishers", type=int, default=1, help="publisher processes in the max phase"
    )
    parser.add_argument(
        "--lead",
        type=int,
        default=20_000,
        help="max phase: most messages sent but not yet received (0: no limit)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="only run StreamForge")
    args = parser.parse_args(argv)
    phases = parse_rates(args.rates)
    ctx = mp.get_context("spawn")

    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        work = Path(tmp)
        with mosquitto(work / "mosquitto", args.broker_inflight) as mq, tansu(work) as kafka:
            assert mq.proc is not None and kafka.proc is not None
            brokers = {"mosquitto": mq.proc.pid, "tansu": kafka.proc.pid}
            baseline: dict[str, dict[str, Any]] = {}
            if not args.skip_baseline:
                control, results, ready = ctx.Queue(), ctx.Queue(), ctx.Event()
                received = ctx.RawValue("q", 0)
                recv = ctx.Process(
                    target=receive_mqtt,
                    args=(mq.port, "base/#", control, results, ready, received),
                )
                recv.start()
                if not ready.wait(15):
                    raise RuntimeError("baseline subscriber did not subscribe")
                pids = {"mosquitto": mq.proc.pid, "subscriber": int(recv.pid or 0)}
                baseline = run_phases(
                    ctx, mq.port, "base/readings", phases, args, control, results, received, pids
                )
                control.put("stop")
                recv.join(10)

            topic = kafka.create_topic("readings")
            env = {"MQTT_URL": mq.url, "KAFKA_ADDRESS": kafka.address, "KAFKA_TOPIC": topic}
            run = StreamRun(CONFIG, env, work / "streamforge.log")
            control, results, ready = ctx.Queue(), ctx.Queue(), ctx.Event()
            received = ctx.RawValue("q", 0)
            recv = ctx.Process(
                target=receive_kafka,
                args=(kafka.address, topic, control, results, ready, received),
            )
            try:
                run.wait_ready()
                recv.start()
                ready.wait(15)
                pids = {**brokers, "streamforge": run.proc.pid, "consumer": int(recv.pid or 0)}
                warm = run_phases(
                    ctx, mq.port, "sf/readings", [("warm", 500.0)], args, control, results,
                    received, pids, seconds=1.0,
                )  # fmt: skip
                if warm["warm"]["received"] == 0:
                    raise RuntimeError(f"nothing came through StreamForge:\n{run.log_tail()}")
                sf = run_phases(
                    ctx, mq.port, "sf/readings", phases, args, control, results, received, pids
                )
            finally:
                control.put("stop")
                recv.join(10)
                if recv.is_alive():
                    recv.kill()
                code = run.stop()
            if code != 0:
                print(f"streamforge exited with {code}:\n{run.log_tail()}")

    print(
        f"seconds per phase: {args.seconds:g}  broker max_inflight_messages: "
        f"{args.broker_inflight}  publisher inflight: {args.publisher_inflight}  "
        f"publishers at max: {args.publishers}  lead at max: {args.lead}  "
        f"config: {CONFIG.relative_to(CONFIG.parent.parent.parent)}"
    )
    if baseline:
        print_table(
            "baseline: publisher -> Mosquitto -> paho subscriber (no StreamForge)", baseline
        )
    print_table("streamforge: publisher -> Mosquitto -> StreamForge -> Tansu -> consumer", sf)
    best = max(r["throughput"] for r in sf.values())
    print(
        f"target sustained >= {TARGET_RATE:,} msg/s: best {best:,.0f} msg/s -> "
        f"{'met' if best >= TARGET_RATE else 'NOT met'}"
    )
    five = next((r for n, r in sf.items() if n == "5k"), None)
    if five is not None:
        print(
            f"target p99 < {TARGET_P99_MS:g} ms at 5k msg/s: p99 {five['p99_ms']:.1f} ms -> "
            f"{'met' if five['p99_ms'] < TARGET_P99_MS else 'NOT met'}"
        )
    if "max" in sf and "max" in baseline and baseline["max"]["throughput"]:
        ratio = sf["max"]["throughput"] / baseline["max"]["throughput"]
        print(
            f"ratio streamforge / baseline at max: {ratio:.2f}  "
            f"(baseline {baseline['max']['throughput']:,.0f} msg/s)"
        )


if __name__ == "__main__":
    main()
