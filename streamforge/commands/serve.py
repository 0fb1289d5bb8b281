"""`streamforge serve`: the manager — streams created, changed and watched over REST."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["ENV_HOME", "add_parser", "main", "resolve_home"]

ENV_HOME = "STREAMFORGE_HOME"
DEFAULT_ADDRESS = "127.0.0.1:4196"


def resolve_home(home: Path | None) -> Path:
    """The manager's home: `--home`, else $STREAMFORGE_HOME, else ~/.streamforge."""
    return (home or Path(os.environ.get(ENV_HOME) or Path.home() / ".streamforge")).resolve()


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="run the manager: a REST API that stores, runs and watches streams",
        description=(
            "Start the manager on --address: streams are created, changed, started and stopped "
            "over REST under /wot/binding (OpenAPI at /docs), kept in a database in --home, and "
            "each runs in a supervised process of its own. Files given are loaded as streams "
            "whose ids are their file names."
        ),
    )
    parser.add_argument("files", nargs="*", metavar="STREAM_FILE", help="stream configs to load")
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="host:port to listen on")
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help=f"database, recovery directories, keys (default ${ENV_HOME} or ~/.streamforge)",
    )
    parser.add_argument(
        "--db", default=None, help="database URL (default: SQLite in the home; postgresql://...)"
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="where streams may read and write files; relative paths resolve here "
        "(default <home>/data)",
    )
    parser.add_argument(
        "--allow-path",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="another directory streams may use (repeatable)",
    )
    parser.add_argument(
        "--env-allow",
        action="append",
        default=[],
        metavar="NAMES",
        help="environment variables configs may read with ${VAR} or env() (comma separated, "
        "repeatable); none by default",
    )
    parser.add_argument(
        "--memory-limit", type=int, default=None, metavar="MB", help="per stream process"
    )
    parser.add_argument(
        "--hang-timeout",
        default="60s",
        metavar="DURATION",
        help="a stream whose dataflow is stuck this long is killed and restarted (default 60s; "
        "0 turns it off)",
    )
    parser.add_argument(
        "--td-fetch-allow",
        action="append",
        default=[],
        metavar="HOSTS",
        help="hosts Thing Descriptions may be fetched from although they are loopback or "
        "private addresses (comma separated, repeatable); public hosts need no listing",
    )
    parser.add_argument(
        "--thing-output",
        type=Path,
        default=None,
        metavar="FILE",
        help="a YAML file with the output component streams generated from Thing Descriptions "
        "write to when the request names none (default: a JSON Lines file per Thing under "
        "<data root>/things/)",
    )
    parser.add_argument("--license", type=Path, default=None, help="the licence file (a JWT)")
    parser.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS with this cert")
    parser.add_argument("--tls-key", type=Path, default=None, help="... and this key")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow plain HTTP on a non-loopback address",
    )
    return parser


