"""Licences (signed JWTs) and the Rego policies that decide which features a deployment may use."""
