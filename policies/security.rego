# Which authentication and transport security methods a deployment may use.
package streamforge.security

import rego.v1

import data.streamforge.features

# Every method StreamForge knows, with what it is.
known_methods := {
	"basic_auth": "HTTP Basic authentication against configured users and password hashes",
	"bearer_token": "a bearer token in the HTTP Authorization header",
	"tls": "TLS with a server certificate",
	"mtls": "mutual TLS: clients present certificates too",
	"sasl_plain": "Kafka SASL/PLAIN user name and password",
	"sasl_scram": "Kafka SASL/SCRAM-SHA-256 or SHA-512",
	"opcua_certificate": "OPC UA application certificates (Sign or SignAndEncrypt)",
}

allowed_methods contains method if some method in features.allowed_features.security

method_allowed(method) if method in allowed_methods
