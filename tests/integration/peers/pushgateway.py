"""Private Prometheus Pushgateways (OS package `prometheus-pushgateway`): each on a free
loopback port, metrics in memory only, killed at the end of the module; `restart` brings one
back empty on the same port. `secured_pushgateway` asks for HTTP Basic credentials."""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import bcrypt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from peers.private_server import PrivateServer, serve, start_private

__all__ = [
    "PASSWORD",
    "USER",
    "Pushgateway",
    "pushgateway",
    "secured_pushgateway",
]

USER = "pusher"
PASSWORD = "s3cret-push"


@dataclass
class Pushgateway(PrivateServer):
    scheme = "http"
    log_name = "pushgateway.log"
    secured: bool = False

    program: ClassVar[str] = "prometheus-pushgateway"

    def args(self) -> list[str]:
        args = [
            self.binary,
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--persistence.file=",
            "--log.level=warn",
        ]
        if self.secured:
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
            web = self.workdir / "web.yml"
            web.write_text(f'basic_auth_users:\n  {USER}: "{hashed}"\n')
            args.append(f"--web.config.file={web}")
        return args

    def scrape(self) -> str:
        """The gateway's /metrics, as Prometheus scrapes it (empty while it is down)."""
        request = urllib.request.Request(f"{self.url}/metrics")
        if self.secured:
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    def series(self, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Samples called `name` whose labels include `labels`: sorted labels -> value."""
        found: dict[tuple[tuple[str, str], ...], float] = {}
        for family in text_string_to_metric_families(self.scrape()):
            for sample in family.samples:
                if sample.name != name:
                    continue
                if all(sample.labels.get(k) == v for k, v in labels.items()):
                    found[tuple(sorted(sample.labels.items()))] = float(sample.value)
        return found

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample `name` with `labels`; None when the gateway has none."""
        found = self.series(name, **labels)
        assert len(found) <= 1, f"more than one {name} series with {labels}: {found}"
        return next(iter(found.values()), None)


def _serve(factory: pytest.TempPathFactory, secured: bool) -> Iterator[Pushgateway]:
    workdir = factory.mktemp("pushgateway")
    yield from serve(start_private(Pushgateway, Pushgateway.program, workdir, secured=secured))


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A Pushgateway of the module's own, open to anyone."""
    yield from _serve(tmp_path_factory, secured=False)


@pytest.fixture(scope="module")
def secured_pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A Pushgateway of the module's own that takes pushes only with USER and PASSWORD."""
    yield from _serve(tmp_path_factory, secured=True)
