"""`streamforge run FILE...`: run streams as one Bytewax dataflow (workers, cluster, recovery)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamforge.commands._environment import (
    EnvFileError,
    add_env_file_option,
    config_environment,
)
from streamforge.commands._plugins import (
    add_plugins_option,
    add_resources_option,
    add_templates_option,
    load_cli_plugins,
    load_cli_resources,
    load_cli_templates,
)
from streamforge.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from streamforge.config.model import StreamConfig
    from streamforge.license.settings import LicenseSettings
    from streamforge.license.watch import LicenseWatch

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `run` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="run streams",
        description=(
            "Run one or more stream configs together as one Bytewax dataflow. Exits 0 when "
            "every input has ended, 1 on a bad config, a component or stream count the licence "
            "does not allow, a recovery directory another live run is using, or a failed "
            "dataflow. A stream the licence stops allowing while it runs (expiry, a new licence "
            "file) is stopped; the others go on. With --recovery-dir the run locks the "
            "directory (per cluster process id) until it exits."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="stream configs (globs allowed)")
    add_env_file_option(parser)
    parser.add_argument(
        "-w",
        "--workers",
        type=int,
        default=None,
        help="Bytewax workers per process (default: the largest pipeline.threads, at least 1)",
    )
    parser.add_argument(
        "-i",
        "--process-id",
        type=int,
        default=None,
        help="this process's index in a Bytewax cluster (needs -a)",
    )
    parser.add_argument(
        "-a",
        "--addresses",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="address of every cluster process, in process-id order; repeat the flag or "
        "separate with ';'",
    )
    parser.add_argument(
        "--recovery-dir",
        type=Path,
        default=None,
        help="directory of Bytewax recovery partitions (created and initialised when empty); "
        "locked while the run lives, so a second run of the same process id on it is refused",
    )
    parser.add_argument(
        "--snapshot-interval",
        default="10s",
        help="how often state is snapshotted with --recovery-dir (default 10s)",
    )
    parser.add_argument(
        "--http-address",
        default=None,
        metavar="HOST:PORT",
        help="serve /metrics, /ready and /health/live here instead of the config's http.address, "
        "even when the config has http.enabled: false; 'off' (or 'none') serves nothing",
    )
    parser.add_argument(
        "--heartbeat-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="touch PATH every second unless a read, processing or write call has been "
        "running for more than 5s, so a supervisor can tell a stuck stream from an idle one",
    )
    add_plugins_option(parser)
    add_templates_option(parser)
    add_resources_option(parser)
    return parser


def _addresses(values: list[str]) -> list[str]:
    return [a.strip() for v in values for a in v.split(";") if a.strip()]


#: `--http-address` values that turn the endpoint off
HTTP_OFF = ("off", "none")


def _http_address(value: str | None) -> tuple[bool, str | None]:
    """`--http-address` -> (serve at all, address overriding the config's); ValueError when
    the value is neither off nor a HOST:PORT."""
    if value is None:
        return True, None
    if value.strip().lower() in HTTP_OFF:
        return False, None
    from streamforge.connectors.http import parse_address

    parse_address(value)
    return True, value.strip()


def _error(message: str) -> int:
    print(f"streamforge run: {message}", file=sys.stderr)
    return 1


def _gate(streams: list[StreamConfig]) -> LicenseWatch | None:
    """Put the licence in effect and check the streams against it; print every refusal and
    return None when they may not start, else the watch to run beside them."""
    from streamforge.license.gate import gate_streams, license_settings
    from streamforge.license.policy import PolicyError
    from streamforge.license.settings import LicenseSettingsError
    from streamforge.license.watch import LicenseWatch

    try:
        result = gate_streams(streams)
    except LicenseSettingsError as exc:
        print(f"streamforge run: {exc}", file=sys.stderr)
        return None
    except PolicyError as exc:
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        print("streamforge run: a policy cannot be evaluated; nothing started", file=sys.stderr)
        return None
    if result.problems:
        for line in result.lines:
            print(line, file=sys.stderr)
        return None

    def settings() -> LicenseSettings:
        return license_settings(streams)[0]

    return LicenseWatch(result.state, settings)


def main(args: argparse.Namespace) -> int:
    """Load plugins and configs, then run; every config problem is printed and nothing starts."""
    from streamforge.config.loader import load_streams, unrunnable
    from streamforge.config.model import ConfigError
    from streamforge.engine.dataflow import CompileError
    from streamforge.observability.logging import configure_logging
    from streamforge.runtime.lock import RecoveryDirInUse
    from streamforge.runtime.memory import keep_freed_heap, tune_garbage_collector
    from streamforge.runtime.run import RunOptions, run_streams

    addresses = _addresses(args.addresses)
    if args.process_id is not None and not addresses:
        return _error("-i/--process-id needs the cluster's addresses (-a)")
    if addresses and args.process_id is None:
        return _error("-a/--addresses needs this process's id (-i)")
    if args.process_id is not None and not 0 <= args.process_id < len(addresses):
        return _error(f"-i {args.process_id} is not an index into the {len(addresses)} address(es)")
    if args.workers is not None and args.workers < 1:
        return _error("-w/--workers must be at least 1")
    try:
        snapshot = parse_duration(args.snapshot_interval)
    except DurationError as exc:
        return _error(str(exc))
    if snapshot <= 0:
        return _error("--snapshot-interval must be positive")
    try:
        http_on, http_address = _http_address(args.http_address)
    except ValueError as exc:
        return _error(f"--http-address: {exc} (or 'off')")

    try:
        environ = config_environment(args)
    except EnvFileError as exc:
        return _error(str(exc))
    if environ is not None:  # the env files' variables, also for Bloblang's env()
        os.environ.update({k: v for k, v in environ.items() if os.environ.get(k) != v})
    if not load_cli_plugins(args) or not load_cli_templates(args):
        return 1
    resources = load_cli_resources(args)
    if resources is None:
        return 1
    try:
        streams = load_streams(args.files, resources=resources)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if not streams:
        return _error("no stream configs matched " + " ".join(args.files))
    refused = [problem for stream in streams for problem in unrunnable(stream)]
    if refused:
        for problem in refused:
            print(problem, file=sys.stderr)
        return 1

    logger_conf = streams[0].logger or {}
    configure_logging(
        logger_conf.get("level", "INFO"),
        logger_conf.get("format", "logfmt"),
        static_fields=logger_conf.get("static_fields"),
    )
    watch = _gate(streams)
    if watch is None:
        return 1

    if args.heartbeat_file is not None:
        from streamforge.observability.heartbeat import set_heartbeat_file

        set_heartbeat_file(str(args.heartbeat_file))
    options = RunOptions(
        workers=args.workers,
        process_id=args.process_id,
        addresses=addresses,
        recovery_dir=args.recovery_dir,
        snapshot_interval=snapshot,
        configure_logging=False,
        http=http_on,
        http_address=http_address,
    )
    keep_freed_heap()
    tune_garbage_collector()
    try:
        return run_streams(streams, options, license_watch=watch)
    except RecoveryDirInUse as exc:
        return _error(str(exc))
    except CompileError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
