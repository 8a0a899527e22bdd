"""The faults the soak injects, one at a time, and what it notes about each."""

from __future__ import annotations

import array
import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
import enum
import fcntl
import os
from pathlib import Path
import random
import re
import termios
import time

from bc26sim import Bc26Simulator
from bc26sim.platform import ConPolicy
from custom_components.bc26.const import DATA_MODE_BUFFER_ACCESS, DATA_MODE_DIRECT_PUSH

from .rig import ENDPOINT, SoakRig
from .traffic import DOWNLINK_MARK, UplinkSender, counter_of

# Home Assistant's bootstrap replaces time.sleep with a version that refuses to run in
# the event loop; a stall is exactly that, so it uses the function from before.
_BLOCKING_SLEEP = time.sleep

# Seconds (real) each timed fault lasts, drawn uniformly.
UNPLUGGED = (0.2, 2.0)
PLATFORM_DOWN = (0.2, 2.0)
ACKS_LOST = (1.0, 3.0)  # long enough for a confirmable send to give up (about 1.9 s scaled)
STALL = (1.0, 2.0)
GARBAGE_BYTES = (16, 256)
LINE_SETTLE = 0.005  # seconds (real) for the pty to pass the module's last bytes on


class Kind(enum.StrEnum):
    """A kind of fault; the value is its name in the table."""

    REBOOT = "reboot"
    GARBLED_REBOOT = "reboot, garbled banner"
    UNPLUG = "unplug / replug"
    PLATFORM_RESTART = "platform down / up"
    LOST_ACKS = "lost ACKs"
    FORGOTTEN = "platform forgets"
    GARBAGE = "garbage on the line"
    STALL = "event-loop stall"
    HA_RESTART = "HA restart (buffer)"
    DATA_MODE = "data-mode change"


def eligible(kind: Kind, data_mode: str) -> bool:
    """Whether `kind` may be injected now: Home Assistant restarts in buffer access mode."""
    return kind is not Kind.HA_RESTART or data_mode == DATA_MODE_BUFFER_ACCESS


@dataclass
class Fault:
    """One injected fault and how the session came back from it."""

    number: int
    kind: Kind
    data_mode: str  # when injected
    started: float  # time.monotonic()
    ended: float = 0.0  # the fault's own action is over (replugged, platform up ...)
    detail: str = ""
    registered_at: float | None = None  # registered end to end again, without a hand
    flowing_at: float | None = None  # payloads both ways again, without a hand
    hand: str = ""  # what the soak had to do as a user: reregister, reload; or stuck
    # Downlink counters in the module's buffer when this fault began, those a reboot
    # took with the module's RAM, and those an unplug cut off on the line (see LineWatch).
    held_at_start: list[int] = field(default_factory=list)
    lost_to_reboot: list[int] = field(default_factory=list)
    lost_on_line: list[int] = field(default_factory=list)

    @property
    def recovered(self) -> bool:
        """Registered and traffic flowing without a hand."""
        return self.registered_at is not None and self.flowing_at is not None


class Injector:
    """Injects one fault at a time into the running rig."""

    def __init__(
        self, rig: SoakRig, rng: random.Random, sender: UplinkSender, line: LineWatch
    ) -> None:
        self._rig = rig
        self._rng = rng
        self._sender = sender
        self._line = line

    async def inject(self, fault: Fault) -> None:
        """The fault's action, start to end; `fault.ended` is set on return."""
        rig = self._rig
        fault.held_at_start = await rig.thread.call(lambda: buffered_downlinks(rig.sim))
        match fault.kind:
            case Kind.REBOOT | Kind.GARBLED_REBOOT:
                fault.lost_to_reboot = await rig.thread.run(
                    _reboot(rig.sim, garbled=fault.kind is Kind.GARBLED_REBOOT)
                )
            case Kind.UNPLUG:
                seconds = self._rng.uniform(*UNPLUGGED)
                fault.detail = f"{seconds:.1f} s"
                await rig.thread.run(self._line.unplug(fault))
                await asyncio.sleep(seconds)
                await rig.thread.call(lambda: self._line.replugging(fault))
                await rig.thread.run(rig.sim.replug())
            case Kind.PLATFORM_RESTART:
                seconds = self._rng.uniform(*PLATFORM_DOWN)
                fault.detail = f"{seconds:.1f} s"
                await rig.thread.run(rig.platforms.stop())
                await asyncio.sleep(seconds)
                await rig.thread.run(rig.platforms.restart())
            case Kind.LOST_ACKS:
                await self._lose_acks(fault)
            case Kind.FORGOTTEN:
                await rig.thread.call(_forget(rig))
            case Kind.GARBAGE:
                noise = self._rng.randbytes(self._rng.randint(*GARBAGE_BYTES))
                fault.detail = f"{len(noise)} bytes"
                await rig.thread.call(lambda: rig.sim.inject(noise))
            case Kind.STALL:
                seconds = self._rng.uniform(*STALL)
                fault.detail = f"{seconds:.1f} s"
                _BLOCKING_SLEEP(seconds)  # Home Assistant's loop stands still meanwhile
            case Kind.HA_RESTART:
                await self._restart_hass()
            case Kind.DATA_MODE:
                new = (
                    DATA_MODE_DIRECT_PUSH
                    if rig.data_mode == DATA_MODE_BUFFER_ACCESS
                    else DATA_MODE_BUFFER_ACCESS
                )
                fault.detail = f"to {new}"
                await rig.set_data_mode(new)
        fault.ended = time.monotonic()

    async def _lose_acks(self, fault: Fault) -> None:
        rig = self._rig
        seconds = self._rng.uniform(*ACKS_LOST)
        fault.detail = f"{seconds:.1f} s"

        def policy(value: ConPolicy) -> None:
            platform = rig.platforms.platform
            if platform is not None:
                platform.con_policy = value

        await rig.thread.call(lambda: policy("ignore"))
        self._sender.all_confirmable = True
        try:
            await asyncio.sleep(seconds)
        finally:
            self._sender.all_confirmable = False
            await rig.thread.call(lambda: policy("ack"))

    async def _restart_hass(self) -> None:
        # The receiver follows by itself: it attaches to each new Home Assistant before
        # the entry starts (see `SoakRig.on_start`).
        self._sender.paused = True
        try:
            await self._rig.restart_hass()
        finally:
            self._sender.paused = False


