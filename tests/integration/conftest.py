"""Fixtures for integration tests: real peers (brokers, servers) on free loopback ports."""

# Each peer module defines its fixtures; importing them here makes them available to every
# integration test.
