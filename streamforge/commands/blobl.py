"""`streamforge blobl`: run a Bloblang mapping over stdin lines, as `benthos blobl` does."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `blobl` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="execute a Bloblang mapping on documents read from stdin",
        description=(
            "Reads one document per line from stdin (JSON, or raw text), runs the mapping on "
            "it and prints one result per line. Errors go to stderr and the next line goes on."
        ),
    )
    parser.add_argument("mapping", nargs="?", help="the mapping text")
    parser.add_argument("-f", "--file", help="read the mapping from this file")
    return parser


def main(args: argparse.Namespace) -> int:
    """Run the mapping on every stdin line; exit 0 unless the mapping does not parse."""
    from streamforge.bloblang import MappingError, ParseError, parse
    from streamforge.message import Message

    if args.file and args.mapping:
        print("error: give either a mapping or --file, not both", file=sys.stderr)
        return 1
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            print(f"error: failed to read mapping file: {exc}", file=sys.stderr)
            return 1
    elif args.mapping is not None:
        text = args.mapping
    else:
        print("error: a mapping (or --file) is required", file=sys.stderr)
        return 1
    try:
        exe = parse(text)
    except ParseError as exc:
        print(f"failed to parse mapping: {exc}", file=sys.stderr)
        return 1

    out = sys.stdout.buffer
    stdin = sys.stdin.buffer
    for raw in stdin:
        line = raw.rstrip(b"\r\n")
        msg = Message(line)
        try:
            result = exe.apply_message(msg, [msg], 0)
        except MappingError as exc:
            print(f"failed to execute map: {exc}", file=sys.stderr, flush=True)
            continue
        if result is None:
            continue
        try:
            payload = result.payload
        except (TypeError, ValueError, RecursionError) as exc:
            print(f"failed to serialise result: {exc}", file=sys.stderr, flush=True)
            continue
        out.write(payload + b"\n")
        out.flush()
    return 0
