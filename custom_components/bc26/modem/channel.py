r"""AtChannel: bytes <-> lines, echo, command/answer pairing, URC routing, timeouts.

Receiving
---------
`\r\n`, `\n\r`, a bare `\r` and a bare `\n` all end a line; empty lines vanish, so
the echo `AT+X\r` followed by `\r\nOK\r\n` reads as `AT+X`, `OK`. Bytes outside
printable ASCII at either end of a line are line noise and dropped. A line longer
than MAX_LINE is cut (and then almost surely reported as unknown). Lines are handled
in the read callback that brought them, for at most READ_BUDGET of it: a backlog (a
flood, a loop that was busy or a slow machine) is handled over several loop
iterations, in order, with reading paused meanwhile, so that no callback of the
channel holds the event loop for long. Each line is classified, in this order:

1. a line of the ROM boot banner: the first one of a boot raises one `ModemRebooted`;
   a command waiting for its answer fails with `ModemRebootedError`, and so do the
   commands waiting for a later final result (the module forgot them);
2. a line starting with `AT`: echo, of the current command or of a late one (no BC26
   answer or URC starts so), whether or not ATE0 took effect;
3. a final result (`OK`, `ERROR`, `+CME ERROR: <n>`): ends the current command's
   immediate answer; with no command waiting it is a late answer and dropped;
4. a known URC (table in urc.py), also in the middle of an answer: to subscribers;
5. a later final result (`CONNECT OK` ...): to the command waiting for that kind
   (even one still waiting for its OK); with none waiting it is an `UnknownUrc`;
6. an information line the current command expects (its `AtCommand.accepts`);
7. a line of a late answer of a command that timed out: dropped;
8. anything else: `UnknownUrc`, never taken into an answer.

Sending
-------
One command at a time (a lock), terminated by `\r`. The immediate answer has its own
timeout (`Timeouts.response`, `Timeouts.delete` for AT+QLWDEL). A command with a later
final result releases the line once OK came and waits (`Timeouts.final`) for that
result while other commands run; a second command of the same kind (or a send while
a CON result is pending) waits for the first to finish. `begin` returns at the OK
with the later result still to come (`Begun.wait`); the module keeps the command's
kind busy until that result or the final timeout, whoever waits for it.

A timeout means the module did not answer. The deadline counts from the command's
last byte on the wire (its length at the port's baud rate: a 1,000-character
AT+QLWDATASEND takes 1.1 s at 9600 baud), and the channel judges it only on a line
that has gone quiet: when lines read are still waiting to be handled (a backlog), or
bytes came in the last LOOK_AGAIN seconds (a long answer still arriving: a full
AT+QLWRD answer takes 1.1 s at 9600 baud), it looks again a little later, for at most
`Timeouts.delete` past the deadline. So an answer that arrived in time, or is still
arriving, is taken, not thrown away (throwing away an AT+QLWRD answer loses its node:
the module removes it as it answers).

Resynchronisation
-----------------
A command whose immediate answer timed out (or whose caller gave up, or that was in
flight when the module rebooted) may still be answered later, and its late `OK`
must never be taken for the next command's. The channel remembers such commands
("stale") and, before the next command, sends a probe: a side-effect-free query
whose information line no other command produces (`commands.SYNC_PROBES`). The
module answers commands in order, so everything before the probe's own information
line belongs to earlier commands: final results are dropped, stale information
lines too. Once the probe's line and final result came, nothing older can follow,
and the channel is in step. The same holds for a late answer: when a stale probe's
line and final result arrive after all, every command sent before it is settled.
A boot banner settles everything (the module forgot what it was asked). A probe
that times out is itself stale, and the next probe is a different query, so a late
answer of one probe is never taken for another's. A probe is sent again only once
it is older than `Timeouts.delete`, the longest the manual lets any immediate
answer take; when every probe is that recent, the next one waits for the oldest to
age, a few seconds at most, so the line is back in step as soon as the module
answers.
"""

from __future__ import annotations

import asyncio
from asyncio import Lock
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import logging
import time
from typing import Any

import serialx

