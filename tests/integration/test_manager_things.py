"""Things in the manager: the directory under /wot/things and streams generated from TDs.

The manager runs as a process (`streamforge serve`), driven over HTTP; the Modbus and OPC UA
simulators serve a plant and describe it with their own TDs, which the manager turns into
streams whose readings arrive in the telemetry envelope.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from peers.manager import ManagerRun, licence_env, wait_for

from streamforge.simulators.modbus import ModbusSimulator
from streamforge.simulators.opcua import OpcuaSimulator

LAMP = {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    "title": "Workshop lamp",
    "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
    "security": ["nosec_sc"],
    "properties": {
        "brightness": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "forms": [{"href": "http://lamp.example/brightness"}],
        }
    },
}


def output_file(manager: ManagerRun, created: dict[str, Any]) -> Path:
    """Where a generated stream writes: its file output's path, under the data root."""
    path = yaml.safe_load(created["config_yaml"])["output"]["file"]["path"]
    return manager.home / "data" / path


def jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_directory_stores_checks_patches_and_pages_tds(manager: ManagerRun) -> None:
    created = manager.client.post("/wot/things", json=LAMP)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith("/wot/things/urn:uuid:")
    stored = manager.client.get(location)
    assert stored.status_code == 200
    assert stored.headers["content-type"].startswith("application/td+json")
    thing_id = stored.json()["id"]
    assert location.endswith(thing_id)

    patched = manager.client.patch(location, json={"title": "Bench lamp", "description": None})
    assert patched.status_code == 204
    assert manager.client.get(location).json()["title"] == "Bench lamp"

    named = {**LAMP, "id": "urn:dev:ops:lamp-2"}
    assert manager.client.put("/wot/things/urn:dev:ops:lamp-2", json=named).status_code == 201
    assert manager.client.put("/wot/things/urn:dev:ops:lamp-2", json=named).status_code == 204
    assert manager.client.post("/wot/things", json=named).status_code == 409

    first = manager.client.get("/wot/things", params={"limit": 1})
    assert len(first.json()) == 1 and 'rel="next"' in first.headers["link"]
    everything = manager.client.get("/wot/things").json()
    assert {t["id"] for t in everything} == {thing_id, "urn:dev:ops:lamp-2"}

    broken = {**LAMP, "securityDefinition": {}, "security": ["missing_sc"]}
    broken.pop("securityDefinitions")
    refused = manager.client.post("/wot/things", json=broken)
    assert refused.status_code == 400
    problems = {e["field"]: e["description"] for e in refused.json()["validationErrors"]}
    assert any("securityDefinitions" in d for d in problems.values()), problems
    assert "$.securityDefinition" in problems
    not_json = manager.client.post("/wot/things", content=b"{ nope")
    assert not_json.status_code == 400 and not_json.json()["validationErrors"][0]["field"] == "$"

    assert manager.client.delete("/wot/things/urn:dev:ops:lamp-2").status_code == 204
    assert manager.client.get("/wot/things/urn:dev:ops:lamp-2").status_code == 404
    assert (
        manager.client.get("/wot/things/anything", headers={"Authorization": ""}).status_code == 401
    )


@pytest.fixture
def modbus_plant() -> Iterator[ModbusSimulator]:
    with ModbusSimulator(devices=1, interval=0.05, seed=3) as sim:
        yield sim  # type: ignore[misc]


