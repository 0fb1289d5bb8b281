"""`streamforge policy eval QUERY`: evaluate a Rego query against the policies, like `opa eval`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streamforge.commands._plugins import add_plugins_option, load_cli_plugins
from streamforge.license.claims import License, LicenseError
from streamforge.license.decisions import policy_input
from streamforge.license.loading import read_license_file
from streamforge.license.policy import UNDEFINED, OpaEngine, PolicyError, engine_for
from streamforge.license.settings import (
    ENV_PUBLIC_KEY_FILE,
    LicenseSettings,
    LicenseSettingsError,
)
from streamforge.license.token import read_key_file, verify_token
from streamforge.plugin import registry

__all__ = ["add_parser", "main"]

#: `license:` settings -> the options that set them here
_OPTIONS = {
    "file": "--license",
    "public_key_file": "--public-key",
    "policy_dir": "--policy-dir",
    "opa_url": "--opa-url",
}

_DESCRIPTION = """\
Evaluate a Rego query against the built-in and your own policies and print the
result as JSON, like `opa eval`. A `data.` reference prints its value; any other
query prints the variable bindings of each solution ([{}] when it holds without
variables), as OPA's Query API does. Prints `undefined` and exits 1 when the query
has no result.

The input document is {"license": <the verified licence or null>, "processors":
[<known processor names>]}, merged with --input.
"""

_EXAMPLES = """\
examples:
  streamforge policy eval 'data.streamforge.features.binding_allowed["kafka"]'
  streamforge policy eval data.streamforge.features.allowed_features --license acme.jwt \\
      --public-key vendor.pub.pem
  streamforge policy eval data.streamforge.features.allow \\
      --input '{"request": {"category": "processors", "feature": "alarm"}}'
"""


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `policy` subcommand and its `eval` action."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="evaluate the licence policies",
        description="Work with the Rego policies that decide which features may be used.",
    )
    actions = parser.add_subparsers(dest="policy_action", metavar="ACTION", required=True)
    evaluate = actions.add_parser(
        "eval",
        help="evaluate a Rego query and print the result as JSON",
        description=_DESCRIPTION,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("query", metavar="QUERY", help="a Rego query")
    evaluate.add_argument(
        "--license",
        metavar="FILE",
        help="licence (a signed JWT) file; default: STREAMFORGE_LICENSE or "
        "STREAMFORGE_LICENSE_FILE, else the defaults apply",
    )
    evaluate.add_argument(
        "--public-key",
        metavar="PEM",
        help=f"the vendor's public key file (default: {ENV_PUBLIC_KEY_FILE})",
    )
    evaluate.add_argument(
        "--input",
        metavar="JSON",
        help="a JSON object (or @FILE) merged into the input document, e.g. a request",
    )
    evaluate.add_argument("--policy-dir", metavar="DIR", help="a directory of your own policies")
    evaluate.add_argument(
        "--opa-url", metavar="URL", help="evaluate on a running OPA server instead of in-process"
    )
    add_plugins_option(evaluate)
    return parser


def _extra_input(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    where = "--input"
    if text.startswith("@"):
        where = text[1:]
        try:
            text = Path(where).expanduser().read_text()
        except OSError as exc:
            raise ValueError(f"{where}: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a JSON object")
    return value


def _license(settings: LicenseSettings) -> License | None:
    """The licence the settings name, verified; None (after saying why) when it cannot be used."""
    if not (settings.token or settings.file):
        return None
    source = "from STREAMFORGE_LICENSE" if settings.token else str(settings.file)
    try:
        token = settings.token or read_license_file(str(settings.file))
        if not settings.public_key_file:
            raise LicenseError(f"no public key (--public-key or {ENV_PUBLIC_KEY_FILE})")
        public_key = read_key_file(settings.public_key_file)
        return verify_token(token, public_key, issuer=settings.issuer, leeway=settings.leeway)
    except LicenseError as exc:
        text = str(exc) if source in str(exc) else f"licence {source}: {exc}"
        print(f"streamforge: {text}; the defaults apply", file=sys.stderr)
        return None


def main(args: argparse.Namespace) -> int:
    """Run `policy eval`; exit 0 with a result, 1 when undefined or on any error."""
    if not load_cli_plugins(args):
        return 1
    section = {key: getattr(args, opt[2:].replace("-", "_")) for key, opt in _OPTIONS.items()}
    try:
        settings = LicenseSettings.from_config({k: v for k, v in section.items() if v})
        extra = _extra_input(args.input)
    except LicenseSettingsError as exc:
        text = str(exc)
        if section.get(exc.key):
            text = text.replace(f"license.{exc.key}:", f"{_OPTIONS[exc.key]}:", 1)
        print(f"streamforge: {text}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"streamforge: {exc}", file=sys.stderr)
        return 1
    license = _license(settings)
    document = {**policy_input(license, registry.names("processor")), **extra}
    try:
        engine = engine_for(settings)
        try:
            value = engine.query(args.query, document)
        finally:
            if isinstance(engine, OpaEngine):
                engine.close()
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    if value is UNDEFINED:
        print("undefined")
        return 1
    print(json.dumps(value, indent=2, sort_keys=True))
    return 0