from .commands import LATER_RESULTS, SYNC_PROBES, AtCommand, Later
from .errors import (
    CommandRejectedError,
    ModemRebootedError,
    ModemTimeoutError,
    PortError,
)
from .models import Timeouts, TranscriptLine
from .urc import BANNER_END, ModemRebooted, UnknownUrc, UrcEvent, is_banner_line, parse_urc

_LOGGER = logging.getLogger(__name__)

MAX_LINE = 4096  # characters; a full-size hex URC is about 1,060
MAX_READ = 2048  # bytes per read: a full-size URC in one read; about 60 short URCs, a few ms
# Seconds of one callback spent on lines before the rest waits for the next loop iteration:
# a few lines (each with its state writes) beyond it at most, whatever the machine's load.
READ_BUDGET = 0.002
SHOWN_OF_OVERLONG = 80  # characters of a cut line that are kept
STALE_MEMORY = 16  # timed-out commands whose late answers are recognised
CLOSE_TIMEOUT = 5.0  # seconds for the port to close before it is aborted
# Seconds of silence after which a command past its deadline is judged (see Sending). A
# UART hands bytes over as they come, milliseconds apart even at 9600 baud.
LOOK_AGAIN = 0.1
BITS_PER_BYTE = 10  # 8N1: a start bit, eight data bits, a stop bit

_NOISE = "".join(chr(code) for code in range(256) if not 0x21 <= code <= 0x7E)
_FINALS = frozenset(("OK", "ERROR"))
_CME = "+CME ERROR:"

type UrcCallback = Callable[[UrcEvent], None]
type LostCallback = Callable[[Exception | None], None]


class LineReader:
    """Cuts a byte stream into lines at CR, LF or runs of them; bounded by MAX_LINE."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._max_line = max_line
        self._partial = bytearray()
        self._overlong = False
        self.overlong_lines = 0

    def feed(self, data: bytes) -> list[str]:
        """The non-empty lines that `data` completes, noise stripped."""
        if not self._partial and data.endswith((b"\n", b"\r")):
            return self._whole_lines(data)
        # CR, LF or any run of them ends a line; empty pieces between them yield no line.
        # (bytes.replace and split run in C; a regex split cost 6 us on a 1 KB read.)
        pieces = data.replace(b"\r", b"\n").split(b"\n")
        lines: list[str] = []
        for piece in pieces[:-1]:
            self._extend(piece)
            line = self._take()
            if line:
                lines.append(line)
        self._extend(pieces[-1])
        return lines

    def _whole_lines(self, data: bytes) -> list[str]:
        # The usual read: whole lines and nothing pending, so no partial line to carry.
        # bytes.splitlines cuts at CR, LF and CRLF only (str.splitlines would cut more).
        lines = []
        for piece in data.splitlines():
            if len(piece) > self._max_line:
                self._extend(piece)
                line = self._take()
            else:
                line = piece.decode("latin-1").strip(_NOISE)
            if line:
                lines.append(line)
        return lines

    def clear(self) -> None:
        """Forget a partial line."""
        self._partial.clear()
        self._overlong = False

    def _extend(self, piece: bytes) -> None:
        room = self._max_line - len(self._partial)
        if len(piece) > room:
            self._partial += piece[:room]
            self._overlong = True
        else:
            self._partial += piece

    def _take(self) -> str:
        line = self._partial.decode("latin-1").strip(_NOISE)
        self._partial.clear()
        if self._overlong:
            self._overlong = False
            self.overlong_lines += 1
            return f"{line[:SHOWN_OF_OVERLONG]}..."
        return line


@dataclass(frozen=True, slots=True)
class Response:
    """A command's information lines and, if it has one, its later final result."""

    lines: tuple[str, ...]
    later_ok: bool | None = None


@dataclass(frozen=True, slots=True)
class Begun:
    """A command the module accepted (OK came): its information lines, its later result.

    `later` is None for a command without a later final result. Awaiting `wait()`
    gives that result; giving up on it (cancelling) leaves the channel waiting for it
    all the same, since the module does.
    """

    lines: tuple[str, ...]
    later: asyncio.Future[bool] | None

    async def wait(self) -> bool | None:
        """True for the later OK, False for FAIL; ModemTimeoutError, PortError ... as `execute`."""
        if self.later is None:
            return None
        return await asyncio.shield(self.later)


