"""Fixtures for integration tests: real peers (brokers, servers) on free loopback ports."""

# Each peer module defines its fixtures; importing them here makes them available to every
# integration test.
from peers.http_echo import http_echo  # noqa: F401
from peers.http_sink import http_sink  # noqa: F401
from peers.manager import manager  # noqa: F401
from peers.modbus_server import black_hole, modbus_server  # noqa: F401
from peers.mosquitto import mosquitto  # noqa: F401
from peers.node_wot import node_wot, node_wot_install  # noqa: F401
from peers.opcua_reading import reading  # noqa: F401
from peers.opcua_server import opcua_secure_server, opcua_server, opcua_server_certificate  # noqa: F401
from peers.postgres import postgres_url  # noqa: F401
from peers.schema_registry import schema_registry, schema_registry_auth  # noqa: F401
from peers.stream_run import runs  # noqa: F401
from peers.tansu import tansu, tansu_restartable  # noqa: F401
from peers.tansu_secure import tansu_auth, tansu_tls  # noqa: F401
