"""Benchmark: a six-statement Bloblang mapping vs a hand-written Python function.

Both run single-threaded over the same pre-parsed Message objects in the same process; the
mapping runs through `Executor.apply_message` (the `mapping` processor's path). Prints both
throughputs and their ratio (target: >= 0.5).

    python bench/bloblang_mapping.py [--count N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from streamforge.bloblang import parse
from streamforge.message import Message

MAPPING = """
root.id = this.id
root.name = this.name
root.total = this.price * this.qty
root.label = this.label.uppercase()
root.kind = match this.type { "a" => "alpha", "b" => "beta", _ => "other" }
root.source = @source
"""


def hand_written(msg: Message) -> Message:
    """The same six statements written directly in Python."""
    v = msg.value
    t = v.get("type")
    out = {
        "id": v.get("id"),
        "name": v.get("name"),
        "total": v["price"] * v["qty"],
        "label": v["label"].upper(),
        "kind": "alpha" if t == "a" else "beta" if t == "b" else "other",
        "source": msg.metadata.get("source"),
    }
    return Message(metadata=dict(msg.metadata), value=out)


def make_messages(n: int) -> list[Message]:
    types = ["a", "b", "c"]
    return [
        Message.from_value(
            {
                "id": i,
                "name": f"sensor-{i}",
                "price": 1.5 + i % 7,
                "qty": i % 13,
                "label": f"line {i % 5}",
                "type": types[i % 3],
                "extra": {"x": i},
            },
            {"source": f"plc-{i % 4}", "kafka_key": str(i)},
        )  # fmt: skip
        for i in range(n)
    ]


def run(fn: Callable[[Message], Message | None], pool: list[Message], count: int) -> float:
    size = len(pool)
    rounds, rest = divmod(count, size)
    start = time.perf_counter()
    for _ in range(rounds):
        for msg in pool:
            fn(msg)
    for msg in pool[:rest]:
        fn(msg)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="messages per run")
    args = parser.parse_args()

    exe = parse(MAPPING)
    pool = make_messages(1000)
    for msg in pool[:3]:
        got = exe.apply_message(msg)
        assert got is not None and got.value == hand_written(msg).value, (got, msg)

    apply = exe.apply_message
    run(apply, pool, min(args.count, 20_000))  # warm-up
    run(hand_written, pool, min(args.count, 20_000))
    blobl = run(apply, pool, args.count)
    hand = run(hand_written, pool, args.count)
    print(f"messages:         {args.count}")
    print(f"bloblang mapping: {blobl:,.0f} msg/s")
    print(f"hand-written:     {hand:,.0f} msg/s")
    print(f"ratio:            {blobl / hand:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
