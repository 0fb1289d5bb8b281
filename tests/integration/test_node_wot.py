"""StreamForge against a real WoT runtime: Eclipse Thingweb node-wot exposes a bench meter over
HTTP and MQTT; its TD is checked, turned into stream configs that lint, and fetched by a manager
whose generated streams receive the values node-wot emits, in the telemetry envelope.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from peers.manager import ManagerRun, wait_for
from peers.node_wot import METER_PROPERTIES, NodeWotThing

from streamforge.wot import check_td

WANTED = ["voltage", "current"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamforge", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _output_file(manager: ManagerRun, created: dict[str, Any]) -> Path:
    path = yaml.safe_load(created["config_yaml"])["output"]["file"]["path"]
    return manager.home / "data" / path


@pytest.fixture
def td_manager(tmp_path: Path) -> Iterator[ManagerRun]:
    """A manager that may fetch TDs from loopback."""
    run = ManagerRun(tmp_path / "home", "--td-fetch-allow", "127.0.0.1").start()
    try:
        yield run
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        run.client.close()


def _assert_readings(readings: list[dict[str, Any]], thing: NodeWotThing, names: list[str]) -> None:
    """Every reading is the meter's, of a wanted property, numeric and in its range; each
    property changed over time."""
    seen: dict[str, set[float]] = defaultdict(set)
    for reading in readings:
        assert reading["asset_id"] == thing.thing_id, reading
        assert reading["parameter"] in names, reading
        spec = METER_PROPERTIES[reading["parameter"]]
        value = reading["value"]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), reading
        assert spec["minimum"] <= value <= spec["maximum"], reading
        assert reading["unit"] == spec["unit"], reading
        seen[reading["parameter"]].add(value)
    assert {name: len(seen[name]) >= 3 for name in names} == dict.fromkeys(names, True), seen


def _distinct(path: Path, names: list[str], count: int = 3) -> bool:
    seen: dict[str, set[Any]] = defaultdict(set)
    for reading in _jsonl(path):
        seen[reading.get("parameter", "")].add(reading.get("value"))
    return all(len(seen[name]) >= count for name in names)


def test_the_td_node_wot_serves_passes_the_checker(node_wot: NodeWotThing) -> None:
    td = node_wot.td()
    assert check_td(td) == []
    assert td["id"] == node_wot.thing_id
    for name, spec in METER_PROPERTIES.items():
        prop = td["properties"][name]
        assert (prop["unit"], prop["minimum"], prop["maximum"]) == (
            spec["unit"], spec["minimum"], spec["maximum"],
        )  # fmt: skip
        ops = {(f["href"].split(":", 1)[0], op) for f in prop["forms"] for op in f["op"]}
        assert {("http", "readproperty"), ("http", "observeproperty")} <= ops
        assert ("mqtt", "observeproperty") in ops


@pytest.mark.parametrize("binding", ["http", "mqtt"])
def test_td_generate_from_node_wots_td_lints(
    node_wot: NodeWotThing, tmp_path: Path, binding: str
) -> None:
    td_file = tmp_path / "bench-meter.td.json"
    td_file.write_text(json.dumps(node_wot.td()), encoding="utf-8")
    generated = _cli("td", "generate", str(td_file), "--binding", binding, cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    config = yaml.safe_load(generated.stdout)
    if binding == "http":
        use = config["input"]["td_http_poll"]
        assert use["url"].endswith(f"/{node_wot.slug}/properties/voltage/observable")
        assert (use["mode"], use["method"]) == ("longpoll", "GET")
        assert "current, frequency are left out" in generated.stderr
    else:
        use = config["input"]["td_mqtt"]
        # the href path decoded (`Bench Meter/...`) and as written, which node-wot publishes to
        assert use["topics"] == [
            topic
            for name in METER_PROPERTIES
            for topic in (
                f"{node_wot.title}/properties/{name}",
                f"{node_wot.mqtt_prefix}/properties/{name}",
            )
        ]
        assert use["broker"] == node_wot.mqtt_uri
    stream = tmp_path / f"bench-meter-{binding}.yaml"
    stream.write_text(generated.stdout, encoding="utf-8")
    linted = _cli("lint", str(stream), cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_a_manager_reads_node_wot_over_http(node_wot: NodeWotThing, td_manager: ManagerRun) -> None:
    # an HTTP stream reads one affordance, so each property gets its own stream and file
    outputs: dict[str, Path] = {}
    for name in WANTED:
        created = td_manager.api(
            "POST",
            "/streams",
            json={
                "id": f"bench-meter-{name}",
                "thing_description_url": node_wot.td_url,
                "binding_type": "http",
                "options": {
                    "properties": [name],
                    "interval": "500ms",
                    "output": {"file": {"path": f"things/bench-meter-{name}.jsonl"}},
                },
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["thing_id"] == node_wot.thing_id
        assert f"/{node_wot.slug}/properties/{name}/observable" in body["config_yaml"]
        outputs[name] = _output_file(td_manager, body)
    for name, out in outputs.items():
        wait_for(lambda: _distinct(out, [name]), f"distinct {name} values over HTTP", 45)  # noqa: B023
        _assert_readings(_jsonl(out), node_wot, [name])


def test_a_manager_reads_node_wot_over_mqtt(node_wot: NodeWotThing, td_manager: ManagerRun) -> None:
    created = td_manager.api(
        "POST",
        "/streams",
        json={
            "thing_description_url": node_wot.td_url,
            "binding_type": "mqtt",
            "options": {"properties": WANTED},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["stream_name"] == f"things.{node_wot.thing_id}.mqtt"
    out = _output_file(td_manager, body)
    wait_for(lambda: _distinct(out, WANTED), "distinct values of both properties over MQTT", 45)
    readings = _jsonl(out)
    _assert_readings(readings, node_wot, WANTED)
    assert {r["metadata"]["mqtt_topic"] for r in readings} == {
        f"{node_wot.mqtt_prefix}/properties/{name}" for name in WANTED
    }
