"""The `streamforge` command line: run, lint, test, list, echo, blobl, simulate, dlq, license,
policy, serve, td, users, keys."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from streamforge import __version__

#: subcommand name -> module in streamforge.commands exposing add_parser() and main()
COMMANDS = {
    "run": "run",
    "lint": "lint",
    "test": "test",
    "list": "listing",
    "echo": "echo",
    "blobl": "blobl",
    "simulate": "simulate",
    "dlq": "dlq",
    "license": "license",
    "policy": "policy",
    "serve": "serve",
    "td": "td",
    "users": "users",
    "keys": "keys",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamforge",
        description="Declarative stream processing for industrial data, on Bytewax.",
    )
    parser.add_argument("--version", action="version", version=f"streamforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"streamforge.commands.{module_name}")
        sp = module.add_parser(sub, name)
        sp.set_defaults(_main=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    try:
        code: int = args._main(args)
    except BrokenPipeError:
        # the reader went away (`streamforge list | head`); exit quietly as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        if os.environ.get("STREAMFORGE_DEBUG"):
            raise
        print(
            f"streamforge {args.command}: unexpected error: {type(exc).__name__}: {exc} "
            "(STREAMFORGE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
