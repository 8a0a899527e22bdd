"""`Bc26Modem`: the typed asyncio API of a BC26 speaking LwM2M through AT commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
import logging

from . import commands
from .channel import AtChannel, Begun, LostCallback, Response, UrcCallback
from .commands import AtCommand
from .errors import (
    CommandRejectedError,
    InvalidArgumentError,
    ModemRebootedError,
    ModemTimeoutError,
    NoResponseError,
    RegistrationError,
    SendFailedError,
    UnexpectedResponseError,
)
from .models import (
    BufferRead,
    ConStatus,
    DataMode,
    LinkStatus,
    ModemIdentity,
    NetworkRegistration,
    ObjectInstance,
    ResourcePath,
    SignalQuality,
    Timeouts,
    TranscriptLine,
)
from .urc import ModemRebooted, UrcEvent

_LOGGER = logging.getLogger(__name__)


class FinalResult:
    """What the module will say about a command it accepted: SEND OK/FAIL, UPDATE OK/FAIL.

    Returned by the `begin_*` methods at the command's OK, so the caller can let the
    serial line go while the platform answers (up to about 128 s). `wait()` returns on
    success and raises the method's own error on FAIL, ModemTimeoutError when no
    result came in time, ModemRebootedError or PortError. Nothing to wait for (a NON
    send) returns at once.
    """

    def __init__(self, begun: Begun, failure: Callable[[], Exception]) -> None:
        self._begun = begun
        self._failure = failure

    @property
    def pending(self) -> bool:
        """The result has not come yet."""
        return self._begun.later is not None and not self._begun.later.done()

    async def wait(self) -> None:
        """Wait for the result; raise when it is a failure."""
        if await self._begun.wait() is False:
            raise self._failure()


class Bc26Modem:
    """A BC26 on a serial port (any serialx URL: a device, `socket://`, `rfc2217://` ...).

    Every method raises only `ModemError` subclasses: `PortError` when the port is not
    open or is lost during the call, `ModemTimeoutError`, `CommandRejectedError`,
    `ModemRebootedError` (the module restarted during the call) and the specific
    errors named on each method. Calls may overlap: the channel runs one command at a
    time and lets commands run while another waits for its later final result.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 115200,
        timeouts: Timeouts | None = None,
        transcript_size: int = 200,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.timeouts = timeouts or Timeouts()
        self._channel = AtChannel(self.timeouts, transcript_size)
        self._registered = False
        self._partial = bytearray()  # the start of a buffered node read so far
        self._channel.subscribe(self._on_event)

    # ------------------------------------------------------------------ port

    async def open(self) -> None:
        """Open the port (PortError if it cannot be); never blocks the event loop.

        A modem whose port was closed or lost opens it again the same way; subscribers
        and a node half read stay with the modem, which is the same module.
        """
        await self._channel.open(self.url, self.baudrate)

    async def close(self) -> None:
        """Close the port; idempotent."""
        await self._channel.close()

    @property
    def is_open(self) -> bool:
        """The port is open and not lost."""
        return self._channel.is_open

    @property
    def registered(self) -> bool:
        """Registered with the platform, as far as the results this modem saw tell."""
        return self._registered

    # ------------------------------------------------------------------ events

    def subscribe(self, callback: UrcCallback) -> Callable[[], None]:
        """Call `callback(event)` for every URC, in order, on the event loop.

        An exception in a callback is logged and does not stop the others. Returns
        the function that unsubscribes.
        """
        return self._channel.subscribe(callback)

    def on_connection_lost(self, callback: LostCallback) -> Callable[[], None]:
        """Call `callback(PortError)` once when the port is lost (not after `close`)."""
        return self._channel.on_connection_lost(callback)

    @property
    def transcript(self) -> list[TranscriptLine]:
        """The last lines sent ("tx") and received ("rx"), with timestamps; bounded."""
        return self._channel.transcript

    def _on_event(self, event: UrcEvent) -> None:
        if isinstance(event, ModemRebooted):
            self._registered = False  # the module lost its LwM2M context
            self._partial.clear()  # and its receive buffer

    async def _run(self, command: AtCommand) -> Response:
        return await self._channel.execute(command)

    # ------------------------------------------------------------------ identity

    async def probe(self, attempts: int = 3) -> None:
        """`AT` until OK (NoResponseError after `attempts`), then ATE0 and AT+CMEE=1."""
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise InvalidArgumentError(f"attempts must be a positive integer, not {attempts!r}")
        last: Exception | None = None
        for _ in range(attempts):
            try:
                await self._run(commands.build_attention())
                break
            except (ModemTimeoutError, ModemRebootedError) as err:
                last = err
        else:
            raise NoResponseError(f"no answer to AT on {self.url}") from last
        await self._run(commands.build_echo(False))
        await self._run(commands.build_error_format(1))

    async def identify(self) -> ModemIdentity:
        """ATI, AT+CGMR and AT+CGSN=1: who the module is."""
        manufacturer, model, revision = commands.parse_identity(
            (await self._run(commands.build_identity())).lines
        )
        firmware = commands.parse_firmware((await self._run(commands.build_firmware())).lines)
        imei = commands.parse_imei((await self._run(commands.build_imei())).lines)
        return ModemIdentity(manufacturer, model, revision, firmware, imei)

    # ------------------------------------------------------------------ configuration

    async def delete_context(self) -> None:
        """AT+QLWDEL: forget server, endpoint, objects and registration (up to 5 s)."""
        await self._run(commands.build_delete_context())
        self._registered = False

    async def set_server(self, address: str, port: int) -> None:
        """AT+QLWSERV: the platform's IPv4 address (resolve a name first) and UDP port."""
        await self._run(commands.build_server(address, port))

    async def set_endpoint(self, name: str) -> None:
        """AT+QLWCONF: the endpoint name the module registers with."""
        await self._run(commands.build_endpoint(name))

    async def add_object(self, obj: int, instance: int, resources: Sequence[int] = ()) -> None:
        """AT+QLWADDOBJ: declare an object instance and its resources."""
        await self._run(commands.build_add_object(obj, instance, resources))

    async def declare(self, objects: Sequence[ObjectInstance]) -> None:
        """AT+QLWADDOBJ for each object instance, in order (before AT+QLWOPEN; manual 5.1)."""
        for instance in objects:
            await self.add_object(instance.object, instance.instance, instance.resources)

    async def delete_object(self, obj: int) -> None:
        """AT+QLWDELOBJ; when registered, also waits for the UPDATE result that follows.

        RegistrationError on UPDATE FAIL (the object is deleted all the same).
        """
        response = await self._run(commands.build_delete_object(obj, self._registered))
        if response.later_ok is False:
            raise RegistrationError(f"UPDATE FAIL after deleting object {obj}")

    async def set_data_format(self, send_hex: bool = True, recv_hex: bool = True) -> None:
        """AT+QLWCFG="dataformat": hex (True) or text, for each direction.

        `send`, `read_buffer` and `DataReceived.data` expect hex; the integration
        always sets both.
        """
        await self._run(commands.build_data_format(send_hex, recv_hex))

    # ------------------------------------------------------------------ registration

    async def register(self, mode: DataMode) -> None:
        """AT+QLWOPEN=<mode>; returns on CONNECT OK, RegistrationError on CONNECT FAIL."""
        response = await self._run(commands.build_register(mode))
        self._registered = bool(response.later_ok)
        if not response.later_ok:
            raise RegistrationError("CONNECT FAIL")

    async def update(self) -> None:
        """AT+QLWUPDATE; returns on UPDATE OK, RegistrationError on UPDATE FAIL."""
        await (await self.begin_update()).wait()

    async def begin_update(self) -> FinalResult:
        """AT+QLWUPDATE, returning at its OK; the FinalResult says UPDATE OK or FAIL."""
        begun = await self._channel.begin(commands.build_update())
        return FinalResult(begun, lambda: RegistrationError("UPDATE FAIL"))

    async def deregister(self) -> None:
        """AT+QLWCLOSE; returns on CLOSE OK, RegistrationError on CLOSE FAIL."""
        response = await self._run(commands.build_deregister())
        self._registered = False  # unregistered after either result
        if not response.later_ok:
            raise RegistrationError("CLOSE FAIL")

    # ------------------------------------------------------------------ data

    async def send(self, path: ResourcePath, data: bytes, confirmable: bool = False) -> None:
        """AT+QLWDATASEND in hex: NON returns at OK; CON at SEND OK (SendFailedError on FAIL).

        A send waits while an earlier CON send waits for its result (manual 3.8).
        """
        await (await self.begin_send(path, data, confirmable)).wait()

    async def begin_send(
        self,
        path: ResourcePath,
        data: bytes,
        confirmable: bool = False,
        *,
        on_written: Callable[[], None] | None = None,
    ) -> FinalResult:
        """AT+QLWDATASEND, returning at the module's OK; a CON's SEND OK/FAIL is left to wait.

        `on_written` is called when the command line goes out: from then on the data
        may reach the platform whatever happens to the caller.
        """
        command = commands.build_send(path, data, confirmable)
        begun = await self._channel.begin(command, on_written)
        return FinalResult(
            begun, lambda: SendFailedError(f"SEND FAIL for {len(data)} bytes to {path}")
        )

    async def read_buffer(
        self, max_length: int = commands.MAX_PAYLOAD, on_written: Callable[[], None] | None = None
    ) -> BufferRead:
        """AT+QLWRD: up to `max_length` bytes of the oldest node; BufferRead(b"", 0) if empty.

        `on_written` is called once the command is on its way (its answer removes a node).
        """
        begun = await self._channel.begin(commands.build_read(max_length), on_written)
        return commands.parse_read(begun.lines)

    async def drain_buffer(self, on_node: Callable[[bytes], None]) -> None:
        """AT+QLWRD until the buffer is empty, handing each complete node to `on_node`.

        Buffer access mode (manual 3.10): every platform write is one node, read in
        pieces of at most 512 bytes until its <remain_length> is 0. A node is handed
        over the moment it is complete, so an error later in the drain loses nothing
        already read; the piece of a node read before an error is kept, and the next
        drain continues it. A reboot empties the module's buffer: the piece is dropped.
        A module without LwM2M context refuses AT+QLWRD: nothing to read.

        Cancelling stops the drain between two reads. The module removes what it
        answers, so a read already on the line is finished first (its answer taken, a
        node it completes handed over), within that command's deadline (channel.py); a
        read not sent yet is not sent.
        """
        state = _Draining()
        # A task of its own: a cancellation of the caller does not reach the read on the line.
        drain = asyncio.create_task(self._drain(on_node, state))
        await _stopped_between_reads(drain, state)

    async def _drain(self, on_node: Callable[[bytes], None], state: _Draining) -> None:
        while not state.stopping:
            state.on_line = False
            try:
                read = await self.read_buffer(commands.MAX_PAYLOAD, state.sent)
            except CommandRejectedError:
                return
            if not self._take_piece(read, on_node):
                return

    def _take_piece(self, read: BufferRead, on_node: Callable[[bytes], None]) -> bool:
        """Hand over the node `read` completes; False when the buffer was empty."""
        if not read.data:
            self._partial.clear()  # the module forgot the rest of a node (AT+QLWDEL)
            return False
        self._partial += read.data
        if read.remaining == 0:
            node = bytes(self._partial)
            self._partial.clear()
            on_node(node)
        return True

    async def con_status(self) -> ConStatus:
        """AT+QLWDATASTATUS?: how the last CON message went."""
        return commands.parse_con_status((await self._run(commands.build_con_status())).lines)

    async def settled_con_status(self) -> ConStatus:
        """How the last CON message went, asked again while it still waits.

        For a result the host missed (the port was gone when SEND OK came): the module
        retransmits for up to the final timeout; a status still waiting after it is
        returned as it is.
        """
        deadline = asyncio.get_running_loop().time() + self.timeouts.final
        every = self.timeouts.final / 30
        status = await self.con_status()
        while status is ConStatus.WAITING and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(every)
            status = await self.con_status()
        return status

    # ------------------------------------------------------------------ radio

    async def signal(self) -> SignalQuality:
        """AT+CSQ as dBm."""
        return commands.parse_signal((await self._run(commands.build_signal())).lines)

    async def network_registration(self) -> NetworkRegistration:
        """AT+CEREG?: the EPS network registration status."""
        response = await self._run(commands.build_network_registration())
        return commands.parse_network_registration(response.lines)

    async def ip_address(self) -> str | None:
        """AT+CGPADDR=1: the PDN address, None when there is none."""
        return commands.parse_ip_address((await self._run(commands.build_ip_address())).lines)

    async def status(self) -> LinkStatus:
        """Signal, network registration, IP address and the last CON status, in one go.

        A query the module refuses (older firmware lacks some) or answers in a way no
        parser reads leaves its field None; silence raises as every call does.
        """
        signal = await _unknown_as_none(self.signal())
        return LinkStatus(
            signal_dbm=signal.rssi_dbm if signal is not None else None,
            network=await _unknown_as_none(self.network_registration()),
            ip_address=await _unknown_as_none(self.ip_address()),
            con_status=await _unknown_as_none(self.con_status()),
        )


