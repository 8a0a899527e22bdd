r"""The AT interpreter of the virtual BC26: the module as a host sees it on its UART.

`VirtualModem` takes the bytes a host sends (`feed`), answers through a writer
callable, and talks to the platform through a `bc26sim.network.Network`; it is the
`ModemSide` the network calls back. Final results (CONNECT OK, SEND FAIL ...) come
from background tasks after the command's `OK`.

Output formats (exactly what is written; hosts parse these)
-----------------------------------------------------------
Framing: a response's information lines form one block `\r\n<l1>\r\n<l2>\r\n`, then
the final result `\r\nOK\r\n`, `\r\nERROR\r\n` or `\r\n+CME ERROR: <n>\r\n`. URCs and
later final results (`CONNECT OK` ...) are `\r\n<text>\r\n`. With echo on, the
command line comes back first, ending in a bare `\r` (`AT+CSQ\r`).

    ATI            Quectel_Ltd / Quectel_BC26 / Revision: BC26NBR01A02 (three lines)
    AT+CGMR        Revision: BC26NBR01A02
    AT+CGSN=1      +CGSN: <imei>
    AT+CSQ         +CSQ: <rssi>,<ber>              (default +CSQ: 23,0)
    AT+CEREG?      +CEREG: <n>,<stat>              (default +CEREG: 0,1)
    AT+CGPADDR=1   +CGPADDR: 1,<ip>                (default 10.52.241.198; +CGPADDR: 1 if none)
    AT+CPIN?       +CPIN: READY
    AT+CFUN?       +CFUN: 1
    AT+CMEE?       +CMEE: <n>
    AT+QLWRD=<n>   +QLWRD: <actual>,<remain>\r\n<data>  (one block), or +QLWRD: 0
    URC            +CEREG: <stat>                  (after AT+CEREG=1, when the stat changes)

Boot (power-up and reboot): after BOOT_DELAY the ROM banner, every line ending
`\n\r`: `F1: 0000 0000`, `V0: 0000 0000 [0001]`, `00: 0006 000C`, `01: 0000 0000`,
`U0: 0000 0001 [0000]`, `T0: 0000 00B4`, `Leaving the BROM`; then at SIM_READY_DELAY
`\r\n+CPIN: READY\r\n` and at IP_DELAY `\r\n+IP: <ip>\r\n`. Input is ignored until the
banner is out. A reboot loses all LwM2M context; echo, AT+CMEE and the data format
return to their defaults (echo on, 0, text/text).

Input
-----
Lines end in `\r`, `\n` or `\r\n`; empty lines vanish. Line noise before `AT` (NUL,
0xFF, spaces) is skipped; a line that does not then start with `AT`/`at` is ignored
silently. Spaces around parameters are tolerated. At most 16 lines wait while one
command runs; more are dropped and counted in `dropped_lines`. Strings are
latin-1, so in text data format one character is one byte.

Errors: the +CME ERROR codes (ERROR while AT+CMEE=0; the text after AT+CMEE=2)
-----------------------------------------------------------------------------
    3   operation not allowed     the command is well formed but the state forbids it
    4   operation not supported   a form the manual does not list for the command
    20  memory full               a bounded table is full
    50  incorrect parameters      malformed, missing, extra or out-of-range parameters
    100 unknown                   not a command the module knows; a line over 2048 bytes

Parameters are checked before state, so a malformed command is 50 in any state.

    any command, a form the manual does not list (AT+QLWOPEN?) .......... 4
    unknown command (AT+FOO, ATX); line longer than 2048 bytes .......... 100
    a command named in `refused_commands` (a firmware without it) ....... 100
    missing/extra parameter, unbalanced quote, string not quoted,
      number quoted ..................................................... 50
    AT+QLWSERV: not an IP address literal (3.1: no host name),
      port outside 0-65535 .............................................. 50
    AT+QLWCONF: endpoint not 1-64 printable ASCII characters ............ 50
    AT+QLWADDOBJ=<obj>[,<ins>[,<res_num>,"<res>;<res>..."]]: an id above
      65535, <res_num> outside 1-32 or not the count of distinct <res> .. 50
    AT+QLWDATASEND: an id above 65535, <length> outside 1-512, data not
      matching <length> (hex: 2*<length> hex digits; text: <length>
      bytes, quotes around the text not counted), <mode> other than
      0x0000 (NON) / 0x0100 (CON) ....................................... 50
    AT+QLWRD: <read_length> outside 1-512 ............................... 50
    AT+QLWCFG: a name other than "dataformat", values other than 0/1 .... 50
    AT+QLWOPEN: <mode> other than 0/1 ................................... 50
    AT+QLWSERV? / AT+QLWCONF? before they were set ...................... 3
    AT+QLWSERV while registering, registered or deregistering ........... 3
    AT+QLWSERV with another address while one is set (manual 5.1: "AT+QLWDEL
      should be executed before setting the IP address"); the same again: OK .. 3
    AT+QLWCONF while registering, registered or deregistering ........... 3
    AT+QLWADDOBJ while registering or deregistering; an obj/ins already
      declared with other resources (the identical declaration: OK) ..... 3
    AT+QLWADDOBJ beyond 16 object instances ............................. 20
    AT+QLWDELOBJ of an object not declared; while registering,
      deregistering or while an update is pending ....................... 3
    AT+QLWOPEN before both AT+QLWSERV and AT+QLWCONF; unless idle ....... 3
    AT+QLWUPDATE / AT+QLWCLOSE unless registered; while an update is
      pending ........................................................... 3
    AT+QLWDATASEND unless registered; to a resource not declared or not
      observed by the platform (an observe of <res> -1 covers the whole
      instance); while a CON result is pending (manual 3.8 note 1, NON
      included) ......................................................... 3
    AT+QLWDATASEND with 16 NON sends still in the network ............... 20

Allowed where the manual is silent:
    AT+QLWADDOBJ while registered: OK; no automatic update (the next
      AT+QLWUPDATE carries it). AT+QLWDELOBJ while registered: OK, then an
      update and UPDATE OK/FAIL (manual 3.4); unregistered: OK only.
    AT+QLWRD in direct push mode or unregistered: `+QLWRD: 0`, the buffer is
      simply empty. Buffered data survives AT+QLWCLOSE.
    AT+QLWCFG any time. Default data format: text both ways.
    AT+QLWDEL any time: cancels pending operations (their final results never
      come), deregisters first if registered (bounded by 4 s, so OK comes
      within the manual's 5 s), forgets server, endpoint, objects,
      observations, buffer and CON status. The data format stays (it is an
      AT+QLWCFG option, not LwM2M context); a reboot resets it.

Several resources in one AT+QLWADDOBJ (decided; not seen on a real BC26)
------------------------------------------------------------------------
Manual 3.3 gives <res_id> as one string "with double quotation marks" and shows one
ID only (`AT+QLWADDOBJ=19,0,1,"0"`). Several IDs go in that string separated by
`;`, spaces around an ID tolerated: `AT+QLWADDOBJ=3303,0,2,"5700;5701"`. Any other
form is 50: `"5700,5701"`, and the unquoted list of the later BC66 dialect
(`AT+QLWADDOBJ=3304,0,2,5700,5701`). Evidence: Quectel's BC26 OpenCPU SDK passes
the caller's string into the quotes unchanged (`RIL_QLwM2M_Addobj`, ril_lwm2m.c:
`AT+QLWADDOBJ=%d,%d,%d,"%s"`; its example passes "0"), so the firmware parses the
list itself; the OneNET AT commands of the same modules quote resource-ID lists
with `;` (`AT+MIPLDISCOVERRSP=0,<msgid>,1,34,"5700;5701;5601;5602;5603;5604;5605"`);
BC66 firmware with AT+QLWCONFIG takes one unquoted parameter per ID instead
(`AT+QLWADDOBJ=3304,0,4,5700,5701,5603,5604` in its OpenCPU RIL). No published
BC26 log declares two IDs in one command.

Final results: after CONNECT FAIL or CLOSE OK/FAIL the module is unregistered;
after UPDATE FAIL it stays registered. Each is bounded by FINAL_TIMEOUT (128 s,
scaled): a network that does not answer, or raises, gives CONNECT/UPDATE/CLOSE FAIL
or SEND FAIL (status 3). AT+QLWDATASTATUS? is 0 before any CON send, 1 while one
waits, then 4 (ACK), 5 (RST), 3 (timeout) or 2 (failed); it is written
`+QLWDATASTATUS: <n>`, with the space, as in manual section 5 (3.9 prints none).

Buffer access mode: each platform write is one node; `+QLWDATARECV: o,i,r,len`
only when the buffer was empty; AT+QLWRD reads from the oldest node and
<remain_length> is what is left of that node. At most 16 nodes: a write beyond that
is dropped, counted in `dropped_writes`, and refused to the network (False). Writes
refused too: unregistered, path not declared, <res> -1, more than 512 bytes. An
empty write is accepted and reported nowhere.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
import enum
import ipaddress
import logging
import re
from typing import Any

from .at import (
    CME_TEXT,
    CmeError,
    Command,
    CommandError,
    Form,
    LineSplitter,
    Param,
    command_text,
    int_param,
    param_count,
    parse_command,
    str_param,
)
from .network import Network, ObjectInstance, Registration, ResourcePath, SendOutcome

_LOGGER = logging.getLogger(__name__)

DEFAULT_IMEI = "866971030001361"
MANUFACTURER = "Quectel_Ltd"
MODEL = "Quectel_BC26"
REVISION = "BC26NBR01A02"
DEFAULT_IP = "10.52.241.198"

MAX_PAYLOAD = 512  # bytes, manual 3.8 / 3.10 / 4.2
MAX_ID = 65535  # manual 3.3
MAX_NODES = 16
MAX_INSTANCES = 16
MAX_RESOURCES = 32
MAX_ENDPOINT = 64
MAX_NON_IN_FLIGHT = 16
MAX_QUEUED_LINES = 16
COMMAND_HISTORY = 500
DEFAULT_LIFETIME = 86400

# Modem seconds; multiplied by time_scale.
FINAL_TIMEOUT = 128.0  # manual notes to 3.5-3.8
DELETE_DEREGISTER_TIMEOUT = 4.0  # AT+QLWDEL answers within 5 s (manual 3.12)
BOOT_DELAY = 0.1
SIM_READY_DELAY = 0.5
IP_DELAY = 1.0

BOOT_BANNER = (
    "F1: 0000 0000",
    "V0: 0000 0000 [0001]",
    "00: 0006 000C",
    "01: 0000 0000",
    "U0: 0000 0001 [0000]",
    "T0: 0000 00B4",
    "Leaving the BROM",
)

_HEX = re.compile(r"[0-9A-Fa-f]*")
_SEND_MODES = {"0x0000": False, "0x0100": True}  # value: confirmable

type Writer = Callable[[bytes], None]
type FinalWork = Callable[[], Coroutine[Any, Any, None]]


# DataMode and ConStatus repeat the modem library's enums on purpose: the simulator
# models the manual on its own and imports nothing of the integration it tests, so a
# wrong value on one side shows up as a failing test instead of agreeing with itself.
class DataMode(enum.IntEnum):
    """<mode> of AT+QLWOPEN."""

    DIRECT_PUSH = 0
    BUFFER_ACCESS = 1


class ConStatus(enum.IntEnum):
    """<status> of AT+QLWDATASTATUS? (manual 3.9)."""

    NOT_SENT = 0
    WAITING = 1
    FAILED = 2
    TIMEOUT = 3
    SUCCESS = 4
    RESET = 5


class Lwm2mState(enum.Enum):
    """Where the module stands with the platform."""

    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    DEREGISTERING = "deregistering"


_STATUS_OF_OUTCOME = {
    SendOutcome.ACKNOWLEDGED: ConStatus.SUCCESS,
    SendOutcome.SENT: ConStatus.SUCCESS,
    SendOutcome.RESET: ConStatus.RESET,
    SendOutcome.TIMEOUT: ConStatus.TIMEOUT,
    SendOutcome.FAILED: ConStatus.FAILED,
}


@dataclass
class Radio:
    """The cellular side, settable by tests."""

    rssi: int = 23
    ber: int = 0
    cereg_urc: int = 0  # <n> of AT+CEREG
    cereg_stat: int = 1
    ip: str | None = DEFAULT_IP


@dataclass
class Node:
    """One platform write waiting in the receive buffer (buffer access mode)."""

    path: ResourcePath
    data: bytes
    offset: int = 0

    @property
    def remaining(self) -> int:
        """Bytes of this node not read yet."""
        return len(self.data) - self.offset


@dataclass
class Lwm2mContext:
    """What AT+QLWDEL and a reboot forget."""

    server: tuple[str, int] | None = None
    endpoint: str | None = None
    objects: dict[tuple[int, int], ObjectInstance] = field(default_factory=dict)
    state: Lwm2mState = Lwm2mState.IDLE
    mode: DataMode | None = None
    operation_pending: bool = False  # an update (AT+QLWUPDATE or AT+QLWDELOBJ) in flight
    observed: set[ResourcePath] = field(default_factory=set)
    con_status: ConStatus = ConStatus.NOT_SENT
    con_pending: bool = False
    non_in_flight: int = 0
    buffer: deque[Node] = field(default_factory=deque)
    values: dict[ResourcePath, bytes] = field(default_factory=dict)


@dataclass
class DataFormat:
    """AT+QLWCFG="dataformat": hex (True) or text (False), for each direction."""

    send_hex: bool = False
    recv_hex: bool = False


@dataclass
class Reply:
    """A command's information lines, and work that starts once its OK is out."""

    lines: list[str] = field(default_factory=list)
    after: FinalWork | None = None


