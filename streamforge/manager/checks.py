"""What the manager checks before it stores or runs a submitted config.

A config sent over the API runs with the manager's rights, so besides what `lint` and `run`
check (the config, the licence, building every component) the manager refuses what would make
a stream author the manager's owner: plugins, a licence of its own, environment variables and
`env()` names outside the operator's allow-list, `file()` and file paths outside the data root.
Every refusal is a problem at the line and column of the submitted YAML.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamforge.config.loader import load_stream, unrunnable
from streamforge.config.model import ConfigError, Location, Problem, StreamConfig
from streamforge.config.yamlpos import YamlDocument, load_yaml
from streamforge.connectors.http import parse_address

__all__ = [
    "CheckResult",
    "ConfigPolicy",
    "check_config",
    "config_text",
    "lint_errors",
    "listen_addresses",
    "policy_problems",
]

_ENV_REF = re.compile(r"(?<!\$)\$\{([0-9A-Za-z_.]+)")
_ENV_CALL = re.compile(r"\benv\(\s*(?:\"([^\"]*)\"|'([^']*)')?")
_FILE_CALL = re.compile(r"\bfile(?:_rel)?\(\s*(?:\"([^\"]*)\"|'([^']*)')?")
#: keys whose values are file system paths (`path`, `paths`, `cert_file`, `schema_path` ...)
_PATH_KEY = re.compile(r"^(paths?|.*_(path|paths|file|files|dir))$")
_INTERPOLATION = "${!"


@dataclass(frozen=True)
class ConfigPolicy:
    """What the operator lets submitted configs do."""

    data_root: Path
    env_allow: frozenset[str] = frozenset()
    allowed_paths: tuple[Path, ...] = ()

    def path_allowed(self, value: str) -> bool:
        """True when `value` (relative to the data root) lies under an allowed directory."""
        static = value.split(_INTERPOLATION, 1)[0]
        if not static:
            return False  # the whole path is computed per message: it could be anything
        target = Path(os.path.normpath(self.data_root / static))
        return any(_within(target, root) for root in (self.data_root, *self.allowed_paths))


def _within(path: Path, root: Path) -> bool:
    root = Path(os.path.normpath(root))
    return path == root or root in path.parents


@dataclass
class CheckResult:
    """The outcome of checking one config: the stream when it may run, else the problems."""

    stream: StreamConfig | None
    lint: list[Problem] = field(default_factory=list)
    licence: list[Problem] = field(default_factory=list)


def config_text(config: Any) -> str:
    """A submitted config (a YAML string or an object) as YAML text."""
    if isinstance(config, str):
        return config
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def policy_problems(text: str, policy: ConfigPolicy) -> list[Problem]:
    """What the manager refuses in `text` (a config or a list of processors), at its place."""
    doc = load_yaml(text, "config.yaml", environ=_AnyVariable())
    if doc.data is None:
        return []
    return _policy_problems(doc, policy)


def _policy_problems(doc: YamlDocument, policy: ConfigPolicy) -> list[Problem]:
    problems: list[Problem] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    for key, why in (
        ("plugins", "plugins are installed on the manager's host, not sent in configs"),
        ("license", "the manager's licence applies to every stream; a config may not bring one"),
    ):
        if key in data:
            problems.append(Problem(doc.key_location((key,)), f"{key}: {why}"))
    allowed = ", ".join(sorted(policy.env_allow)) or "none"
    for match in _ENV_REF.finditer(doc.source):
        name = match.group(1)
        if name not in policy.env_allow:
            problems.append(
                Problem(
                    doc.index_location(match.start()),
                    f"${{{name}}}: configs sent to the manager may read only the environment "
                    f"variables the operator allows (--env-allow; allowed: {allowed})",
                )
            )
    for match in _ENV_CALL.finditer(doc.source):
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if name is None or name not in policy.env_allow:
            shown = f'env("{name}")' if name is not None else "env() of a computed name"
            problems.append(
                Problem(
                    doc.index_location(match.start()),
                    f"{shown}: configs sent to the manager may read only the environment "
                    f"variables the operator allows (allowed: {allowed})",
                )
            )
    for match in _FILE_CALL.finditer(doc.source):
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if name is None or not policy.path_allowed(name):
            problems.append(
                Problem(
                    doc.index_location(match.start()),
                    f"{match.group(0).split('(')[0]}(): a mapping sent to the manager may read "
                    f"files only under the data root {policy.data_root}",
                )
            )
    for path, value in _walk(data):
        if not path or not isinstance(path[-1], str) or not _PATH_KEY.match(path[-1]):
            continue
        if path[-1] == "path" and any(isinstance(k, str) and "http" in k for k in path[:-1]):
            continue  # an HTTP component's `path` is a URL path, not a file
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            if not isinstance(item, str) or not item:
                continue
            if policy.path_allowed(item):
                continue
            where = (*path, index) if isinstance(value, list) else path
            problems.append(
                Problem(
                    doc.location(where),
                    f"{'.'.join(map(str, path))}: {item!r} is outside the data root "
                    f"{policy.data_root}",
                )
            )
    return problems


def listen_addresses(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """The (path, address) of every `http_server` input's own listener in a config."""
    found = []
    for path, value in _walk(data):
        if path and path[-1] == "http_server" and isinstance(value, dict):
            address = value.get("address")
            if isinstance(address, str) and address.strip():
                found.append(((*path, "address"), address.strip()))
    return found


