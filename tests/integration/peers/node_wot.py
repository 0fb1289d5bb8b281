"""A real W3C WoT runtime for the tests: an Eclipse Thingweb node-wot servient exposing a
"Bench Meter" Thing over HTTP and MQTT.

node-wot (`@node-wot/core`, `@node-wot/binding-http`, `@node-wot/binding-mqtt`, all
`NODE_WOT_VERSION`) is installed with the machine's npm once per test session into the
session's temp root. The meter's properties are readable, observable numbers with a unit and a
range; their values change every `interval_ms`. node-wot serves the TD at
`http://127.0.0.1:<port>/bench-meter` (the title, slugified) and publishes each property change
to the test's Mosquitto broker at `Bench%20Meter/properties/<name>` (the title, percent-encoded:
node-wot's topic is its href's path as written).

When node or npm is missing or the install fails (no registry), the tests that use node-wot
fail with the reason: they are never skipped silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from peers.mosquitto import Mosquitto
from peers.ports import free_port
from peers.process import PeerProcess

__all__ = [
    "METER_PROPERTIES",
    "NODE_WOT_PACKAGES",
    "NODE_WOT_VERSION",
    "NodeWotInstall",
    "NodeWotThing",
    "node_wot",
    "node_wot_install",
]

NODE_WOT_VERSION = "0.8.16"
NODE_WOT_PACKAGES = ("@node-wot/core", "@node-wot/binding-http", "@node-wot/binding-mqtt")
INSTALL_TIMEOUT = 100.0  # under the tests' 120 s timeout, so the reason is reported

#: the meter's properties: unit and range (every one a readable, observable number)
METER_PROPERTIES: dict[str, dict[str, Any]] = {
    "voltage": {"unit": "V", "minimum": 207.0, "maximum": 253.0},
    "current": {"unit": "A", "minimum": 0.0, "maximum": 16.0},
    "frequency": {"unit": "Hz", "minimum": 49.5, "maximum": 50.5},
}

# The servient. argv[2] is a JSON object: http_port, mqtt_uri (or null), title, id,
# interval_ms, properties (name -> unit, minimum, maximum). Values move along a slow wave with
# a little noise and stay inside their range; every change is emitted to the observers (the
# HTTP long polls and the MQTT topics).
_SERVIENT_JS = r"""
"use strict";
const { Servient } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const { MqttBrokerServer } = require("@node-wot/binding-mqtt");

const settings = JSON.parse(process.argv[2]);
const base = `http://127.0.0.1:${settings.http_port}`;
const servient = new Servient();
servient.addServer(
  new HttpServer({ port: settings.http_port, address: "127.0.0.1", baseUri: base })
);
if (settings.mqtt_uri) {
  servient.addServer(new MqttBrokerServer({ uri: settings.mqtt_uri }));
}

const properties = {};
const values = {};
for (const [name, p] of Object.entries(settings.properties)) {
  properties[name] = {
    type: "number", unit: p.unit, minimum: p.minimum, maximum: p.maximum,
    readOnly: true, observable: true, description: `${name} in ${p.unit}`,
  };
  values[name] = (p.minimum + p.maximum) / 2;
}

function next(name, step) {
  const p = settings.properties[name];
  const span = p.maximum - p.minimum;
  const phase = Object.keys(values).indexOf(name);
  const wave = Math.sin(step / 6 + phase) * 0.4 + (Math.random() - 0.5) * 0.1;
  return Math.min(p.maximum, Math.max(p.minimum, p.minimum + span * (0.5 + wave)));
}

