"""The manager (`streamforge serve`) over real HTTP: stream lifecycle, checks, supervision.

Each test starts the manager as a process on a free port with a fresh home and drives it with
httpx, as a user's scripts would. Streams write files under the manager's data root.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from peers.manager import ManagerRun, licence_env, wait_for
from peers.ports import free_port

TICKS = """
input:
  generate:
    interval: 20ms
    mapping: 'root = {{"n": counter(), "tag": "{tag}"}}'
output:
  file: {{ path: {path} }}
"""


def ticks(path: str, tag: str = "a") -> str:
    return TICKS.format(path=path, tag=tag)


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_stream_is_created_watched_changed_stopped_restored_and_deleted(
    manager: ManagerRun,
) -> None:
    out = manager.home / "data" / "ticks.jsonl"
    created = manager.api("POST", "/streams", json={"id": "ticks", "config": ticks("ticks.jsonl")})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/wot/binding/streams/ticks"
    first_etag = created.headers["etag"]
    body = created.json()
    assert body["stream_id"] == "ticks" and "generate" in body["config_yaml"]

    manager.wait_status("ticks", "running")
    wait_for(lambda: len(lines(out)) >= 10, "ticks written under the data root")
    listed = manager.api("GET", "/streams").json()
    assert [s["id"] for s in listed["streams"]] == ["ticks"] and listed["next"] is None
    assert listed["streams"][0]["desired"] == "running"

    wait_for(lambda: manager.api("GET", "/streams/ticks/metrics").json()["sent"] >= 10, "sent")
    figures = manager.api("GET", "/streams/ticks/metrics").json()
    assert figures["received"] >= figures["sent"] >= 10
    assert figures["latency_ms"]["p99"] is not None and figures["uptime_s"] > 0
    logs = manager.api("GET", "/streams/ticks/logs", params={"limit": 50}).json()["lines"]
    assert any("running 1 stream(s): ticks" in line for line in logs)
    assert 'stream="ticks"' in manager.client.get("/metrics").text

    # a new config replaces the running one
    changed = manager.api(
        "PUT", "/streams/ticks", json={"config": ticks("ticks.jsonl", "b")},
        headers={"If-Match": first_etag},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.headers["etag"] != first_etag
    wait_for(lambda: lines(out)[-1]["tag"] == "b", "the new config's output")

    # a broken config is refused at its line and column; the running stream is untouched
    broken = manager.api(
        "PUT", "/streams/ticks", json={"config": "input:\n  generate:\n    intervall: 1s\n"}
    )
    assert broken.status_code == 400
    errors = {(e["line"], e["column"]): e["message"] for e in broken.json()["lint_errors"]}
    assert "intervall" in errors[(3, 5)]
    before = len(lines(out))
    wait_for(lambda: len(lines(out)) > before + 5, "the old stream still writing")
    assert manager.stream("ticks")["version"] == 2

    stale = manager.api(
        "PUT", "/streams/ticks", json={"config": ticks("ticks.jsonl", "c")},
        headers={"If-Match": first_etag},
    )  # fmt: skip
    assert stale.status_code == 412

    # stop and start keep the desired state
    assert manager.api("POST", "/streams/ticks/stop").json()["desired"] == "stopped"
    manager.wait_status("ticks", "stopped")
    stopped_at = len(lines(out))
    assert manager.api("POST", "/streams/ticks/start").json()["desired"] == "running"
    manager.wait_status("ticks", "running")
    wait_for(lambda: len(lines(out)) > stopped_at, "writing again after start")

    versions = manager.api("GET", "/streams/ticks/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    restored = manager.api("POST", "/streams/ticks/versions/1/restore")
    assert restored.status_code == 200 and restored.json()["version"] == 3
    wait_for(lambda: lines(out)[-1]["tag"] == "a", "version 1's output again")

    assert manager.api("DELETE", "/streams/ticks").status_code == 204
    assert manager.api("GET", "/streams/ticks").status_code == 404
    assert manager.api("GET", "/streams").json()["streams"] == []


def test_requests_without_the_token_get_401_and_health_needs_none(manager: ManagerRun) -> None:
    assert httpx.get(f"{manager.url}/wot/binding/streams").status_code == 401
    wrong = httpx.get(
        f"{manager.url}/wot/binding/streams", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{manager.url}/metrics").status_code == 401
    assert httpx.get(f"{manager.url}/health/live").status_code == 200
    assert httpx.get(f"{manager.url}/ready").status_code == 200


def test_what_a_submitted_config_may_not_do_is_refused_where_it_is(manager: ManagerRun) -> None:
    config = (
        "input:\n"
        "  file: { paths: [ /etc/hostname ] }\n"
        "pipeline:\n"
        "  processors:\n"
        "    - mapping: 'root.key = env(\"STREAMFORGE_ADMIN_TOKEN\")'\n"
        "output:\n"
        "  file: { path: '${HOME}/stolen.txt' }\n"
        "plugins: [ ./mine.py ]\n"
    )
    reply = manager.api("POST", "/streams", json={"id": "greedy", "config": config})
    assert reply.status_code == 400, reply.text
    found = {(e["line"], e["column"]): e["message"] for e in reply.json()["lint_errors"]}
    assert "outside the data root" in found[(2, 20)]
    assert 'env("STREAMFORGE_ADMIN_TOKEN")' in found[(5, 28)]
    assert "${HOME}" in found[(7, 18)]
    assert "plugins" in found[(8, 1)]
    assert manager.api("GET", "/streams/greedy").status_code == 404

    assert (
        manager.api("POST", "/streams", json={"id": "bad id!", "config": ticks("x")}).status_code
        == 400
    )
    assert manager.api("POST", "/streams", json={"config": 42}).status_code == 422
    assert manager.api("POST", "/streams", content=b"{not json").status_code == 422
    one = manager.api("POST", "/streams", json={"id": "one", "config": ticks("one.jsonl")})
    assert one.status_code == 201
    assert (
        manager.api("POST", "/streams", json={"id": "one", "config": ticks("x")}).status_code == 409
    )
    generated = manager.api("POST", "/streams", json={"config": ticks("two.jsonl")})
    assert generated.status_code == 201 and generated.json()["stream_id"].startswith("stream-")


def test_a_killed_stream_is_restarted_while_the_others_carry_on(manager: ManagerRun) -> None:
    data = manager.home / "data"
    for name in ("steady", "victim"):
        reply = manager.api("POST", "/streams", json={"id": name, "config": ticks(f"{name}.jsonl")})
        assert reply.status_code == 201, reply.text
    failing = """
