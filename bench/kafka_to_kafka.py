"""Kafka -> mapping -> Kafka: StreamForge against Quix Streams on the same broker, same run.

Starts Tansu on a free loopback port, pre-fills an input topic with `--count` JSON documents
`{id, x, y, s}`, then runs each contender in its own process, one after the other, doing the
same transform (the three assignments of bench/core_throughput.py: a = x, b = y * 2,
c = upper(s)) from the input topic to an output topic of its own:

* StreamForge: `streamforge run bench/streams/kafka_to_kafka.yaml` (a subprocess).
* Quix Streams: an Application with `dataframe.apply(...)` and `to_topic(...)` (a process).

A consumer in this process counts each output topic's records. Printed per contender: the
throughput from its first output record to the `--count`-th (steady), the throughput from
process start to the `--count`-th record (wall, start-up included), and StreamForge's ratio
to Quix Streams' for both (the goal is >= 1.0).

    python bench/kafka_to_kafka.py [--count 200000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import StreamRun, Tansu, tansu

CONFIG = Path(__file__).resolve().parent / "streams" / "kafka_to_kafka.yaml"
WORDS = ["pump", "valve", "motor", "sensor", "boiler", "fan", "press", "drum"]
#: give up on a contender that produced nothing new for this long
STALL = 30.0


def prefill(broker: Tansu, topic: str, count: int) -> None:
    """Produce `count` documents in large batches (Tansu fetches about one batch at a time)."""
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": broker.address, "linger.ms": 50, "batch.num.messages": 10000}
    )
    for i in range(count):
        doc = {"id": i, "x": i * 0.5, "y": i % 1000, "s": WORDS[i % 8]}
        value = json.dumps(doc, separators=(",", ":"))
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60):
        raise RuntimeError("pre-filling the input topic did not finish")


def run_quix(address: str, source: str, sink: str, group: str) -> None:
    """The Quix Streams contender: the same three assignments with `apply`."""
    from quixstreams import Application

    app = Application(
        broker_address=address,
        consumer_group=group,
        auto_offset_reset="earliest",
        auto_create_topics=False,
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    src = app.topic(source, value_deserializer="json")
    dst = app.topic(sink, value_serializer="json")
    sdf = app.dataframe(src)
    sdf = sdf.apply(lambda d: {"a": d["x"], "b": d["y"] * 2, "c": d["s"].upper()})
    sdf.to_topic(dst)
    app.run()


def count_output(
    broker: Tansu, topic: str, count: int, alive: Callable[[], bool]
) -> tuple[float, float]:
    """Consume `topic` until `count` records arrived; (first arrival, count-th arrival) times."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": broker.address,
            "group.id": f"counter-{topic}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = 0
    first = last = 0.0
    progress = time.monotonic()
    try:
        while got < count:
            msg = consumer.poll(0.1)
            if msg is None:
                if time.monotonic() - progress > STALL or not alive():
                    raise RuntimeError(f"{topic}: stalled at {got} of {count} records")
                continue
            batch = [msg, *consumer.consume(10_000, timeout=0)]
            now = time.monotonic()
            n = sum(1 for m in batch if m.error() is None)
            if n and not got:
                first = now
            got += n
            last = now
            progress = now
    finally:
        consumer.close()
    return first, last


def measure_streamforge(
    broker: Tansu, source: str, count: int, work: Path, n: int
) -> tuple[float, float]:
    sink = broker.create_topic(f"out-streamforge-{n}")
    env = {
        "KAFKA_ADDRESS": broker.address,
        "INPUT_TOPIC": source,
        "OUTPUT_TOPIC": sink,
        "CONSUMER_GROUP": f"streamforge-bench-{n}",
    }
    start = time.monotonic()
    run = StreamRun(CONFIG, env, work / f"streamforge-{n}.log")
    try:
        first, last = count_output(broker, sink, count, lambda: run.proc.poll() is None)
    except RuntimeError as exc:
        raise RuntimeError(f"streamforge: {exc}\n{run.log_tail()}") from None
    finally:
        run.stop()
    return (count - 1) / (last - first), count / (last - start)


def measure_quix(broker: Tansu, source: str, count: int, n: int) -> tuple[float, float]:
    sink = broker.create_topic(f"out-quix-{n}")
    ctx = mp.get_context("spawn")
    start = time.monotonic()
    proc = ctx.Process(target=run_quix, args=(broker.address, source, sink, f"quix-bench-{n}"))
    proc.start()
    try:
        first, last = count_output(broker, sink, count, proc.is_alive)
    except RuntimeError as exc:
        raise RuntimeError(f"quixstreams: {exc} (exit code {proc.exitcode})") from None
    finally:
        proc.terminate()
        proc.join(20)
        if proc.is_alive():
            proc.kill()
    return (count - 1) / (last - first), count / (last - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=200_000, help="messages in the input topic")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best wins")
    args = parser.parse_args(argv)

    results: dict[str, list[tuple[float, float]]] = {"streamforge": [], "quixstreams": []}
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp, tansu(Path(tmp)) as broker:
        source = broker.create_topic("readings")
        prefill(broker, source, args.count)
        for n in range(args.repeat):
            results["streamforge"].append(
                measure_streamforge(broker, source, args.count, Path(tmp), n)
            )
            results["quixstreams"].append(measure_quix(broker, source, args.count, n))

    best = {
        name: (max(r[0] for r in runs), max(r[1] for r in runs)) for name, runs in results.items()
    }
    print(
        f"messages: {args.count}  runs per contender: {args.repeat}  config: bench/streams/"
        f"{CONFIG.name}"
    )
    print(f"{'':>12} {'steady msg/s':>13} {'wall msg/s':>11}")
    for name, (steady, wall) in best.items():
        print(f"{name:>12} {steady:>13,.0f} {wall:>11,.0f}")
    sf, qx = best["streamforge"], best["quixstreams"]
    print(
        f"ratio streamforge / quixstreams: steady {sf[0] / qx[0]:.2f}, wall {sf[1] / qx[1]:.2f}"
        "  (goal >= 1.0)"
    )


if __name__ == "__main__":
    main()
