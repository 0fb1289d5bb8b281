"""License check: what `license_check` costs a running stream, and what the licence costs `lint`.

In one process, with a real licence in effect (an Ed25519-signed token granting every feature
the scenarios use, verified and evaluated by the built-in Rego policies):

* throughput: prebuilt messages `{id, x, y, s}` from a generate-like input -> `license_check`
  (feature granted) -> a three-assignment `mapping` -> `drop`, compiled by
  `streamforge.engine.dataflow` and run by Bytewax (one worker), against the same stream without
  `license_check`. The two alternate for `--rounds` rounds; the best round of each is compared
  (target: ratio >= 0.95).
* lint: a generated stream of 50 components (kafka input with TLS and SASL, licensed and base
  processors, a switch output to MQTT with a user and HTTP), linted as `streamforge lint` does
  it: validation plus the licence gate, which loads and verifies the licence, loads the
  policies and asks them about every component (target: < 1 s). Beside it, validation alone
  (the licence evaluation skipped), and `streamforge lint` as a new process, interpreter start
  and imports included.

    python bench/license_check.py [--count 200000] [--rounds 5] [--lint-rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from _prebuilt import register_prebuilt_input
from bytewax.testing import run_main
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from streamforge.config.loader import load_stream
from streamforge.config.model import ComponentConfig, Location, StreamConfig
from streamforge.engine.dataflow import compile_streams
from streamforge.license import state
from streamforge.license.gate import components, gate_streams
from streamforge.license.token import issue_token
from streamforge.message import Message
from streamforge.plugin import load_builtins

MAPPING = "root.a = this.x\nroot.b = this.y * 2\nroot.c = this.s.uppercase()"

#: what the bench licence grants: every feature the two scenarios use
FEATURES: dict[str, Any] = {
    "bindings": ["kafka", "mqtt", "http", "opcua"],
    "processors": ["alarm", "downsample"],
    "security": ["basic_auth", "tls", "sasl_scram"],
    "storage": ["parquet"],
    "capabilities": {"max_streams": 20},
}

#: prebuilt once; the mapping never changes its input
MESSAGES: list[Message] = []


# -- generate-like input over the prebuilt messages ---------------------------------------------


register_prebuilt_input("bench_licence_rows", MESSAGES)


# -- the licence --------------------------------------------------------------------------------


def write_license(directory: Path) -> dict[str, str]:
    """Sign a licence with a new key; the environment variables that put it in effect."""
    key = ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_file = directory / "vendor.pub.pem"
    public_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    license_file = directory / "bench.jwt"
    token = issue_token(
        private_pem,
        subject="bench-001",
        features=FEATURES,
        expires=datetime.now(timezone.utc) + timedelta(days=1),
    )
    license_file.write_text(token + "\n")
    return {
        "STREAMFORGE_LICENSE_FILE": str(license_file),
        "STREAMFORGE_LICENSE_PUBLIC_KEY_FILE": str(public_file),
    }


# -- throughput ---------------------------------------------------------------------------------


def run_stream(with_check: bool, batch_size: int) -> float:
    """Seconds to run every message through the stream once."""
    loc = Location("bench", 1, 1)
    processors = [ComponentConfig("processor", "mapping", MAPPING, "pipeline.processors.1", loc)]
    if with_check:
        check = {"feature": "opcua", "category": "bindings", "on_denied": "error"}
        processors.insert(
            0, ComponentConfig("processor", "license_check", check, "pipeline.processors.0", loc)
        )
    stream = StreamConfig(
        name="checked" if with_check else "plain",
        path=Path("bench.yaml"),
        input=ComponentConfig(
            "input", "bench_licence_rows", {"batch_size": batch_size}, "input", loc
        ),
        processors=processors,
        output=ComponentConfig("output", "drop", {}, "output", loc),
    )
    start = time.perf_counter()
    compiled = compile_streams([stream])
    run_main(compiled.flow)
    compiled.close()
    return time.perf_counter() - start


# -- lint ---------------------------------------------------------------------------------------

_PROCESSORS = [
    "- mapping: 'root = this.merge({\"seen\": now()})'",
    "- license_check: { feature: opcua }",
    "- telemetry: { asset_id: '${! @kafka_key }', parameter: temperature, unit: degC }",
    "- validate: { rules: [ { parameter: '*', range: { min: -20, max: 120 } } ] }",
    "- alarm: { rules: [ { name: hot, parameter: temperature, above: 80, severity: HIGH } ] }",
    "- downsample: { method: deadband, deadband: { absolute: 0.5 } }",
    "- window: { size: 1s, timestamp: this.timestamps.device_time, aggregates: [avg, max] }",
    "- log: { message: '${! this.asset_id }' }",
]


def lint_stream_text(components_wanted: int = 50) -> str:
    """A stream of exactly `components_wanted` components (nested ones counted)."""
    fixed = 5  # the input, the switch output, its two outputs, and the final parquet_encode
    lines = [
        "input:",
        "  kafka:",
        "    addresses: [localhost:9093]",
        "    topics: [plant.readings]",
        "    consumer_group: gateway",
        "    tls: { enabled: true }",
        "    sasl: { mechanism: SCRAM-SHA-256, user: gateway, password: secret }",
        "pipeline:",
        "  processors:",
    ]
    for i in range(components_wanted - fixed):
        lines.append("    " + _PROCESSORS[i % len(_PROCESSORS)])
    lines += [
        "    - parquet_encode: { default_compression: zstd }",
        "output:",
        "  switch:",
        "    cases:",
        "      - check: errored()",
        "        output:",
        "          mqtt: { urls: [tcp://localhost:1883], topic: plant/dlq, user: gateway }",
        "      - output:",
        "          http_client: { url: http://historian:8080/readings }",
    ]
    return "\n".join(lines) + "\n"


def lint_validation_only(path: Path) -> tuple[float, int]:
    """Seconds to load and validate the stream as lint does; its component count."""
    start = time.perf_counter()
    stream = load_stream(path)
    seconds = time.perf_counter() - start
    return seconds, sum(1 for _ in components(stream))


def lint_with_license(path: Path) -> float:
    """Seconds to validate and gate the stream as `streamforge lint` does, from no state."""
    state.install(None)
    start = time.perf_counter()
    stream = load_stream(path)
    problems = gate_streams([stream], limits=False).problems
    seconds = time.perf_counter() - start
    if problems:
        raise SystemExit("the bench stream is refused: " + "; ".join(map(str, problems)))
    return seconds


def lint_cli(path: Path, env: dict[str, str]) -> float:
    """Wall seconds of `streamforge lint` as a new process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "streamforge", "lint", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"streamforge lint failed:\n{done.stdout}{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--count", type=int, default=200_000, help="messages per round")
    parser.add_argument("--batch-size", type=int, default=1000, help="messages per batch")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each stream, alternating")
    parser.add_argument("--lint-rounds", type=int, default=5, help="lint runs of each kind")
    args = parser.parse_args(argv)

    load_builtins()
    workdir = Path(tempfile.mkdtemp(prefix="sf-bench-licence-"))
    env = write_license(workdir)
    os.environ.update(env)
    state.install(None)
    license_state = state.current()
    assert license_state.subject == "bench-001", license_state.status.reason

    MESSAGES[:] = [
        Message.from_value({"id": i, "x": i * 0.5, "y": i % 1000, "s": f"pump-{i % 8}"})
        for i in range(args.count)
    ]
    # the prebuilt messages stay out of garbage collections, which otherwise land in random
    # rounds and dominate their time
    gc.collect()
    gc.freeze()
    run_stream(True, args.batch_size)  # warm-up: imports, Bytewax, mapping compile
    run_stream(False, args.batch_size)
    checked: list[float] = []
    plain: list[float] = []
    for i in range(args.rounds):
        order = (True, False) if i % 2 == 0 else (False, True)
        for with_check in order:
            gc.collect()
            seconds = run_stream(with_check, args.batch_size)
            (checked if with_check else plain).append(seconds)
    rate_checked = args.count / min(checked)
    rate_plain = args.count / min(plain)

    stream_file = workdir / "stream50.yaml"
    stream_file.write_text(lint_stream_text(50))
    validation, count = lint_validation_only(stream_file)
    validation = min([validation] + [lint_validation_only(stream_file)[0] for _ in range(4)])
    gated = [lint_with_license(stream_file) for _ in range(args.lint_rounds)]
    cli = [lint_cli(stream_file, env) for _ in range(max(1, args.lint_rounds // 2))]

    print(f"licence: subject bench-001, {license_state.engine.describe()}")
    print(f"messages: {args.count} per round  batch_size: {args.batch_size}  rounds: {args.rounds}")
    print(f"  with license_check:    {rate_checked:12,.0f} msg/s (best round)")
    print(f"  without license_check: {rate_plain:12,.0f} msg/s (best round)")
    print(f"  ratio with / without:  {rate_checked / rate_plain:.3f}  (target >= 0.95)")
    median_checked = args.count / statistics.median(checked)
    median_plain = args.count / statistics.median(plain)
    print(
        f"  median rounds:         {median_checked:,.0f} vs {median_plain:,.0f} msg/s, "
        f"ratio {median_checked / median_plain:.3f}"
    )
    print(f"lint of a {count}-component stream ({args.lint_rounds} runs, best and median):")
    print(
        f"  validation + licence gate: {min(gated):.3f} s, {statistics.median(gated):.3f} s"
        "  (target < 1 s)"
    )
    print(f"  validation only:           {validation:.3f} s")
    print(
        f"  `streamforge lint` process: {min(cli):.3f} s (interpreter start and imports included)"
    )


if __name__ == "__main__":
    main()