def test_a_modbus_simulator_td_becomes_a_running_stream_of_enveloped_readings(
    manager: ManagerRun, modbus_plant: ModbusSimulator
) -> None:
    td = modbus_plant.thing_description()
    wanted = sorted(name for name, prop in td["properties"].items() if prop["type"] == "number")[:3]
    created = manager.api(
        "POST",
        "/streams",
        json={
            "thing_description": td,
            "binding_type": "modbus",
            "options": {"properties": wanted, "interval": "200ms"},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["stream_name"] == f"things.{td['id']}.modbus"
    assert body["thing_id"] == td["id"]
    stream_id = body["stream_id"]
    manager.wait_status(stream_id, "running")
    out = output_file(manager, body)
    wait_for(lambda: {r.get("parameter") for r in jsonl(out)} >= set(wanted), "every property")
    readings = jsonl(out)
    assert {r["asset_id"] for r in readings} == {td["id"]}
    for reading in readings[:10]:
        prop = td["properties"][reading["parameter"]]
        assert prop["minimum"] <= reading["value"] <= prop["maximum"]
    # the TD is in the directory too
    assert manager.client.get(f"/wot/things/{td['id']}").json()["title"] == td["title"]


def test_an_opcua_simulator_td_becomes_a_subscribed_stream(manager: ManagerRun) -> None:
    with OpcuaSimulator(interval=0.1) as sim:
        td = sim.thing_description()
        wanted = sorted(n for n, p in td["properties"].items() if p["type"] == "number")[:2]
        created = manager.api(
            "POST",
            "/streams",
            json={
                "thing_description": td,
                "binding_type": "opcua",
                "options": {"properties": wanted},
            },
        )
        assert created.status_code == 201, created.text
        out = output_file(manager, created.json())
        wait_for(lambda: {r.get("parameter") for r in jsonl(out)} >= set(wanted), "readings", 60)
        assert {r["asset_id"] for r in jsonl(out)} == {td["id"]}


class _TdServer:
    """Serves one TD over HTTP on a loopback port."""

    def __init__(self, td: dict[str, Any]) -> None:
        body = json.dumps(td).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/td+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/td"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_td_is_fetched_by_url_only_from_allowed_hosts(
    tmp_path: Path, modbus_plant: ModbusSimulator
) -> None:
    served = _TdServer(modbus_plant.thing_description())
    closed = ManagerRun(tmp_path / "closed").start()
    opened = ManagerRun(tmp_path / "open", "--td-fetch-allow", "127.0.0.1").start()
    try:
        body = {"thing_description_url": served.url, "binding_type": "modbus"}
        refused = closed.api("POST", "/streams", json=body)
        assert refused.status_code == 400 and "--td-fetch-allow" in refused.text
        secret = {**body, "thing_description_url": "file:///etc/passwd"}
        assert "only http and https" in opened.api("POST", "/streams", json=secret).text
        allowed = opened.api("POST", "/streams", json=body)
        assert allowed.status_code == 201, allowed.text
    finally:
        for run in (closed, opened):
            run.stop()
            run.client.close()
        served.close()


def test_a_td_whose_security_needs_credentials_is_refused_without_them(
    manager: ManagerRun,
) -> None:
    td = {
        **LAMP,
        "id": "urn:dev:ops:guarded-lamp",
        "securityDefinitions": {"basic_sc": {"scheme": "basic", "in": "header"}},
        "security": ["basic_sc"],
    }
    body = {"thing_description": td, "binding_type": "http"}
    refused = manager.api("POST", "/streams", json=body)
    assert refused.status_code == 400
    assert any(
        "basic_sc" in e["field"] + e["description"] for e in refused.json()["validationErrors"]
    )
    body["options"] = {"credentials": {"basic_sc": {"username": "plant", "password": "lamp-pa55"}}}
    created = manager.api("POST", "/streams", json=body)
    assert created.status_code == 201, created.text
    assert "lamp-pa55" not in created.text  # the credentials are redacted like any secret
    assert "lamp-pa55" not in json.dumps(
        manager.client.get("/wot/things/urn:dev:ops:guarded-lamp").json()
    )


def test_the_licence_limits_things_with_402(tmp_path: Path) -> None:
    env = licence_env(
        tmp_path,
        "one-thing",
        {"bindings": ["http"], "capabilities": {"max_things": 1, "max_streams": 5}},
    )
    run = ManagerRun(tmp_path / "home", env=env).start()
    try:
        assert run.client.post("/wot/things", json=LAMP).status_code == 201
        second = run.client.post("/wot/things", json=LAMP)
        assert second.status_code == 402 and "max_things" in second.text
    finally:
        run.stop()
        run.client.close()


def test_streams_from_things_write_to_the_operators_default_output(
    tmp_path: Path, modbus_plant: ModbusSimulator
) -> None:
    default = tmp_path / "thing-output.yaml"
    default.write_text("file:\n  path: plant/all-things.jsonl\n")
    run = ManagerRun(tmp_path / "home", "--thing-output", str(default)).start()
    try:
        td = modbus_plant.thing_description()
        wanted = sorted(n for n, p in td["properties"].items() if p["type"] == "number")[:1]
        body = {
            "thing_description": td,
            "binding_type": "modbus",
            "options": {"properties": wanted},
        }
        created = run.api("POST", "/streams", json=body)
        assert created.status_code == 201, created.text
        out = run.home / "data" / "plant" / "all-things.jsonl"
        wait_for(lambda: any(r.get("parameter") == wanted[0] for r in jsonl(out)), "readings")
    finally:
        run.stop()
        run.client.close()
