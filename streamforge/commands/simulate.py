"""`streamforge simulate modbus|opcua`: a plant simulator for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

from streamforge.durations import DurationError, parse_duration

__all__ = ["add_parser", "main"]


def _interval(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return seconds


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _common(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=port, help=f"TCP port ({port}; 0 picks a free one)"
    )
    parser.add_argument(
        "--interval", type=_interval, default=0.1, help="how often values change (100ms)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible plant")
    parser.add_argument(
        "--td-out",
        metavar="FILE",
        default=None,
        help=(
            "once listening, write a W3C WoT Thing Description (JSON) of the plant to FILE; "
            "its hrefs name --host, or 127.0.0.1 when --host is 0.0.0.0"
        ),
    )


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `simulate` subcommand and its `modbus` and `opcua` kinds."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="run a Modbus TCP or OPC UA plant simulator",
        description=(
            "Serve a small simulated plant (boiler temperatures and pressures that drift, a pump "
            "that starts, stops and sometimes trips, a valve that opens and closes) until "
            "SIGINT or SIGTERM. See docs/industrial.md."
        ),
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    modbus = kinds.add_parser(
        "modbus",
        help="Modbus TCP server, one slave per process line",
        description="Modbus TCP server; slave IDs 1..N each hold the plant's register map.",
    )
    _common(modbus, 5020)
    modbus.add_argument(
        "--devices", type=_positive, default=3, help="slaves (process lines), IDs 1..N (3)"
    )
    modbus.add_argument(
        "--tags-per-device",
        type=_positive,
        default=None,
        metavar="N",
        help="instead of the plant: N FLOAT32 holding registers per slave (benchmarks)",
    )
    opcua = kinds.add_parser(
        "opcua",
        help="OPC UA server with the Plant/Line1 folder tree",
        description="OPC UA server (security None) at opc.tcp://HOST:PORT/streamforge/plant.",
    )
    _common(opcua, 4840)
    opcua.add_argument(
        "--nodes",
        type=_positive,
        default=None,
        metavar="N",
        help="instead of the plant: N Double variables in the Bench folder (benchmarks)",
    )
    return parser


def _build(args: argparse.Namespace) -> Any:
    """The simulator `args` ask for (not started yet)."""
    if args.kind == "modbus":
        from streamforge.simulators.modbus import ModbusSimulator

        return ModbusSimulator(
            host=args.host,
            port=args.port,
            devices=args.devices,
            tags_per_device=args.tags_per_device,
            interval=args.interval,
            seed=args.seed,
        )
    from streamforge.simulators.opcua import OpcuaSimulator

    return OpcuaSimulator(
        host=args.host, port=args.port, nodes=args.nodes, interval=args.interval, seed=args.seed
    )


def _describe(sim: Any) -> list[str]:
    if sim.kind == "modbus simulator":
        head = f"modbus simulator: {sim.devices} devices on {sim.url} (slave IDs 1..{sim.devices})"
        rows = [
            f"  {t.register:<8} {t.address:>5}  {t.type:<7} {t.name}"
            + (f" [{t.unit}]" if t.unit else "")
            for t in sim.tags()[:20]
        ]
        more = len(sim.tags()) - len(rows)
        return [head, *rows] + ([f"  ... {more} more"] if more > 0 else [])
    head = f"opcua simulator: {len(sim.tree())} nodes at {sim.url} (browse {sim.root_nodeid})"
    rows = [f"  {n.nodeid:<40} {n.datatype}" for n in sim.tree()[:20]]
    more = len(sim.tree()) - len(rows)
    return [head, *rows] + ([f"  ... {more} more"] if more > 0 else [])


def main(args: argparse.Namespace) -> int:
    """Start the simulator, print where it listens, serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the servers log every refused request with a frame dump; the simulator stays quiet
    for noisy in ("pymodbus", "asyncua"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    stop = threading.Event()

    def _handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim = None
    try:
        sim = _build(args)
        sim.start()
        lines = _describe(sim)
        if args.td_out is not None:
            from streamforge.simulators.descriptions import write_td

            write_td(sim.thing_description(), args.td_out)
            lines.append(f"thing description written to {args.td_out}")
        print("\n".join(lines), flush=True)
        while not stop.wait(0.5):
            if not sim.running:
                print("streamforge simulate: the server stopped unexpectedly", file=sys.stderr)
                return 1
    except (ValueError, RuntimeError, TimeoutError, OSError) as exc:
        print(f"streamforge simulate: {exc}", file=sys.stderr)
        return 1
    finally:
        if sim is not None:
            sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