input:
  generate: { interval: 20ms, mapping: 'root = {"n": counter()}' }
pipeline:
  processors:
    - mapping: 'root = throw("refusing every message")'
output:
  file: { path: failing.jsonl }
"""
    assert (
        manager.api("POST", "/streams", json={"id": "failing", "config": failing}).status_code
        == 201
    )
    for name in ("steady", "victim", "failing"):
        manager.wait_status(name, "running")
    os.kill(_child_pid(manager, "victim"), signal.SIGKILL)
    steady_before = len(lines(data / "steady.jsonl"))
    wait_for(lambda: manager.stream("victim")["restarts"] >= 1, "the victim restarted")
    manager.wait_status("victim", "running")
    assert "killed by signal SIGKILL" in (manager.stream("victim")["last_error"] or "")
    wait_for(lambda: len(lines(data / "steady.jsonl")) > steady_before + 20, "steady writing")
    assert manager.stream("steady")["restarts"] == 0
    # a processor failing on every message flags them; the stream itself keeps running
    wait_for(lambda: manager.api("GET", "/streams/failing/metrics").json()["errors"] >= 5, "errors")
    assert manager.stream("failing")["status"] == "running"
    assert manager.stream("failing")["restarts"] == 0


def _child_pid(manager: ManagerRun, stream_id: str) -> int:
    """The pid of a stream's child process (from /proc: its command line names its config)."""
    wanted = f"/streams/{stream_id}/{stream_id}.yaml"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [part.decode(errors="replace") for part in cmdline]
        if any(part.endswith(wanted) for part in text) and str(manager.home) in " ".join(text):
            return int(entry.name)
    raise AssertionError(f"no child process for {stream_id}")


