"""The `--plugins PATH` option shared by subcommands."""

from __future__ import annotations

import argparse
import sys

from streamforge.plugin import PluginError, load_builtins, load_plugins

__all__ = ["add_plugins_option", "load_cli_plugins"]


def add_plugins_option(parser: argparse.ArgumentParser) -> None:
    """Add a repeatable `--plugins PATH` (Python file or module) option."""
    parser.add_argument(
        "--plugins",
        action="append",
        default=[],
        metavar="PATH",
        help="Python file or module with extra components (repeatable)",
    )


def load_cli_plugins(args: argparse.Namespace) -> bool:
    """Load built-ins and `--plugins`; prints the failure and returns False on error."""
    try:
        load_builtins()
        load_plugins(list(getattr(args, "plugins", None) or []))
    except PluginError as exc:
        print(f"streamforge: {exc}", file=sys.stderr)
        return False
    return True
