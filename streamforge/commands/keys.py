"""`streamforge keys create|list|revoke`: API keys for machines, from the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

__all__ = ["add_parser", "main"]

DEFAULT_EXPIRES = "90d"


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register `keys` and its actions."""
    from streamforge.commands._identities import add_database_options

    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="API keys for machines: create, list, revoke",
        description=(
            "Manage API keys in the database `streamforge serve` uses (the same --home and "
            "--db). A key acts as the user it belongs to; it is shown once, when created, and "
            "only its SHA-256 is stored."
        ),
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a key and print it once",
        description="Create an API key for a user and print it; it cannot be shown again.",
    )
    create.add_argument("--user", required=True, metavar="USERNAME", help="the key's owner")
    create.add_argument("--name", required=True, help="what the key is for, e.g. the machine")
    create.add_argument(
        "--expires",
        default=DEFAULT_EXPIRES,
        metavar="DURATION",
        help=f"how long the key works: 12h, 30d ... or never (default {DEFAULT_EXPIRES})",
    )
    add_database_options(create)
    listing = actions.add_parser(
        "list", help="list keys", description="List API keys (their prefixes, never the keys)."
    )
    listing.add_argument("--user", default=None, metavar="USERNAME", help="only this user's")
    add_database_options(listing)
    revoke = actions.add_parser(
        "revoke", help="revoke a key", description="Revoke an API key; it stops working at once."
    )
    revoke.add_argument("id", metavar="ID", help="the key's id, as `keys list` shows it")
    add_database_options(revoke)
    parser.set_defaults(_parser=parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Run one `keys` action; exit 1 with one line on anything it cannot do."""
    from streamforge.commands._identities import run_action

    return run_action(args, "keys", _ACTIONS)


def parse_expires(text: str) -> timedelta | None:
    """`never` is None; otherwise a positive duration such as 90d or 12h."""
    from streamforge.commands._identities import CommandError
    from streamforge.durations import DurationError, parse_duration

    if text.strip().lower() == "never":
        return None
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        raise CommandError(f"--expires: {exc}, or never") from None
    if seconds <= 0:
        raise CommandError("--expires: a key's lifetime must be positive, or never")
    return timedelta(seconds=seconds)


def _create(args: argparse.Namespace) -> int:
    from streamforge.commands._identities import format_time, open_identities

    expires_in = parse_expires(args.expires)
    key, secret = open_identities(args).create_key(args.user, args.name, expires_in)
    expires = format_time(key.expires_at) + " UTC" if key.expires_at else "never"
    print(
        f"created API key {key.id} ({key.name!r} of {key.username}, expires {expires}); "
        "it is shown only now:",
        file=sys.stderr,
    )
    print(secret)
    return 0


def _list(args: argparse.Namespace) -> int:
    from streamforge.commands._identities import format_time, open_identities, print_table
    from streamforge.manager.models import utcnow

    now = utcnow()
    rows = [
        [
            key.id,
            key.name,
            key.username,
            key.prefix + "...",
            format_time(key.created_at),
            format_time(key.expires_at) if key.expires_at else "never",
            format_time(key.last_used_at),
            key.status(now),
        ]
        for key in open_identities(args).api_keys(args.user)
    ]
    print_table(["ID", "NAME", "USER", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATUS"], rows)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from streamforge.commands._identities import open_identities

    key = open_identities(args).revoke_key(args.id)
    print(f"revoked API key {key.id} ({key.name!r} of {key.username})")
    return 0


_ACTIONS = {"create": _create, "list": _list, "revoke": _revoke}
