"""Fixtures for the modem library's tests (loaded through `pytest_plugins` in conftest).

Two kinds of far end for `Bc26Modem` / `AtChannel`:

- `modem_sim`: the virtual BC26 on a real pseudo-terminal or on `socket://127.0.0.1`
  (the fixture is parametrised over both), with `modem` opened on it;
- `module_side`: the module end of a pseudo-terminal that the test itself drives,
  byte by byte, for framings and timings the simulator does not produce.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
import time

import pytest

from bc26sim import Bc26Simulator, ScriptedNetwork
from bc26sim.transport import PtyPort
from custom_components.bc26.modem import Bc26Modem, Timeouts, UrcEvent

TIME_SCALE = 0.001
WAIT = 5.0  # generous: a wait this long means the thing is not coming
FAST = Timeouts(response=0.5, delete=1.0, final=2.0, open=5.0)


def stall_the_event_loop(seconds: float) -> None:
    """Block the running event loop, as a slow SD card or a blocking integration does."""
    time.sleep(seconds)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (generously) until `condition` holds, for state that raises no event."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - polled state has no event to await
            await asyncio.sleep(0.002)


class Events:
    """What a subscriber received, with a way to wait for more."""

    def __init__(self) -> None:
        self.received: list[UrcEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: UrcEvent) -> None:
        self.received.append(event)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[UrcEvent]], bool]) -> list[UrcEvent]:
        """Wait until `predicate(received)` holds; return what was received."""
        async with asyncio.timeout(WAIT):
            while not predicate(self.received):
                self._changed.clear()
                await self._changed.wait()
        return self.received

    async def wait_count(self, count: int) -> list[UrcEvent]:
        """Wait until at least `count` events came."""
        return await self.wait_for(lambda received: len(received) >= count)


class ModuleSide:
    """The module's end of a real pseudo-terminal, driven by the test.

    The host opens `path` (the slave) with serialx; the test reads the command lines
    the host wrote and writes whatever bytes it likes. The pseudo-terminal is the
    simulator's own port, which keeps a slave descriptor open so a host closing the
    port does not end it.
    """

    def __init__(self) -> None:
        self._port = PtyPort(self._receive)
        self.path = ""
        self._received = bytearray()
        self._arrived = asyncio.Event()

    @classmethod
    async def open(cls) -> ModuleSide:
        """A new pseudo-terminal, ready for a host to open `path`."""
        side = cls()
        side.path = await side._port.open()
        return side

    def _receive(self, data: bytes) -> None:
        self._received.extend(data)
        self._arrived.set()

    async def command(self) -> str:
        """The next command line the host sent (up to its `\\r`)."""
        async with asyncio.timeout(WAIT):
            while b"\r" not in self._received:
                self._arrived.clear()
                await self._arrived.wait()
        end = self._received.index(b"\r")
        line = bytes(self._received[:end]).decode("ascii")
        del self._received[: end + 1]
        return line

    @property
    def pending(self) -> bytes:
        """Bytes received and not yet read as a command."""
        return bytes(self._received)

    def write(self, data: bytes) -> None:
        """Bytes to the host (a test never writes more than the pty holds)."""
        self._port.write(data)
        assert self._port.dropped_bytes == 0

    def answer(self, *lines: str, echo: str | None = None, final: str = "OK") -> None:
        """An answer as a BC26 frames it: optional echo, information block, final result."""
        parts = [f"{echo}\r" if echo is not None else ""]
        if lines:
            parts.append("\r\n" + "\r\n".join(lines) + "\r\n")
        parts.append(f"\r\n{final}\r\n")
        self.write("".join(parts).encode("latin-1"))

    async def unplug(self) -> None:
        """Close both ends: the host's port goes away (EIO)."""
        await self._port.close()


@pytest.fixture
async def module_side() -> AsyncIterator[ModuleSide]:
    """A pseudo-terminal whose module end the test drives."""
    side = await ModuleSide.open()
    yield side
    await side.unplug()


@pytest.fixture
def modem_net() -> ScriptedNetwork:
    """A scripted platform, instant unless a test slows it down."""
    return ScriptedNetwork(time_scale=TIME_SCALE)


@pytest.fixture(params=["pty", "tcp"])
async def modem_sim(
    request: pytest.FixtureRequest, modem_net: ScriptedNetwork, tmp_path: Path
) -> AsyncIterator[Bc26Simulator]:
    """The virtual BC26 on a pseudo-terminal (through a stable link) or on socket://."""
    simulator = Bc26Simulator(time_scale=TIME_SCALE, network=modem_net)
    if request.param == "tcp":
        request.getfixturevalue("socket_enabled")
        await simulator.start_tcp("127.0.0.1", 0)
    else:
        await simulator.start_pty(link=tmp_path / "bc26")
    yield simulator
    await simulator.stop()


@pytest.fixture
def modem_url(modem_sim: Bc26Simulator, tmp_path: Path) -> str:
    """What the host opens: the pty's link (stable across replug) or socket://..."""
    return modem_sim.url if modem_sim.tcp_port is not None else str(tmp_path / "bc26")


@pytest.fixture
async def modem(modem_url: str) -> AsyncIterator[Bc26Modem]:
    """A Bc26Modem opened on the simulator (not probed: echo is still on)."""
    client = Bc26Modem(modem_url, timeouts=FAST)
    await client.open()
    yield client
    await client.close()


@pytest.fixture
def modem_events(modem: Bc26Modem) -> Events:
    """Every URC event of `modem`."""
    events = Events()
    modem.subscribe(events)
    return events
