"""benthos-umh's older `nodeID` field of the `opcua` input, in a stream run against a real
asyncua server: the one node is read (a folder browsed) as `nodeIDs: [ it ]` reads it."""

from __future__ import annotations

import json
from pathlib import Path

from asyncua import ua
from peers.opcua_server import OpcuaServer, node
from peers.stream_run import out_lines, run_until, stream_config, wait_until


def test_a_stream_with_node_id_browses_and_subscribes(
    opcua_server: OpcuaServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = stream_config(
        tmp_path / "node_id.yaml",
        f"""
        input:
          opcua:
            endpoint: {opcua_server.endpoint}
            nodeID: "{node("Plant.Line1")}"
            subscribeEnabled: true
            samplingInterval: 50ms
        pipeline:
          processors:
            - mapping: |
                root.path = @opcua_tag_path
                root.value = this
        """,
        out,
    )

    def paths() -> set[str]:
        return {json.loads(line)["path"] for line in out_lines(out)}

    def speeds() -> list[int]:
        docs = [json.loads(line) for line in out_lines(out)]
        return [d["value"] for d in docs if d["path"] == "Line1.Pump.Speed"]

    def changed() -> bool:
        if not {"Line1.Boiler.Temperature", "Line1.Pump.Speed"} <= paths():
            return False
        opcua_server.write("Plant.Line1.Pump.Speed", 1234, ua.VariantType.Int32)
        wait_until(lambda: 1234 in speeds(), 10, "the changed speed")
        return True

    try:
        run_until(config, changed, 30, "the variables below Line1 and a change")
    finally:
        opcua_server.write("Plant.Line1.Pump.Speed", 1450, ua.VariantType.Int32)
    # only what is below the one node: nothing from Plant's other folders
    assert all(p.startswith("Line1.") for p in paths()), paths()
