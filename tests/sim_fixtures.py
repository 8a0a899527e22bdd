"""Fixtures for the virtual BC26's own tests: a simulator on a real pty and a host on it.

`Host` is a deliberately small, test-only reader of the serial line: it keeps the raw
bytes, so tests can assert the exact framing, and splits them into lines for the
transcript replays. Loaded through `pytest_plugins` in conftest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib

import pytest
import serialx

from bc26sim import Bc26Simulator, ScriptedNetwork

TIME_SCALE = 0.001
WAIT = 5.0  # generous: a wait that long means the answer is not coming


class Host:
    """The host end of the serial line (serialx streams) with a byte-exact reader."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()

    async def write(self, data: bytes) -> None:
        """Raw bytes to the modem."""
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, command: str, end: bytes = b"\r") -> None:
        """One command line, terminated as hosts do."""
        await self.write(command.encode("latin-1") + end)

    async def read_until(self, marker: bytes) -> bytes:
        """Everything up to and including the next `marker`."""
        async with asyncio.timeout(WAIT):
            while marker not in self.buffer:
                chunk = await self.reader.read(4096)
                if not chunk:
                    raise EOFError(bytes(self.buffer))
                self.buffer.extend(chunk)
        end = self.buffer.index(marker) + len(marker)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    async def line(self) -> str:
        """The next non-empty line, `\\r\\n`-framed (a bare `\\r` ends an echo line)."""
        while True:
            raw = await self.read_until(b"\n")
            text = raw.decode("latin-1").removesuffix("\n").removesuffix("\r")
            text = text.strip("\r")
            if text:
                return text

    async def lines(self, count: int) -> list[str]:
        """The next `count` non-empty lines."""
        return [await self.line() for _ in range(count)]

    async def command(self, command: str) -> bytes:
        """Send a command; return the raw bytes up to its final result (OK or an error)."""
        await self.send(command)
        data = b""
        while not _final(data):
            data += await self.read_until(b"\r\n")
        return data

    async def quiet(self) -> bool:
        """True if nothing but the answer to a sentinel `AT` is waiting (no stray output)."""
        answer = await self.command("AT")
        return answer in (b"AT\r\r\nOK\r\n", b"\r\nOK\r\n") and not self.buffer

    async def close(self) -> None:
        """Close the port."""
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


def _final(data: bytes) -> bool:
    return data.endswith((b"\r\nOK\r\n", b"\r\nERROR\r\n")) or (
        b"\r\n+CME ERROR: " in data and data.endswith(b"\r\n")
    )


async def until(condition: Callable[[], bool]) -> None:
    """Wait (generously) until `condition` holds; for state that has no event to await."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - simulator state changes raise no event
            await asyncio.sleep(0.001)


async def open_host(url: str) -> Host:
    """Open `url` (a pty path or socket://...) with serialx, as the integration does."""
    reader, writer = await serialx.open_serial_connection(url, baudrate=115200)
    return Host(reader, writer)


@pytest.fixture
def sim_net() -> ScriptedNetwork:
    """A scripted platform, instant unless a test slows it down."""
    return ScriptedNetwork(time_scale=TIME_SCALE)


@pytest.fixture
async def sim(sim_net: ScriptedNetwork) -> AsyncIterator[Bc26Simulator]:
    """A virtual BC26 on a real pseudo-terminal."""
    simulator = Bc26Simulator(time_scale=TIME_SCALE, network=sim_net)
    await simulator.start_pty()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def at_host(sim: Bc26Simulator) -> AsyncIterator[Host]:
    """The host end of the simulator's pty, opened with serialx."""
    port = await open_host(sim.url)
    yield port
    await port.close()