def test_a_killed_manager_comes_back_with_every_stream_in_its_desired_state(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    first = ManagerRun(home).start()
    try:
        for name in ("kept", "paused"):
            reply = first.api(
                "POST", "/streams", json={"id": name, "config": ticks(f"{name}.jsonl")}
            )
            assert reply.status_code == 201
        first.wait_status("kept", "running")
        first.api("POST", "/streams/paused/stop")
        first.wait_status("paused", "stopped")
        paused = len(lines(home / "data" / "paused.jsonl"))
        out = home / "data" / "kept.jsonl"
        wait_for(lambda: len(lines(out)) >= 20, "kept writing")
        child = _child_pid(first, "kept")
        first.kill()  # kill -9: no graceful stop of anything
        wait_for(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), "the child gone")
    finally:
        first.client.close()
    second = ManagerRun(home, port=first.port).start()
    try:
        assert second.wait_status("kept", "running")["desired"] == "running"
        assert second.stream("paused")["status"] == "stopped"
        written = len(lines(out))
        wait_for(lambda: len(lines(out)) > written + 10, "kept writing again")
        numbers = [doc["n"] for doc in lines(out)]
        # resumed from its recovery state: the counter goes on, nothing is written twice
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(lines(home / "data" / "paused.jsonl")) == paused
        assert second.stop() == 0  # SIGTERM: every stream stopped gracefully, then exit 0
    finally:
        if second.proc is not None and second.proc.poll() is None:
            second.stop()
        second.client.close()


def _zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def test_streams_persist_in_postgresql(tmp_path: Path, postgres_url: str) -> None:
    home = tmp_path / "home"
    first = ManagerRun(home, "--db", postgres_url).start()
    try:
        reply = first.api("POST", "/streams", json={"id": "pg", "config": ticks("pg.jsonl")})
        assert reply.status_code == 201, reply.text
        first.api("PUT", "/streams/pg", json={"config": ticks("pg.jsonl", "b")})
        first.wait_status("pg", "running")
    finally:
        first.stop()
        first.client.close()
    assert not (home / "manager.db").exists()
    second = ManagerRun(home, "--db", postgres_url, port=first.port).start()
    try:
        stored = second.wait_status("pg", "running")
        assert stored["version"] == 2 and '"b"' in stored["config_yaml"]
    finally:
        second.stop()
        second.client.close()


SECRET_CONFIG = """
input:
  generate: { interval: 1s, mapping: 'root = {"n": counter()}' }
output:
  http_client:
    url: http://127.0.0.1:9/ingest
    basic_auth: { enabled: true, username: plant, password: s3cret-pa55 }
"""


def test_secrets_are_redacted_when_shown_kept_when_sent_back_and_encrypted_at_rest(
    manager: ManagerRun,
) -> None:
    created = manager.api("POST", "/streams", json={"id": "guarded", "config": SECRET_CONFIG})
    assert created.status_code == 201, created.text
    shown = created.json()["config_yaml"]
    assert "s3cret-pa55" not in shown and "!!!SECRET_SCRUBBED!!!" in shown
    assert "s3cret-pa55" not in manager.stream("guarded")["config_yaml"]
    # the shown config, edited and sent back, keeps the stored password
    edited = shown.replace("/ingest", "/v2/ingest")
    replaced = manager.api("PUT", "/streams/guarded", json={"config": edited})
    assert replaced.status_code == 200, replaced.text
    versions = manager.api("GET", "/streams/guarded/versions").json()["versions"]
    assert all("s3cret-pa55" not in v["config_yaml"] for v in versions)
    child_config = manager.home / "streams" / "guarded" / "guarded.yaml"
    wait_for(lambda: "/v2/ingest" in child_config.read_text(), "the new config running")
    assert "s3cret-pa55" in child_config.read_text()
    assert b"s3cret-pa55" not in (manager.home / "manager.db").read_bytes()
    # a placeholder where nothing is stored is refused, naming the field
    fresh = manager.api("POST", "/streams", json={"id": "fresh", "config": shown})
    assert fresh.status_code == 400 and "basic_auth.password" in fresh.text


