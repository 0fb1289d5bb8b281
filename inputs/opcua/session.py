"""The OPC UA session of one `opcua` input: its own thread and event loop, reconnecting for ever.

Each connection: secure the channel (pinning checked), open a session, resolve and browse the
configured nodes, then subscribe (monitored items) or poll (one Read per interval) until the
server goes away or the input closes. Lost connections are retried with backoff; every failure
is logged (the same cause at most every `RELOG_SECONDS`) naming the endpoint and the cause,
and the state goes to metrics and /ready through `runtime.connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from asyncua import Client, ua

from streamforge.connectors.opcua import (
    ConnectionSettings,
    connect,
    describe_error,
    new_client,
    status_name,
    status_text,
)
from streamforge.inputs.opcua.browse import CHUNK, resolve
from streamforge.inputs.opcua.values import NodeInfo
from streamforge.message import Message
from streamforge.plugin.connection import Backoff, Connection

__all__ = ["OpcuaSession", "SessionSettings", "Sink"]

log = logging.getLogger("streamforge.inputs.opcua")

#: the same failure is logged again at most this often (seconds)
RELOG_SECONDS = 30.0
#: `useHeartbeat`: the server's Server/ServerStatus/CurrentTime, how long it may stay silent
#: before the connection counts as lost, and how often that is checked
HEARTBEAT_NODE = ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_CurrentTime), ua.Int16(0))
HEARTBEAT_TIMEOUT = 10.0
HEARTBEAT_CHECK = 1.0
#: how long closing the session may take when the input stops
CLOSE_TIMEOUT = 2.0

#: declared data types a deadband applies to (the numeric ones)
DEADBAND_TYPES = frozenset(
    {
        "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float",
        "Double", "Number", "Integer", "UInteger", "Decimal", "Duration",
    }
)  # fmt: skip
#: monitored-item results saying the server will not take the deadband filter
FILTER_REFUSED = frozenset(
    {"BadFilterNotAllowed", "BadMonitoredItemFilterUnsupported", "BadDeadbandFilterInvalid"}
)


class Sink(Protocol):
    """Where the session delivers messages (the input's reader)."""

    def put(self, messages: Sequence[Message]) -> None: ...

    def full(self) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class SessionSettings(ConnectionSettings):
    """Everything a session needs, parsed from the input's config: the connection, and what
    to read and how."""

    nodes: tuple[ua.NodeId, ...]
    subscribe: bool
    sampling_ms: float
    poll_seconds: float
    label: str
    #: `useHeartbeat`: watch the server's CurrentTime; reconnect when it stops for a while
    heartbeat: bool = False
    #: `browseHierarchicalReferences`: browse every hierarchical reference
    hierarchical: bool = False
    #: `queueSize`: the queue size requested for each monitored item
    queue_size: int = 10
    #: `deadbandType`, `deadbandValue`: the DataChangeFilter of numeric monitored items
    deadband: tuple[str, float] = ("none", 0.0)


class _Relog:
    """Logs a repeated message at most once per interval (per key)."""

    def __init__(self, interval: float = RELOG_SECONDS) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < self.interval:
            return False
        self._last[key] = now
        return True


class _Lost(ConnectionError):
    """The connection or the subscription ended."""


class OpcuaSession:
    """Runs the client on a daemon thread with its own event loop until `stop()`."""

    def __init__(self, settings: SessionSettings, sink: Sink, conn: Connection) -> None:
        self.settings = settings
        self.sink = sink
        self.conn = conn
        self._relog = _Relog()
        self._halt = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._lost: asyncio.Event | None = None
        self._lost_reason = ""
        self._handles: dict[int, NodeInfo] = {}
        #: the heartbeat node's info while it is watched, and when it last reported
        self._beat: NodeInfo | None = None
        self._beat_emitted = False
        self._last_beat = 0.0
        self._thread = threading.Thread(
            target=self._thread_main, name=f"opcua-{settings.label}", daemon=True
        )

    # -- control (any thread) -----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the session and end the thread."""
        self._halt.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- the session thread -----------------------------------------------------------------

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._halt.is_set():
            return
        s = self.settings
        first = max(s.first_reconnect_delay, 0.05)
        backoff = Backoff(initial=first, maximum=max(s.max_reconnect_delay, first))
        while not self._stop.is_set():
            client = self._client()
            try:
                await self._session(client, backoff)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, then retried
                if not self._stop.is_set():
                    self._failed(describe_error(exc, s))
            finally:
                await self._close(client)
            if self._stop.is_set():
                break
            await self._sleep(backoff.next_delay())

    def _client(self) -> Client:
        s = self.settings
        client = new_client(s)
        self._lost = asyncio.Event()
        self._lost_reason = ""

        async def lost(exc: Exception) -> None:
            self._lose(f"lost the connection ({describe_error(exc, s)})")

        client.connection_lost_callback = lost
        return client

    def _lose(self, reason: str) -> None:
        if self._lost is not None and not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()

    async def _session(self, client: Client, backoff: Backoff) -> None:
        s = self.settings
        await connect(client, s)
        wanted = s.nodes
        self._beat_emitted = HEARTBEAT_NODE in s.nodes
        if s.heartbeat and not self._beat_emitted:
            wanted = (*wanted, HEARTBEAT_NODE)
        nodes = await resolve(client, wanted, log, s.label, hierarchical=s.hierarchical)
        for info in nodes:
            info.prepare(s.endpoint)
        good = [n for n in nodes if not n.error]
        bad = [n for n in nodes if n.error]
        self._beat = None
        if s.heartbeat:
            self._beat = next((n for n in good if n.nodeid == HEARTBEAT_NODE), None)
            if self._beat is None:
                raise ConnectionError("useHeartbeat: the server has no readable CurrentTime node")
            self._last_beat = asyncio.get_running_loop().time()
        self.conn.up()
        backoff.reset()
        log.info(
            "opcua input %s: connected to %s, %d variable(s) to %s",
            s.label,
            s.endpoint,
            len(good),
            "subscribe to" if s.subscribe else "poll",
            extra={"fields": {"component": s.label, "endpoint": s.endpoint}},
        )
        for info in bad:
            self._node_error(info.error)
        watch = asyncio.ensure_future(self._watch_heartbeat()) if self._beat else None
        try:
            if s.subscribe:
                await self._subscribe(client, good, bad)
            else:
                await self._poll(client, good, bad)
        finally:
            if watch is not None:
                watch.cancel()

    async def _watch_heartbeat(self) -> None:
        """`useHeartbeat`: lose the connection when CurrentTime has not reported for a while."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HEARTBEAT_CHECK)
            silent = loop.time() - self._last_beat
            if silent > HEARTBEAT_TIMEOUT:
                self._lose(f"no heartbeat from the server's CurrentTime for {silent:.0f}s")
                return

    def _heartbeats(self, batch: list[Message], infos: Sequence[NodeInfo]) -> list[Message]:
        """Note a heartbeat among `infos` (parallel to `batch`); drop it unless configured."""
        beat = self._beat
        if beat is None:
            return batch
        kept: list[Message] = []
        for msg, info in zip(batch, infos):
            if info is beat:
                self._last_beat = asyncio.get_running_loop().time()
                if not self._beat_emitted:
                    continue
            kept.append(msg)
        return kept

    # -- subscriptions ------------------------------------------------------------------------

    async def _subscribe(self, client: Client, good: list[NodeInfo], bad: list[NodeInfo]) -> None:
        s = self.settings
        failures = [b.failure(b.error_status, b.error) for b in bad]
        self._handles = {}
        if good:
            params = ua.CreateSubscriptionParameters()
            params.RequestedPublishingInterval = s.sampling_ms
            params.RequestedLifetimeCount = 10000
            params.RequestedMaxKeepAliveCount = client.get_keepalive_count(s.sampling_ms)
            params.MaxNotificationsPerPublish = 10000
            params.PublishingEnabled = True
            params.Priority = 0
            result = await client.uaclient.create_subscription(params, self._published)
            for start in range(0, len(good), CHUNK):
                part = good[start : start + CHUNK]
                failures.extend(await self._monitor(client, result.SubscriptionId, start, part))
        if failures:
            await self._deliver(failures)
        await self._until_lost()

    def _filter(self, info: NodeInfo) -> ua.DataChangeFilter | None:
        """The deadband filter of a variable: numeric ones only (others cannot have one)."""
        kind, value = self.settings.deadband
        if kind == "none" or info.datatype not in DEADBAND_TYPES:
            return None
        return ua.DataChangeFilter(
            Trigger=ua.DataChangeTrigger.StatusValue,
            DeadbandType=int(
                ua.DeadbandType.Absolute if kind == "absolute" else ua.DeadbandType.Percent
            ),
            DeadbandValue=value,
        )

    def _item(self, handle: int, info: NodeInfo, filtered: bool) -> ua.MonitoredItemCreateRequest:
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(NodeId=info.nodeid, AttributeId=13)
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = ua.MonitoringParameters(
            ClientHandle=handle,
            SamplingInterval=self.settings.sampling_ms,
            QueueSize=self.settings.queue_size,
            DiscardOldest=True,
            Filter=self._filter(info) if filtered else None,
        )
        return request

    async def _monitor(
        self, client: Client, subscription_id: int, first: int, infos: list[NodeInfo]
    ) -> list[Message]:
        """Create monitored items (client handle = position); BAD messages for refused ones.

        A variable whose deadband filter the server refuses is monitored again without it (its
        changes then all arrive); that is logged once per node.
        """
        params = ua.CreateMonitoredItemsParameters()
        params.SubscriptionId = subscription_id
        params.TimestampsToReturn = ua.TimestampsToReturn.Both
        for offset, info in enumerate(infos):
            params.ItemsToCreate.append(self._item(first + offset, info, True))
            self._handles[first + offset] = info
        results = await client.uaclient.create_monitored_items(params)
        retry = [
            offset
            for offset, (info, result) in enumerate(zip(infos, results))
            if status_name(result.StatusCode) in FILTER_REFUSED and self._filter(info) is not None
        ]
        if retry:
            again = ua.CreateMonitoredItemsParameters()
            again.SubscriptionId = subscription_id
            again.TimestampsToReturn = ua.TimestampsToReturn.Both
            again.ItemsToCreate = [self._item(first + o, infos[o], False) for o in retry]
            for offset, result in zip(retry, await client.uaclient.create_monitored_items(again)):
                self._node_error(
                    f"node {infos[offset].nodeid.to_string()}: the server refused the deadband "
                    f"filter ({status_name(results[offset].StatusCode)}); monitored without it"
                )
                results[offset] = result
        refused: list[Message] = []
        for offset, (info, result) in enumerate(zip(infos, results)):
            if not result.StatusCode.is_good():
                self._handles.pop(first + offset, None)
                error = f"node {info.nodeid.to_string()}: {status_text(result.StatusCode)}"
                self._node_error(error)
                refused.append(info.failure(result.StatusCode.value, error))
        return refused

    async def _published(self, result: ua.PublishResult) -> None:
        """The publish loop's callback: one message per data change."""
        try:
            await self._notifications(result)
        except Exception as exc:  # noqa: BLE001 - asyncua would only log it at debug level
            self._lose(f"handling notifications failed: {type(exc).__name__}: {exc}")

    async def _notifications(self, result: ua.PublishResult) -> None:
        data = result.NotificationMessage.NotificationData
        if not data:
            return
        handles = self._handles
        batch: list[Message] = []
        infos: list[NodeInfo] = []
        for notification in data:
            if isinstance(notification, ua.DataChangeNotification):
                for item in notification.MonitoredItems:
                    info = handles.get(item.ClientHandle)
                    if info is not None:
                        batch.append(info.message(item.Value))
                        infos.append(info)
            elif isinstance(notification, ua.StatusChangeNotification):
                status = notification.Status
                if status is not None and not status.is_good():
                    self._lose(f"the server ended the subscription ({status_text(status)})")
        batch = self._heartbeats(batch, infos)
        if batch:
            await self._deliver(batch)

    # -- polling ------------------------------------------------------------------------------

    async def _poll(self, client: Client, good: list[NodeInfo], bad: list[NodeInfo]) -> None:
        s = self.settings
        requests: list[ua.ReadParameters] = []
        for start in range(0, len(good), CHUNK):
            params = ua.ReadParameters()
            params.TimestampsToReturn = ua.TimestampsToReturn.Both
            params.NodesToRead = [
                ua.ReadValueId(NodeId=n.nodeid, AttributeId=13) for n in good[start : start + CHUNK]
            ]
            requests.append(params)
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._stopped():
            batch: list[Message] = []
            for i, params in enumerate(requests):
                values = await client.uaclient.read(params)
                infos = good[i * CHUNK : (i + 1) * CHUNK]
                batch.extend(info.message(dv) for info, dv in zip(infos, values))
            batch = self._heartbeats(batch, good)
            batch.extend(b.failure(b.error_status, b.error) for b in bad)
            if batch:
                await self._deliver(batch)
            due += s.poll_seconds
            now = loop.time()
            if due < now:
                due = now
            await self._wait(due - now)

    # -- shared -------------------------------------------------------------------------------

    def _stopped(self) -> bool:
        if self._stop is not None and self._stop.is_set():
            return True
        if self._lost is not None and self._lost.is_set():
            raise _Lost(self._lost_reason)
        return False

    async def _wait(self, seconds: float) -> None:
        """Sleep until `seconds` pass, the input stops or the connection is lost."""
        assert self._stop is not None and self._lost is not None
        waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._lost.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        self._stopped()

    async def _until_lost(self) -> None:
        while not self._stopped():
            await self._wait(3600.0)

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _deliver(self, batch: list[Message]) -> None:
        """Hand messages to the stream; waits (without blocking the loop) while it is full."""
        while self.sink.full():
            if self._stop is not None and self._stop.is_set():
                return
            await asyncio.sleep(0.01)
        self.sink.put(batch)

    async def _close(self, client: Client) -> None:
        self._handles = {}
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), CLOSE_TIMEOUT)

    def _failed(self, cause: str) -> None:
        s = self.settings
        self.conn.down(cause)
        if self._relog.due(cause):
            log.error(
                "opcua input %s: %s: %s",
                s.label,
                s.endpoint,
                cause,
                extra={"fields": {"component": s.label, "endpoint": s.endpoint, "error": cause}},
            )

    def _node_error(self, error: str) -> None:
        s = self.settings
        if self._relog.due(error):
            log.error(
                "opcua input %s: %s: %s",
                s.label,
                s.endpoint,
                error,
                extra={"fields": {"component": s.label, "endpoint": s.endpoint, "error": error}},
            )
