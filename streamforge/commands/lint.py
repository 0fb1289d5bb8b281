"""`streamforge lint FILE...`: report every config problem as `file:line:col: message`."""

from __future__ import annotations

import argparse
from typing import Any

from streamforge.commands._plugins import add_plugins_option, load_cli_plugins
from streamforge.config.loader import lint_paths

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `lint` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="check stream configs and print every problem",
        description="Check stream configs. Prints one `file:line:col: message` line per "
        "problem and exits 1 when there is any; prints nothing and exits 0 when clean.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="config files or globs")
    add_plugins_option(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Lint the files; exit code 1 when any problem was found."""
    if not load_cli_plugins(args):
        return 1
    problems = lint_paths(args.files)
    for problem in problems:
        print(problem)
    return 1 if problems else 0