@dataclass(slots=True)
class _Exchange:
    """The command on the line now, waiting for its immediate answer."""

    command: AtCommand
    done: asyncio.Future[tuple[str, ...]]
    later: asyncio.Future[bool] | None
    on_written: Callable[[], None] | None = None
    lines: list[str] = field(default_factory=list)
    info_seen: bool = False
    written: bool = False
    abandoned: bool = False
    timer: asyncio.TimerHandle | None = None
    give_up_at: float = 0.0  # loop time past which no look again delays the timeout
    reads_seen: int = 0  # the channel's read count at the last look


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen: its awaiter may have been cancelled meanwhile."""
    if not future.cancelled():
        future.exception()


def _cme_code(line: str) -> int | None:
    code = line.removeprefix(_CME).strip()
    return int(code) if code.isdigit() and code.isascii() and len(code) <= 6 else None


class AtChannel(asyncio.Protocol):
    """The AT conversation over one serial connection (serialx URL)."""

    def __init__(self, timeouts: Timeouts | None = None, transcript_size: int = 200) -> None:
        self.timeouts = timeouts or Timeouts()
        self._reader = LineReader()
        self.read_budget = READ_BUDGET
        self._reads = 0  # reads of the port so far (a long answer still arriving)
        self._byte_time = 0.0  # seconds one byte takes on the wire at the port's baud rate
        self._backlog: deque[str] = deque()  # lines read and not handled yet (reading paused)
        self._transport: serialx.BaseSerialTransport | None = None
        self._closing = False
        self._lost: PortError | None = None
        self._command_lock = asyncio.Lock()
        self._kind_locks = {kind: asyncio.Lock() for kind in Later}
        self._exchange: _Exchange | None = None
        self._later: dict[Later, asyncio.Future[bool]] = {}
        self._stale: deque[AtCommand] = deque(maxlen=STALE_MEMORY)
        self._probes_out: dict[str, float] = {}  # probe text -> loop time it was sent
        self._late_probe: AtCommand | None = None  # a stale probe whose line came late
        self._in_banner = False
        self._subscribers: list[UrcCallback] = []
        self._lost_callbacks: list[LostCallback] = []
        # Plain tuples: every line received passes here, the records are rarely read.
        self._transcript: deque[tuple[float, str, str]] = deque(maxlen=max(transcript_size, 0))
        self.late_lines = 0  # parts of late answers dropped (diagnostics)

    # ------------------------------------------------------------------ port

    @property
    def is_open(self) -> bool:
        """The port is open and not lost."""
        return self._transport is not None and not self._transport.is_closing()

    @property
    def in_step(self) -> bool:
        """No late answer can be pending (no command timed out since the last probe)."""
        return not self._stale

    async def open(self, url: str, baudrate: int) -> None:
        """Open `url` with serialx; PortError if it cannot be opened."""
        if self._transport is not None:
            return
        self._reset()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeouts.open):
                transport, _ = await serialx.create_serial_connection(
                    loop, lambda: self, url, baudrate=baudrate
                )
        except (OSError, TimeoutError, ValueError, serialx.SerialException) as err:
            raise PortError(f"cannot open {url}: {err!r}") from err
        self._transport = transport
        self._byte_time = BITS_PER_BYTE / baudrate if baudrate > 0 else 0.0
        # serialx reads up to 256 KB per event-loop callback, and every line of a read is
        # parsed and dispatched in that callback: a backlog (a flood, a loop that was busy)
        # would become one long callback. Smaller reads hand the loop back between them.
        if isinstance(getattr(transport, "max_size", None), int):  # its descriptor transport
            setattr(transport, "max_size", MAX_READ)  # noqa: B010 - not in its type stubs

    async def close(self) -> None:
        """Close the port; idempotent. Pending commands fail with PortError."""
        transport = self._transport
        if transport is None:
            return
        self._closing = True
        transport.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await transport.wait_closed()
        except TimeoutError:  # pragma: no cover - a port that will not close
            transport.abort()
        self._transport = None

    def _reset(self) -> None:
        self._reader.clear()
        self._backlog.clear()
        self._closing = False
        self._lost = None
        self._exchange = None
        self._later.clear()
        self._settle_all()
        self._in_banner = False

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """serialx opened the port (`open` keeps the transport it returns)."""

    def connection_lost(self, exc: Exception | None) -> None:
        """The port closed: by `close`, or lost (unplugged, peer gone)."""
        self._transport = None
        while self._backlog:  # the module said it before the port went
            self._on_line(self._backlog.popleft())
        if self._closing:
            error = PortError("the serial port was closed")
        else:
            error = PortError(f"the serial port was lost: {exc!r}")
            error.__cause__ = exc
        self._lost = error
        self._fail_pending(error)
        if not self._closing:
            _LOGGER.debug("port lost: %r", exc)
            for callback in list(self._lost_callbacks):
                try:
                    callback(error)
                except Exception:  # one broken callback must not keep the others from hearing
                    _LOGGER.exception("error in a connection-lost callback")

    def data_received(self, data: bytes) -> None:
        """Bytes from the module, in any chunking."""
        self._reads += 1
        lines = self._reader.feed(data)
        if self._backlog:  # a read that was under way when reading paused: after the rest
            self._backlog.extend(lines)
            return
        deadline = time.perf_counter() + self.read_budget
        for index, line in enumerate(lines):
            self._on_line(line)
            if time.perf_counter() >= deadline and index + 1 < len(lines):
                self._backlog.extend(lines[index + 1 :])
                self._defer()
                return

    def _defer(self) -> None:
        """Handle the backlog in the next loop iteration; read nothing new until then."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()
        asyncio.get_running_loop().call_soon(self._handle_backlog)

    def _handle_backlog(self) -> None:
        deadline = time.perf_counter() + self.read_budget
        while self._backlog:
            self._on_line(self._backlog.popleft())
            if self._backlog and time.perf_counter() >= deadline:
                self._defer()
                return
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    # ------------------------------------------------------------------ subscribers

    def subscribe(self, callback: UrcCallback) -> Callable[[], None]:
        """Call `callback` with every URC event, in order; returns the unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: _discard(self._subscribers, callback)

    def on_connection_lost(self, callback: LostCallback) -> Callable[[], None]:
        """Call `callback` with a PortError when the port is lost (not on `close`)."""
        self._lost_callbacks.append(callback)
        return lambda: _discard(self._lost_callbacks, callback)

    @property
    def transcript(self) -> list[TranscriptLine]:
        """The last lines sent and received (one bounded record, both directions), oldest first."""
        return [TranscriptLine(*line) for line in self._transcript]

    def _emit(self, event: UrcEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not break the channel
                _LOGGER.exception("error in a URC subscriber handling %s", event)

    def _record(self, direction: str, text: str) -> None:
        self._transcript.append((time.time(), direction, text))

    # ------------------------------------------------------------------ receiving

    def _on_line(self, line: str) -> None:
        _LOGGER.debug("rx %s", line)
        self._record("rx", line)
        if is_banner_line(line):
            self._banner(line)
            return
        self._in_banner = False
        if not line.startswith(("AT", "at")):  # else echo, ours or a late one
            self._route(line)

    def _route(self, line: str) -> None:
        if line in _FINALS or line.startswith(_CME):
            self._final(line)
            return
        event = parse_urc(line)
        if event is not None:
            self._emit(event)
            return
        later = LATER_RESULTS.get(line)
        if later is not None:
            self._later_result(line, *later)
            return
        self._information(line)

    def _information(self, line: str) -> None:
        exchange = self._exchange
        if exchange is not None and exchange.command.accepts(line):
            exchange.lines.append(line)
            exchange.info_seen = True
        elif late := next((command for command in self._stale if command.accepts(line)), None):
            self.late_lines += 1
            if late.needs_info:
                self._late_probe = late  # its final result settles it (see _final)
        else:
            self._emit(UnknownUrc(line))

    def _banner(self, line: str) -> None:
        if not self._in_banner:
            self._in_banner = True
            self._settle_all()  # the module forgot every command: no late answer can come
            self._emit(ModemRebooted())
            self._fail_pending(ModemRebootedError("the module restarted"))
        if line == BANNER_END:
            self._in_banner = False

    def _final(self, line: str) -> None:
        late_probe, self._late_probe = self._late_probe, None
        exchange = self._exchange
        if exchange is None or exchange.done.done():
            self.late_lines += 1  # the answer of a command that timed out or was given up
            self._settle(late_probe)
            return
        if exchange.command.needs_info and not exchange.info_seen:
            self.late_lines += 1  # an earlier command's, before the probe's own answer
            self._settle(late_probe)
            return
        self._exchange = None
        if line != "OK":
            error = CommandRejectedError(exchange.command.text, _cme_code(line))
            exchange.done.set_exception(error)
            return
        later = exchange.command.later
        if later is not None and exchange.later is not None and not exchange.later.done():
            self._later[later] = exchange.later
        exchange.done.set_result(tuple(exchange.lines))

    def _later_result(self, line: str, kind: Later, ok: bool) -> None:
        future = self._later.pop(kind, None)
        if future is not None and not future.done():
            future.set_result(ok)
            return
        exchange = self._exchange
        if exchange is not None and exchange.command.later is kind and exchange.later is not None:
            # Before the command's own OK: taken all the same, should a firmware do that.
            if not exchange.later.done():
                exchange.later.set_result(ok)
            return
        self._emit(UnknownUrc(line))

    def _fail_pending(self, error: Exception) -> None:
        """Fail the command on the line and every wait for a later result."""
        exchange = self._exchange
        if exchange is not None:
            self._exchange = None
            self._abandon(exchange)
            if not exchange.done.done():
                exchange.done.set_exception(error)
        for future in self._later.values():
            if not future.done():
                future.set_exception(error)
        self._later.clear()

    # ------------------------------------------------------------------ sending

    async def execute(self, command: AtCommand) -> Response:
        """Send `command`; return its information lines (and later result, if any).

        Raises CommandRejectedError, ModemTimeoutError, ModemRebootedError or
        PortError (see Resynchronisation above).
        """
        begun = await self.begin(command)
        return Response(begun.lines, await begun.wait())

    async def begin(
        self, command: AtCommand, on_written: Callable[[], None] | None = None
    ) -> Begun:
        """Send `command` and return at its OK; a later final result is left to `Begun.wait`.

        `on_written` is called once the command line is on its way to the module (so a
        caller can tell "never sent" from "sent, outcome unknown"). Raises as `execute`.
        """
        kind = command.waits_for
        if kind is None:
            return Begun(await self._immediate(command, None, on_written), None)
        lock = self._kind_locks[kind]
        await lock.acquire()
        later: asyncio.Future[bool] | None = None
        try:
            if command.later is not None:
                later = asyncio.get_running_loop().create_future()
                later.add_done_callback(_retrieve)
            lines = await self._immediate(command, later, on_written)
        except BaseException:
            lock.release()
            if later is not None and not later.done():
                later.cancel()
            raise
        if later is None:
            lock.release()
        else:
            self._guard_later(command, later, lock)
        return Begun(lines, later)

    async def _immediate(
        self,
        command: AtCommand,
        later: asyncio.Future[bool] | None,
        on_written: Callable[[], None] | None,
    ) -> tuple[str, ...]:
        async with self._command_lock:
            if self._stale:
                await self._resync()
            return await self._exchange_once(command, later, on_written)

    async def _exchange_once(
        self,
        command: AtCommand,
        later: asyncio.Future[bool] | None,
        on_written: Callable[[], None] | None = None,
    ) -> tuple[str, ...]:
        done: asyncio.Future[tuple[str, ...]] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)
        exchange = _Exchange(command, done, later, on_written)
        self._write(command.text)
        exchange.written = True
        if on_written is not None:
            on_written()
        self._exchange = exchange
        self._arm(exchange)
        try:
            return await done
        except asyncio.CancelledError:
            self._abandon(exchange)
            raise
        finally:
            if exchange.timer is not None:
                exchange.timer.cancel()
            if self._exchange is exchange:
                self._exchange = None

    def _arm(self, exchange: _Exchange) -> None:
        """Start the deadline of a command just written (see Sending)."""
        loop = asyncio.get_running_loop()
        timeout = self.timeouts.delete if exchange.command.slow else self.timeouts.response
        deadline = loop.time() + timeout + (len(exchange.command.text) + 1) * self._byte_time
        exchange.give_up_at = deadline + self.timeouts.delete
        exchange.reads_seen = self._reads
        exchange.timer = loop.call_at(deadline, self._deadline_reached, exchange, timeout)

    def _deadline_reached(self, exchange: _Exchange, timeout: float) -> None:
        if exchange.done.done():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        arriving = self._backlog or self._reads != exchange.reads_seen
        if arriving and now < exchange.give_up_at:
            exchange.reads_seen = self._reads
            exchange.timer = loop.call_at(
                now + LOOK_AGAIN, self._deadline_reached, exchange, timeout
            )
            return
        self._abandon(exchange)
        exchange.done.set_exception(
            ModemTimeoutError(f"no answer to {exchange.command.text} within {timeout} s")
        )

    def _abandon(self, exchange: _Exchange) -> None:
        """Remember a written command whose answer may still come."""
        answered = exchange.done.done() and not exchange.done.cancelled()
        if exchange.abandoned or not exchange.written or answered:
            return
        exchange.abandoned = True
        if exchange.command.needs_info:
            self._probes_out[exchange.command.text] = asyncio.get_running_loop().time()
        self._stale.append(exchange.command)

    def _guard_later(self, command: AtCommand, later: asyncio.Future[bool], lock: Lock) -> None:
        """Bound the wait for `later` and keep its kind busy until it is settled."""
        kind = command.later
        timer = asyncio.get_running_loop().call_later(
            self.timeouts.final, self._later_timed_out, command, later
        )

        def settled(_: asyncio.Future[bool]) -> None:
            timer.cancel()
            lock.release()
            if kind is not None and self._later.get(kind) is later:
                del self._later[kind]

        later.add_done_callback(settled)

    def _later_timed_out(self, command: AtCommand, later: asyncio.Future[bool]) -> None:
        if not later.done():
            later.set_exception(
                ModemTimeoutError(
                    f"no final result for {command.text} within {self.timeouts.final} s"
                )
            )

    async def _resync(self) -> None:
        probe = await self._free_probe()
        _LOGGER.debug("resynchronising with %s", probe.text)
        try:
            await self._exchange_once(probe, None)
        except CommandRejectedError:
            pass  # rejected after its own information line: in step all the same
        except ModemTimeoutError as err:
            raise ModemTimeoutError(
                f"the module did not answer {probe.text} after an earlier timeout"
            ) from err
        self._settle_all()

    async def _free_probe(self) -> AtCommand:
        """A probe not sent within the late-answer horizon; waits for the oldest to age."""
        horizon = self.timeouts.delete
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for text, sent in list(self._probes_out.items()):
                if now - sent > horizon:
                    del self._probes_out[text]
            for probe in SYNC_PROBES:
                if probe.text not in self._probes_out:
                    return probe
            oldest = min(self._probes_out.values())
            await asyncio.sleep(oldest + horizon - now + 0.001)

    def _settle(self, probe: AtCommand | None) -> None:
        """A stale probe was answered late: it and every command sent before it are settled."""
        if probe is None or probe not in self._stale:
            return
        while self._stale.popleft() != probe:
            pass
        still_out = {command.text for command in self._stale}
        for text in list(self._probes_out):
            if text not in still_out:
                del self._probes_out[text]

    def _settle_all(self) -> None:
        self._stale.clear()
        self._probes_out.clear()
        self._late_probe = None

    def _write(self, text: str) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise self._lost or PortError("the serial port is not open")
        _LOGGER.debug("tx %s", text)
        self._record("tx", text)
        try:
            transport.write(text.encode("ascii") + b"\r")
        except (OSError, RuntimeError) as err:  # pragma: no cover - serialx raises here only
            # for a port it marked broken before telling the protocol
            raise PortError(f"cannot write to the serial port: {err!r}") from err


def _discard[T](items: list[T], item: T) -> None:
    """Remove `item` once if present (unsubscribing twice is harmless)."""
    with contextlib.suppress(ValueError):
        items.remove(item)
