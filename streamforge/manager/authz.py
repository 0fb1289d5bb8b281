"""Authorization decisions: `policies/authz.rego` and uploaded policies, evaluated in-process.

A decision depends only on its input (the subject's name, roles and scopes, the action, the
resource's kind, id and tags, and the custom roles), so decisions are cached by that input; the
cache is dropped whenever custom roles or policies change. Roles, scopes and tags are part of the
key, so changing a user or a stream needs no invalidation. While only the built-in policy is in
force, an unscoped subject's decision does not depend on which resource it is, and is cached
once per kind.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regopy

from streamforge.license.policy import PolicyError, RegoEngine, builtin_policy_files

__all__ = [
    "AUTHZ_POLICY",
    "Authorizer",
    "Decision",
    "Resource",
    "Subject",
    "check_policy_source",
]

log = logging.getLogger("streamforge.manager.authz")

AUTHZ_POLICY = "authz.rego"
_DECISION = "data.streamforge.authz.decision"
_ENTRYPOINT = "streamforge/authz/decision"
_PACKAGE = re.compile(r"^\s*package\s+(streamforge\.authz(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$", re.M)
_CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class Subject:
    """Who asks: a username (or `admin` for the admin token), roles and scopes."""

    name: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """What is acted on: a stream or Thing (with id and tags), or nothing in particular."""

    kind: str | None = None
    id: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    allow: bool
    reasons: tuple[str, ...] = ()


def builtin_authz_policy() -> Path:
    """The shipped `authz.rego`."""
    for path in builtin_policy_files():
        if path.name == AUTHZ_POLICY:
            return path
    raise PolicyError(f"{AUTHZ_POLICY}: the built-in authorization policy is missing")


_PROBES: tuple[Mapping[str, Any], ...] = (
    {
        "subject": {"name": "probe", "roles": ["viewer"], "scopes": ["line-1.*", "tag:probe"]},
        "action": "streams:read",
        "resource": {"kind": "stream", "id": "line-1.probe", "tags": ["probe"]},
        "custom_roles": {},
    },
    {
        "subject": {"name": "probe", "roles": ["admin"], "scopes": []},
        "action": "users:write",
        "resource": {"kind": None, "id": None, "tags": []},
        "custom_roles": {"probe": ["streams:*"]},
    },
)


class _CompiledDecision:
    """The decision compiled once into a regopy bundle: a query then costs well under a
    millisecond, where an interpreter compiling the modules per query takes several."""

    def __init__(self, files: Sequence[Path]) -> None:
        builder = regopy.Interpreter()
        builder.log_level = regopy.LogLevel.NONE
        for path in files:
            builder.add_module(str(path), path.read_text(encoding="utf-8"))
        try:
            self._bundle = builder.build(None, [_ENTRYPOINT])
        except regopy.RegoError as exc:
            raise PolicyError(f"the authorization policies do not compile: {exc}") from None
        self._runner = regopy.Interpreter()
        self._runner.log_level = regopy.LogLevel.NONE

    def query(self, document: Mapping[str, Any]) -> Any:
        """The decision for `document`; PolicyError when evaluation fails."""
        try:
            self._runner.set_input_term(json.dumps(document))
            output = self._runner.query_bundle_entrypoint(self._bundle, _ENTRYPOINT)
            text = str(output)
            ok = output.ok()
        except regopy.RegoError as exc:
            raise PolicyError(f"{_DECISION}: {exc}") from None
        if not ok or text.lstrip().startswith("("):
            raise PolicyError(f"{_DECISION}: the evaluation failed: {text[:300]}")
        if text.strip() == "undefined":
            return None
        try:
            expressions = json.loads(text).get("expressions") or [None]
        except (ValueError, AttributeError):
            raise PolicyError(f"{_DECISION}: an answer that is not JSON: {text[:300]}") from None
        return expressions[0]


def _engine(sources: Mapping[str, str], workdir: Path) -> _CompiledDecision:
    """The built-in policy and `sources` (name -> Rego text) compiled, after a probe has
    refused a policy that does not parse, evaluate or answer a decision."""
    files = [builtin_authz_policy()]
    for name, source in sorted(sources.items()):
        path = workdir / f"{name}.rego"
        path.write_text(source, encoding="utf-8")
        files.append(path)
    engine = RegoEngine(files)
    for probe in _PROBES:
        answer = engine.query(_DECISION, probe)
        if not isinstance(answer, dict) or not isinstance(answer.get("allow"), bool):
            raise PolicyError(
                f"the policies give no decision (data.streamforge.authz.decision = {answer!r})"
            )
        reasons = answer.get("reasons")
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise PolicyError("deny must hold strings (the reasons a request is refused)")
    compiled = _CompiledDecision(files)
    for probe in _PROBES:
        if compiled.query(probe) != engine.query(_DECISION, probe):
            raise PolicyError("the compiled policies decide differently from the interpreted")
    return compiled


def check_policy_source(name: str, source: str) -> None:
    """ValueError unless `source` is Rego in package `streamforge.authz` (or below it)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", name):
        raise ValueError(f"policy name {name!r}: use 1 to 64 of A-Z a-z 0-9 _ -")
    if not _PACKAGE.search(source):
        raise ValueError(f"{name}: the policy must be in package streamforge.authz")


