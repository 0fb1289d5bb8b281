"""`streamforge echo FILE`: print a stream config with every default filled in."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamforge.commands._plugins import add_plugins_option, load_cli_plugins
from streamforge.config.dump import dump_yaml, stream_to_dict
from streamforge.config.loader import load_stream
from streamforge.config.model import ConfigError

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `echo` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="print a config with defaults filled in",
        description="Print a stream config as StreamForge reads it: environment variables "
        "resolved and every default filled in.",
    )
    parser.add_argument("file", metavar="FILE", help="config file")
    add_plugins_option(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Print the normalised config; problems go to stderr with exit code 1."""
    if not load_cli_plugins(args):
        return 1
    try:
        stream = load_stream(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    sys.stdout.write(dump_yaml(stream_to_dict(stream)))
    return 0
