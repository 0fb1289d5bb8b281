"""What each endpoint of the manager needs: one table from (method, path) to a permission.

Every route the app serves must have a rule here or be listed as public; a route without one is
refused (403) and fails the authorization matrix test. The built-in roles are defined in
`policies/authz.rego`; `BUILTIN_ROLES` mirrors them for listings and checks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BUILTIN_ROLES",
    "PERMISSIONS",
    "PUBLIC",
    "RULES",
    "Rule",
    "check_permissions",
    "rule_for",
]

#: every permission a role can grant, with what it allows
PERMISSIONS: dict[str, str] = {
    "streams:read": "list and read streams, their configs, versions and figures",
    "streams:operate": "start, stop and restart streams",
    "streams:write": "create, change, restore and delete streams",
    "things:read": "list and read Thing Descriptions",
    "things:write": "add, change and delete Thing Descriptions",
    "templates:read": "list and read templates",
    "templates:write": "add templates",
    "processors:read": "list processors and their specs",
    "processors:test": "run processors on sample messages",
    "metrics:read": "read the merged metrics of every stream",
    "logs:read": "read a stream's log lines",
    "alarms:read": "read a stream's alarms",
    "alarms:ack": "acknowledge and suppress alarms",
    "dlq:read": "read a stream's dead letters",
    "dlq:replay": "replay a stream's dead letters",
    "users:read": "list and read users and API keys",
    "users:write": "add, change and remove users and API keys",
    "roles:read": "list and read roles",
    "roles:write": "create and delete custom roles",
    "policies:read": "list and read authorization policies",
    "policies:write": "upload and delete authorization policies",
    "license:read": "read the licence's status and features",
    "license:write": "activate a new licence",
    "system:read": "read the manager's health and metrics",
    "system:write": "reload templates and policies",
    "audit:read": "read the audit log",
}

_VIEWER = (
    "streams:read", "things:read", "templates:read", "processors:read", "metrics:read",
    "logs:read", "alarms:read", "dlq:read",
)  # fmt: skip
_OPERATOR = (*_VIEWER, "streams:operate", "alarms:ack", "dlq:replay")
_ENGINEER = (*_OPERATOR, "streams:write", "things:write", "templates:write", "processors:test")

#: the product's four roles (as `policies/authz.rego` defines them), least privileged first
BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "viewer": _VIEWER,
    "operator": _OPERATOR,
    "engineer": _ENGINEER,
    "admin": tuple(PERMISSIONS),
}


@dataclass(frozen=True)
class Rule:
    """The permission an endpoint needs, and where the resource it acts on is named."""

    permission: str
    kind: str | None = None
    """`stream` or `thing` when the endpoint acts on one (scopes and tags apply), else None"""
    id_param: str | None = None
    """the path parameter holding the resource's id"""


def _stream(permission: str) -> Rule:
    return Rule(permission, "stream", "stream_id")


def _thing(permission: str) -> Rule:
    return Rule(permission, "thing", "thing_id")


_B = "/wot/binding"
_S = f"{_B}/streams/{{stream_id}}"
_T = "/wot/things/{thing_id:path}"
_U = "/admin/security/users/{username}"

#: answered without a token
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/health/live"),
        ("GET", "/ready"),
        ("POST", "/auth/token"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
    }
)