_READ_ANSWER = re.compile(rb"\+QLWRD: \d+,0\r\n([0-9A-F]+)\r\n")


class LineWatch:
    """Which downlinks an unplug cut off on the line, after the module had handed them out.

    AT+QLWRD takes the node out of the module's buffer as it answers. When the port
    goes away with that answer still unread by the host, or the module answers a
    command it had already received after the port went away, no host can get the
    node back: like a reboot, this is not the integration's loss. The watch sees what
    the module writes (its `writer`) and, at the unplug, how many bytes the host had
    not read yet (FIONREAD on the pty); the nodes in those bytes are lost on the line.
    Runs on the simulator thread.
    """

    def __init__(self, sim: Bc26Simulator, link: Path) -> None:
        self._sim = sim
        self._link = link
        self._inner = sim.modem.writer
        self._written = 0  # bytes written to the port since it (re)opened
        self._answers: deque[tuple[int, int]] = deque(maxlen=64)  # (end, counter), recent
        self._after: list[int] | None = None  # while unplugged: nodes answered meanwhile
        sim.modem.writer = self._write

    def _write(self, data: bytes) -> None:
        counters = [
            c
            for match in _READ_ANSWER.finditer(data)
            if (c := counter_of(DOWNLINK_MARK, bytes.fromhex(match[1].decode()))) is not None
        ]
        if self._after is not None:
            self._after += counters  # the module answers into a line nobody holds
        else:
            self._written += len(data)
            self._answers.extend((self._written, counter) for counter in counters)
        self._inner(data)

    async def unplug(self, fault: Fault) -> None:
        """Unplug the module, noting the answers the host had not read yet.

        A pty hands what the module wrote to the host's side a moment later (the
        kernel's flip buffer), and only then does FIONREAD count it: the module's
        thread pauses for that moment first, writing nothing meanwhile, while the host
        may still read. Between the count and the unplug nothing runs here.
        """
        _BLOCKING_SLEEP(LINE_SETTLE)
        unread = _unread_bytes(self._link)
        fault.lost_on_line = [c for end, c in self._answers if end > self._written - unread]
        self._after = []
        await self._sim.unplug()  # no pause in between: it closes the pty at once

    def replugging(self, fault: Fault) -> None:
        """The port is about to come back: what the module answered meanwhile is lost."""
        fault.lost_on_line += self._after or []
        self._after = None
        self._written = 0
        self._answers.clear()


def _unread_bytes(link: Path) -> int:
    """Bytes the module wrote that the host has not read from the pty yet."""
    descriptor = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        count = array.array("i", [0])
        fcntl.ioctl(descriptor, termios.FIONREAD, count)
        return count[0]
    finally:
        os.close(descriptor)


def _forget(rig: SoakRig) -> Callable[[], bool]:
    def forget() -> bool:
        platform = rig.platforms.platform
        return platform is not None and platform.forget(ENDPOINT)

    return forget


def buffered_downlinks(sim: Bc26Simulator) -> list[int]:
    """Counters of the downlinks in the module's receive buffer (buffer access mode)."""
    nodes = sim.modem.context.buffer
    return [c for node in nodes if (c := counter_of(DOWNLINK_MARK, node.data)) is not None]


async def _reboot(sim: Bc26Simulator, *, garbled: bool) -> list[int]:
    """Reboot the module; the counters of the downlinks its buffer held (lost with its RAM).

    The reboot replaces the module's context; the buffer it drops is the one held
    here, including any write accepted while the reboot was under way.
    """
    buffer = sim.modem.context.buffer
    await sim.reboot(garbled=garbled)
    return [c for node in buffer if (c := counter_of(DOWNLINK_MARK, node.data)) is not None]
