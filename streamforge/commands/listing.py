"""`streamforge list [inputs|processors|outputs|caches]`: the registered components."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from streamforge.commands._plugins import (
    add_plugins_option,
    add_templates_option,
    load_cli_plugins,
    load_cli_templates,
)
from streamforge.plugin import KINDS, Kind, registry

__all__ = ["add_parser", "main"]

_PLURAL: dict[str, Kind] = {f"{k}s": k for k in KINDS}


def _kind(text: str) -> str:
    if text not in _PLURAL:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(_PLURAL)}")
    return text


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `list` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="list available inputs, processors, outputs and caches",
        description="List the registered components (built-ins, entry points, plugins).",
    )
    parser.add_argument(
        "kinds", nargs="*", type=_kind, metavar="KIND",
        help="inputs, processors, outputs or caches (default: all)",
    )  # fmt: skip
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_plugins_option(parser)
    add_templates_option(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Print the components grouped by kind, as text or JSON spec dicts."""
    if not load_cli_plugins(args) or not load_cli_templates(args):
        return 1
    kinds = [_PLURAL[k] for k in args.kinds] if args.kinds else list(KINDS)
    if args.format == "json":
        doc = {f"{k}s": [spec.to_dict() for spec in registry.specs(k)] for k in kinds}
        json.dump(doc, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    blocks = []
    for kind in kinds:
        specs = registry.specs(kind)
        width = max((len(s.name) for s in specs), default=0)
        lines = [f"{kind.capitalize()}s:"]
        lines += [f"  {s.name:<{width}}  {s.summary}".rstrip() for s in specs] or ["  (none)"]
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    return 0
