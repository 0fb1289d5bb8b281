"""`http_server` output: clients fetch the stream's messages over HTTP (Benthos' http_server
output).

A GET on `path` takes the next batch (waiting up to `timeout` for one, else 408),
`stream_path` answers with a chunked response that carries every batch as it comes, and a
websocket on `ws_path` gets each message as a binary frame. Batches go out oldest first, each
to one client. Without `address` the endpoints are served by the stream's own HTTP server
(`http.address`, beside /metrics); with one the output listens there itself (HTTPS with
`cert_file` and `key_file`).

A message counts as written once it was written to a client's connection. While no client
takes them, batches wait and the stream is held back (back-pressure); nothing is dropped. When
the stream stops, clients get `timeout` to take what waits; what is still not delivered then
fails back to the input, unacknowledged, so an input that redelivers gives it again.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from streamforge.connectors.cors import Cors, cors_field
from streamforge.connectors.http import parse_address
from streamforge.connectors.serving import ListeningServer, serve
from streamforge.durations import parse_duration
from streamforge.message import Message
from streamforge.outputs._http_server_hub import Delivery, Hub, HubApp
from streamforge.plugin import BuildContext, Field, Output, ParsedField, register_output
from streamforge.plugin.pending import ConfirmsLater, PendingBatch, PendingWrites
from streamforge.plugin.routes import (
    register_route,
    reserved,
    shared_server,
    unregister_route,
)
from streamforge.plugin.spec import offline_check

__all__ = ["HttpServerOutput", "OutputSettings", "check_http_server_output"]

log = logging.getLogger("streamforge.outputs.http_server")

_DEFAULTS = {"path": "/get", "stream_path": "/get/stream", "ws_path": "/get/ws"}


def _address(value: Any) -> Any:
    if value:
        parse_address(str(value))
    return value


def _endpoint(value: Any) -> Any:
    text = str(value or "")
    if text and not text.startswith("/"):
        raise ValueError(f"{text!r} must start with / (or be empty to serve nothing there)")
    return value


def _verbs(value: Any) -> Any:
    verbs = [str(v).strip().upper() for v in value or []]
    if not verbs:
        raise ValueError("name at least one verb (GET)")
    for verb in verbs:
        if not verb.isalpha():
            raise ValueError(f"{verb!r} is not an HTTP method")
    return value


@dataclass(frozen=True)
class OutputSettings:
    """An `http_server` output config as building it reads it (checked)."""

    address: str
    path: str
    stream_path: str
    ws_path: str
    verbs: frozenset[str]
    timeout: float
    cert_file: str
    key_file: str
    cors: Cors

    @property
    def shared(self) -> bool:
        """Served by the stream's own HTTP server (no address of its own)."""
        return not self.address

    @property
    def named_endpoints(self) -> list[tuple[str, str]]:
        """(field, path) of each endpoint served."""
        named = (("path", self.path), ("stream_path", self.stream_path), ("ws_path", self.ws_path))
        return [(field, p) for field, p in named if p]

    @property
    def endpoints(self) -> list[str]:
        return [p for _, p in self.named_endpoints]

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> OutputSettings:
        address = str(conf.get("address") or "").strip()
        _address(address)
        paths = {}
        for name, default in _DEFAULTS.items():
            value = conf.get(name, default)
            try:
                _endpoint(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            paths[name] = str(value or "")
        if not any(paths.values()):
            raise ValueError("path, stream_path and ws_path are all empty: nothing would serve")
        seen: dict[str, str] = {}
        for name, value in paths.items():
            if value and value in seen:
                raise ValueError(f"{name}: {value} is also {seen[value]}")
            seen.setdefault(value, name)
        try:
            _verbs(conf.get("allowed_verbs", ["GET"]))
        except ValueError as exc:
            raise ValueError(f"allowed_verbs: {exc}") from None
        verbs = frozenset(str(v).strip().upper() for v in conf.get("allowed_verbs", ["GET"]))
        timeout = parse_duration(conf.get("timeout", "5s"))
        if not timeout or timeout <= 0:
            raise ValueError("timeout: must be longer than 0s")
        cert, key = str(conf.get("cert_file") or ""), str(conf.get("key_file") or "")
        if bool(cert) != bool(key):
            raise ValueError("cert_file and key_file: TLS needs both (or neither)")
        if cert and not address:
            raise ValueError(
                "cert_file: TLS needs an address of the output's own; the stream's HTTP "
                "server (http.address) serves plain HTTP"
            )
        if not address:
            for name, value in paths.items():
                if value and reserved(value):
                    raise ValueError(
                        f"{name}: {value} is served by the stream's HTTP server itself; "
                        "choose another path or give the output an address of its own"
                    )
        return cls(
            address=address,
            verbs=verbs,
            timeout=timeout,
            cert_file=cert,
            key_file=key,
            cors=Cors(conf.get("cors"), verbs | {"GET"}),
            **paths,
        )


def check_http_server_output(conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
    """Every check building the output makes (certificate and key included), without
    binding or registering anything."""
    settings = OutputSettings.from_conf(conf)
    if settings.cert_file:
        for name, path in (("cert_file", settings.cert_file), ("key_file", settings.key_file)):
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                raise ValueError(f"{name}: {path}: no such readable file")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(settings.cert_file, settings.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"cert_file, key_file: not a PEM certificate and its key: {exc}"
            ) from None


def _websockets_installed() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("websockets", "wsproto"))


class _Endpoints:
    """A hub with its endpoints served: on a listener of its own or on the stream's server.
    Shared by every worker's instance of one output in this process."""

    def __init__(self, key: tuple[str, str], settings: OutputSettings, ctx: Any) -> None:
        stream, label = key
        self.key = key
        self.settings = settings
        self.users = 0
        fields = {"stream": stream, "component": label}
        name = f"http_server output {label}"
        metrics = getattr(ctx, "metrics", None)
        on_waiting = on_clients = None
        if metrics is not None:
            waiting = metrics.gauge(
                "http_server_output_waiting",
                "Messages an http_server output holds until a client takes them.",
            )
            clients = metrics.gauge(
                "http_server_output_clients",
                "Clients of an http_server output: waiting GETs, streams and websockets.",
            )
            on_waiting, on_clients = waiting.set, clients.set
        self.hub = Hub(name, log, fields, on_waiting, on_clients)
        self.websockets = _websockets_installed()
        if settings.ws_path and not self.websockets:
            log.warning(
                "%s: ws_path %s answers 501: the Python package 'websockets' is not installed "
                "(pip install 'streamforge[websocket]')", name, settings.ws_path,
                extra={"fields": fields},
            )  # fmt: skip
        self.app = HubApp(
            self.hub,
            path=settings.path,
            stream_path=settings.stream_path,
            ws_path=settings.ws_path,
            verbs=settings.verbs,
            timeout=settings.timeout,
            cors=settings.cors,
            websockets=self.websockets,
        )
        self.server: ListeningServer | None = None
        self._warned_unserved = False
        paths = ", ".join(settings.endpoints)
        if settings.shared:
            registered: list[str] = []
            owner = f"the http_server output {label} of stream {stream}"
            try:
                for field, path in settings.named_endpoints:
                    try:
                        register_route(path, self.app, owner)
                    except ValueError as exc:
                        raise ValueError(f"{field}: {exc}") from None
                    registered.append(path)
            except ValueError:
                for path in registered:
                    unregister_route(path, self.app)
                raise
            self.hub.where = f" ({paths} on the stream's HTTP server)"
            log.info(
                "%s serves %s on the stream's HTTP server", name, paths, extra={"fields": fields}
            )
            return
        try:
            self.server = serve(
                self.app,
                settings.address,
                logger=log,
                name=name,
                fields=fields,
                websockets=True,
                certfile=settings.cert_file,
                keyfile=settings.key_file,
            )
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot listen on {settings.address}: {exc}") from exc
        scheme = "https" if settings.cert_file else "http"
        base = f"{scheme}://{self.server.address}"
        self.hub.where = f" (GET {base}{settings.endpoints[0]})"
        log.info(
            "%s listening on %s%s (%s)", name, base, settings.endpoints[0], paths,
            extra={"fields": {**fields, "address": self.server.address}},
        )  # fmt: skip

    def check_served(self) -> None:
        """Say once when the stream's HTTP server is not there to serve the endpoints."""
        if not self.settings.shared or self._warned_unserved or shared_server() is not None:
            return
        self._warned_unserved = True
        log.error(
            "%s: the stream's HTTP server is not running (http.enabled: false, "
            "--http-address off, or its address is taken), so no client can take messages; "
            "give the output an address of its own",
            self.hub.name,
            extra={"fields": self.hub.fields},
        )

    def close(self) -> None:
        self.hub.close()
        if self.server is not None:
            self.server.stop(wait=False)
        else:
            for path in self.settings.endpoints:
                unregister_route(path, self.app)


_ENDPOINTS: dict[tuple[str, str], _Endpoints] = {}
_ENDPOINTS_LOCK = threading.Lock()


def _acquire(key: tuple[str, str], settings: OutputSettings, ctx: Any) -> _Endpoints:
    with _ENDPOINTS_LOCK:
        endpoints = _ENDPOINTS.get(key)
        if endpoints is None:
            endpoints = _ENDPOINTS[key] = _Endpoints(key, settings, ctx)
        endpoints.users += 1
        return endpoints


def _release(endpoints: _Endpoints) -> None:
    with _ENDPOINTS_LOCK:
        endpoints.users -= 1
        if endpoints.users > 0:
            return
        if _ENDPOINTS.get(endpoints.key) is endpoints:
            del _ENDPOINTS[endpoints.key]
    endpoints.close()


_PATH_DOC = "; empty serves nothing there."


@register_output(
    "http_server",
    fields=[
        ParsedField(
            "address",
            "string",
            default="",
            parser=_address,
            description="host:port of a listener of the output's own; empty serves the "
            "endpoints on the stream's HTTP server (`http.address`).",
            examples=("0.0.0.0:8081",),
        ),
        ParsedField(
            "path",
            "string",
            default="/get",
            parser=_endpoint,
            description="Each GET here takes the next message (batch)" + _PATH_DOC,
        ),
        ParsedField(
            "stream_path",
            "string",
            default="/get/stream",
            parser=_endpoint,
            description="A GET here streams messages as they come, each followed by a "
            "newline" + _PATH_DOC,
        ),
        ParsedField(
            "ws_path",
            "string",
            default="/get/ws",
            parser=_endpoint,
            description="A websocket here receives each message as a binary frame" + _PATH_DOC,
        ),
        ParsedField(
            "allowed_verbs",
            "array",
            default=["GET"],
            item=Field("verb", "string"),
            parser=_verbs,
            description="Methods `path` and `stream_path` accept; others get 405.",
        ),
        Field(
            "timeout",
            "duration",
            default="5s",
            advanced=True,
            description="How long a GET on `path` waits for a message before it gets 408; "
            "also how long clients may take what waits when the stream stops.",
        ),
        Field(
            "cert_file",
            "string",
            default="",
            advanced=True,
            description="PEM certificate: serve HTTPS (with `key_file`; only with `address`).",
        ),
        Field(
            "key_file",
            "string",
            default="",
            advanced=True,
            description="PEM private key of `cert_file`.",
        ),
        cors_field(),
    ],
    summary="Serves messages to HTTP clients: a GET each, a chunked stream or a websocket.",
    description=(
        "Three endpoints: a GET on `path` takes the next batch (one message as the body, "
        "several as a multipart body), waiting up to `timeout` for one (then 408); a GET on "
        "`stream_path` gets a chunked response that carries each message as it comes, "
        "followed by a newline (a batch of several ends with an empty line); a websocket on "
        "`ws_path` receives each message as a binary frame. Each batch goes to one client, "
        "oldest first.\n\n"
        "Without `address` the endpoints are served by the stream's own HTTP server "
        "(`http.address`, which also serves /metrics and /ready), as Benthos serves them on "
        "its service endpoint; with one, the output listens there itself, with HTTPS when "
        "`cert_file` and `key_file` are set.\n\n"
        "A message counts as written once it was written to a client's connection. While no "
        "client takes messages they wait and the stream is held back (back-pressure; "
        "`streamforge_http_server_output_waiting` counts them), nothing is dropped. When the "
        "stream stops, clients get `timeout` to take what waits; what is not delivered then "
        "fails back to the input unacknowledged, so an input that redelivers (AMQP, NATS, "
        "Kafka) gives it again. Websockets need the `websocket` extra."
    ),
    examples=(
        "http_server:\n  path: /get\n  stream_path: /get/stream\n  ws_path: /get/ws\n"
        "  timeout: 5s\n",
        "http_server:\n  address: 0.0.0.0:8443\n  path: /readings\n  cert_file: ./server.pem\n"
        "  key_file: ./server.key\n  cors:\n    enabled: true\n"
        "    allowed_origins: [ https://hmi.plant.example ]\n",
    ),
)
@offline_check(check_http_server_output)
class HttpServerOutput(ConfirmsLater, Output):
    """Hands batches to the output's endpoints; written once a client received them."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.settings = OutputSettings.from_conf(conf)
        check_http_server_output(conf, ctx)
        stream = getattr(ctx, "stream", "") or "stream"
        self.label = getattr(ctx, "label", "") or "http_server"
        self.closing = False
        self._closed = False
        self._pending = PendingWrites(lambda: f"http_server output {self.label}: not delivered")
        #: batches handed to the hub and not settled yet
        self._outstanding: dict[int, Delivery] = {}
        self._lock = threading.Lock()
        self._endpoints = _acquire((stream, self.label), self.settings, ctx)
        self._hub = self._endpoints.hub

    def write_batch(self, batch: list[Message]) -> list[Message]:
        if not batch:
            return []
        self._endpoints.check_served()
        pending = self._pending
        write = PendingBatch(pending.hand_over(len(batch)), list(batch), math.inf)
        pending.track([write])
        delivery = Delivery(write.msgs, self, write)
        with self._lock:
            self._outstanding[id(delivery)] = delivery
        self._hub.put(delivery)
        self._hub.wait_for_room()
        return []

    def settled(self, delivery: Delivery, error: str | None) -> None:
        """A client received `delivery` (error None), or it was given up on."""
        with self._lock:
            self._outstanding.pop(id(delivery), None)
        self._pending.settle(delivery.write, error)
        self._pending.report_progress()

    def flush(self) -> list[Message]:
        """Let clients take what waits for up to `timeout`; fail back what they did not."""
        reason = (
            f"http_server output {self.label}: not delivered: no client took it before the "
            "stream stopped"
        )
        self._hub.withdraw(self, self.settings.timeout, reason)
        with self._lock:
            stuck = list(self._outstanding.values())  # still in a client's hands
        for delivery in stuck:
            self.settled(delivery, reason)
        return self._pending.take_failures()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.closing:
            self.flush()
        _release(self._endpoints)
