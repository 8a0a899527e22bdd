"""Where a host plugs in: a pseudo-terminal or a TCP port (one host at a time, like ser2net).

Both ports move raw bytes between the host and a callback; neither knows AT. Output
that cannot be delivered (no host, host not reading) is dropped and counted, as on a
UART without flow control: nothing here grows without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import os
from pathlib import Path
import tty

from .line import PacedLine, Scheduled

_LOGGER = logging.getLogger(__name__)

type Receiver = Callable[[bytes], None]

READ_SIZE = 4096
MAX_TCP_BACKLOG = 64 * 1024  # bytes queued for a TCP host that does not read


class PtyPort:
    """A pseudo-terminal; the simulator holds the master, a host opens the slave's path.

    The simulator keeps its own slave descriptor open, so a host closing the port
    does not turn the master into EIO: the next host can open it again. `link`, if
    given, is a symlink kept pointing at the current slave, across `reopen`.

    `pace` puts a serial line's byte rate between the module and the host (see
    line.py); unpaced, a write reaches the host whole and at once.
    """

    def __init__(self, receiver: Receiver, link: Path | None = None) -> None:
        self._receiver = receiver
        self._link = link
        self._master: int | None = None
        self._slave: int | None = None
        self.path: str | None = None
        self.dropped_bytes = 0
        self._line: PacedLine | None = None
        self._pacing: tuple[int, int] | None = None  # (baud rate, chunk) across reopen

    @property
    def line(self) -> PacedLine | None:
        """The paced line, while pacing is on."""
        return self._line

    def pace(self, baudrate: int | None, chunk: int = 1) -> None:
        """Deliver at `baudrate` 8N1 from now on, `chunk` bytes at a time; None: whole writes.

        Switching waits until what is on the line was delivered.
        """
        self._stop_line(drain=True)
        self._pacing = None if baudrate is None else (baudrate, chunk)
        if self._master is not None:
            self._start_line()

    def _start_line(self) -> None:
        if self._pacing is None:
            return
        baudrate, chunk = self._pacing
        loop = asyncio.get_running_loop()
        self._line = PacedLine(baudrate, self._write_now, self._receiver, loop, chunk=chunk)

    def _stop_line(self, *, drain: bool = False) -> None:
        line, self._line = self._line, None
        if line is not None:
            line.stop(drain=drain)

    async def open(self) -> str:
        """Create the pseudo-terminal; return its device path."""
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(master, self._readable)
        if self._link is not None:
            _point(self._link, self.path)
        self._start_line()
        return self.path

    async def reopen(self) -> None:
        """A fresh pseudo-terminal after `close` (its number may differ; the link follows)."""
        await self.open()

    async def close(self) -> None:
        """Close both ends: a host that has the port open sees it vanish (EIO/hang-up)."""
        if self._master is None:
            return
        self._stop_line()
        asyncio.get_running_loop().remove_reader(self._master)
        for descriptor in (self._master, self._slave):
            if descriptor is not None:
                with contextlib.suppress(OSError):
                    os.close(descriptor)
        self._master = self._slave = None

    async def remove_link(self) -> None:
        """Remove the symlink if it still points at this port."""
        link = self._link
        if link is not None and link.is_symlink() and os.readlink(link) == self.path:
            link.unlink()

    def write(self, data: bytes) -> Scheduled | None:
        """Bytes to the host; what the pty cannot take is dropped. Paced: where they lie."""
        if self._line is not None:
            return self._line.send(data)
        self._write_now(data)
        return None

    def _write_now(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self._master is not None:
            try:
                written = os.write(self._master, view)
            except OSError:
                break
            view = view[written:]
        self.dropped_bytes += len(view)

    def _readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, READ_SIZE)
        except OSError as error:  # pragma: no cover - defensive
            # BlockingIOError is a spurious wake-up. EIO cannot happen while we hold the
            # slave open; if it ever does, stop reading rather than spin on it.
            if not isinstance(error, BlockingIOError):
                asyncio.get_running_loop().remove_reader(self._master)
            return
        if self._line is not None:
            self._line.receive(data)
        else:
            self._receiver(data)


def _point(link: Path, target: str) -> None:
    """Make `link` a symlink to `target`, replacing what was there atomically."""
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(target)
    temporary.replace(link)


class TcpPort:
    """A TCP server serving the modem as `socket://HOST:PORT` to one host at a time.

    Like ser2net, a second host is turned away (its connection closed) while one is
    connected. `close` closes the host's connection and stops listening; `reopen`
    listens again on the same port.
    """

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._server: asyncio.Server | None = None
        self._client: asyncio.Transport | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.dropped_bytes = 0
        self.refused = 0

    async def open(self, host: str, port: int) -> int:
        """Listen on host:port (port 0 picks one); return the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def has_host(self) -> bool:
        """A host is connected."""
        return self._client is not None

    async def reopen(self) -> None:
        """Listen again on the same address after `close`."""
        await self.open(self.host, self.port)

    async def close(self) -> None:
        """Drop the host and stop listening."""
        if self._client is not None:
            self._client.abort()
            self._client = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def remove_link(self) -> None:
        """TCP ports have no link; nothing to do."""

    def write(self, data: bytes) -> None:
        """Bytes to the connected host, if any."""
        client = self._client
        if client is None or client.get_write_buffer_size() > MAX_TCP_BACKLOG:
            self.dropped_bytes += len(data)
            return
        client.write(data)

    def connected(self, transport: asyncio.Transport) -> bool:
        """A host connects: accepted unless another one is there."""
        if self._client is not None or self._server is None:
            self.refused += 1
            transport.close()
            return False
        self._client = transport
        return True

    def disconnected(self, transport: asyncio.Transport) -> None:
        """The host went away; the next one may come."""
        if self._client is transport:
            self._client = None

    def received(self, data: bytes) -> None:
        """Bytes from the host."""
        self._receiver(data)


class _Connection(asyncio.Protocol):
    def __init__(self, port: TcpPort) -> None:
        self._port = port
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._port.connected(transport):
            self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._port.received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._port.disconnected(self._transport)
