"""`streamforge license status|verify|issue`: the licence in effect, check a licence file, or
sign one (for vendors, tests)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["SUBCOMMANDS", "Subcommand", "add_parser", "main"]


@dataclass(frozen=True)
class Subcommand:
    """One `streamforge license ACTION`: its help, its arguments and what it runs."""

    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the licence (a JWT); - reads stdin")
    parser.add_argument(
        "--public-key",
        metavar="PEM",
        default=None,
        help="the vendor's public key (default: STREAMFORGE_LICENSE_PUBLIC_KEY_FILE)",
    )
    parser.add_argument(
        "--issuer",
        default=None,
        help="the issuer the licence must name (default: streamforge-licensing)",
    )


def _issue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--private-key",
        required=True,
        metavar="KEY",
        help="PEM private key (RSA, EC P-256, Ed25519)",
    )
    parser.add_argument("--subject", required=True, help="the customer id (the `sub` claim)")
    parser.add_argument(
        "--features",
        required=True,
        metavar="FEATURES.json",
        help='JSON file: {"bindings": [...], "processors": [...], "security": [...], '
        '"storage": [...], "capabilities": {"max_things": 100, ...}}',
    )
    parser.add_argument(
        "--expires",
        required=True,
        metavar="WHEN",
        help="a date or time (2027-01-31, 2027-01-31T12:00:00Z; UTC) or a duration from now "
        "(365d, 12h)",
    )
    parser.add_argument("--customer-name", default=None, metavar="NAME", help="the customer's name")
    parser.add_argument(
        "--customer-contact", default=None, metavar="CONTACT", help="whom to contact (e-mail)"
    )
    parser.add_argument(
        "--issuer", default=None, help="the `iss` claim (default: streamforge-licensing)"
    )
    parser.add_argument(
        "--not-before", default=None, metavar="WHEN", help="valid from (same forms as --expires)"
    )
    parser.add_argument(
        "--output", "-o", default=None, metavar="FILE", help="write the token here, not stdout"
    )


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="a stream config whose `license:` section to use (default: the environment, "
        "STREAMFORGE_LICENSE*)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default text)"
    )


def _error(action: str, message: str) -> int:
    print(f"streamforge license {action}: {message}", file=sys.stderr)
    return 1


def _read_token(path: str) -> str:
    from streamforge.license.claims import LicenseError
    from streamforge.license.loading import read_license_file

    if path == "-":
        token = sys.stdin.read().strip()
        if not token:
            raise LicenseError("empty input")
        return token
    try:
        return read_license_file(path)
    except LicenseError as exc:
        # "licence file X: not found" -> "not found": the caller names the file
        raise LicenseError(str(exc).split(": ", 1)[-1]) from None


def _describe(license: Any) -> list[str]:
    from streamforge.license.claims import CATEGORIES
    from streamforge.license.token import format_time

    customer = license.customer.get("name", "")
    if license.customer.get("contact"):
        customer = f"{customer} <{license.customer['contact']}>".strip()
    rows = [
        ("subject", license.subject),
        ("customer", customer or "-"),
        ("issuer", license.issuer),
        ("expires", format_time(license.expires_at) if license.expires_at else "never"),
    ]
    if license.not_before is not None:
        rows.append(("not before", format_time(license.not_before)))
    if license.issued_at is not None:
        rows.append(("issued", format_time(license.issued_at)))
    for category in CATEGORIES:
        rows.append((category, ", ".join(sorted(getattr(license.features, category))) or "-"))
    caps = license.features.capabilities
    rows.append(
        ("capabilities", ", ".join(f"{k}={json.dumps(caps[k])}" for k in sorted(caps)) or "-")
    )
    return [f"{name + ':':<14}{value}" for name, value in rows]


def verify(args: argparse.Namespace) -> int:
    """Verify a licence file; print what it grants (exit 0) or why it is invalid (exit 1)."""
    from streamforge.license.claims import LicenseError
    from streamforge.license.settings import DEFAULT_LEEWAY, ENV_PUBLIC_KEY_FILE
    from streamforge.license.token import DEFAULT_ISSUER, read_key_file, verify_token

    key_path = args.public_key or os.environ.get(ENV_PUBLIC_KEY_FILE, "").strip()
    if not key_path:
        return _error(
            "verify", f"no public key: pass --public-key PEM or set {ENV_PUBLIC_KEY_FILE}"
        )
    try:
        public_key = read_key_file(key_path)
    except LicenseError as exc:
        return _error("verify", str(exc))
    try:
        token = _read_token(args.file)
        license = verify_token(
            token, public_key, issuer=args.issuer or DEFAULT_ISSUER, leeway=DEFAULT_LEEWAY
        )
    except LicenseError as exc:
        print(f"{args.file}: invalid licence: {exc}", file=sys.stderr)
        return 1
    print(f"{args.file}: valid licence")
    for line in _describe(license):
        print(line)
    return 0


def issue(args: argparse.Namespace) -> int:
    """Sign a licence with the vendor's private key; print it or write it to --output."""
    from streamforge.license.claims import LicenseError
    from streamforge.license.token import (
        DEFAULT_ISSUER,
        format_time,
        issue_token,
        parse_expiry,
        read_key_file,
    )

    now = datetime.now(timezone.utc)
    try:
        expires = parse_expiry(args.expires, now)
    except ValueError as exc:
        return _error("issue", f"--expires: {exc}")
    not_before = None
    if args.not_before is not None:
        try:
            not_before = parse_expiry(args.not_before, now)
        except ValueError as exc:
            return _error("issue", f"--not-before: {exc}")
    try:
        features = json.loads(Path(args.features).read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"{args.features}: not found", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.features}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{args.features}: invalid JSON: {exc}", file=sys.stderr)
        return 1
    if not isinstance(features, dict):
        print(
            f"{args.features}: expected a JSON object of features, got {type(features).__name__}",
            file=sys.stderr,
        )
        return 1
    customer = {
        k: v
        for k, v in (("name", args.customer_name), ("contact", args.customer_contact))
        if v is not None
    }
    try:
        private_key = read_key_file(args.private_key, kind="private key")
    except LicenseError as exc:
        return _error("issue", str(exc))
    try:
        token = issue_token(
            private_key,
            subject=args.subject,
            features=features,
            expires=expires,
            customer=customer or None,
            issuer=args.issuer or DEFAULT_ISSUER,
            not_before=not_before,
            issued_at=now,
        )
    except LicenseError as exc:
        where = args.features if str(exc).startswith("features") else "streamforge license issue"
        print(f"{where}: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        print(token)
        return 0
    try:
        Path(args.output).write_text(token + "\n", encoding="utf-8")
    except OSError as exc:
        return _error("issue", f"{args.output}: {exc.strerror or exc}")
    print(
        f"wrote a licence for {args.subject} (expires {format_time(expires)}) to {args.output}",
        file=sys.stderr,
    )
    return 0


def _config_settings(path: str) -> Any:
    """LicenceSettings from the `license:` section of a config file (the environment where it
    has none); ValueError with `file:line:col: message` lines when it cannot be used."""
    from streamforge.config.loader import load_document
    from streamforge.license.settings import LicenseSettings, LicenseSettingsError

    doc = load_document(path)
    if doc.problems:
        raise ValueError("\n".join(str(p) for p in doc.problems))
    data = doc.data if isinstance(doc.data, dict) else {}
    try:
        return LicenseSettings.from_config(
            data.get("license"), base_dir=Path(path).resolve().parent
        )
    except LicenseSettingsError as exc:
        if exc.key.startswith("STREAMFORGE_"):
            raise ValueError(str(exc)) from None
        where = doc.location(("license", exc.key) if exc.key else ("license",))
        raise ValueError(f"{where}: {exc}") from None


def _relative(seconds: float) -> str:
    """`12 days`, `5 hours`, `3 minutes`, `40 seconds`."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    n = max(int(seconds), 0)
    return f"{n} second{'s' if n != 1 else ''}"


def _status_document(state: Any, now: datetime) -> dict[str, Any]:
    """What `license status` reports, as plain data."""
    from streamforge.license.catalog import feature_of
    from streamforge.license.claims import CATEGORIES

    status = state.status
    license = status.license
    decisions = state.decisions
    in_effect = decisions.features_in_effect()
    # a processor gated by another feature (parquet_*: storage/parquet) is listed only with it
    in_effect["processors"] = [
        name
        for name in in_effect.get("processors", [])
        if all(decisions.allowed(c, f) for c, f in feature_of("processor", name, {}))
    ]
    expires_at = license.expires_at if license is not None else None
    expired = license is None and (status.reason or "").startswith("expired at ")
    doc: dict[str, Any] = {
        "subject": license.subject if license is not None else None,
        "customer": dict(license.customer) if license is not None else {},
        "issuer": license.issuer if license is not None else None,
        "expires_at": expires_at.isoformat() if expires_at is not None else None,
        "expires_in_seconds": (
            int((expires_at - now).total_seconds()) if expires_at is not None else None
        ),
        "expired": expired,
        "source": status.source,
        "defaults_apply": status.defaults_apply,
        "reason": status.reason,
        "policies": state.engine.describe(),
        "features": {c: list(in_effect.get(c, [])) for c in CATEGORIES},
        "capabilities": dict(in_effect.get("capabilities", {})),
    }
    return doc


def _status_lines(doc: dict[str, Any]) -> list[str]:
    from streamforge.license.claims import CATEGORIES
    from streamforge.license.token import format_time

    customer = doc["customer"].get("name", "")
    if doc["customer"].get("contact"):
        customer = f"{customer} <{doc['customer']['contact']}>".strip()
    if doc["expires_at"] is not None:
        when = format_time(datetime.fromisoformat(doc["expires_at"]))
        left = doc["expires_in_seconds"]
        expires = f"{when} (expires in {_relative(left)})" if left > 0 else f"{when} (expired)"
    elif doc["expired"]:
        expires = f"{doc['reason'][len('expired at ') :]} (expired)"
    elif doc["subject"] is not None:
        expires = "never"
    else:
        expires = "-"
    if doc["defaults_apply"]:
        defaults = f"yes: {doc['reason']}" if doc["reason"] else "yes"
    else:
        defaults = "no"
    rows = [
        ("subject", doc["subject"] or "none"),
        ("customer", customer or "-"),
        ("issuer", doc["issuer"] or "-"),
        ("expires", expires),
        ("source", doc["source"]),
        ("defaults", defaults),
        ("policies", doc["policies"]),
    ]
    for category in CATEGORIES:
        rows.append((category, ", ".join(doc["features"][category]) or "-"))
    caps = doc["capabilities"]
    rows.append(
        ("capabilities", ", ".join(f"{k}={json.dumps(caps[k])}" for k in sorted(caps)) or "-")
    )
    return [f"{name + ':':<14}{value}" for name, value in rows]


def status(args: argparse.Namespace) -> int:
    """Print the licence in effect and what it allows; exit 0 even when the defaults apply."""
    from streamforge.license.policy import PolicyError
    from streamforge.license.settings import LicenseSettings, LicenseSettingsError
    from streamforge.license.state import build_state

    try:
        if args.config is not None:
            settings = _config_settings(args.config)
        else:
            settings = LicenseSettings.from_config(None)
    except (ValueError, LicenseSettingsError) as exc:
        print(exc, file=sys.stderr)
        return 1
    now = datetime.now(timezone.utc)
    try:
        state = build_state(settings, now=now)
        doc = _status_document(state, now)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return _error("status", "the policies cannot be evaluated")
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        for line in _status_lines(doc):
            print(line)
    return 0


#: action name -> how to parse and run it
SUBCOMMANDS: dict[str, Subcommand] = {
    "status": Subcommand(
        help="show the licence in effect and what it allows",
        description=(
            "Show the licence in effect (from --config's `license:` section or the "
            "STREAMFORGE_LICENSE* environment): subject, customer, expiry, where it came from, "
            "whether the base defaults apply and why, and the features and capabilities in "
            "effect. Exits 0 even when the defaults apply."
        ),
        arguments=_status_arguments,
        run=status,
    ),
    "verify": Subcommand(
        help="check a licence file and print what it grants",
        description=(
            "Verify a licence's signature, issuer and validity against the vendor's public key, "
            "then print its subject, customer, expiry and features. Exits 1 when it is invalid."
        ),
        arguments=_verify_arguments,
        run=verify,
    ),
    "issue": Subcommand(
        help="sign a licence (for vendors and tests)",
        description=(
            "Sign a licence with a private key; the algorithm follows from the key (RSA: RS256, "
            "EC P-256: ES256, Ed25519: EdDSA). The features are checked before signing."
        ),
        arguments=_issue_arguments,
        run=issue,
    ),
}


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `license` subcommand with one action per SUBCOMMANDS entry."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="licences: " + ", ".join(SUBCOMMANDS),
        description="Work with StreamForge licences (signed JWTs).",
    )
    actions = parser.add_subparsers(dest="license_action", metavar="ACTION")
    for action, sub in SUBCOMMANDS.items():
        sp = actions.add_parser(action, help=sub.help, description=sub.description)
        sub.arguments(sp)
    parser.set_defaults(_license_parser=parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Dispatch the license action."""
    sub = SUBCOMMANDS.get(getattr(args, "license_action", None) or "")
    if sub is None:
        args._license_parser.print_help()
        return 2
    return sub.run(args)
