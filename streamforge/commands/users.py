"""`streamforge users add|list|passwd|remove`: the manager's users, from the command line."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register `users` and its actions."""
    from streamforge.commands._identities import add_database_options
    from streamforge.manager.identities import MIN_PASSWORD_LENGTH, ROLES

    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="the manager's users: add, list, passwd, remove",
        description=(
            "Manage who may sign in to the manager, in the database `streamforge serve` uses "
            "(the same --home and --db). Passwords are stored as argon2 hashes."
        ),
    )
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a user",
        description=f"Add a user with one or more roles ({', '.join(ROLES)}, or a custom role "
        "made at /admin/security/roles), optionally scoped to streams and Things. The password "
        f"(at least {MIN_PASSWORD_LENGTH} characters) is asked twice, or read from one line "
        "of standard input with --password-stdin.",
    )
    add.add_argument("username")
    add.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"one of {', '.join(ROLES)} or a custom role; repeatable",
    )
    add.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="limit the roles to ids matching a pattern (line-2.*), to resources with a tag "
        "(tag:north), or either for one role (engineer@line-2.*); repeatable",
    )
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add_database_options(add)
    listing = actions.add_parser("list", help="list users", description="List users and roles.")
    add_database_options(listing)
    passwd = actions.add_parser(
        "passwd",
        help="change a user's password",
        description="Change a user's password; it also lifts a lock from failed sign-ins.",
    )
    passwd.add_argument("username")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    add_database_options(passwd)
    remove = actions.add_parser(
        "remove",
        help="remove a user and their API keys",
        description="Remove a user; their API keys stop working at once.",
    )
    remove.add_argument("username")
    add_database_options(remove)
    parser.set_defaults(_parser=parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Run one `users` action; exit 1 with one line on anything it cannot do."""
    from streamforge.commands._identities import run_action

    return run_action(args, "users", _ACTIONS)


def _add(args: argparse.Namespace) -> int:
    from streamforge.commands._identities import open_identities, read_new_password
    from streamforge.manager.identities import (
        DuplicateUser,
        UnknownUser,
        check_roles,
        check_scopes,
        check_username,
    )
    from streamforge.manager.security_store import SecurityStore

    check_username(args.username)
    identities = open_identities(args)
    roles = check_roles(args.role, SecurityStore(identities.engine).role_names())
    scopes = check_scopes(args.scope)
    try:
        identities.user(args.username)
    except UnknownUser:
        pass
    else:
        raise DuplicateUser(f"user {args.username!r} exists already")
    password = read_new_password(args.password_stdin)
    user = identities.add_user(args.username, password, roles, scopes, known_roles=roles)
    scoped = f" in {', '.join(user.scopes)}" if user.scopes else ""
    print(f"added user {user.username} ({', '.join(user.roles)}){scoped}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from streamforge.commands._identities import format_time, open_identities, print_table
    from streamforge.manager.models import utcnow

    identities = open_identities(args)
    now = utcnow()
    keys: dict[str, int] = {}
    for key in identities.api_keys():
        if key.status(now) == "active":
            keys[key.username] = keys.get(key.username, 0) + 1
    rows = []
    for user in identities.users():
        if user.disabled:
            state = "disabled"
        elif user.locked_until is not None and user.locked_until > now:
            state = f"locked until {format_time(user.locked_until)}"
        else:
            state = "active"
        rows.append(
            [
                user.username,
                ",".join(user.roles),
                ",".join(user.scopes) or "-",
                str(keys.get(user.username, 0)),
                format_time(user.created_at),
                state,
            ]
        )
    print_table(["USERNAME", "ROLES", "SCOPES", "KEYS", "CREATED", "STATE"], rows)
    return 0


def _passwd(args: argparse.Namespace) -> int:
    from streamforge.commands._identities import open_identities, read_new_password

    identities = open_identities(args)
    identities.user(args.username)
    password = read_new_password(args.password_stdin)
    identities.set_password(args.username, password)
    print(f"changed the password of {args.username}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from streamforge.commands._identities import open_identities

    open_identities(args).remove_user(args.username)
    print(f"removed user {args.username}")
    return 0


_ACTIONS = {"add": _add, "list": _list, "passwd": _passwd, "remove": _remove}
