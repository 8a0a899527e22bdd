"""Fixtures for the LwM2M client and the local platform (a pytest plugin).

`RecordingModem` stands in for the AT side of `bc26sim.network` (the other side of
the interface under test): it declares resources, keeps their last values and
records what the network asks of it. `AtHost` is the test's end of a real
pseudo-terminal: it writes command lines and reads what the virtual BC26 prints.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
import contextlib
from dataclasses import dataclass
from typing import Any

import pytest
import serialx

from bc26sim import Bc26Simulator
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.network import ObjectInstance, Registration, ResourcePath
from bc26sim.platform import LwM2mPlatform

# CoAP ACK_TIMEOUT becomes 40 ms: protocol runs stay quick, and a CON only times
# out if the peer is silent for over a second.
SCALE = 0.02
# For the tests that wait for retransmissions to run out (about 0.2-0.3 s).
FAST_SCALE = 0.004
WAIT = 10.0  # generous bound on every wait; a passing test never gets near it

ENDPOINT = "867724030023557"  # the manual's example IMEI
OBJECTS = (ObjectInstance(19, 0, (0,)), ObjectInstance(19, 1, (0,)))


class RecordingModem:
    """The AT side as the network sees it: declared resources and their values."""

    def __init__(self, resources: Iterable[ResourcePath] = ((19, 0, 0), (19, 1, 0))) -> None:
        self.values: dict[ResourcePath, bytes] = dict.fromkeys(resources, b"")
        self.observed: set[ResourcePath] = set()
        self.observe_calls: list[tuple[ResourcePath, bool]] = []
        self.writes: list[tuple[ResourcePath, bytes]] = []
        self._waiters: list[asyncio.Future[None]] = []

    def _declared(self, path: ResourcePath) -> bool:
        if path[2] == -1:
            return any(p[:2] == path[:2] for p in self.values)
        return path in self.values

    def observe(self, path: ResourcePath, cancel: bool) -> bool:
        if not self._declared(path):
            return False
        self.observe_calls.append((path, cancel))
        if cancel:
            self.observed.discard(path)
        else:
            self.observed.add(path)
        self._wake()
        return True

    def write(self, path: ResourcePath, payload: bytes) -> bool:
        if path not in self.values:
            return False
        self.values[path] = payload
        self.writes.append((path, payload))
        self._wake()
        return True

    def read(self, path: ResourcePath) -> bytes | None:
        return self.values.get(path)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for[T](self, predicate: Callable[[], T | None]) -> T:
        async with asyncio.timeout(WAIT):
            while not (result := predicate()):
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.remove(waiter)
        return result


def registration(
    port: int,
    *,
    host: str = "127.0.0.1",
    endpoint: str = ENDPOINT,
    lifetime: int = 86400,
    objects: tuple[ObjectInstance, ...] = OBJECTS,
) -> Registration:
    """What AT+QLWSERV/AT+QLWCONF/AT+QLWADDOBJ would have configured."""
    return Registration(host, port, endpoint, lifetime, objects)


class AtHost:
    """The host's end of the serial line: commands out, lines in."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: serialx.SerialStreamWriter[Any]
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.lines: list[str] = []
        self._cursor = 0
        self._changed = asyncio.Event()
        self._pump = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, path: str) -> AtHost:
        reader, writer = await serialx.open_serial_connection(path, baudrate=115200)
        return cls(reader, writer)

    async def _read(self) -> None:
        pending = b""
        while chunk := await self._reader.read(1024):
            pending += chunk
            *complete, pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            self.lines.extend(line.decode("latin-1") for line in complete if line.strip())
            self._changed.set()

    async def _until[T](self, find: Callable[[], T | None]) -> T:
        async with asyncio.timeout(WAIT):
            while (found := find()) is None:
                self._changed.clear()
                await self._changed.wait()
        return found

    async def command(self, line: str) -> list[str]:
        """Send `line`; return the response lines up to and including the final result."""
        start = len(self.lines)
        self._writer.write(line.encode() + b"\r")
        await self._writer.drain()

        def final() -> int | None:
            for index in range(start, len(self.lines)):
                text = self.lines[index]
                if text in ("OK", "ERROR") or text.startswith("+CME ERROR"):
                    return index
            return None

        end = await self._until(final)
        return [text for text in self.lines[start : end + 1] if text != line]

    async def expect(self, text: str) -> int:
        """Wait for the line `text` after the last one expected; return its index."""

        def find() -> int | None:
            for index in range(self._cursor, len(self.lines)):
                if self.lines[index] == text:
                    return index
            return None

        index = await self._until(find)
        self._cursor = index + 1
        return index

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


async def declare_and_register(
    host: AtHost, platform: LwM2mPlatform, declarations: Iterable[str], mode: int = 0
) -> None:
    """AT+QLWSERV, AT+QLWCONF, one AT+QLWADDOBJ per declaration ("3303,0,1,\"5700\""),
    hex data format, AT+QLWOPEN=<mode>; returns once the platform observed /19/0/0."""
    assert await host.command(f'AT+QLWSERV="127.0.0.1",{platform.port}') == ["OK"]
    assert await host.command(f'AT+QLWCONF="{ENDPOINT}"') == ["OK"]
    for declaration in declarations:
        assert await host.command(f"AT+QLWADDOBJ={declaration}") == ["OK"]
    assert await host.command('AT+QLWCFG="dataformat",1,1') == ["OK"]
    assert await host.command(f"AT+QLWOPEN={mode}") == ["OK"]
    await host.expect("CONNECT OK")
    await host.expect("+QLWOBSERVE: 0,19,0,0")


async def quiet(host: AtHost) -> bool:
    """True if nothing reached the serial line since the last command but its answer."""
    seen = len(host.lines)
    return await host.command("AT") == ["OK"] and host.lines[seen:] == ["AT", "OK"]


@pytest.fixture
def modem_side() -> RecordingModem:
    return RecordingModem()


@pytest.fixture
async def iot_platform(socket_enabled: None) -> AsyncIterator[LwM2mPlatform]:
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE)
    yield platform
    await platform.stop()


@dataclass(frozen=True)
class Lwm2mRig:
    """The client, the platform it registers with, and the modem it reports to."""

    client: Lwm2mClient
    platform: LwM2mPlatform
    modem: RecordingModem


@pytest.fixture
async def lwm2m(iot_platform: LwM2mPlatform, modem_side: RecordingModem) -> AsyncIterator[Lwm2mRig]:
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem_side)
    yield Lwm2mRig(client, iot_platform, modem_side)
    await client.close()


@contextlib.asynccontextmanager
async def virtual_bc26(network_scale: float = SCALE) -> AsyncIterator[tuple[Bc26Simulator, AtHost]]:
    """The simulator with the real LwM2M client, on a pty the test's host has opened."""
    simulator = Bc26Simulator(network=Lwm2mClient(time_scale=network_scale), time_scale=SCALE)
    try:
        host = await AtHost.open(await simulator.start_pty())
        try:
            yield simulator, host
        finally:
            await host.close()
    finally:
        await simulator.stop()


@pytest.fixture
async def coap_sim(socket_enabled: None) -> AsyncIterator[tuple[Bc26Simulator, AtHost]]:
    """The virtual BC26 (real LwM2M client) and the host's end of its pty."""
    async with virtual_bc26() as pair:
        yield pair
