"""The dependency every secured endpoint runs: who is asking (`TokenCheck`), and may they.

The endpoint's rule comes from `permissions.RULES` by its method and route path; a route with
no rule is refused. For an endpoint on one stream or Thing, the resource's id and tags take part
in the decision; endpoints that list or create resources check each one with `AccessCheck`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import HTTPException, Request

from streamforge.manager.auth import Identity, TokenCheck
from streamforge.manager.authz import Authorizer, Decision, Resource, Subject
from streamforge.manager.permissions import Rule, rule_for

__all__ = ["AccessCheck", "Guard", "TagLookup", "access_of", "forbidden"]

#: the tags of a resource of a kind (`stream`, `thing`) by id; () when it does not exist
TagLookup = Callable[[str, str], tuple[str, ...]]


def forbidden(detail: str) -> HTTPException:
    return HTTPException(403, detail)


def _subject(identity: Identity) -> Subject:
    return Subject(identity.subject, identity.roles, identity.scopes)


def _refusal(identity: Identity, permission: str, resource: Resource, decision: Decision) -> str:
    roles = ", ".join(identity.roles) or "no role"
    target = f" on {resource.kind} {resource.id!r}" if resource.id is not None else ""
    why = f": {'; '.join(decision.reasons)}" if decision.reasons else ""
    return f"{identity.subject} ({roles}) may not {permission}{target}{why}"


@dataclass(frozen=True)
class AccessCheck:
    """What a request's identity may do, for handlers that check resources themselves."""

    identity: Identity
    rule: Rule
    authorizer: Authorizer

    def permits(self, kind: str, resource_id: str, tags: Iterable[str] = ()) -> bool:
        """Whether the rule's permission covers this resource."""
        resource = Resource(kind, resource_id, tuple(tags))
        return self.authorizer.decide(_subject(self.identity), self.rule.permission, resource).allow

    def require(self, kind: str, resource_id: str, tags: Iterable[str] = ()) -> None:
        """403 unless the rule's permission covers this resource."""
        resource = Resource(kind, resource_id, tuple(tags))
        decision = self.authorizer.decide(_subject(self.identity), self.rule.permission, resource)
        if not decision.allow:
            raise forbidden(_refusal(self.identity, self.rule.permission, resource, decision))


def access_of(request: Request) -> AccessCheck:
    """The access check the guard left for this request."""
    check: AccessCheck = request.state.access
    return check


class Guard:
    """A FastAPI dependency: 401 without a good token, 403 when the policies refuse."""

    def __init__(self, tokens: TokenCheck, authorizer: Authorizer, tags_of: TagLookup) -> None:
        self.tokens = tokens
        self.authorizer = authorizer
        self.tags_of = tags_of

    def __call__(self, request: Request) -> Identity:
        identity = self.tokens(request)
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        method = "GET" if request.method == "HEAD" else request.method
        rule = rule_for(method, path)
        if rule is None:
            raise forbidden(f"no access rule covers {method} {path}")
        resource = Resource(rule.kind)
        if rule.kind is not None and rule.id_param is not None:
            resource_id = str(request.path_params.get(rule.id_param, ""))
            resource = Resource(rule.kind, resource_id, self.tags_of(rule.kind, resource_id))
        decision = self.authorizer.decide(_subject(identity), rule.permission, resource)
        if not decision.allow:
            raise forbidden(_refusal(identity, rule.permission, resource, decision))
        request.state.access = AccessCheck(identity, rule, self.authorizer)
        return identity
