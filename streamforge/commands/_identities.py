"""What `streamforge users` and `streamforge keys` share: the manager's home and database,
reading a password, printing a table."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from streamforge.manager.identities import Identities

__all__ = [
    "CommandError",
    "add_database_options",
    "format_time",
    "open_identities",
    "print_table",
    "run_action",
    "read_new_password",
]


class CommandError(Exception):
    """A one-line reason the command did nothing."""


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """`--home` and `--db`, found as `streamforge serve` finds them."""
    from streamforge.commands.serve import ENV_HOME

    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help=f"the manager's home (default ${ENV_HOME} or ~/.streamforge)",
    )
    parser.add_argument(
        "--db",
        default=None,
        help="the manager's database URL (default: SQLite in the home; postgresql://...)",
    )


def open_identities(args: argparse.Namespace) -> Identities:
    """The users and keys of the database `streamforge serve` uses with the same options."""
    from streamforge.commands.serve import resolve_home
    from streamforge.manager.db import open_database, sqlite_url
    from streamforge.manager.identities import Identities

    home = resolve_home(args.home)
    url = args.db
    if url is None:
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create the home {home}: {exc.strerror or exc}") from None
        url = sqlite_url(home)
    try:
        engine = open_database(url)
    except Exception as exc:  # noqa: BLE001 - any database failure is one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(f"cannot open the database: {reason}") from None
    return Identities(engine)


def read_new_password(from_stdin: bool, stdin: TextIO | None = None) -> str:
    """A new password: one line of standard input, or asked twice on the terminal."""
    stream = stdin or sys.stdin
    if from_stdin:
        return stream.readline().rstrip("\r\n")
    if not stream.isatty():
        raise CommandError("no terminal to ask for the password on: give --password-stdin")
    try:
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password (again): ")
    except (EOFError, KeyboardInterrupt):
        raise CommandError("no password given") from None
    if first != second:
        raise CommandError("the passwords do not match")
    return first


def format_time(value: datetime | None) -> str:
    """A time in a table: UTC to the minute, `-` for none."""
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M")


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns aligned to their widest cell."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def run_action(
    args: argparse.Namespace,
    command: str,
    actions: Mapping[str, Callable[[argparse.Namespace], int]],
) -> int:
    """Run the chosen action of `streamforge COMMAND`; exit 1 with one line on anything it
    cannot do, 2 (with the help) when no action was given."""
    from streamforge.manager.identities import IdentityError

    action = getattr(args, f"{command}_action", None)
    if action is None:
        args._parser.print_help()
        return 2
    try:
        return actions[action](args)
    except (CommandError, IdentityError) as exc:
        print(f"streamforge {command} {action}: {exc}", file=sys.stderr)
        return 1
