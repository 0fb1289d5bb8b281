"""Operator actions over the manager's API: a running stream's alarms (listed, acknowledged,
suppressed) and its dead letters (listed, replayed after the pipeline was fixed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.manager import ManagerRun, wait_for

ALARMS = """
input:
  generate:
    interval: 100ms
    mapping: |
      root = {"asset_id": "press-01", "parameter": "temperature", "value": 85, "unit": "degC",
              "quality": "GOOD", "timestamps": {"device_time": now()}}
pipeline:
  processors:
    - label: plant_alarms
      alarm:
        rules:
          - name: high_temp
            parameter: temperature
            above: 80
            severity: HIGH
            message: "${! this.asset_id } at ${! this.value } ${! this.unit }"
output:
  switch:
    cases:
      - check: this.classification == "ALARM"
        output:
          file: { path: alarms.jsonl }
      - output:
          drop: {}
"""

PLAIN = """
input:
  generate: { interval: 1s, mapping: 'root = {"n": counter()}' }
output:
  drop: {}
"""

DEAD_LETTERS = """
input:
  generate:
    count: 6
    interval: ""
    mapping: 'root = {"id": counter(), "reading": if counter() % 3 == 0 { "bad" } else { 1.5 }}'
pipeline:
  processors:
    - mutation: 'root.scaled = {scaled}'
output:
  fallback:
    - reject_errored:
        file: { path: good.jsonl }
    - label: dead_letter
      file: { path: dlq/dead-letter.jsonl }
      processors:
        - mapping: |
            root.error = error()
            root.dead_lettered_at = now()
            root.message = this
            root.metadata = @.without("fallback_error")