servient.start().then(async (WoT) => {
  const thing = await WoT.produce({
    title: settings.title, id: settings.id,
    description: "A bench power meter for StreamForge's tests", properties,
  });
  for (const name of Object.keys(values)) {
    thing.setPropertyReadHandler(name, async () => values[name]);
  }
  await thing.expose();
  let step = 0;
  setInterval(() => {
    step += 1;
    for (const name of Object.keys(values)) {
      values[name] = next(name, step);
      thing.emitPropertyChange(name).catch((err) => console.error(`emit ${name}: ${err}`));
    }
  }, settings.interval_ms);
  console.log(`exposed ${settings.title} at ${base}`);
}).catch((err) => {
  console.error(`node-wot failed: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    servient.shutdown().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
"""


@dataclass(frozen=True)
class NodeWotInstall:
    """node-wot installed into `prefix` (its `node_modules/`), and the node to run it with."""

    prefix: Path
    node: str
    versions: dict[str, str]
    seconds: float

    @property
    def script(self) -> Path:
        return self.prefix / "bench-meter.js"


def _installed_versions(prefix: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for package in NODE_WOT_PACKAGES:
        manifest = prefix / "node_modules" / package / "package.json"
        if manifest.exists():
            found[package] = str(json.loads(manifest.read_text())["version"])
    return found


def _install(prefix: Path) -> NodeWotInstall:
    """node-wot into `prefix` with npm; pytest.fail with the reason when that is not possible."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "node-wot tests need Node.js and npm on PATH (Node.js 20: apt-get install nodejs "
            "npm, or nodesource); they were not found",
            pytrace=False,
        )
    started = time.monotonic()
    if _installed_versions(prefix) != {p: NODE_WOT_VERSION for p in NODE_WOT_PACKAGES}:
        prefix.mkdir(parents=True, exist_ok=True)
        command = [
            npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
            "--no-package-lock", "--loglevel=error",
            *(f"{p}@{NODE_WOT_VERSION}" for p in NODE_WOT_PACKAGES),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, cwd=prefix
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"npm install of node-wot {NODE_WOT_VERSION} took longer than "
                f"{INSTALL_TIMEOUT:g}s (is the npm registry reachable? `npm config get "
                "registry`)",
                pytrace=False,
            )
        if done.returncode != 0:
            pytest.fail(
                f"npm could not install node-wot {NODE_WOT_VERSION} (exit {done.returncode}); "
                "the node-wot tests need the npm registry (`npm config get registry`):\n"
                + (done.stderr or done.stdout)[-3000:],
                pytrace=False,
            )
    versions = _installed_versions(prefix)
    wanted = {p: NODE_WOT_VERSION for p in NODE_WOT_PACKAGES}
    if versions != wanted:
        pytest.fail(f"npm installed {versions}, expected {wanted}", pytrace=False)
    install = NodeWotInstall(prefix, node, versions, time.monotonic() - started)
    install.script.write_text(_SERVIENT_JS, encoding="utf-8")
    return install


@pytest.fixture(scope="session")
def node_wot_install(tmp_path_factory: pytest.TempPathFactory) -> NodeWotInstall:
    """node-wot installed once per session under the session's temp root (a failed install
    fails every test asking for it, once, with npm's message)."""
    return _install(tmp_path_factory.getbasetemp() / "node-wot")


@dataclass
class NodeWotThing(PeerProcess):
    """A running node-wot servient exposing the bench meter; stop() ends it and its children."""

    install: NodeWotInstall
    workdir: Path
    http_port: int
    mqtt_uri: str | None
    title: str = "Bench Meter"
    thing_id: str = "urn:dev:ops:streamforge-bench-meter-1"
    interval_ms: int = 200
    properties: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(METER_PROPERTIES))
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "node-wot.log"

    @property
    def slug(self) -> str:
        """The Thing's path on the HTTP server: node-wot slugifies the title (lower case,
        spaces to `-`; enough for plain titles like this one's)."""
        return re.sub(r"\s+", "-", self.title.strip().lower())

    @property
    def mqtt_prefix(self) -> str:
        """The topic prefix node-wot publishes under: the title, percent-encoded as written."""
        return quote(self.title, safe="")

    @property
    def td_url(self) -> str:
        """Where node-wot serves the TD: `http://127.0.0.1:<port>/<slug>`."""
        return f"http://127.0.0.1:{self.http_port}/{self.slug}"

    def td(self) -> dict[str, Any]:
        """The TD as node-wot serves it now."""
        reply = httpx.get(self.td_url, timeout=5)
        reply.raise_for_status()
        doc: dict[str, Any] = reply.json()
        return doc

    def _exposed(self) -> bool:
        """The TD is served with every binding's forms (node-wot adds them server by server)."""
        try:
            doc = self.td()
        except (httpx.HTTPError, ValueError):
            return False
        wanted = ("http://", "mqtt://") if self.mqtt_uri else ("http://",)
        props = doc.get("properties") or {}
        return set(props) == set(self.properties) and all(
            any(str(f.get("href", "")).startswith(scheme) for f in p.get("forms", []))
            for p in props.values()
            for scheme in wanted
        )

    def start(self) -> None:
        if self.running:
            return
        settings = {
            "http_port": self.http_port,
            "mqtt_uri": self.mqtt_uri,
            "title": self.title,
            "id": self.thing_id,
            "interval_ms": self.interval_ms,
            "properties": self.properties,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [self.install.node, str(self.install.script), json.dumps(settings)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.install.prefix,
            start_new_session=True,  # its own process group, so stop() reaches any child
        )
        log.close()
        deadline = time.monotonic() + 30
        while not self._exposed():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"node-wot did not expose the Thing:\n{self.log_tail(40)}")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with contextlib.suppress(ProcessLookupError):  # children left behind in the group
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def node_wot(
    node_wot_install: NodeWotInstall, mosquitto: Mosquitto, tmp_path: Path
) -> Iterator[NodeWotThing]:
    """The bench meter on node-wot: HTTP on a free loopback port, MQTT to the test Mosquitto."""
    thing = NodeWotThing(
        install=node_wot_install,
        workdir=tmp_path,
        http_port=free_port(),
        mqtt_uri=f"mqtt://127.0.0.1:{mosquitto.port}",
    )
    thing.start()
    try:
        yield thing
    finally:
        thing.stop()