def _error(message: str) -> int:
    print(f"streamforge serve: {message}", file=sys.stderr)
    return 1


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(args: argparse.Namespace) -> int:
    """Prepare the home, the database and the licence; load files; serve until stopped."""
    import uvicorn
    import yaml

    from streamforge.config.templates import load_shipped_templates, load_templates
    from streamforge.connectors.http import parse_address
    from streamforge.durations import DurationError, parse_duration
    from streamforge.license.policy import PolicyError
    from streamforge.license.state import build_state, install
    from streamforge.manager.app import create_app
    from streamforge.manager.audit import AuditLog
    from streamforge.manager.auth import ensure_admin_token, ensure_first_admin
    from streamforge.manager.authz import Authorizer
    from streamforge.manager.checks import ConfigPolicy
    from streamforge.manager.crypto import ConfigCipher
    from streamforge.manager.db import open_database, sqlite_url
    from streamforge.manager.identities import Identities
    from streamforge.manager.licence_admin import share_with_streams, startup_settings
    from streamforge.manager.security_store import SecurityStore
    from streamforge.manager.service import Invalid, LicenceRefused, Manager
    from streamforge.manager.store import NotFound, StreamStore
    from streamforge.manager.supervisor import Supervisor
    from streamforge.manager.thing_store import ThingStore
    from streamforge.manager.things import Things
    from streamforge.manager.tokens import AccessTokens
    from streamforge.manager.trial import TrialRunner
    from streamforge.observability.logging import configure_logging
    from streamforge.plugin.loading import load_builtins

    try:
        host, port = parse_address(args.address)
    except ValueError as exc:
        return _error(str(exc))
    try:
        hang_timeout = parse_duration(args.hang_timeout)
    except DurationError as exc:
        return _error(f"--hang-timeout: {exc}")
    if (args.tls_cert is None) != (args.tls_key is None):
        return _error("--tls-cert and --tls-key go together")
    if not _loopback(host) and args.tls_cert is None and not args.insecure:
        return _error(
            f"refusing to serve plain HTTP on {args.address}: give --tls-cert/--tls-key, or "
            "--insecure to allow it"
        )
    home = resolve_home(args.home)
    data_root = (args.data_root or home / "data").resolve()
    for directory in (home, data_root, home / "streams", home / "staging"):
        directory.mkdir(parents=True, exist_ok=True)
    configure_logging("INFO", "logfmt")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.license is not None:
        os.environ["STREAMFORGE_LICENSE_FILE"] = str(args.license.resolve())
    state = build_state(startup_settings(home, os.environ))
    install(state)
    env_allow = frozenset(
        name.strip() for item in args.env_allow for name in item.split(",") if name.strip()
    )
    try:
        engine = open_database(args.db or sqlite_url(home))
    except Exception as exc:  # noqa: BLE001 - any database failure is one line
        return _error(f"cannot open the database: {exc}")
    load_builtins()
    problems = load_shipped_templates()
    if any((home / "templates").glob("*.yaml")):
        problems += load_templates([str(home / "templates" / "*.yaml")])
    for problem in problems:
        print(f"streamforge serve: {problem}", file=sys.stderr)
    store_cipher = ConfigCipher(home / "config.key")
    store = StreamStore(engine, store_cipher)
    generated = ensure_admin_token(home, store)
    if generated is not None:
        print(f"streamforge serve: admin token written to {generated}", file=sys.stderr)
    policy = ConfigPolicy(data_root, env_allow, tuple(Path(p).resolve() for p in args.allow_path))
    supervisor = Supervisor(
        home, data_root, env_allow, args.memory_limit, hang_timeout=hang_timeout or None
    )
    manager = Manager(
        store, supervisor, policy, decisions=state.decisions, staging=home / "staging"
    )
    share_with_streams(home, state.settings, supervisor.env)
    thing_output = None
    if args.thing_output is not None:
        try:
            thing_output = yaml.safe_load(args.thing_output.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            manager.shutdown()
            return _error(f"--thing-output {args.thing_output}: {exc}")
        if not isinstance(thing_output, dict) or len(thing_output) != 1:
            manager.shutdown()
            return _error(
                f"--thing-output {args.thing_output}: one output component, e.g. kafka: {{...}}"
            )
    files = [Path(file).resolve() for file in args.files]
    os.chdir(data_root)
    for path in files:
        file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            manager.shutdown()
            return _error(f"{file}: {exc.strerror or exc}")
        try:
            try:
                stored = store.get(path.stem)
                if stored.config_yaml != text:
                    manager.replace(path.stem, text)
            except NotFound:
                manager.create(path.stem, text)
        except (Invalid, LicenceRefused) as exc:
            manager.shutdown()
            for problem in exc.problems:
                print(f"{path}:{problem.location.line}:{problem.location.column}: "
                      f"{problem.message}", file=sys.stderr)  # fmt: skip
            return 1
        except ValueError as exc:
            manager.shutdown()
            return _error(f"{file}: {exc}")
    manager.boot()
    fetch_allow = frozenset(
        host.strip().lower()
        for item in args.td_fetch_allow
        for host in item.split(",")
        if host.strip()
    )
    things = Things(
        manager,
        ThingStore(engine, store_cipher),
        fetch_allow=fetch_allow,
        default_output=thing_output,
    )
    tokens = AccessTokens(home / "signing-key.pem", engine)
    identities = Identities(engine)
    first_admin = ensure_first_admin(home, identities)
    if first_admin is not None:
        print(f"streamforge serve: user admin's password written to {first_admin}",
              file=sys.stderr)  # fmt: skip
    security = SecurityStore(engine)
    try:
        authorizer = Authorizer(security.custom_permissions, security.policy_sources)
    except PolicyError as exc:
        manager.shutdown()
        return _error(f"the authorization policies do not load: {exc}")
    app = create_app(
        manager, TrialRunner(), things, identities, tokens, authorizer=authorizer,
        security=security, audit=AuditLog(engine),
    )  # fmt: skip
    # uvicorn stops on SIGTERM/SIGINT and then raises the signal again for the handler it
    # found: a handler that does nothing lets the streams stop and the manager exit 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
            ssl_keyfile=str(args.tls_key) if args.tls_key else None,
        )
    finally:
        manager.shutdown()
    return 0