@dataclass(slots=True)
class _Draining:
    """Where a drain is: an AT+QLWRD on the line (its answer due), asked to stop."""

    on_line: bool = False
    stopping: bool = False

    def sent(self) -> None:
        self.on_line = True


async def _stopped_between_reads(drain: asyncio.Task[None], state: _Draining) -> None:
    """Wait for `drain`; a cancellation meanwhile stops it after the read on the line.

    With no read on the line the drain is cancelled at once. The cancellation (repeated
    ones too) is raised when the drain is over.
    """
    cancelled: asyncio.CancelledError | None = None
    while not drain.done():
        try:
            await asyncio.wait((drain,))  # unlike shield, never raises what `drain` raises
        except asyncio.CancelledError as err:
            cancelled = err
            state.stopping = True
            if not state.on_line:
                drain.cancel()
    if cancelled is None:
        drain.result()
        return
    if not drain.cancelled():
        drain.exception()  # seen: the caller gets the cancellation it asked for
    raise cancelled


async def _unknown_as_none[T](query: Awaitable[T]) -> T | None:
    """The answer, or None when the module refuses the query or answers what no parser reads.

    A field of the link is then unknown: `+CEREG: 0,8` (emergency services only, a
    <stat> beyond the manual's) must not fail the whole poll.
    """
    try:
        return await query
    except (CommandRejectedError, UnexpectedResponseError) as err:
        _LOGGER.debug("Link field unknown: %s", err)
        return None
