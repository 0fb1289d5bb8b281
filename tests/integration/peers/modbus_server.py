"""A real pymodbus server for tests, with known values; and a server that never answers.

`ModbusServer(devices)` serves the given slaves on a free loopback port, in this process on a
thread with its own event loop:

    server.port / server.controller   where it listens (tcp://127.0.0.1:<port>)
    server.requests                   the reads it received: (slave, function, address, count)
    server.busy_next = 2              the next 2 reads are answered with exception 6 (busy)
    server.stop(); server.start()     gone (connections dropped), back on the same port

Each slave is a `Device` with sparse `coils`, `discrete`, `holding` and `input` maps
(address -> value); unset addresses give exception 2 (illegal data address). A slave that is
not configured gets exception 11 (gateway target failed to respond), as from a gateway.
`framer="rtu"` serves RTU frames over TCP. `BlackHole` accepts TCP connections and never
answers a byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from peers.ports import free_port, wait_listening

__all__ = ["BlackHole", "Device", "ModbusServer", "black_hole", "modbus_server"]


@dataclass
class Device:
    """The values of one slave, by address."""

    coils: dict[int, bool] = field(default_factory=dict)
    discrete: dict[int, bool] = field(default_factory=dict)
    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)


def _runs(values: dict[int, Any]) -> list[tuple[int, list[Any]]]:
    """Consecutive addresses grouped: [(first address, [values...]), ...]."""
    runs: list[tuple[int, list[Any]]] = []
    for address in sorted(values):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(values[address])
        else:
            runs.append((address, [values[address]]))
    return runs


def _register_block(values: dict[int, int]) -> list[SimData]:
    if not values:
        return [SimData(60000, count=1, datatype=DataType.INVALID)]
    return [
        SimData(start, values=[v & 0xFFFF for v in run], datatype=DataType.REGISTERS)
        for start, run in _runs(values)
    ]


def _bit_block(values: dict[int, bool]) -> list[SimData]:
    if not values:
        return [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
    top = max(values) + 1
    bits = [bool(values.get(a, False)) for a in range(top)]
    bits += [False] * (-len(bits) % 16)
    return [SimData(0, values=bits, datatype=DataType.BITS)]


class _Gateway:
    """The server's datastore, answering exception 11 for slaves it does not have."""

    def __init__(self, core: Any) -> None:
        self.core = core

    def device_ids(self) -> list[int]:
        return list(self.core.device_ids())

    async def async_getValues(self, device_id: int, func_code: int, address: int, count: int = 1):  # noqa: N802
        if device_id not in self.core.devices:
            raise NoSuchIdException(f"no slave {device_id}")
        return await self.core.async_getValues(device_id, func_code, address, count)

    async def async_setValues(self, device_id: int, func_code: int, address: int, values: Any):  # noqa: N802
        if device_id not in self.core.devices:
            raise NoSuchIdException(f"no slave {device_id}")
        return await self.core.async_setValues(device_id, func_code, address, values)


class ModbusServer:
    """A pymodbus TCP server on its own thread; counts the reads it receives."""

    def __init__(
        self, devices: dict[int, Device], *, port: int | None = None, framer: str = "socket"
    ) -> None:
        self.devices = devices
        self.port = port or free_port()
        self.framer = FramerType.RTU if framer == "rtu" else FramerType.SOCKET
        self.requests: list[tuple[int, int, int, int]] = []
        self.busy_next = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def controller(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def count(self) -> int:
        """Reads received so far."""
        with self._lock:
            return len(self.requests)

    # -- datastore hooks (server thread) --------------------------------------------------

    def _trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending and pdu.function_code in (1, 2, 3, 4):
            count = int(getattr(pdu, "count", 0) or 0)
            with self._lock:
                self.requests.append((pdu.dev_id, pdu.function_code, pdu.address, count))
        return pdu

    async def _action(self, *_args: Any) -> ExcCodes | None:
        with self._lock:
            if self.busy_next > 0:
                self.busy_next -= 1
                return ExcCodes.DEVICE_BUSY
        return None

    def _sim_devices(self) -> list[SimDevice]:
        return [
            SimDevice(
                slave,
                simdata=(
                    _bit_block(d.coils),
                    _bit_block(d.discrete),
                    _register_block(d.holding),
                    _register_block(d.input),
                ),
                action=self._action,
            )
            for slave, d in self.devices.items()
        ]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Serve (again) on `port`; returns once it listens."""
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._serve, name="modbus-server", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise RuntimeError(f"modbus test server failed: {self._error}")
        wait_listening(self.port)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._started.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = ModbusTcpServer(
            self._sim_devices(),
            address=("127.0.0.1", self.port),
            framer=self.framer,
            trace_pdu=self._trace,
        )
        server.context = _Gateway(server.context)  # type: ignore[assignment]
        await server.serve_forever(background=True)
        self._started.set()
        await self._stop.wait()
        await server.shutdown()

    def stop(self) -> None:
        """Stop serving and drop every connection."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if thread is None or loop is None or stop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> ModbusServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class BlackHole:
    """Accepts TCP connections, reads what is sent and never answers."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="modbus-black-hole", daemon=True).start()

    @property
    def controller(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._swallow, args=(conn,), daemon=True).start()

    @staticmethod
    def _swallow(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(4096):
                pass

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def modbus_server() -> Iterator[Any]:
    """A factory: `modbus_server({1: Device(...)}, framer=...)` starts one, stopped after."""
    started: list[ModbusServer] = []

    def start(devices: dict[int, Device], **options: Any) -> ModbusServer:
        server = ModbusServer(devices, **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """A TCP listener that never answers."""
    hole = BlackHole()
    yield hole
    hole.close()
