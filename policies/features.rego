# Which bindings, processors, security methods and storage a deployment may use, and its limits.
#
# StreamForge evaluates this package with an input document of the form
#   {"license": <verified licence or null>, "processors": [<known processor names>],
#    "request": {"category": "bindings", "feature": "kafka"}}
# Without a verified licence (`license: null`) the defaults below apply.
# Files in `license.policy_dir` may add rules to this package, for example
#   deny contains "kafka is not used on this site" if input.request.feature == "kafka"
# Build messages with concat(): in-process (regopy 1.5), sprintf wraps strings computed by other
# built-ins in stray quotes.
package streamforge.features

import rego.v1

# What every deployment may use without a licence.
default_features := {
	"bindings": {"http", "mqtt"},
	"processors": {"mapping"},
	"security": {"basic_auth"},
	"storage": set(),
	"capabilities": {
		"max_things": 10,
		"max_streams": 5,
		"max_users": 2,
		"multi_tenancy": false,
		"audit_logging": false,
	},
}

# Feature categories a licence lists names for.
categories := {"bindings", "processors", "security", "storage"}

# Processors that need a licence feature; every processor not listed here is a base feature.
licensed_processors := {"alarm", "downsample", "schema_registry_encode", "schema_registry_decode"}

# A verified licence is in effect.
default licensed := false

licensed if is_object(input.license)

licence_features := object.get(input.license, "features", {}) if licensed

default licence_features := {}

granted(category) := {name | some name in object.get(licence_features, category, [])}

# Per category the defaults plus what the licence grants; capabilities: the licence's values
# where it sets them, else the defaults.
allowed_features := object.union(
	{category: names |
		some category in categories
		names := default_features[category] | granted(category)
	},
	{"capabilities": object.union(
		default_features.capabilities,
		object.get(licence_features, "capabilities", {}),
	)},
)

feature_allowed(category, feature) if feature in allowed_features[category]

feature_allowed("processors", feature) if not feature in licensed_processors

# Every known processor (`input.processors`) that may be used, plus those granted by name.
processor_allowed contains name if {
	some name in input.processors
	feature_allowed("processors", name)
}

processor_allowed contains name if some name in allowed_features.processors

binding_allowed contains name if some name in allowed_features.bindings

security_allowed contains name if some name in allowed_features.security

storage_allowed contains name if some name in allowed_features.storage

# A count of things, streams or users is within the limit; true for a resource without one.
within_limit(resource, n) if n <= allowed_features.capabilities[concat("", ["max_", resource])]

within_limit(resource, _) if not concat("", ["max_", resource]) in object.keys(allowed_features.capabilities)

# Refusals that hold even when the feature is allowed; user policies add their own.
deny contains msg if {
	not input.request.category in categories
	msg := concat("", [
		"unknown feature category '", input.request.category,
		"' (known: ", concat(", ", sort(categories)), ")",
	])
}

# The decision for one request: input.request = {"category": ..., "feature": ...}.
default allow := false

allow if {
	feature_allowed(input.request.category, input.request.feature)
	count(deny) == 0
}

singular := {
	"bindings": "binding",
	"processors": "processor",
	"security": "security method",
	"storage": "storage",
}

# Why the request is refused; empty when it is allowed.
default reason := ""

reason := concat("; ", sort(deny)) if {
	count(deny) > 0
} else := msg if {
	not allow
	msg := concat("", [
		singular[input.request.category], " '", input.request.feature,
		"' needs a licence feature ", input.request.category, "/", input.request.feature,
		licence_note,
	])
}

licence_note := concat("", [", not granted by the licence of ", input.license.subject]) if licensed

default licence_note := " (no licence in effect)"
