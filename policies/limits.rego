# How many things, streams and users a deployment may have, and request rates per endpoint.
package streamforge.limits

import rego.v1

import data.streamforge.features

max_things := features.allowed_features.capabilities.max_things

max_streams := features.allowed_features.capabilities.max_streams

max_users := features.allowed_features.capabilities.max_users

# input.request.streams: the number of streams once the new one is added.
default stream_allowed := false

stream_allowed if features.within_limit("streams", input.request.streams)

# input.request.things: the number of things once the new one is added.
default thing_allowed := false

thing_allowed if features.within_limit("things", input.request.things)

# input.request.users: the number of users once the new one is added.
default user_allowed := false

user_allowed if features.within_limit("users", input.request.users)

# Requests per window for the manager's endpoints and every other one ("default").
base_rate_limits := {
	"/wot/things": {"requests": 60, "per_seconds": 60},
	"/wot/binding": {"requests": 30, "per_seconds": 60},
	"/admin": {"requests": 20, "per_seconds": 60},
	"default": {"requests": 120, "per_seconds": 60},
}

# A verified licence doubles every request budget.
rate_factor := 2 if features.licensed

default rate_factor := 1

rate_limit[endpoint] := limit if {
	some endpoint, base in base_rate_limits
	limit := {"requests": base.requests * rate_factor, "per_seconds": base.per_seconds}
}

# The limit for input.request.endpoint; endpoints without their own use "default".
request_rate_limit := object.get(rate_limit, input.request.endpoint, rate_limit["default"])