"""


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagerRun]:
    run = ManagerRun(tmp_path_factory.mktemp("ops") / "home").start()
    try:
        yield run
    finally:
        run.stop()
        run.client.close()


def create(manager: ManagerRun, stream_id: str, config: str) -> None:
    reply = manager.api("POST", "/streams", json={"id": stream_id, "config": config})
    assert reply.status_code == 201, reply.text


def alarms(manager: ManagerRun, stream_id: str) -> list[dict[str, Any]]:
    reply = manager.api("GET", f"/streams/{stream_id}/alarms")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["alarms"])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_alarms_are_listed_acknowledged_and_suppressed(manager: ManagerRun) -> None:
    create(manager, "press", ALARMS)
    manager.wait_status("press", "running")
    wait_for(lambda: bool(alarms(manager, "press")), "the alarm raised by the data")
    (alarm,) = alarms(manager, "press")
    assert alarm["id"] == "press-01:temperature:high_temp"
    assert (alarm["state"], alarm["severity"], alarm["message"]) == (
        "ACTIVE", "HIGH", "press-01 at 85 degC",
    )  # fmt: skip
    assert alarm["value"] == 85 and alarm["threshold"] == 80 and alarm["since"]
    assert alarm["component"] == "plant_alarms"

    ack = manager.api("POST", "/streams/press/alarms/press-01:temperature:high_temp/ack")
    assert ack.status_code == 200, ack.text
    assert ack.json()["applied"] is True
    assert ack.json()["alarm"]["state"] == "ACKNOWLEDGED"
    assert ack.json()["alarm"]["acknowledged_by"] == "admin"
    assert alarms(manager, "press")[0]["state"] == "ACKNOWLEDGED"
    written = manager.home / "data" / "alarms.jsonl"
    wait_for(
        lambda: [a["alarm"]["state"] for a in lines(written)] == ["ACTIVE", "ACKNOWLEDGED"],
        "the ACKNOWLEDGED alarm message in the stream's output",
    )
    again = manager.api("POST", "/streams/press/alarms/press-01:temperature:high_temp/ack")
    assert again.status_code == 409
    assert "only an ACTIVE alarm can be acknowledged" in again.json()["detail"]

    unknown = manager.api("POST", "/streams/press/alarms/press-02:temperature:high_temp/ack")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == (
        "no alarm 'press-02:temperature:high_temp' is raised "
        "(alarms: press-01:temperature:high_temp)"
    )
    timed = manager.api(
        "POST", "/streams/press/alarms/press-01:temperature:high_temp/suppress",
        json={"duration": "10m"},
    )  # fmt: skip
    assert timed.status_code == 400
    assert timed.json()["detail"].startswith("duration: the alarm processor suppresses until")

    quiet = manager.api("POST", "/streams/press/alarms/press-01:temperature:high_temp/suppress")
    assert quiet.status_code == 200, quiet.text
    assert quiet.json()["alarm"]["state"] == "SUPPRESSED"
    assert quiet.json()["alarm"]["suppressed_by"] == "admin"
    wait_for(lambda: len(lines(written)) == 3, "the SUPPRESSED alarm message")
    # the value stays above the limit, yet the suppressed alarm raises nothing more
    manager.wait_status("press", "running")
    received = manager.api("GET", "/streams/press/metrics").json()["received"]
    wait_for(
        lambda: manager.api("GET", "/streams/press/metrics").json()["received"] > received + 5,
        "more readings",
    )
    assert [a["alarm"]["state"] for a in lines(written)] == ["ACTIVE", "ACKNOWLEDGED", "SUPPRESSED"]
    assert manager.stream("press")["restarts"] == 0

    stopped = manager.api("POST", "/streams/press/stop")
    assert stopped.status_code == 200, stopped.text
    gone = manager.api("GET", "/streams/press/alarms")
    assert gone.status_code == 409
    assert gone.json()["detail"].startswith("stream 'press' is not running (stopped)")
    assert manager.api("POST", "/streams/press/alarms/x/ack").status_code == 409


def test_alarm_and_dead_letter_routes_refuse_streams_without_them(manager: ManagerRun) -> None:
    create(manager, "plain", PLAIN)
    reply = manager.api("GET", "/streams/plain/alarms")
    assert reply.status_code == 404
    assert reply.json()["detail"] == "stream 'plain' has no alarm processor"
    assert manager.api("POST", "/streams/plain/alarms/a:b:c/ack").status_code == 404
    reply = manager.api("GET", "/streams/plain/dlq")
    assert reply.status_code == 404
    assert reply.json()["detail"].startswith("stream 'plain' has no dead-letter output")
    assert manager.api("GET", "/streams/nothing/alarms").status_code == 404
    assert manager.api("GET", "/streams/plain/dlq?limit=0").status_code == 422


def test_dead_letters_are_listed_and_replayed_after_a_fix(manager: ManagerRun) -> None:
    create(manager, "scaling", DEAD_LETTERS.replace("{scaled}", "this.reading * 2"))
    data = manager.home / "data"
    wait_for(lambda: len(lines(data / "dlq" / "dead-letter.jsonl")) == 2, "two dead letters")

    first = manager.api("GET", "/streams/scaling/dlq", params={"limit": 1})
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["total"] == 2 and page["next"] == "1"
    (entry,) = page["dead_letters"]
    assert entry["file"] == "dlq/dead-letter.jsonl" and entry["line"] == 1
    assert entry["encoding"] == "text"
    assert json.loads(entry["payload"]) == {"id": 3, "reading": "bad"}
    assert "cannot multiply types string" in entry["error"] and entry["when"]
    second = manager.api("GET", "/streams/scaling/dlq", params={"limit": 1, "cursor": "1"}).json()
    assert json.loads(second["dead_letters"][0]["payload"])["id"] == 6
    assert second["next"] is None
    bad_cursor = manager.api("GET", "/streams/scaling/dlq", params={"cursor": "x"})
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["detail"] == "cursor: 'x' is not one this endpoint gave"

    # the same pipeline fails them again; they are dead-lettered anew
    same = manager.api("POST", "/streams/scaling/dlq/replay")
    assert same.status_code == 200, same.text
    assert same.json() == {
        "files": 1, "replayed": 2, "passed": 0, "still_failing": 2, "dropped": 0,
    }  # fmt: skip
    assert manager.api("GET", "/streams/scaling/dlq").json()["total"] == 2

    fixed = 'if this.reading.type() == "number" { this.reading * 2 } else { 0 }'
    put = manager.api(
        "PUT", "/streams/scaling", json={"config": DEAD_LETTERS.replace("{scaled}", fixed)}
    )
    assert put.status_code == 200, put.text
    moved = manager.api("POST", "/streams/scaling/dlq/replay")
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "files": 1, "replayed": 2, "passed": 2, "still_failing": 0, "dropped": 0,
    }  # fmt: skip
    listed = manager.api("GET", "/streams/scaling/dlq").json()
    assert listed == {"dead_letters": [], "total": 0, "next": None}
    replayed = [r for r in lines(data / "good.jsonl") if r["reading"] == "bad"]
    assert sorted(r["id"] for r in replayed) == [3, 6]
    assert all(r["scaled"] == 0 for r in replayed)
    nothing = manager.api("POST", "/streams/scaling/dlq/replay").json()
    assert nothing["replayed"] == 0 and nothing["files"] == 0
