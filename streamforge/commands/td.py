"""`streamforge td check|generate`: validate a W3C WoT Thing Description, or print the stream
config that reads the Thing over one of its bindings."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `td` subcommand and its `check` and `generate` actions."""
    from streamforge.wot.forms import BINDINGS

    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="W3C WoT Thing Descriptions: check, generate a stream",
        description="Check Thing Descriptions and generate stream configs from them.",
    )
    actions = parser.add_subparsers(dest="td_action", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate a Thing Description",
        description="Validate a Thing Description (TD 1.1 and what StreamForge needs of it). "
        "Prints one `$.json.path: message` line per problem and exits 1 when there is any.",
    )
    check.add_argument("file", metavar="TD.json", help="the Thing Description (- for stdin)")
    generate = actions.add_parser(
        "generate",
        help="print the stream config that reads a Thing",
        description="Print the stream config (YAML) that reads the Thing's properties and "
        "events over one binding, through the td_* templates. Warnings go to stderr; problems "
        "are printed as `$.json.path: message` with exit code 1.",
    )
    generate.add_argument("file", metavar="TD.json", help="the Thing Description (- for stdin)")
    generate.add_argument("--binding", required=True, choices=BINDINGS, help="the protocol")
    generate.add_argument(
        "--property",
        dest="properties",
        action="append",
        metavar="NAME",
        help="read this property (repeatable); default: every readable one",
    )
    generate.add_argument(
        "--event",
        dest="events",
        action="append",
        metavar="NAME",
        help="read this event (repeatable); default: every event, none when --property is given",
    )
    generate.add_argument("--interval", default=None, help="poll or sampling interval, e.g. 1s")
    generate.add_argument(
        "--credentials-file",
        default=None,
        metavar="FILE",
        help='JSON object of credentials by security scheme name, e.g. {"basic_sc": '
        '{"username": "u", "password": "p"}}',
    )
    generate.add_argument(
        "--output-dir",
        default="./things",
        metavar="DIR",
        help="directory of the JSON Lines file the stream writes (default ./things)",
    )
    return parser


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def main(args: argparse.Namespace) -> int:
    """Run the action; exit code 1 on problems, 2 without an action."""
    from streamforge.wot import TdError, check_td
    from streamforge.wot.generate import GenerateOptions, generate_stream

    action = getattr(args, "td_action", None)
    if action is None:
        print("streamforge td: give an action: check or generate", file=sys.stderr)
        return 2
    try:
        text = _read(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{args.file}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 1
    if action == "check":
        problems = check_td(text)
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    credentials: dict[str, Any] = {}
    if args.credentials_file:
        try:
            credentials = json.loads(Path(args.credentials_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"{args.credentials_file}: {exc}", file=sys.stderr)
            return 1
        if not isinstance(credentials, dict):
            print(f"{args.credentials_file}: not a JSON object of schemes", file=sys.stderr)
            return 1
    events = args.events
    if events is None and args.properties is not None:
        events = []
    options = GenerateOptions(
        properties=args.properties,
        events=events,
        interval=args.interval,
        output_dir=args.output_dir,
        credentials=credentials,
    )
    try:
        generated = generate_stream(text, args.binding, options)
    except TdError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    for warning in generated.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(generated.yaml)
    return 0