def _only(command: Command, *forms: Form) -> None:
    if command.form not in forms:
        raise CommandError(CmeError.OPERATION_NOT_SUPPORTED)


def _not_allowed() -> CommandError:
    return CommandError(CmeError.OPERATION_NOT_ALLOWED)


def _bad_parameters() -> CommandError:
    return CommandError(CmeError.INCORRECT_PARAMETERS)


class VirtualModem:
    """The BC26's AT interpreter and LwM2M state; a `ModemSide` for the network."""

    def __init__(
        self,
        network: Network,
        *,
        imei: str = DEFAULT_IMEI,
        echo: bool = True,
        time_scale: float = 1.0,
    ) -> None:
        self.network = network
        self.imei = imei
        self.echo_default = echo
        self.echo = echo
        self.time_scale = time_scale
        self.writer: Writer = _discard
        self.cmee = 0
        self.radio = Radio()
        self.context = Lwm2mContext()
        self.data_format = DataFormat()
        self.commands: deque[str] = deque(maxlen=COMMAND_HISTORY)
        self.mute = False
        self.response_delay = 0.0  # real seconds, not scaled
        # Command names (`+QLWDATASTATUS`) answered as unknown: an older firmware's set.
        self.refused_commands: set[str] = set()
        self.dropped_lines = 0
        self.dropped_writes = 0
        self._interleave: deque[str] = deque(maxlen=8)
        self._garble: list[str] = []  # prefixes of URCs whose next one gets a corrupted byte
        self._splitter = LineSplitter()
        self._lines: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_QUEUED_LINES)
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lwm2m_tasks: set[asyncio.Task[None]] = set()
        self._booting = False
        self._handlers: dict[str, Callable[[Command], Awaitable[Reply]]] = {
            "": self._at,
            "E": self._ate,
            "I": self._ati,
            "+CGMR": self._cgmr,
            "+CGSN": self._cgsn,
            "+CSQ": self._csq,
            "+CEREG": self._cereg,
            "+CGPADDR": self._cgpaddr,
            "+CPIN": self._cpin,
            "+CFUN": self._cfun,
            "+CMEE": self._cmee,
            "+QRST": self._qrst,
            "+QLWSERV": self._qlwserv,
            "+QLWCONF": self._qlwconf,
            "+QLWADDOBJ": self._qlwaddobj,
            "+QLWDELOBJ": self._qlwdelobj,
            "+QLWOPEN": self._qlwopen,
            "+QLWUPDATE": self._qlwupdate,
            "+QLWCLOSE": self._qlwclose,
            "+QLWDATASEND": self._qlwdatasend,
            "+QLWDATASTATUS": self._qlwdatastatus,
            "+QLWRD": self._qlwrd,
            "+QLWCFG": self._qlwcfg,
            "+QLWDEL": self._qlwdel,
        }
        network.attach(self)

    # ------------------------------------------------------------------ life cycle

    async def start(self, *, banner: bool = True) -> None:
        """Power on; with `banner`, return once the whole boot output is out."""
        self._start_runner()
        if banner:
            self._booting = True
            await self._boot(wait=True)

    async def stop(self) -> None:
        """Power off: every task ends, the network lets go of its sockets."""
        await self._cancel_tasks(self._tasks | self._lwm2m_tasks)
        await self.network.close()

    async def reboot(self, *, garbled: bool = False) -> None:
        """What AT+QRST=1 or a power glitch does: context lost, banner, defaults back.

        `garbled`: the banner arrives as noise (the UART at another rate for a moment),
        so the host cannot recognise it; +CPIN: READY and +IP: follow as usual.
        """
        self._booting = True
        await self._cancel_tasks(self._tasks | self._lwm2m_tasks)
        self._splitter.clear()
        while not self._lines.empty():
            self._lines.get_nowait()
        self.echo = True
        self.cmee = 0
        self.data_format = DataFormat()
        self.context = Lwm2mContext()
        self._interleave.clear()
        await self.network.reset()
        self._start_runner()
        await self._boot(garbled=garbled)

    def _start_runner(self) -> None:
        self._runner = self._spawn(self._run())

    async def _boot(self, *, wait: bool = False, garbled: bool = False) -> None:
        """Banner now; +CPIN/+IP later, awaited (`wait`) or in the background."""
        await asyncio.sleep(self._scaled(BOOT_DELAY))
        banner = "".join(f"{line}\n\r" for line in BOOT_BANNER).encode()
        # At the wrong rate every byte arrives as another one, most of them unprintable.
        self._write(bytes(byte ^ 0xA5 for byte in banner) if garbled else banner)
        self._booting = False
        if wait:
            await self._boot_urcs()
        else:
            self._spawn(self._boot_urcs())

    async def _boot_urcs(self) -> None:
        await asyncio.sleep(self._scaled(SIM_READY_DELAY))
        self._urc("+CPIN: READY")
        await asyncio.sleep(self._scaled(IP_DELAY - SIM_READY_DELAY))
        if self.radio.ip is not None:
            self._urc(f"+IP: {self.radio.ip}")

    def _spawn(self, work: Coroutine[Any, Any, None], *, lwm2m: bool = False) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        tasks = self._lwm2m_tasks if lwm2m else self._tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    async def _cancel_tasks(self, tasks: set[asyncio.Task[None]]) -> None:
        current = asyncio.current_task()
        doomed = [task for task in tasks if task is not current]
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)

    def _scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    # ------------------------------------------------------------------ host side

    def feed(self, data: bytes) -> None:
        """Bytes from the host, in any chunking."""
        for line in self._splitter.feed(data):
            if self._booting:
                continue  # the UART is not listening yet
            try:
                self._lines.put_nowait(line)
            except asyncio.QueueFull:
                self.dropped_lines += 1

    @property
    def queued_lines(self) -> int:
        """Command lines received and waiting for the one in progress to finish."""
        return self._lines.qsize()

    def inject(self, data: bytes) -> None:
        """Raw bytes to the host now."""
        self._write(data)

    def interleave_next(self, line: str) -> None:
        """Put `line` (framed as a URC) before the final result of the next response."""
        self._interleave.append(line)

    def set_network_registration(self, stat: int) -> None:
        """Change <stat> of AT+CEREG; reported as `+CEREG: <stat>` after AT+CEREG=1."""
        changed = stat != self.radio.cereg_stat
        self.radio.cereg_stat = stat
        if changed and self.radio.cereg_urc:
            self._urc(f"+CEREG: {stat}")

    def _write(self, data: bytes) -> None:
        self.writer(data)

    def garble_next_urc(self, prefix: str) -> None:
        """Corrupt one byte (its last character) of the next URC that starts with `prefix`."""
        self._garble.append(prefix)

    def _urc(self, text: str) -> None:
        for prefix in self._garble:
            if text.startswith(prefix):
                self._garble.remove(prefix)
                text = text[:-1] + chr(ord(text[-1]) ^ 0x40)
                break
        self._write(f"\r\n{text}\r\n".encode("latin-1"))

    async def _run(self) -> None:
        while True:
            line = await self._lines.get()
            await self._execute(line)

    async def _execute(self, line: bytes | None) -> None:
        if line is None:
            await self._finish([], self._error_line(CmeError.UNKNOWN))
            return
        text = command_text(line)
        if text is None:
            return
        self.commands.append(text)
        if self.mute:
            return
        if self.echo:
            self._write(text.encode("latin-1") + b"\r")
        try:
            reply = await self._dispatch(parse_command(text[2:]))
        except CommandError as error:
            await self._finish([], self._error_line(error.code))
            return
        await self._finish(reply.lines, "OK")
        if reply.after is not None:
            self._spawn(reply.after(), lwm2m=True)

    async def _dispatch(self, command: Command) -> Reply:
        handler = self._handlers.get(command.name)
        if handler is None or command.name in self.refused_commands:
            raise CommandError(CmeError.UNKNOWN)
        return await handler(command)

    async def _finish(self, lines: list[str], final: str) -> None:
        if self.response_delay > 0:
            await asyncio.sleep(self.response_delay)
        parts = ["\r\n" + "\r\n".join(lines) + "\r\n"] if lines else []
        parts.extend(f"\r\n{urc}\r\n" for urc in self._interleave)
        self._interleave.clear()
        parts.append(f"\r\n{final}\r\n")
        self._write("".join(parts).encode("latin-1"))

    def _error_line(self, code: CmeError) -> str:
        if self.cmee == 1:
            return f"+CME ERROR: {code.value}"
        if self.cmee == 2:
            return f"+CME ERROR: {CME_TEXT[code]}"
        return "ERROR"

    # ------------------------------------------------------------------ basic commands

    async def _at(self, command: Command) -> Reply:
        return Reply()

    async def _ate(self, command: Command) -> Reply:
        value = int_param(command.params[0], 0, 1) if command.params else 0
        self.echo = bool(value)
        return Reply()

    async def _ati(self, command: Command) -> Reply:
        _only(command, Form.EXECUTE)
        return Reply([MANUFACTURER, MODEL, f"Revision: {REVISION}"])

    async def _cgmr(self, command: Command) -> Reply:
        _only(command, Form.EXECUTE)
        return Reply([f"Revision: {REVISION}"])

    async def _cgsn(self, command: Command) -> Reply:
        _only(command, Form.WRITE, Form.TEST)
        if command.form is Form.TEST:
            return Reply(["+CGSN: (1)"])
        param_count(command, 1)
        int_param(command.params[0], 1, 1)
        return Reply([f"+CGSN: {self.imei}"])

    async def _csq(self, command: Command) -> Reply:
        _only(command, Form.EXECUTE, Form.TEST)
        if command.form is Form.TEST:
            return Reply(["+CSQ: (0-31,99),(0-7,99)"])
        return Reply([f"+CSQ: {self.radio.rssi},{self.radio.ber}"])

    async def _cereg(self, command: Command) -> Reply:
        _only(command, Form.READ, Form.WRITE, Form.TEST)
        if command.form is Form.TEST:
            return Reply(["+CEREG: (0,1)"])
        if command.form is Form.READ:
            return Reply([f"+CEREG: {self.radio.cereg_urc},{self.radio.cereg_stat}"])
        param_count(command, 1)
        self.radio.cereg_urc = int_param(command.params[0], 0, 1)
        return Reply()

    async def _cgpaddr(self, command: Command) -> Reply:
        _only(command, Form.EXECUTE, Form.WRITE, Form.TEST)
        if command.form is Form.TEST:
            return Reply(["+CGPADDR: (1)"])
        if command.form is Form.WRITE:
            param_count(command, 1)
            int_param(command.params[0], 1, 1)
        ip = self.radio.ip
        return Reply(["+CGPADDR: 1" if ip is None else f"+CGPADDR: 1,{ip}"])

    async def _cpin(self, command: Command) -> Reply:
        _only(command, Form.READ)
        return Reply(["+CPIN: READY"])

    async def _cfun(self, command: Command) -> Reply:
        _only(command, Form.READ)
        return Reply(["+CFUN: 1"])

    async def _cmee(self, command: Command) -> Reply:
        _only(command, Form.READ, Form.WRITE, Form.TEST)
        if command.form is Form.TEST:
            return Reply(["+CMEE: (0-2)"])
        if command.form is Form.READ:
            return Reply([f"+CMEE: {self.cmee}"])
        param_count(command, 1)
        self.cmee = int_param(command.params[0], 0, 2)
        return Reply()

    async def _qrst(self, command: Command) -> Reply:
        _only(command, Form.WRITE, Form.TEST)
        if command.form is Form.TEST:
            return Reply(["+QRST: (1)"])
        param_count(command, 1)
        int_param(command.params[0], 1, 1)
        return Reply(after=self.reboot)

    # ------------------------------------------------------------------ LwM2M configuration

    async def _qlwserv(self, command: Command) -> Reply:
        _only(command, Form.TEST, Form.READ, Form.WRITE)
        context = self.context
        if command.form is Form.TEST:
            return Reply(['+QLWSERV: "IP_address",(0-65535)'])
        if command.form is Form.READ:
            if context.server is None:
                raise _not_allowed()
            return Reply([f'+QLWSERV: "{context.server[0]}",{context.server[1]}'])
        param_count(command, 2)
        server = (_server_address(command.params[0]), int_param(command.params[1], 0, 65535))
        if context.state is not Lwm2mState.IDLE:
            raise _not_allowed()
        if context.server not in (None, server):
            raise _not_allowed()
        context.server = server
        return Reply()

    async def _qlwconf(self, command: Command) -> Reply:
        _only(command, Form.TEST, Form.READ, Form.WRITE)
        context = self.context
        if command.form is Form.TEST:
            return Reply(['+QLWCONF: "endpointname"'])
        if command.form is Form.READ:
            if context.endpoint is None:
                raise _not_allowed()
            return Reply([f'+QLWCONF: "{context.endpoint}"'])
        param_count(command, 1)
        endpoint = _endpoint(command.params[0])
        if context.state is not Lwm2mState.IDLE:
            raise _not_allowed()
        context.endpoint = endpoint
        return Reply()

    async def _qlwaddobj(self, command: Command) -> Reply:
        _only(command, Form.WRITE)
        instance = _object_instance(command)
        context = self.context
        if context.state in (Lwm2mState.REGISTERING, Lwm2mState.DEREGISTERING):
            raise _not_allowed()
        key = (instance.object_id, instance.instance_id)
        existing = context.objects.get(key)
        if existing is not None and existing != instance:
            raise _not_allowed()
        if existing is None and len(context.objects) >= MAX_INSTANCES:
            raise CommandError(CmeError.MEMORY_FULL)
        context.objects[key] = instance
        return Reply()

    async def _qlwdelobj(self, command: Command) -> Reply:
        _only(command, Form.WRITE)
        param_count(command, 1)
        object_id = int_param(command.params[0], 0, MAX_ID)
        context = self.context
        keys = [key for key in context.objects if key[0] == object_id]
        busy = context.state in (Lwm2mState.REGISTERING, Lwm2mState.DEREGISTERING)
        if not keys or busy or context.operation_pending:
            raise _not_allowed()
        for key in keys:
            del context.objects[key]
        context.observed = {path for path in context.observed if path[0] != object_id}
        if context.state is not Lwm2mState.REGISTERED:
            return Reply()
        context.operation_pending = True
        return Reply(after=self._update)

    async def _qlwcfg(self, command: Command) -> Reply:
        _only(command, Form.TEST, Form.WRITE)
        if command.form is Form.TEST:
            return Reply(['+QLWCFG: "dataformat",(0,1),(0,1)'])
        param_count(command, 3)
        if str_param(command.params[0]).lower() != "dataformat":
            raise _bad_parameters()
        send_hex = int_param(command.params[1], 0, 1)
        recv_hex = int_param(command.params[2], 0, 1)
        self.data_format = DataFormat(send_hex=bool(send_hex), recv_hex=bool(recv_hex))
        return Reply()

    async def _qlwdel(self, command: Command) -> Reply:
        _only(command, Form.EXECUTE)
        await self._cancel_tasks(self._lwm2m_tasks)
        if self.context.state is Lwm2mState.REGISTERED:
            await self._bounded(self.network.deregister(), False, DELETE_DEREGISTER_TIMEOUT)
        await self.network.reset()
        self.context = Lwm2mContext()
        return Reply()

    # ------------------------------------------------------------------ registration

    async def _qlwopen(self, command: Command) -> Reply:
        _only(command, Form.WRITE)
        param_count(command, 1)
        mode = DataMode(int_param(command.params[0], 0, 1))
        context = self.context
        if context.server is None or context.endpoint is None:
            raise _not_allowed()
        if context.state is not Lwm2mState.IDLE:
            raise _not_allowed()
        registration = Registration(
            host=context.server[0],
            port=context.server[1],
            endpoint=context.endpoint,
            lifetime=DEFAULT_LIFETIME,
            objects=tuple(context.objects.values()),
        )
        context.state = Lwm2mState.REGISTERING
        context.mode = mode
        return Reply(after=lambda: self._register(registration))

    async def _register(self, registration: Registration) -> None:
        context = self.context
        if await self._bounded(self.network.register(registration), False):
            context.state = Lwm2mState.REGISTERED
            self._urc("CONNECT OK")
            return
        self._unregistered(context)
        self._urc("CONNECT FAIL")

    async def _qlwupdate(self, command: Command) -> Reply:
        _only(command, Form.EXECUTE)
        context = self.context
        if context.state is not Lwm2mState.REGISTERED or context.operation_pending:
            raise _not_allowed()
        context.operation_pending = True
        return Reply(after=self._update)

    async def _update(self) -> None:
        context = self.context
        objects = tuple(context.objects.values())
        ok = await self._bounded(self.network.update(objects), False)
        context.operation_pending = False
        self._urc("UPDATE OK" if ok else "UPDATE FAIL")

    async def _qlwclose(self, command: Command) -> Reply:
        _only(command, Form.EXECUTE)
        context = self.context
        if context.state is not Lwm2mState.REGISTERED or context.operation_pending:
            raise _not_allowed()
        context.state = Lwm2mState.DEREGISTERING
        return Reply(after=self._deregister)

    async def _deregister(self) -> None:
        context = self.context
        ok = await self._bounded(self.network.deregister(), False)
        self._unregistered(context)
        self._urc("CLOSE OK" if ok else "CLOSE FAIL")

    @staticmethod
    def _unregistered(context: Lwm2mContext) -> None:
        context.state = Lwm2mState.IDLE
        context.mode = None
        context.observed.clear()

    async def _bounded[T](self, work: Awaitable[T], fallback: T, limit: float = FINAL_TIMEOUT) -> T:
        """Await a network call within the (scaled) timeout; `fallback` if it fails."""
        try:
            async with asyncio.timeout(self._scaled(limit)):
                return await work
        except TimeoutError:
            return fallback
        except Exception:
            # The network is another component; its failure is a FAIL result, not a crash.
            _LOGGER.exception("network call failed")
            return fallback

    # ------------------------------------------------------------------ data

    async def _qlwdatasend(self, command: Command) -> Reply:
        _only(command, Form.WRITE)
        path, payload, confirmable = self._send_request(command)
        context = self.context
        if context.state is not Lwm2mState.REGISTERED or not self._observed(path):
            raise _not_allowed()
        if context.con_pending:
            raise _not_allowed()
        if not confirmable and context.non_in_flight >= MAX_NON_IN_FLIGHT:
            raise CommandError(CmeError.MEMORY_FULL)
        context.values[path] = payload
        if confirmable:
            context.con_pending = True
            context.con_status = ConStatus.WAITING
            return Reply(after=lambda: self._send_con(path, payload))
        context.non_in_flight += 1
        return Reply(after=lambda: self._send_non(path, payload))

    def _send_request(self, command: Command) -> tuple[ResourcePath, bytes, bool]:
        param_count(command, 6)
        obj, ins, res, length_param, data_param, mode_param = command.params
        path = (
            int_param(obj, 0, MAX_ID),
            int_param(ins, 0, MAX_ID),
            int_param(res, 0, MAX_ID),
        )
        length = int_param(length_param, 1, MAX_PAYLOAD)
        payload = self._payload(data_param, length)
        confirmable = _SEND_MODES.get(mode_param.text.lower())
        if confirmable is None or mode_param.quoted:
            raise _bad_parameters()
        return path, payload, confirmable

    def _payload(self, param: Param, length: int) -> bytes:
        if self.data_format.send_hex:
            if len(param.text) != 2 * length or not _HEX.fullmatch(param.text):
                raise _bad_parameters()
            return bytes.fromhex(param.text)
        payload = param.text.encode("latin-1")
        if len(payload) != length:
            raise _bad_parameters()
        return payload

    def _observed(self, path: ResourcePath) -> bool:
        whole_instance = (path[0], path[1], -1)
        observed = path in self.context.observed or whole_instance in self.context.observed
        return observed and self._declared(path)

    async def _send_non(self, path: ResourcePath, payload: bytes) -> None:
        context = self.context
        try:
            await self._bounded(self.network.notify(path, payload, False), SendOutcome.FAILED)
        finally:
            context.non_in_flight -= 1

    async def _send_con(self, path: ResourcePath, payload: bytes) -> None:
        context = self.context
        outcome = await self._bounded(self.network.notify(path, payload, True), SendOutcome.TIMEOUT)
        context.con_status = _STATUS_OF_OUTCOME[outcome]
        context.con_pending = False
        self._urc("SEND OK" if context.con_status is ConStatus.SUCCESS else "SEND FAIL")

    async def _qlwdatastatus(self, command: Command) -> Reply:
        _only(command, Form.READ)
        return Reply([f"+QLWDATASTATUS: {self.context.con_status.value}"])

    async def _qlwrd(self, command: Command) -> Reply:
        _only(command, Form.TEST, Form.WRITE)
        if command.form is Form.TEST:
            return Reply([f"+QLWRD: (1-{MAX_PAYLOAD})"])
        param_count(command, 1)
        wanted = int_param(command.params[0], 1, MAX_PAYLOAD)
        buffer = self.context.buffer
        if not buffer:
            return Reply(["+QLWRD: 0"])
        node = buffer[0]
        chunk = node.data[node.offset : node.offset + wanted]
        node.offset += len(chunk)
        if node.remaining == 0:
            buffer.popleft()
        return Reply([f"+QLWRD: {len(chunk)},{node.remaining}", self._received_text(chunk)])

    def _received_text(self, data: bytes) -> str:
        return data.hex().upper() if self.data_format.recv_hex else data.decode("latin-1")

    # ------------------------------------------------------------------ ModemSide

    def observe(self, path: ResourcePath, cancel: bool) -> bool:
        """The platform observes (or cancels) `path`."""
        context = self.context
        live = context.state in (Lwm2mState.REGISTERING, Lwm2mState.REGISTERED)
        if not live or not self._declared(path):
            return False
        if cancel:
            context.observed.discard(path)
        else:
            context.observed.add(path)
        self._urc(f"+QLWOBSERVE: {int(cancel)},{path[0]},{path[1]},{path[2]}")
        return True

    def write(self, path: ResourcePath, payload: bytes) -> bool:
        """The platform writes `payload` to `path`."""
        context = self.context
        live = context.state is Lwm2mState.REGISTERED
        if not live or path[2] < 0 or not self._declared(path) or len(payload) > MAX_PAYLOAD:
            return False
        if not payload:
            context.values[path] = payload
            return True
        prefix = f"+QLWDATARECV: {path[0]},{path[1]},{path[2]},{len(payload)}"
        if context.mode is DataMode.DIRECT_PUSH:
            context.values[path] = payload
            self._urc(f"{prefix},{self._received_text(payload)}")
            return True
        return self._buffer(path, payload, prefix)

    def _buffer(self, path: ResourcePath, payload: bytes, urc: str) -> bool:
        buffer = self.context.buffer
        if len(buffer) >= MAX_NODES:
            self.dropped_writes += 1
            return False
        self.context.values[path] = payload
        buffer.append(Node(path, payload))
        if len(buffer) == 1:
            self._urc(urc)
        return True

    def read(self, path: ResourcePath) -> bytes | None:
        """The platform reads `path`: its last value (empty if none yet)."""
        if path[2] < 0 or not self._declared(path):
            return None
        return self.context.values.get(path, b"")

    def _declared(self, path: ResourcePath) -> bool:
        instance = self.context.objects.get((path[0], path[1]))
        if instance is None:
            return False
        return path[2] == -1 or path[2] in instance.resource_ids