def test_processors_are_listed_described_and_tried_on_sample_messages(
    manager: ManagerRun,
) -> None:
    names = [p["name"] for p in manager.api("GET", "/processors").json()["processors"]]
    assert {"mapping", "window", "validate"} <= set(names)
    mapping = manager.api("GET", "/processors/mapping").json()
    assert mapping["json_schema"]["type"] in ("string", "object")
    assert manager.api("GET", "/processors/nothing").status_code == 404

    trial = {
        "processors": "- mapping: |\n    root.value = this.value * 2\n    root.site = @site\n",
        "messages": [
            {"content": '{"value": 21}', "metadata": {"site": "berlin"}},
            {"content": "not json"},
        ],
    }
    answer = manager.api("POST", "/processors/test", json=trial)
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["results"]
    assert json.loads(first["outputs"][0]["content"]) == {"value": 42, "site": "berlin"}
    assert first["outputs"][0]["error"] is None and first["took_ms"] >= 0
    assert second["outputs"][0]["error"]  # flagged, not dropped

    typo = manager.api(
        "POST", "/processors/test",
        json={"processors": "- mappin: 'root = this'\n", "messages": [{"content": "{}"}]},
    )  # fmt: skip
    assert typo.status_code == 400
    assert typo.json()["lint_errors"][0]["line"] == 1
    secret = manager.api(
        "POST", "/processors/test",
        json={"processors": [{"mapping": 'root = env("STREAMFORGE_ADMIN_TOKEN")'}],
              "messages": [{"content": "{}"}]},
    )  # fmt: skip
    assert secret.status_code == 400 and "env(" in secret.text
    endless = manager.api(
        "POST",
        "/processors/test",
        json={
            "processors": [
                {"mapping": "root = range(0, 10000).map_each(i -> range(0, 10000).sum())"}
            ],
            "messages": [{"content": "{}"}],
        },
    )
    assert endless.status_code == 422 and "did not finish within" in endless.text
    again = manager.api("POST", "/processors/test", json=trial)  # a new worker took over
    assert again.status_code == 200


TEMPLATE = """
name: add_site
type: processor
summary: Adds the site a reading came from.
fields:
  - name: site
    type: string
mapping: |
  root.mapping = "root = this\\nroot.site = \\"%s\\"".format(this.site)
"""


def test_a_template_added_over_the_api_is_listed_and_usable_in_streams(
    manager: ManagerRun,
) -> None:
    shipped = [t["name"] for t in manager.api("GET", "/templates").json()["templates"]]
    assert "td_modbus" in shipped
    added = manager.api("POST", "/templates", json={"template": TEMPLATE})
    assert added.status_code == 201, added.text
    assert added.json()["fields"][0]["name"] == "site"
    assert manager.api("GET", "/templates/add_site").json()["type"] == "processor"
    bad = manager.api("POST", "/templates", json={"template": "name: x\ntype: gadget\n"})
    assert bad.status_code == 400 and bad.json()["lint_errors"]

    config = """
input:
  generate: { interval: 20ms, mapping: 'root = {"n": counter()}' }
pipeline:
  processors:
    - add_site: { site: berlin }
output:
  file: { path: sited.jsonl }
"""
    created = manager.api("POST", "/streams", json={"id": "sited", "config": config})
    assert created.status_code == 201, created.text
    out = manager.home / "data" / "sited.jsonl"
    wait_for(lambda: len(lines(out)) >= 3, "the templated stream writing")
    assert lines(out)[0]["site"] == "berlin"