def _taken(address: str) -> str | None:
    """Why nobody could listen on `address` now (None when a listener could)."""
    try:
        host, port = parse_address(address)
    except ValueError:
        return None  # lint reports a malformed address
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _address_problems(doc: YamlDocument, keep: frozenset[str]) -> list[Problem]:
    problems = []
    for path, address in listen_addresses(doc.data):
        if address in keep:
            continue  # the stream being replaced listens there; it stops first
        why = _taken(address)
        if why is not None:
            problems.append(
                Problem(
                    doc.location(path),
                    f"{'.'.join(map(str, path))}: cannot listen on {address}: {why} (another "
                    "stream or program listens there)",
                )
            )
    return problems


def check_config(
    stream_id: str,
    config: Any,
    policy: ConfigPolicy,
    *,
    decisions: Any | None = None,
    staging: Path | None = None,
    own_addresses: frozenset[str] = frozenset(),
) -> CheckResult:
    """Lint, apply the manager's policy, check the licence and build the stream (offline).

    Problems carry the line and column of the submitted YAML. `decisions` are the manager's
    licence decisions (None: no licence check).
    """
    from streamforge.engine.instantiate import build_problems

    text = config_text(config)
    # first the structure with every ${VAR} filled in, so the policy can name what it refuses
    doc = load_yaml(text, f"{stream_id}.yaml", environ=_AnyVariable())
    if doc.problems or doc.data is None:
        return CheckResult(None, list(doc.problems) or [_at_top(stream_id, "the config is empty")])
    if not isinstance(doc.data, dict):
        return CheckResult(None, [_at_top(stream_id, "a stream config is a YAML mapping")])
    refused = _policy_problems(doc, policy) + _address_problems(doc, own_addresses)
    if refused:
        return CheckResult(None, refused)
    with tempfile.TemporaryDirectory(dir=staging, prefix="check-") as tmp:
        path = Path(tmp) / f"{stream_id}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            stream = load_stream(path, name=stream_id, environ=_allowed_environ(policy))
        except ConfigError as exc:
            return CheckResult(None, list(exc.problems))
        problems = unrunnable(stream)
        if problems:
            return CheckResult(None, problems)
        problems = build_problems(stream)
        if problems:
            return CheckResult(None, problems)
        if decisions is not None:
            from streamforge.license.gate import gate_problems

            licence = gate_problems([stream], decisions, limits=False)
            if licence:
                return CheckResult(None, licence=licence)
    return CheckResult(stream)


class _AnyVariable(dict[str, str]):
    """An environment in which every variable is set (to a harmless value)."""

    def get(self, key: str, default: Any = None) -> str:  # type: ignore[override]
        return "x"


def _allowed_environ(policy: ConfigPolicy) -> dict[str, str]:
    return {name: os.environ[name] for name in policy.env_allow if name in os.environ}


def _at_top(stream_id: str, message: str) -> Problem:
    return Problem(Location(f"{stream_id}.yaml", 1, 1), message)


def lint_errors(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    """Problems as the API's `lint_errors`: line, column, message."""
    ordered = sorted(problems, key=lambda p: (p.location.line, p.location.column, p.message))
    return [
        {"line": p.location.line, "column": p.location.column, "message": p.message}
        for p in ordered
    ]