#: (method, route path) -> the rule; routes listing or creating resources of a kind check the
#: permission here and the resource (its id and tags) in the handler
RULES: dict[tuple[str, str], Rule] = {
    # -- any signed-in identity ------------------------------------------------------------
    ("POST", "/auth/refresh"): Rule("self"),
    ("POST", "/auth/logout"): Rule("self"),
    ("GET", "/metrics"): Rule("metrics:read"),
    # -- streams ---------------------------------------------------------------------------
    ("GET", f"{_B}/streams"): Rule("streams:read", "stream"),
    ("POST", f"{_B}/streams"): Rule("streams:write", "stream"),
    ("GET", _S): _stream("streams:read"),
    ("PUT", _S): _stream("streams:write"),
    ("DELETE", _S): _stream("streams:write"),
    ("POST", f"{_S}/start"): _stream("streams:operate"),
    ("POST", f"{_S}/stop"): _stream("streams:operate"),
    ("POST", f"{_S}/restart"): _stream("streams:operate"),
    ("GET", f"{_S}/metrics"): _stream("streams:read"),
    ("GET", f"{_S}/logs"): _stream("logs:read"),
    ("GET", f"{_S}/versions"): _stream("streams:read"),
    ("POST", f"{_S}/versions/{{version}}/restore"): _stream("streams:write"),
    ("GET", f"{_S}/alarms"): _stream("alarms:read"),
    ("POST", f"{_S}/alarms/{{alarm}}/ack"): _stream("alarms:ack"),
    ("POST", f"{_S}/alarms/{{alarm}}/suppress"): _stream("alarms:ack"),
    ("GET", f"{_S}/dlq"): _stream("dlq:read"),
    ("POST", f"{_S}/dlq/replay"): _stream("dlq:replay"),
    # -- the Benthos streams API -----------------------------------------------------------
    ("GET", "/streams"): Rule("streams:read", "stream"),
    ("POST", "/streams"): Rule("streams:write", "stream"),
    ("GET", "/streams/{stream_id}"): _stream("streams:read"),
    ("POST", "/streams/{stream_id}"): _stream("streams:write"),
    ("PUT", "/streams/{stream_id}"): _stream("streams:write"),
    ("PATCH", "/streams/{stream_id}"): _stream("streams:write"),
    ("DELETE", "/streams/{stream_id}"): _stream("streams:write"),
    ("GET", "/streams/{stream_id}/stats"): _stream("streams:read"),
    # -- processors and templates ----------------------------------------------------------
    ("GET", f"{_B}/processors"): Rule("processors:read"),
    ("GET", f"{_B}/processors/{{name}}"): Rule("processors:read"),
    ("POST", f"{_B}/processors/test"): Rule("processors:test"),
    ("GET", f"{_B}/templates"): Rule("templates:read"),
    ("GET", f"{_B}/templates/{{name}}"): Rule("templates:read"),
    ("POST", f"{_B}/templates"): Rule("templates:write"),
    # -- Things ----------------------------------------------------------------------------
    ("GET", "/wot/things"): Rule("things:read", "thing"),
    ("POST", "/wot/things"): Rule("things:write", "thing"),
    ("GET", _T): _thing("things:read"),
    ("PUT", _T): _thing("things:write"),
    ("PATCH", _T): _thing("things:write"),
    ("DELETE", _T): _thing("things:write"),
    # -- administration --------------------------------------------------------------------
    ("GET", "/admin/security/users"): Rule("users:read"),
    ("POST", "/admin/security/users"): Rule("users:write"),
    ("GET", _U): Rule("users:read"),
    ("PATCH", _U): Rule("users:write"),
    ("DELETE", _U): Rule("users:write"),
    ("GET", f"{_U}/keys"): Rule("users:read"),
    ("POST", f"{_U}/keys"): Rule("users:write"),
    ("DELETE", f"{_U}/keys/{{key_id}}"): Rule("users:write"),
    ("GET", "/admin/security/roles"): Rule("roles:read"),
    ("POST", "/admin/security/roles"): Rule("roles:write"),
    ("GET", "/admin/security/roles/{name}"): Rule("roles:read"),
    ("DELETE", "/admin/security/roles/{name}"): Rule("roles:write"),
    ("GET", "/admin/security/policies"): Rule("policies:read"),
    ("POST", "/admin/security/policies"): Rule("policies:write"),
    ("GET", "/admin/security/policies/{name}"): Rule("policies:read"),
    ("DELETE", "/admin/security/policies/{name}"): Rule("policies:write"),
    ("GET", "/admin/license/status"): Rule("license:read"),
    ("GET", "/admin/license/features"): Rule("license:read"),
    ("POST", "/admin/license/activate"): Rule("license:write"),
    ("GET", "/admin/system/health"): Rule("system:read"),
    ("GET", "/admin/system/metrics"): Rule("system:read"),
    ("POST", "/admin/system/reload"): Rule("system:write"),
    ("GET", "/admin/audit"): Rule("audit:read"),
}


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route (`path` as the route declares it); None when it has none."""
    return RULES.get((method, path))


def check_permissions(permissions: list[str] | tuple[str, ...]) -> list[str]:
    """Permissions as given, each known or a `<area>:*` wildcard of a known area; ValueError
    naming the first that is not."""
    areas = {name.split(":", 1)[0] for name in PERMISSIONS}
    checked: list[str] = []
    for permission in permissions:
        area, _, verb = permission.partition(":")
        if permission not in PERMISSIONS and not (verb == "*" and area in areas):
            raise ValueError(
                f"unknown permission {permission!r} (known: {', '.join(PERMISSIONS)}, or <area>:*)"
            )
        if permission not in checked:
            checked.append(permission)
    return checked