def test_benthos_streams_mode_paths_work_over_the_same_store(manager: ManagerRun) -> None:
    c = manager.client
    yaml_body = ticks("benthos.jsonl", "yaml").encode()
    assert c.post("/streams/viayaml", content=yaml_body).status_code == 200
    assert c.post("/streams/viayaml", content=yaml_body).status_code == 400  # exists
    listed = manager.api("GET", "/streams").json()["streams"]
    assert [s["id"] for s in listed] == ["viayaml"]  # the same store as /wot/binding
    manager.wait_status("viayaml", "running")
    status = c.get("/streams").json()
    assert status["viayaml"]["active"] is True and status["viayaml"]["uptime_str"].endswith("s")
    read = c.get("/streams/viayaml").json()
    assert read["config"]["input"]["generate"]["interval"] == "20ms"

    patched = c.patch("/streams/viayaml", content=b"input:\n  generate:\n    interval: 50ms\n")
    assert patched.status_code == 200, patched.text
    assert c.get("/streams/viayaml").json()["config"]["input"]["generate"]["interval"] == "50ms"
    assert manager.stream("viayaml")["version"] == 2

    broken = c.put("/streams/viayaml", content=b"input:\n  nothing: {}\noutput:\n  drop: {}\n")
    assert broken.status_code == 400
    assert broken.json()["linting_errors"][0].startswith("line 2:")
    wait_for(lambda: c.get("/streams/viayaml/stats").json()["output"]["sent"] > 0, "stats")

    # POST /streams sets the whole collection: viayaml goes, two others come
    whole = {
        "left": yaml.safe_load(ticks("left.jsonl")),
        "right": yaml.safe_load(ticks("right.jsonl")),
    }
    assert c.post("/streams", json=whole).status_code == 200
    assert sorted(c.get("/streams").json()) == ["left", "right"]
    assert c.delete("/streams/left").status_code == 200
    assert sorted(c.get("/streams").json()) == ["right"]
    assert httpx.get(f"{manager.url}/streams").status_code == 401


def test_a_stuck_stream_is_killed_and_restarted(tmp_path: Path) -> None:
    run = ManagerRun(tmp_path / "home", "--hang-timeout", "6s").start()
    try:
        config = """
input:
  generate: { interval: 50ms, mapping: 'root = {"n": counter()}' }
pipeline:
  processors:
    - sleep: { duration: 1h }
output:
  drop: {}
"""
        created = run.api("POST", "/streams", json={"id": "stuck", "config": config})
        assert created.status_code == 201, created.text
        wait_for(lambda: run.stream("stuck")["restarts"] >= 1, "the stuck stream killed", 40)
        assert "stuck: no heartbeat for 6s" in run.stream("stuck")["last_error"]
        logs = run.api("GET", "/streams/stuck/logs").json()["lines"]
        stuck = [line for line in logs if "the dataflow is stuck" in line]
        assert stuck and "processors/sleep.py" in stuck[0], logs
    finally:
        run.stop()
        run.client.close()


def test_an_http_server_address_in_use_is_refused_at_create(manager: ManagerRun) -> None:
    port = free_port()
    config = f"""
input:
  http_server: {{ address: 127.0.0.1:{port}, path: /in }}
output:
  drop: {{}}
"""
    first = manager.api("POST", "/streams", json={"id": "first", "config": config})
    assert first.status_code == 201, first.text
    manager.wait_status("first", "running")
    wait_for(lambda: _listening(port), "the first stream's listener")
    second = manager.api("POST", "/streams", json={"id": "second", "config": config})
    assert second.status_code == 400
    (error,) = second.json()["lint_errors"]
    assert error["line"] == 3 and f"cannot listen on 127.0.0.1:{port}" in error["message"]
    # the stream that holds the address may change its own config
    changed = config.replace("/in", "/ingest")
    assert manager.api("PUT", "/streams/first", json={"config": changed}).status_code == 200


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_licence_limits_streams_and_components_with_402(tmp_path: Path) -> None:
    env = licence_env(tmp_path, "small-plant", {"bindings": [], "capabilities": {"max_streams": 2}})
    run = ManagerRun(tmp_path / "home", env=env).start()
    try:
        kafka = (
            'input:\n  kafka: { addresses: [ "127.0.0.1:1" ], topics: [ t ] }\n'
            "output:\n  drop: {}\n"
        )
        refused = run.api("POST", "/streams", json={"id": "k", "config": kafka})
        assert refused.status_code == 402 and "bindings/kafka" in refused.text
        for name in ("one", "two"):
            body = {"id": name, "config": ticks(f"{name}.jsonl")}
            assert run.api("POST", "/streams", json=body).status_code == 201
        third = run.api("POST", "/streams", json={"id": "three", "config": ticks("3.jsonl")})
        assert third.status_code == 402 and "max_streams" in third.text
    finally:
        run.stop()
        run.client.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "0.0.0.0:0"], "refusing to serve plain HTTP on 0.0.0.0:0"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["--address", "nowhere"], "invalid http address"),
        (["--hang-timeout", "soon"], "--hang-timeout"),
    ],
)
def test_serve_refuses_bad_options_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamforge", "serve", "--home", str(tmp_path / "home"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
