# Who may do what on the manager: the product's four roles, custom roles, and scopes.
#
# StreamForge evaluates `data.streamforge.authz.decision` with an input document of the form
#   {"subject": {"name": "alice", "roles": ["engineer"], "scopes": ["line-2.*", "tag:north"]},
#    "action": "streams:write",
#    "resource": {"kind": "stream", "id": "line-2.press", "tags": ["north"]},
#    "custom_roles": {"shift-lead": ["streams:operate", "alarms:*"]}}
# `resource.kind` is null for actions on no stream or Thing (users, licence, templates ...);
# `resource.id` is null when a request lists or creates resources of a kind (the manager then
# checks each one). A scope is an id pattern (`*` matches any characters), `tag:<tag>`, or
# either prefixed with `<role>@` to scope only that role; a user without scopes is unscoped.
#
# Policies an admin uploads (package streamforge.authz) may add grants or refusals:
#   allow if { input.subject.name == "historian"; input.action == "dlq:read" }
#   deny contains "no changes during the night shift" if { endswith(input.action, ":write"); ... }
package streamforge.authz

import rego.v1

viewer := {
	"streams:read", "things:read", "templates:read", "processors:read", "metrics:read",
	"logs:read", "alarms:read", "dlq:read",
}

operator := viewer | {"streams:operate", "alarms:ack", "dlq:replay"}

engineer := operator | {"streams:write", "things:write", "templates:write", "processors:test"}

# The product's roles; `admin` holds every permission.
builtin_roles := {
	"viewer": viewer,
	"operator": operator,
	"engineer": engineer,
	"admin": {"*"},
}

permissions_of(role) := builtin_roles[role]

permissions_of(role) := {p | some p in input.custom_roles[role]} if not builtin_roles[role]

# the wildcards that would grant the requested action
wanted := {input.action, "*", concat("", [split(input.action, ":")[0], ":*"])}

granted(role) if count(permissions_of(role) & wanted) > 0

role_prefix(role) := concat("", [role, "@"])

scopes_for(role) := specific if {
	specific := [trim_prefix(s, role_prefix(role)) | some s in input.subject.scopes; startswith(s, role_prefix(role))]
	count(specific) > 0
} else := [s | some s in input.subject.scopes; not contains(s, "@")]

scope_matches(scope) if {
	startswith(scope, "tag:")
	trim_prefix(scope, "tag:") in input.resource.tags
}

scope_matches(scope) if {
	not startswith(scope, "tag:")
	glob.match(scope, null, input.resource.id)
}

in_scope(_) if input.resource.kind == null

in_scope(_) if input.resource.id == null

in_scope(role) if count(scopes_for(role)) == 0

in_scope(role) if {
	some scope in scopes_for(role)
	scope_matches(scope)
}

# Refreshing one's own token and logging out need no role.
allow if input.action == "self"

allow if {
	some role in input.subject.roles
	granted(role)
	in_scope(role)
}

# Why a request is refused although a role grants it (added by uploaded policies).
deny contains "" if false

decision := {"allow": true, "reasons": []} if {
	allow
	count(deny) == 0
} else := {"allow": false, "reasons": sort([r | some r in deny])}