def _discard(data: bytes) -> None:
    """Where output goes while no port is attached: nowhere, as on a bare UART."""


def _server_address(param: Param) -> str:
    """Manual 3.1: `<ip_address>`, "the IoT platform IP address"; no host name.

    (A Huawei integration guide repeating the manual adds that some NB-IoT chips do not
    take a domain name there: the host resolves it.)
    """
    text = str_param(param)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise _bad_parameters() from None
    return text


def _endpoint(param: Param) -> str:
    text = str_param(param)
    if not 1 <= len(text) <= MAX_ENDPOINT or not all(" " <= char <= "~" for char in text):
        raise _bad_parameters()
    return text


def _object_instance(command: Command) -> ObjectInstance:
    param_count(command, 1, 2, 4)
    params = command.params
    object_id = int_param(params[0], 0, MAX_ID)
    instance_id = int_param(params[1], 0, MAX_ID) if len(params) > 1 else 0
    resources: tuple[int, ...] = ()
    if len(params) == 4:
        count = int_param(params[2], 1, MAX_RESOURCES)
        items = str_param(params[3]).split(";")  # the separator: module docstring
        resources = tuple(int_param(Param(item.strip(), False), 0, MAX_ID) for item in items)
        if len(resources) != count or len(set(resources)) != count:
            raise _bad_parameters()
    return ObjectInstance(object_id, instance_id, resources)
