"""The opcua input's benthos-umh options `useHeartbeat` and `browseHierarchicalReferences`
against a real asyncua server."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asyncua import ua
from peers.opcua_server import NS, OpcuaServer, node
from peers.stream_run import wait_until


@pytest.fixture(scope="module")
def server_with_property(opcua_server: OpcuaServer) -> OpcuaServer:
    """The test server with a property (HasProperty) on the boiler: a rated pressure."""
    assert opcua_server._server is not None
    boiler = opcua_server._server.get_node(node("Plant.Line1.Boiler"))
    opcua_server._call(
        boiler.add_property(
            ua.NodeId("Plant.Line1.Boiler.RatedPressure", NS),
            ua.QualifiedName("RatedPressure", NS),
            16.0,
            ua.VariantType.Double,
        )
    )
    return opcua_server


def test_hierarchical_references_reach_properties(
    server_with_property: OpcuaServer, reading: Any
) -> None:
    conf = {"endpoint": server_with_property.endpoint, "nodeIDs": [node("Plant.Line1")]}
    plain = reading(conf)
    plain.until(lambda ms: {"Temperature", "Speed"} <= {m.metadata["opcua_tag_name"] for m in ms},
                "a poll of the line")  # fmt: skip
    assert "RatedPressure" not in plain.names()

    wide = reading({**conf, "browseHierarchicalReferences": True})
    wide.until(lambda ms: any(m.metadata["opcua_tag_name"] == "RatedPressure" for m in ms),
               "the property")  # fmt: skip
    prop = next(m for m in wide.messages if m.metadata["opcua_tag_name"] == "RatedPressure")
    assert prop.value == 16.0
    assert prop.metadata["opcua_tag_path"] == "Line1.Boiler.RatedPressure"
    assert {"Temperature", "Pressure", "Running", "Speed"} <= wide.names()


@pytest.mark.parametrize("subscribe", [True, False])
def test_heartbeat_is_watched_but_not_emitted(
    opcua_server: OpcuaServer, reading: Any, subscribe: bool
) -> None:
    r = reading(
        {
            "endpoint": opcua_server.endpoint,
            "nodeIDs": [node("Plant.Line1.Pump")],
            "useHeartbeat": True,
            "subscribeEnabled": subscribe,
            "samplingInterval": "100ms",
            "pollInterval": "200ms",
        }
    )
    r.until(lambda ms: len(ms) >= 3 if not subscribe else len(ms) >= 1, "pump readings")
    assert r.names() == {"Speed"}
    assert r.reader.conn.connected


def test_heartbeat_configured_as_a_node_is_emitted(opcua_server: OpcuaServer, reading: Any) -> None:
    r = reading(
        {
            "endpoint": opcua_server.endpoint,
            "nodeIDs": ["i=2258"],
            "useHeartbeat": True,
            "subscribeEnabled": True,
            "samplingInterval": "100ms",
        }
    )
    r.until(lambda ms: len(ms) >= 2, "two heartbeats")
    assert r.names() == {"CurrentTime"}


def test_a_silent_heartbeat_reconnects(
    opcua_server: OpcuaServer, reading: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="streamforge")
    assert opcua_server._server is not None
    internal = opcua_server._server.iserver
    r = reading(
        {
            "endpoint": opcua_server.endpoint,
            "nodeIDs": [node("Plant.Line1.Pump")],
            "useHeartbeat": True,
            "subscribeEnabled": True,
            "samplingInterval": "100ms",
        }
    )
    r.until(lambda ms: len(ms) >= 1, "a reading")
    internal._time_task_stop = True  # the server's clock stops updating CurrentTime
    try:
        wait_until(
            lambda: "no heartbeat from the server's CurrentTime" in caplog.text,
            20,
            "the heartbeat to be declared lost",
        )
    finally:
        internal._time_task_stop = False
        opcua_server._call(_restart_time_task(internal))
    # the input reconnects and reads again
    before = len(r.messages)
    r.until(lambda ms: len(ms) > before and r.reader.conn.connected, "readings after reconnect")


async def _restart_time_task(internal: Any) -> None:
    import asyncio

    internal.time_task = asyncio.create_task(internal._set_current_time_loop())
