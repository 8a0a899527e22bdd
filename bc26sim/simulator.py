"""`Bc26Simulator`: the virtual BC26 behind a port, with the knobs tests turn.

It joins a `VirtualModem` (the AT side), a `Network` (scripted, or the real LwM2M
client) and a port (pseudo-terminal or TCP), and adds the faults a cable and a
module can produce: reboot, unplug/replug, garbage, split writes, slow answers,
URCs in the middle of a response, silence, commands an older firmware refuses.
"""

from __future__ import annotations

import asyncio
from collections import deque
import os
from pathlib import Path

from .line import PacedLine
from .modem import DEFAULT_IMEI, ConStatus, DataMode, Lwm2mState, VirtualModem
from .network import Network, ObjectInstance, ResourcePath
from .scripted import ScriptedNetwork
from .transport import PtyPort, TcpPort

MAX_PENDING_OUTPUT = 64 * 1024  # bytes waiting for a split write


class Bc26Simulator:
    """A virtual BC26 a host opens as a serial port.

    `banner_on_start`: power up with the ROM boot banner; `start_pty`/`start_tcp`
    return once the whole boot output (banner, +CPIN, +IP) is out, so a host that
    opens the port afterwards sees none of it (serial hosts flush stale input on
    open; a TCP port drops output while no host is connected). A test that wants
    the banner calls `reboot()`.
    """

    def __init__(
        self,
        *,
        imei: str = DEFAULT_IMEI,
        echo: bool = True,
        time_scale: float = 1.0,
        network: Network | None = None,
        banner_on_start: bool = True,
    ) -> None:
        self.time_scale = time_scale
        self.network: Network = network or ScriptedNetwork.field_timed(time_scale)
        self.modem = VirtualModem(self.network, imei=imei, echo=echo, time_scale=time_scale)
        self.modem.writer = self._output
        self.banner_on_start = banner_on_start
        self.split_writes = 0
        self.split_pause = 0.002  # real seconds between split chunks, so hosts see them apart
        self._port: PtyPort | TcpPort | None = None
        self._plugged = False
        self._pending = bytearray()
        self._writer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ life cycle

    async def start_pty(self, link: str | os.PathLike[str] | None = None) -> str:
        """Serve the modem on a new pseudo-terminal; return its device path."""
        port = PtyPort(self.modem.feed, Path(link) if link is not None else None)
        self._claim(port)
        path = await port.open()
        await self._power_on()
        return path

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve the modem as socket://host:port; return the port (useful with 0)."""
        tcp = TcpPort(self.modem.feed)
        self._claim(tcp)
        number = await tcp.open(host, port)
        await self._power_on()
        return number

    async def stop(self) -> None:
        """Power off and close the port; leaves no task, timer or descriptor."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.modem.stop()
        if self._port is not None:
            await self._port.close()
            await self._port.remove_link()
        self._plugged = False

    def _claim(self, port: PtyPort | TcpPort) -> None:
        if self._port is not None:
            raise RuntimeError("the simulator already serves a port")
        self._port = port
        self._plugged = True

    async def _power_on(self) -> None:
        await self.modem.start(banner=self.banner_on_start)

    # ------------------------------------------------------------------ where it is

    @property
    def path(self) -> str | None:
        """Device path of the pseudo-terminal (None for TCP)."""
        return self._port.path if isinstance(self._port, PtyPort) else None

    @property
    def tcp_port(self) -> int | None:
        """The TCP port (None for a pseudo-terminal)."""
        return self._port.port if isinstance(self._port, TcpPort) else None

    @property
    def url(self) -> str:
        """What a host passes to serialx: the device path or socket://host:port."""
        if isinstance(self._port, TcpPort):
            return f"socket://{self._port.host}:{self._port.port}"
        if isinstance(self._port, PtyPort) and self._port.path is not None:
            return self._port.path
        raise RuntimeError("the simulator is not started")

    @property
    def host_connected(self) -> bool | None:
        """Whether a TCP host is connected now (None for a pty: a tty cannot tell)."""
        return self._port.has_host if isinstance(self._port, TcpPort) else None

    @property
    def dropped_output(self) -> int:
        """Bytes the port could not deliver (no host, host not reading)."""
        return self._port.dropped_bytes if self._port is not None else 0

    @property
    def plugged(self) -> bool:
        """False between `unplug` and `replug`."""
        return self._plugged

    # ------------------------------------------------------------------ state for asserts

    @property
    def commands(self) -> deque[str]:
        """Command lines received, from `AT` on (bounded)."""
        return self.modem.commands

    @property
    def registered(self) -> bool:
        """Registered with the platform (CONNECT OK came and no close since)."""
        return self.modem.context.state is Lwm2mState.REGISTERED

    @property
    def data_mode(self) -> DataMode | None:
        """The <mode> of the current AT+QLWOPEN; None when not registering or registered."""
        return self.modem.context.mode

    @property
    def observed(self) -> set[ResourcePath]:
        """Paths the platform observes now."""
        return set(self.modem.context.observed)

    @property
    def objects(self) -> list[ObjectInstance]:
        """Object instances declared with AT+QLWADDOBJ."""
        return list(self.modem.context.objects.values())

    @property
    def con_status(self) -> ConStatus:
        """What AT+QLWDATASTATUS? would say."""
        return self.modem.context.con_status

    @property
    def echo(self) -> bool:
        """Echo on (ATE1, power-up) or off (ATE0)."""
        return self.modem.echo

    @property
    def buffered(self) -> int:
        """Nodes waiting in the receive buffer (buffer access mode)."""
        return len(self.modem.context.buffer)

    # ------------------------------------------------------------------ radio, settable

    @property
    def signal(self) -> tuple[int, int]:
        """(<rssi>, <ber>) of AT+CSQ."""
        return self.modem.radio.rssi, self.modem.radio.ber

    @signal.setter
    def signal(self, value: tuple[int, int]) -> None:
        self.modem.radio.rssi, self.modem.radio.ber = value

    @property
    def network_registration(self) -> int:
        """<stat> of AT+CEREG; setting it raises +CEREG: <stat> after AT+CEREG=1."""
        return self.modem.radio.cereg_stat

    @network_registration.setter
    def network_registration(self, stat: int) -> None:
        self.modem.set_network_registration(stat)

    @property
    def ip_address(self) -> str | None:
        """The address AT+CGPADDR=1 and +IP report (None: no PDN address)."""
        return self.modem.radio.ip

    @ip_address.setter
    def ip_address(self, address: str | None) -> None:
        self.modem.radio.ip = address

    # ------------------------------------------------------------------ faults

    async def reboot(self, *, garbled: bool = False) -> None:
        """Reboot now: banner (\\n\\r endings), LwM2M context lost, echo back on.

        Returns once the banner is out; +CPIN: READY and +IP follow (scaled) later.
        `garbled`: the banner arrives as noise a host cannot recognise.
        """
        await self.modem.reboot(garbled=garbled)

    async def unplug(self) -> None:
        """Close the port: the host sees it go away. The module itself keeps running.

        The link goes too, as udev removes /dev/serial/by-id links of an unplugged
        adapter; otherwise a reconnecting host could follow it into a stranger's pty.
        """
        self._plugged = False
        self._pending.clear()
        if self._port is not None:
            await self._port.remove_link()
            await self._port.close()

    async def replug(self) -> None:
        """The port comes back: same link (pty) or same TCP port."""
        if self._port is None or self._plugged:
            return
        await self._port.reopen()
        self._plugged = True

    def inject(self, data: bytes) -> None:
        """Raw bytes to the host now (garbage, hand-made URCs)."""
        self.modem.inject(data)

    def garble_next_urc(self, prefix: str) -> None:
        """Corrupt one byte of the next URC starting with `prefix` (say `+QLWOBSERVE`)."""
        self.modem.garble_next_urc(prefix)

    def interleave_next(self, line: str) -> None:
        """Put an unsolicited line before the final result of the next command's response."""
        self.modem.interleave_next(line)

    @property
    def mute(self) -> bool:
        """Swallow commands silently (still recorded in `commands`)."""
        return self.modem.mute

    @mute.setter
    def mute(self, value: bool) -> None:
        self.modem.mute = value

    @property
    def response_delay(self) -> float:
        """Real seconds (not scaled) before each immediate answer."""
        return self.modem.response_delay

    @response_delay.setter
    def response_delay(self, seconds: float) -> None:
        self.modem.response_delay = seconds

    @property
    def refused_commands(self) -> set[str]:
        """Names of commands refused as unknown (+CME ERROR: 100), until taken out again.

        Add `+QLWDATASTATUS` for a firmware without AT+QLWDATASTATUS? (R01A03 may refuse
        it, AT+QLWCFG and AT+QLWRD: field notes). A reboot keeps the set: it is firmware.
        """
        return self.modem.refused_commands

    # ------------------------------------------------------------------ the line

    def pace(self, baudrate: int | None, chunk: int = 1) -> None:
        """Talk at `baudrate` 8N1 from now on, byte by byte (see line.py); None: whole writes.

        `chunk` bytes reach the host at a time (a USB adapter's packet: 64), the end of
        each write as soon as it is complete. Pseudo-terminals only.
        """
        if not isinstance(self._port, PtyPort):
            raise RuntimeError("pacing needs a pseudo-terminal (start_pty first)")  # noqa: TRY004
        self._port.pace(baudrate, chunk)

    @property
    def line(self) -> PacedLine | None:
        """The paced line while `pace` is on: where writes lie on it, how late they came."""
        return self._port.line if isinstance(self._port, PtyPort) else None

    # ------------------------------------------------------------------ output

    def _output(self, data: bytes) -> None:
        if not self._plugged or self._port is None:
            return
        if self.split_writes <= 0 and not self._pending:
            self._port.write(data)
            return
        room = MAX_PENDING_OUTPUT - len(self._pending)
        self._pending.extend(data[: max(room, 0)])
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_split())

    async def _write_split(self) -> None:
        while self._pending and self._port is not None:
            size = self.split_writes if self.split_writes > 0 else len(self._pending)
            chunk = bytes(self._pending[:size])
            del self._pending[:size]
            self._port.write(chunk)
            await asyncio.sleep(self.split_pause)
