"""Core byte path: JSON lines from a file through a three-assignment mapping into a file.

Runs over the same input file of N JSON readings, in one process:

* StreamForge: `file` (lines) -> `mapping` -> `file` (lines), loaded from YAML, compiled by
  `streamforge.engine.dataflow` and run by Bytewax (one worker). Startup is excluded: the
  same stream over a one-line file is timed too (best of its runs) and subtracted.
* plain loop: read the lines, `orjson.loads` each, build the new dict by hand, `orjson.dumps`
  it with sorted keys (StreamForge writes keys sorted, as Benthos does), write the lines.

The process makes the allocator and garbage-collector settings `streamforge run` makes
(`streamforge.runtime.memory`); the loop runs under them too.

Both outputs are compared byte for byte, so both did the same work. StreamForge writes a
whole-number float as Go does (`1`, not `1.0`); the loop converts its one computed float the
same way, as a hand-written program producing Benthos-compatible output would have to.

Prints both throughputs and StreamForge / plain loop (goal >= 0.5).

    python bench/core_bytes.py [--count 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson
from bytewax.testing import run_main

from streamforge.config.loader import load_stream
from streamforge.engine.dataflow import compile_streams
from streamforge.plugin import load_builtins
from streamforge.runtime.memory import keep_freed_heap, tune_garbage_collector

MAPPING = "root.id = this.id\nroot.value = this.raw * 0.1\nroot.site = this.site.uppercase()"

STREAM = """\
input:
  file:
    paths: [ {src} ]
    codec: lines
pipeline:
  processors:
    - mapping: |
        root.id = this.id
        root.value = this.raw * 0.1
        root.site = this.site.uppercase()
output:
  file:
    path: {dst}
    codec: lines
"""

SITES = ["plant-a", "plant-b", "north-yard", "harbour", "mill-7"]
UNITS = ["degC", "bar", "rpm", "kW"]


def write_input(path: Path, count: int) -> int:
    """N realistic six-field readings, one JSON document per line; returns the file size."""
    with path.open("wb") as fh:
        chunk: list[bytes] = []
        for i in range(count):
            reading = {
                "id": i,
                "raw": (i % 5000) * 0.25 + 0.5,
                "seq": i * 7 % 100_003,
                "site": SITES[i % len(SITES)],
                "unit": UNITS[i % len(UNITS)],
                "tags": {"line": f"L{i % 12}", "shift": i % 3, "ok": i % 17 != 0},
            }
            chunk.append(orjson.dumps(reading))
            if len(chunk) == 10_000:
                fh.write(b"\n".join(chunk) + b"\n")
                chunk.clear()
        if chunk:
            fh.write(b"\n".join(chunk) + b"\n")
    return path.stat().st_size


def run_streamforge(config: Path, dst: Path) -> float:
    """Seconds to load, compile and run the stream (a fresh output file each time)."""
    dst.unlink(missing_ok=True)
    start = time.perf_counter()
    compiled = compile_streams([load_stream(config)])
    try:
        run_main(compiled.flow)
    finally:
        compiled.close()
    return time.perf_counter() - start


def run_plain_loop(src: Path, dst: Path) -> float:
    """Seconds for the same work by hand, one line at a time (a buffered write per line)."""
    dst.unlink(missing_ok=True)
    start = time.perf_counter()
    loads, dumps = orjson.loads, orjson.dumps
    options = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    with src.open("rb") as inp, dst.open("wb") as out:
        write = out.write
        for line in inp:
            doc = loads(line)
            value = doc["raw"] * 0.1
            if value.is_integer():
                value = int(value)  # Go writes a whole-number float64 without ".0"
            write(
                dumps(
                    {"id": doc["id"], "value": value, "site": doc["site"].upper()}, option=options
                )
            )
    return time.perf_counter() - start


def compare(a: Path, b: Path) -> str:
    """'identical', or where the two outputs first differ."""
    left, right = a.read_bytes(), b.read_bytes()
    if left == right:
        return f"identical ({len(left):,} bytes)"
    lines_a, lines_b = left.split(b"\n"), right.split(b"\n")
    differ = [i for i, (x, y) in enumerate(zip(lines_a, lines_b)) if x != y]
    first = differ[0] if differ else min(len(lines_a), len(lines_b))
    ours, theirs = lines_a[first : first + 1], lines_b[first : first + 1]
    return (
        f"DIFFERENT: {len(lines_a)} vs {len(lines_b)} lines, {len(differ)} lines differ; "
        f"first at line {first + 1}: {ours!r} vs {theirs!r}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=1_000_000, help="lines in the input file")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best wins")
    args = parser.parse_args(argv)

    load_builtins()
    keep_freed_heap()  # the process settings `streamforge run` makes; the loop has them too
    tune_garbage_collector()
    with tempfile.TemporaryDirectory(prefix="sf-core-bytes-") as tmp:
        work = Path(tmp)
        src, tiny = work / "in.jsonl", work / "tiny.jsonl"
        size = write_input(src, args.count)
        write_input(tiny, 1)
        sf_out, tiny_out, loop_out = work / "sf.jsonl", work / "tiny_out.jsonl", work / "loop.jsonl"
        config, tiny_config = work / "stream.yaml", work / "tiny.yaml"
        config.write_text(STREAM.format(src=src, dst=sf_out))
        tiny_config.write_text(STREAM.format(src=tiny, dst=tiny_out))

        startup = min(run_streamforge(tiny_config, tiny_out) for _ in range(max(3, args.repeat)))
        sf_total, loop = float("inf"), float("inf")
        for _ in range(args.repeat):  # alternating, so both see the same machine
            sf_total = min(sf_total, run_streamforge(config, sf_out))
            loop = min(loop, run_plain_loop(src, loop_out))
        sf = sf_total - startup
        verdict = compare(sf_out, loop_out)

    sf_rate, loop_rate = args.count / sf, args.count / loop
    print(f"messages: {args.count:,}  input: {size / 1e6:.1f} MB  best of {args.repeat}")
    print(
        f"  streamforge: {sf_rate:12,.0f} msg/s  ({sf_total:.3f} s run - {startup:.3f} s startup)"
    )
    print(f"   plain_loop: {loop_rate:12,.0f} msg/s  ({loop:.3f} s)")
    print(f"outputs: {verdict}")
    print(f"ratio streamforge / plain_loop: {sf_rate / loop_rate:.2f}  (goal >= 0.5)")


if __name__ == "__main__":
    main()