class Authorizer:
    """Decides requests with the authorization policies; decisions are cached."""

    def __init__(
        self,
        custom_roles: Callable[[], Mapping[str, Sequence[str]]] = dict,
        uploaded: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        self._custom_roles_source = custom_roles
        self._uploaded_source = uploaded
        self._lock = threading.Lock()
        self._workdir = tempfile.TemporaryDirectory(prefix="streamforge-authz-")
        self._cache: dict[tuple[Any, ...], Decision] = {}
        self._custom_roles: dict[str, list[str]] = {}
        sources = dict(uploaded())
        self._engine = self._build(sources)
        self._builtin_only = not sources
        self.reload_roles()

    def _build(self, sources: Mapping[str, str]) -> _CompiledDecision:
        workdir = Path(tempfile.mkdtemp(dir=self._workdir.name))
        return _engine(sources, workdir)

    # -- changes ------------------------------------------------------------------------------
    def reload_roles(self) -> None:
        """Read custom roles again and drop every cached decision."""
        roles = {name: list(perms) for name, perms in self._custom_roles_source().items()}
        with self._lock:
            self._custom_roles = roles
            self._cache.clear()

    def reload(self) -> str:
        """Rebuild from the stored policies and roles; PolicyError leaves things as they were."""
        sources = dict(self._uploaded_source())
        engine = self._build(sources)
        with self._lock:
            self._engine = engine
            self._builtin_only = not sources
            self._cache.clear()
        self.reload_roles()
        return f"authorization policies: built-in + {len(sources)} uploaded"

    def try_policies(self, sources: Mapping[str, str]) -> None:
        """PolicyError when the built-in policy with `sources` would not decide requests."""
        self._build(sources)

    # -- decisions ----------------------------------------------------------------------------
    def decide(self, subject: Subject, action: str, resource: Resource = Resource()) -> Decision:
        """Whether `subject` may do `action` on `resource`."""
        # the built-in policy decides an unscoped subject by roles and action alone, so its
        # decisions are shared by every resource of a kind
        shared = self._builtin_only and not subject.scopes
        key = (subject, action, Resource(resource.kind) if shared else resource)
        found = self._cache.get(key)
        if found is not None:
            return found
        document = {
            "subject": {
                "name": subject.name,
                "roles": list(subject.roles),
                "scopes": list(subject.scopes),
            },
            "action": action,
            "resource": {"kind": resource.kind, "id": resource.id, "tags": list(resource.tags)},
            "custom_roles": {r: self._custom_roles[r] for r in subject.roles
                             if r in self._custom_roles},
        }  # fmt: skip
        try:
            with self._lock:
                answer = self._engine.query(document)
        except PolicyError as exc:
            log.error("authorization policy failed, request refused: %s", exc)
            return Decision(False, ("the authorization policy failed; see the manager's log",))
        decision = Decision(
            bool(isinstance(answer, dict) and answer.get("allow") is True),
            tuple(str(r) for r in answer.get("reasons", ()) if r) if isinstance(answer, dict)
            else (),
        )  # fmt: skip
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = decision
        return decision

    def close(self) -> None:
        self._workdir.cleanup()
